//! `tweet-capture`'s library: reads the X API v2 filtered stream as the streaming guide asks
//! (incremental gzip, `\r\n` framing across chunks, keep-alives, stall timeout, the reconnect
//! policy by error kind with backoff reset only by progress, deduplication of redelivered
//! tweets) and delivers each stream line, untouched, to a sink (rotating gzip NDJSON files,
//! stdout, Amazon Data Firehose, Kinesis Data Streams) checked before anything is read, with a
//! queue between the two bounded in memory (spilling to disk, then holding the reader back),
//! counters, a CloudWatch EMF line a minute and the guide's volume warning. It also manages
//! the stream's rules, and classifies every failure into the command's exit code (`exit`).
//!
//! It does not parse tweets into documents: the files and Firehose objects it writes are the
//! input of `tweet-indexer` and the Lambda.

pub mod backoff;
pub mod dedup;
pub mod exit;
pub mod framing;
pub mod http;
pub mod message;
pub mod metrics;
pub mod queue;
pub mod rules;
pub mod sink;
pub mod stream;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::metrics::{Reporter, Stats, volume_low};
use crate::queue::{QueueConfig, QueueError};
use crate::sink::{Sink, SinkError};
use crate::stream::{Connect, StreamConfig, StreamError};

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
    /// The queue between reader and sink: memory budget, spool directory and budget.
    pub queue: QueueConfig,
    /// Once the reader stopped (a signal, a fatal answer), how long the sink may take to
    /// deliver what was read before the rest is abandoned (counted as not delivered).
    pub shutdown_timeout: Duration,
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
            queue: QueueConfig {
                memory_bytes: 64 * 1024 * 1024,
                spool_root: None,
                spool_bytes: 0,
            },
            shutdown_timeout: Duration::from_secs(50),
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
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// How the delivery of what was read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Everything queued was handed to the sink and the sink closed.
    Finished,
    /// Stopped before that: by `abandon`, or the shutdown timeout ran out. What was still
    /// queued or in flight is counted by `Stats::not_delivered`.
    Abandoned,
}

/// Reads the stream into `sink` until `stop` turns true or a fatal error; then the sink
/// gets `shutdown_timeout` to deliver what was read and close. `abandon` turning true
/// (a second signal) stops everything at once.
pub async fn capture(
    connect: &dyn Connect,
    options: &CaptureOptions,
    sink: Sink,
    stats: Arc<Stats>,
    stop: watch::Receiver<bool>,
    mut abandon: watch::Receiver<bool>,
) -> Result<Delivery, CaptureError> {
    let (tx, mut rx) = queue::queue(&options.queue)?;
    let reader = {
        let stats = Arc::clone(&stats);
        async move {
            let result = stream::run(connect, &options.stream, &tx, &stats, stop).await;
            drop(tx); // lets the sink drain and close
            result
        }
    };
    let writer = {
        let stats = Arc::clone(&stats);
        async move {
            let mut sink = sink;
            let result = sink::drain(&mut rx, &mut sink, &stats).await;
            // A sink that failed lets the reader go (it sees the queue closed).
            drop(rx);
            result
        }
    };
    tokio::pin!(reader, writer);
    let mut read = None;
    let mut written = None;
    let mut deadline = None;
    let mut abandon_open = true;
    let mut delivery = Delivery::Finished;
    let mut reporter = Reporter::new(options.label.clone());
    let mut per_minute = Vec::new();
    let mut interval = tokio::time::interval(options.metrics_interval);
    interval.tick().await; // the first tick is immediate
    while read.is_none() || written.is_none() {
        let timeout = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = &mut reader, if read.is_none() => {
                read = Some(r);
                deadline = Some(tokio::time::Instant::now() + options.shutdown_timeout);
            }
            w = &mut writer, if written.is_none() => written = Some(w),
            _ = interval.tick() => report(options, &stats, &mut reporter, &mut per_minute),
            changed = abandon.changed(), if abandon_open => match changed {
                Ok(()) if *abandon.borrow() => {
                    tracing::warn!("second signal: stopping without delivering the rest");
                    delivery = Delivery::Abandoned;
                    break;
                }
                Ok(()) => {}
                Err(_) => abandon_open = false,
            },
            () = timeout => {
                tracing::error!(
                    shutdown_timeout_s = options.shutdown_timeout.as_secs(),
                    queued = stats.not_delivered(),
                    "the sink did not deliver everything before the shutdown timeout"
                );
                delivery = Delivery::Abandoned;
                break;
            }
        }
    }
    report(options, &stats, &mut reporter, &mut per_minute);
    if let Some(Err(e)) = written {
        return Err(e.into());
    }
    match read {
        // The sink failed first and the reader saw it go: the sink's error is the cause.
        Some(Err(StreamError::SinkGone)) | Some(Ok(())) | None => Ok(delivery),
        Some(Err(e)) => Err(e.into()),
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
