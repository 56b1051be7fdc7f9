//! A capture: a reader (the stream, or a batch compliance job) puts records in the queue and
//! the sink delivers them, with the metrics reported every interval and the shutdown and drain
//! deadlines; [`CaptureError`] is any of their errors. The top of the library: it uses the
//! reader, the queue and the sink, and nothing of it is used below.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::comply::ComplyError;
use crate::metrics::{Reporter, Stats, volume_low};
use crate::queue::{self, QueueConfig, QueueError, QueueTx};
use crate::sink::{self, Sink, SinkError};
use crate::stream::{self, Connect, StreamConfig, StreamError};

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
    /// Once a reader finished its work (a batch compliance job), how long the sink may take
    /// to deliver the rest; `None`: as long as it needs (until a signal).
    pub drain_timeout: Option<Duration>,
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
            drain_timeout: None,
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
    #[error(transparent)]
    Comply(#[from] ComplyError),
}

impl CaptureError {
    /// The reader stopped because the sink went away (the sink's own error is the cause).
    pub fn is_sink_gone(&self) -> bool {
        matches!(
            self,
            CaptureError::Stream(StreamError::SinkGone)
                | CaptureError::Comply(ComplyError::SinkGone)
        )
    }
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
    abandon: watch::Receiver<bool>,
) -> Result<Delivery, CaptureError> {
    let stopped = stop.clone();
    let read = |tx: QueueTx, stats: Arc<Stats>| async move {
        stream::run(connect, &options.stream, &tx, &stats, stop)
            .await
            .map_err(CaptureError::from)
    };
    deliver(options, sink, stats, stopped, abandon, read).await
}

/// Runs `read` (which puts records in the queue it is given and returns when it is done, or
/// stopped, or failed) and delivers what it queued to `sink`, reporting the metrics every
/// `metrics_interval`. Once `read` failed, or once `stop` turned true, the sink gets
/// `shutdown_timeout` to deliver the rest and close; a reader that finished its work lets
/// the sink take `drain_timeout` (or a stop's `shutdown_timeout`). `abandon` turning true (a
/// second signal) stops everything at once. The stream and the batch compliance jobs share
/// it.
pub async fn deliver<R, F>(
    options: &CaptureOptions,
    sink: Sink,
    stats: Arc<Stats>,
    mut stop: watch::Receiver<bool>,
    mut abandon: watch::Receiver<bool>,
    read: R,
) -> Result<Delivery, CaptureError>
where
    R: FnOnce(QueueTx, Arc<Stats>) -> F,
    F: std::future::Future<Output = Result<(), CaptureError>>,
{
    let (tx, mut rx) = queue::queue(&options.queue)?;
    // The reader owns the queue's sending half: when it returns, the half is dropped, which
    // lets the sink drain and close.
    let reader = read(tx, Arc::clone(&stats));
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
    let mut stop_open = true;
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
                let now = tokio::time::Instant::now();
                deadline = if r.is_err() || *stop.borrow() {
                    Some(now + options.shutdown_timeout)
                } else {
                    options.drain_timeout.map(|d| now + d)
                };
                read = Some(r);
            }
            changed = stop.changed(), if stop_open => match changed {
                Ok(()) if *stop.borrow() && read.is_some() && deadline.is_none() => {
                    deadline = Some(tokio::time::Instant::now() + options.shutdown_timeout);
                }
                Ok(()) => {}
                Err(_) => stop_open = false,
            },
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
        Some(Err(e)) if e.is_sink_gone() => Ok(delivery),
        Some(Ok(())) | None => Ok(delivery),
        Some(Err(e)) => Err(e),
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
