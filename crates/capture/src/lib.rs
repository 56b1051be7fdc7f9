//! `tweet-capture`'s library: reads the X API v2 filtered stream as the streaming guide asks
//! (incremental gzip, `\r\n` framing across chunks, keep-alives, stall timeout, the reconnect
//! policy by error kind, deduplication of redelivered tweets) and delivers each stream line,
//! untouched, to a sink (rotating gzip NDJSON files, stdout, Amazon Data Firehose, Kinesis
//! Data Streams), with a bounded buffer between the two, counters, a CloudWatch EMF line a
//! minute and the guide's volume warning. It also manages the stream's rules.
//!
//! It does not parse tweets into documents: the files and Firehose objects it writes are the
//! input of `tweet-indexer` and the Lambda.

pub mod backoff;
pub mod dedup;
pub mod framing;
pub mod message;
pub mod metrics;
pub mod rules;
pub mod sink;
pub mod stream;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::metrics::{Reporter, Stats, volume_low};
use crate::sink::{Sink, SinkError};
use crate::stream::{StreamConfig, StreamError, Token};

/// Where the once-a-minute EMF lines go.
#[derive(Debug, Clone)]
pub enum MetricsOut {
    /// stderr, one line each: the log driver (awslogs, the CloudWatch agent) ships them and
    /// CloudWatch extracts the metrics.
    Stderr,
    /// Kept in memory, oldest first (tests).
    Memory(Arc<Mutex<Vec<String>>>),
    Off,
}

/// How a capture runs, beyond the stream settings.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    pub stream: StreamConfig,
    /// The buffer between reader and sink, in bytes.
    pub buffer_bytes: usize,
    /// Warn when each of the last `volume_window` minutes had fewer tweets (0: off).
    pub min_tweets_per_minute: u64,
    pub volume_window: usize,
    /// Interval of the EMF line (one minute in production).
    pub metrics_interval: Duration,
    /// Where the EMF lines go.
    pub metrics_out: MetricsOut,
    /// The `Stream` dimension of the metrics.
    pub label: String,
}

impl CaptureOptions {
    pub fn new(stream: StreamConfig, label: impl Into<String>) -> Self {
        CaptureOptions {
            stream,
            buffer_bytes: 64 * 1024 * 1024,
            min_tweets_per_minute: 0,
            volume_window: 5,
            metrics_interval: Duration::from_secs(60),
            metrics_out: MetricsOut::Stderr,
            label: label.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// Reads the stream into `sink` until `shutdown` turns true or a fatal error; in both cases
/// everything already read is delivered and the sink closed before it returns.
pub async fn capture(
    client: &reqwest::Client,
    options: &CaptureOptions,
    token: &Token,
    sink: Sink,
    stats: Arc<Stats>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), CaptureError> {
    let (tx, rx) = stream::buffer(options.buffer_bytes);
    let reader = {
        let stats = Arc::clone(&stats);
        async move {
            let result = stream::run(client, &options.stream, token, &tx, &stats, shutdown).await;
            drop(tx); // lets the sink drain and close
            result
        }
    };
    let writer = sink::drain(rx, sink, &stats);
    let both = async { tokio::join!(reader, writer) };
    tokio::pin!(both);
    let mut reporter = Reporter::new(options.label.clone());
    let mut per_minute = Vec::new();
    let mut interval = tokio::time::interval(options.metrics_interval);
    interval.tick().await; // the first tick is immediate
    let (read, written) = loop {
        tokio::select! {
            done = &mut both => break done,
            _ = interval.tick() => report(options, &stats, &mut reporter, &mut per_minute),
        }
    };
    report(options, &stats, &mut reporter, &mut per_minute);
    written?;
    match read {
        // The sink failed first and the reader saw it go: the sink's error is the cause.
        Err(StreamError::SinkGone) | Ok(()) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn report(
    options: &CaptureOptions,
    stats: &Stats,
    reporter: &mut Reporter,
    history: &mut Vec<u64>,
) {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let (line, tweets) = reporter.line(stats, now_ms);
    match &options.metrics_out {
        // EMF must be a top-level JSON line of its own, not a field of a log event.
        MetricsOut::Stderr => {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
        MetricsOut::Memory(lines) => {
            if let Ok(mut lines) = lines.lock() {
                lines.push(line);
            }
        }
        MetricsOut::Off => {}
    }
    history.push(tweets);
    let keep = options.volume_window.max(1);
    if history.len() > keep {
        history.drain(..history.len() - keep);
    }
    if volume_low(
        history,
        options.min_tweets_per_minute,
        options.volume_window,
    ) {
        tracing::warn!(
            min_tweets_per_minute = options.min_tweets_per_minute,
            minutes = options.volume_window,
            last_minute = tweets,
            "tweet volume is below the floor: check the rules, the stream and the account's quota"
        );
    }
}
