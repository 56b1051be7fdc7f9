//! Counters shared by the reader and the sink, the once-a-minute CloudWatch EMF line built
//! from them, and the volume check of the streaming guide (warn when tweets per minute stay
//! below a floor for a number of minutes).
//!
//! Counters are cumulative atomics; the EMF line reports the difference since the last line.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use search_sink::emf::{EmfLine, Unit};

use crate::backoff::Disconnect;

/// The EMF namespace (also the CloudWatch alarm's namespace in `infra/template.yaml`).
pub const NAMESPACE: &str = "TweetCapture";

#[derive(Debug, Default)]
pub struct Stats {
    pub tweets: AtomicU64,
    pub keep_alives: AtomicU64,
    pub duplicates: AtomicU64,
    pub deletes: AtomicU64,
    /// Compliance records forwarded: events of the compliance streams (deletes included) and
    /// result lines of batch compliance jobs.
    pub compliance: AtomicU64,
    /// Other JSON lines forwarded (neither tweet nor delete).
    pub other: AtomicU64,
    /// `errors` payloads with no data (logged, not forwarded).
    pub problems: AtomicU64,
    /// Lines that were not JSON (logged, not forwarded).
    pub invalid: AtomicU64,
    /// Decompressed payload bytes of forwarded lines.
    pub bytes: AtomicU64,
    pub connections: AtomicU64,
    pub reconnects_disconnected: AtomicU64,
    pub reconnects_network: AtomicU64,
    pub reconnects_http: AtomicU64,
    pub reconnects_rate_limited: AtomicU64,
    /// Times the reader waited because the queue to the sink was full (memory and spool).
    pub backpressure_waits: AtomicU64,
    /// Records put in the queue (each is delivered, dropped, lost or still queued).
    pub queued: AtomicU64,
    /// Records that went through the disk spool (the memory budget was full).
    pub spooled: AtomicU64,
    /// Records the sink confirmed: accepted by the service, or fsynced to a file.
    pub delivered: AtomicU64,
    /// Failed sink calls: failed whole, or with some entries refused (each retried).
    pub sink_failures: AtomicU64,
    /// Records sent again after a failed call or a refusal.
    pub resent: AtomicU64,
    /// Records no sink call can take (over the service's size limit): logged with their
    /// tweet id, never silent.
    pub dropped: AtomicU64,
    /// Records in a spool file that could not be read back (logged).
    pub lost: AtomicU64,
    /// The largest lag seen since the last EMF line, in milliseconds: now - `created_at` of a
    /// tweet, now - `event_at` of a compliance event.
    pub max_lag_ms: AtomicU64,
    /// Every reconnect delay chosen, in order (for logs and tests; bounded).
    pub delays: Mutex<Vec<(Disconnect, Duration)>>,
}

/// Keep at most this many reconnect delays in [`Stats::delays`].
const DELAYS_KEPT: usize = 1024;

impl Stats {
    pub fn reconnect(&self, failure: Disconnect, delay: Duration) {
        let counter = match failure {
            Disconnect::Disconnected => &self.reconnects_disconnected,
            Disconnect::Network => &self.reconnects_network,
            Disconnect::Http => &self.reconnects_http,
            Disconnect::RateLimited => &self.reconnects_rate_limited,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut delays) = self.delays.lock() {
            if delays.len() == DELAYS_KEPT {
                delays.remove(0);
            }
            delays.push((failure, delay));
        }
    }

    pub fn delays(&self) -> Vec<(Disconnect, Duration)> {
        self.delays.lock().map(|d| d.clone()).unwrap_or_default()
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Records read and queued that were not delivered (dropped, lost, or still queued or
    /// in the sink's hands when the run ended).
    pub fn not_delivered(&self) -> u64 {
        Self::get(&self.queued).saturating_sub(Self::get(&self.delivered))
    }

    fn snapshot(&self) -> Snapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            values: [
                ("Tweets", g(&self.tweets)),
                ("KeepAlives", g(&self.keep_alives)),
                ("Duplicates", g(&self.duplicates)),
                ("Deletes", g(&self.deletes)),
                ("ComplianceEvents", g(&self.compliance)),
                ("Bytes", g(&self.bytes)),
                ("ReconnectsDisconnected", g(&self.reconnects_disconnected)),
                ("ReconnectsNetwork", g(&self.reconnects_network)),
                ("ReconnectsHttp", g(&self.reconnects_http)),
                ("ReconnectsRateLimited", g(&self.reconnects_rate_limited)),
                ("SinkFailures", g(&self.sink_failures)),
                ("Resent", g(&self.resent)),
                ("Dropped", g(&self.dropped)),
                ("BackpressureWaits", g(&self.backpressure_waits)),
                ("Spooled", g(&self.spooled)),
                ("Delivered", g(&self.delivered)),
            ],
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Snapshot {
    values: [(&'static str, u64); 16],
}

/// Builds the EMF lines, one per call to [`Reporter::line`], from the counters' growth.
#[derive(Debug)]
pub struct Reporter {
    last: Option<Snapshot>,
    stream: String,
}

impl Reporter {
    /// `stream`: the dimension value naming this capture (e.g. the destination).
    pub fn new(stream: impl Into<String>) -> Self {
        Reporter {
            last: None,
            stream: stream.into(),
        }
    }

    /// One EMF JSON line with the counters' growth since the previous line, and the tweet
    /// count of that interval (for the volume check).
    pub fn line(&mut self, stats: &Stats, timestamp_ms: u64) -> (String, u64) {
        let now = stats.snapshot();
        let lag = stats.max_lag_ms.swap(0, Ordering::Relaxed);
        let mut line = EmfLine::new(NAMESPACE, &["Stream"]);
        let mut tweets = 0;
        for (i, (name, value)) in now.values.iter().enumerate() {
            let before = self.last.map_or(0, |l| l.values[i].1);
            let delta = value.saturating_sub(before);
            if *name == "Tweets" {
                tweets = delta;
            }
            let unit = if *name == "Bytes" {
                Unit::Bytes
            } else {
                Unit::Count
            };
            line.metric(name, unit, delta);
        }
        line.metric("LagMs", Unit::Milliseconds, lag)
            .property("Stream", self.stream.as_str());
        self.last = Some(now);
        (line.finish(timestamp_ms), tweets)
    }
}

/// The guide's volume monitoring: `true` when each of the last `window` minutes had fewer
/// than `min_per_minute` tweets. `per_minute` is oldest first.
pub fn volume_low(per_minute: &[u64], min_per_minute: u64, window: usize) -> bool {
    min_per_minute > 0
        && window > 0
        && per_minute.len() >= window
        && per_minute[per_minute.len() - window..]
            .iter()
            .all(|&n| n < min_per_minute)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_low_table() {
        let table: &[(&[u64], u64, usize, bool)] = &[
            (&[], 10, 3, false),
            (&[1, 1], 10, 3, false), // not enough history yet
            (&[1, 1, 1], 10, 3, true),
            (&[50, 1, 1, 1], 10, 3, true),
            (&[1, 1, 50, 1], 10, 3, false),
            (&[9, 9, 10], 10, 3, false),
            (&[0, 0, 0], 0, 3, false), // floor 0: off
            (&[0, 0, 0], 10, 0, false),
        ];
        for &(history, min, window, expected) in table {
            assert_eq!(
                volume_low(history, min, window),
                expected,
                "{history:?} {min} {window}"
            );
        }
    }

    #[test]
    fn emf_line_reports_growth_since_last_line() {
        let stats = Stats::default();
        let mut reporter = Reporter::new("dir");
        stats.tweets.store(5, Ordering::Relaxed);
        stats.max_lag_ms.store(1500, Ordering::Relaxed);
        stats.reconnect(Disconnect::Http, Duration::from_secs(5));
        let (first, tweets) = reporter.line(&stats, 1_000);
        assert_eq!(tweets, 5);
        let v: serde_json::Value = serde_json::from_str(&first).unwrap();
        assert_eq!(v["Tweets"], 5);
        assert_eq!(v["ReconnectsHttp"], 1);
        assert_eq!(v["LagMs"], 1500);
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert_eq!(v["_aws"]["Timestamp"], 1_000);
        let names: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for name in names {
            assert!(v.get(name).is_some(), "metric {name} has no value");
        }
        stats.tweets.store(7, Ordering::Relaxed);
        let (second, tweets) = reporter.line(&stats, 61_000);
        assert_eq!(tweets, 2);
        let v: serde_json::Value = serde_json::from_str(&second).unwrap();
        assert_eq!(v["Tweets"], 2);
        assert_eq!(v["ReconnectsHttp"], 0);
        assert_eq!(v["LagMs"], 0);
    }
}
