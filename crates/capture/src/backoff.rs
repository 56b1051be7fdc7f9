//! The reconnect policy of X's guide to handling disconnections, as a pure function of the
//! failure, how many failures of that kind came since the stream last made progress, the
//! server's rate-limit reset and a jitter draw.
//!
//! The guide: once an established connection drops, reconnect at once; if that fails, back
//! off by the kind of error: TCP/IP errors linearly (+250 ms an attempt, at most 16 s), HTTP
//! errors exponentially (5 s doubling, at most 320 s), 429 exponentially from one minute.
//! "Established" is judged by progress, not by a 200: a connection that ends before it
//! delivered a record (and before it lived [`HEALTHY_AFTER`]) is a failed reconnect, so a
//! server or proxy that answers 200 and closes at once gets the HTTP schedule instead of a
//! reconnect loop. Keep-alives and `errors` payloads are not progress.
//!
//! It does not sleep, read clocks or draw random numbers: the stream loop does that and passes
//! the results in, so the policy is tested as a table. The schedules are the workspace's one
//! backoff policy, [`search_sink::Schedule`].

use std::time::Duration;

use search_sink::Schedule;

/// Why the last connection (or connection attempt) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disconnect {
    /// A stream that answered 200 ended: zero-length chunk, `operational-disconnect`
    /// payload, read error or stall. The first since the last progress is reconnected at
    /// once; another one before any progress means the reconnect failed (HTTP schedule).
    Disconnected,
    /// The attempt failed below HTTP (connect refused, reset, DNS, TLS).
    Network,
    /// The attempt got an HTTP error worth retrying (5xx, and 4xx other than 429 that are not
    /// fatal, e.g. 409 "stream already being reconnected").
    Http,
    /// 429 or a `TooManyConnections` payload.
    RateLimited,
}

impl Disconnect {
    /// The label used in logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Disconnect::Disconnected => "disconnected",
            Disconnect::Network => "network",
            Disconnect::Http => "http",
            Disconnect::RateLimited => "rate_limited",
        }
    }
}

/// A connection that stayed up this long made progress, even without a record (a quiet
/// stream of keep-alives).
pub const HEALTHY_AFTER: Duration = Duration::from_secs(60);
/// TCP/IP errors: +250 ms per attempt, at most 16 s.
pub const NETWORK_STEP: Duration = Duration::from_millis(250);
pub const NETWORK_MAX: Duration = Duration::from_secs(16);
/// HTTP errors: 5 s doubling, at most 320 s.
pub const HTTP_START: Duration = Duration::from_secs(5);
pub const HTTP_MAX: Duration = Duration::from_secs(320);
/// 429: 60 s doubling (the guide gives no cap; `--max-backoff` is the cap).
pub const RATE_LIMIT_START: Duration = Duration::from_secs(60);
/// The guide's three schedules.
const NETWORK: Schedule = Schedule::Linear {
    step: NETWORK_STEP,
    max: NETWORK_MAX,
};
const HTTP: Schedule = Schedule::Doubling {
    start: HTTP_START,
    max: HTTP_MAX,
};
const RATE_LIMIT: Schedule = Schedule::Doubling {
    start: RATE_LIMIT_START,
    max: Duration::MAX,
};
/// Jitter adds up to this fraction of the delay, so that many clients (or restarts of one
/// task) do not reconnect in lockstep.
pub const JITTER_FRACTION: f64 = 0.1;

/// The delay before the next attempt.
///
/// - `attempt`: failures of this kind since the last progress, 1 for the first.
/// - `rate_limit_reset`: time until `x-rate-limit-reset`, when the server sent it.
/// - `max_backoff`: the `--max-backoff` cap on the computed delay.
/// - `jitter`: a draw in `[0, 1)`; adds `jitter * JITTER_FRACTION` of the delay.
///
/// A known rate-limit reset is honoured even beyond `max_backoff`: reconnecting earlier is
/// certain to be refused and counts against the limit again.
pub fn reconnect_delay(
    failure: Disconnect,
    attempt: u32,
    rate_limit_reset: Option<Duration>,
    max_backoff: Duration,
    jitter: f64,
) -> Duration {
    let attempt = attempt.max(1);
    let base = match failure {
        // The first reconnect after a drop is immediate; a drop before any progress since
        // means that reconnect failed: HTTP schedule (5 s, 10 s, ...), so a server that
        // answers 200 and closes cannot make the loop spin.
        Disconnect::Disconnected if attempt == 1 => Duration::ZERO,
        Disconnect::Disconnected => HTTP.delay(attempt - 1),
        Disconnect::Network => NETWORK.delay(attempt),
        Disconnect::Http => HTTP.delay(attempt),
        Disconnect::RateLimited => RATE_LIMIT.delay(attempt),
    };
    let jitter = jitter.clamp(0.0, 1.0);
    let with_jitter = base + base.mul_f64(jitter * JITTER_FRACTION);
    let capped = with_jitter.min(max_backoff);
    match (failure, rate_limit_reset) {
        (Disconnect::RateLimited, Some(reset)) => capped.max(reset),
        _ => capped,
    }
}

/// Counts the failures of each kind since the stream last made progress (a record, or a
/// connection that lived [`HEALTHY_AFTER`]). Only progress resets the counts: keep-alives
/// and `errors` payloads do not, and neither does a failure of another kind (a server that
/// alternates a refused connection and a 200 that closes at once still backs off on both).
#[derive(Debug, Default, Clone)]
pub struct DisconnectCounts {
    counts: [u32; 4],
}

impl DisconnectCounts {
    /// Records a failure and returns its attempt number (1 for the first of its kind since
    /// the last progress).
    pub fn record(&mut self, failure: Disconnect) -> u32 {
        let count = &mut self.counts[failure as usize];
        *count = count.saturating_add(1);
        *count
    }

    /// The stream made progress: every schedule starts again from its first step.
    pub fn reset(&mut self) {
        self.counts = [0; 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;
    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn reconnect_delay_table() {
        let big = S(10_000);
        #[rustfmt::skip]
        type Row = (Disconnect, u32, Option<Duration>, Duration, f64, Duration);
        let table: &[Row] = &[
            // failure, attempt, reset, max_backoff, jitter, expected
            (Disconnect::Disconnected, 1, None, big, 0.0, S(0)),
            (Disconnect::Disconnected, 1, None, big, 0.99, S(0)),
            (Disconnect::Disconnected, 2, None, big, 0.0, S(5)),
            (Disconnect::Disconnected, 3, None, big, 0.0, S(10)),
            (Disconnect::Disconnected, 9, None, big, 0.0, S(320)),
            (Disconnect::Disconnected, 2, None, S(3), 0.0, S(3)),
            (Disconnect::Network, 1, None, big, 0.0, MS(250)),
            (Disconnect::Network, 2, None, big, 0.0, MS(500)),
            (Disconnect::Network, 64, None, big, 0.0, S(16)),
            (Disconnect::Network, 65, None, big, 0.0, S(16)),
            (Disconnect::Network, 1000, None, big, 0.5, MS(16_800)),
            (Disconnect::Http, 1, None, big, 0.0, S(5)),
            (Disconnect::Http, 2, None, big, 0.0, S(10)),
            (Disconnect::Http, 7, None, big, 0.0, S(320)),
            (Disconnect::Http, 8, None, big, 0.0, S(320)),
            (Disconnect::Http, 100, None, big, 0.0, S(320)),
            (Disconnect::Http, 1, None, big, 1.0, MS(5_500)),
            (Disconnect::Http, 1, Some(S(900)), big, 0.0, S(5)), // reset only matters for 429
            (Disconnect::RateLimited, 1, None, big, 0.0, S(60)),
            (Disconnect::RateLimited, 2, None, big, 0.0, S(120)),
            (Disconnect::RateLimited, 4, None, big, 0.0, S(480)),
            (Disconnect::RateLimited, 1, Some(S(90)), big, 0.0, S(90)),
            (Disconnect::RateLimited, 3, Some(S(90)), big, 0.0, S(240)),
            // --max-backoff caps everything but a known reset.
            (Disconnect::Http, 5, None, S(30), 0.0, S(30)),
            (Disconnect::RateLimited, 5, None, S(30), 0.0, S(30)),
            (Disconnect::RateLimited, 5, Some(S(45)), S(30), 0.0, S(45)),
            (Disconnect::Network, 3, None, MS(100), 0.0, MS(100)),
            // attempt 0 is read as 1; jitter outside [0, 1] is clamped.
            (Disconnect::Http, 0, None, big, 0.0, S(5)),
            (Disconnect::Http, 1, None, big, 7.0, MS(5_500)),
            (
                Disconnect::RateLimited,
                u32::MAX,
                None,
                S(3600),
                0.0,
                S(3600),
            ),
        ];
        for &(failure, attempt, reset, max, jitter, expected) in table {
            assert_eq!(
                reconnect_delay(failure, attempt, reset, max, jitter),
                expected,
                "{failure:?} attempt {attempt} reset {reset:?} max {max:?} jitter {jitter}"
            );
        }
    }

    #[test]
    fn backoff_counts_each_kind_until_progress() {
        let mut b = DisconnectCounts::default();
        assert_eq!(b.record(Disconnect::Http), 1);
        assert_eq!(b.record(Disconnect::Http), 2);
        assert_eq!(b.record(Disconnect::RateLimited), 1);
        assert_eq!(b.record(Disconnect::RateLimited), 2);
        // Another kind in between does not restart a count.
        assert_eq!(b.record(Disconnect::Http), 3);
        assert_eq!(b.record(Disconnect::Disconnected), 1);
        assert_eq!(b.record(Disconnect::Network), 1);
        assert_eq!(b.record(Disconnect::Disconnected), 2);
        b.reset();
        assert_eq!(b.record(Disconnect::RateLimited), 1);
        assert_eq!(b.record(Disconnect::Disconnected), 1);
        assert_eq!(b.record(Disconnect::Disconnected), 2);
    }
}
