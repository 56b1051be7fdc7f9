//! Where records go: rotating gzip NDJSON files (`dir://PATH`), stdout (`-`), Amazon Data
//! Firehose (`firehose://NAME`), Kinesis Data Streams (`kinesis://NAME`). [`Sink::check`]
//! proves a sink can work before anything is read from X; [`drain`] moves records from the
//! queue to the sink in batches until the reader stops, then flushes and closes the sink.
//!
//! Every sink writes each record as its raw stream line plus `\n` (Kinesis: the line alone).
//! The AWS sinks never give up on a record the service could take: refused entries and
//! failed calls are resent, with backoff, for as long as it takes, while the queue holds what
//! arrives meanwhile (memory, then disk, then the reader waits). A record no sink call can
//! take (over the service's size limit) is counted in `Stats::dropped` and logged with its
//! tweet id: never dropped silently. A record counts as delivered only once the service
//! accepted it, or (files) once it is on disk (fsync).

pub mod dir;
pub mod firehose;
pub mod kinesis;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_sdk_firehose::error::{ProvideErrorMetadata, SdkError};
use search_sink::Schedule;
use tokio::io::AsyncWriteExt;

use crate::exit::Class;
use crate::metrics::Stats;
use crate::queue::QueueRx;
use crate::stream::Record;

/// A `--to` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    Dir(PathBuf),
    Firehose(String),
    Kinesis(String),
}

impl std::str::FromStr for Destination {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let non_empty = |rest: &str, what: &str| {
            if rest.is_empty() {
                Err(format!("{s}: no {what}"))
            } else {
                Ok(rest.to_owned())
            }
        };
        if s == "-" {
            Ok(Destination::Stdout)
        } else if let Some(rest) = s.strip_prefix("dir://") {
            non_empty(rest, "path").map(|p| Destination::Dir(PathBuf::from(p)))
        } else if let Some(rest) = s.strip_prefix("firehose://") {
            non_empty(rest, "delivery stream name").map(Destination::Firehose)
        } else if let Some(rest) = s.strip_prefix("kinesis://") {
            non_empty(rest, "stream name").map(Destination::Kinesis)
        } else {
            Err(format!(
                "{s}: expected firehose://NAME, kinesis://NAME, dir://PATH or - (stdout)"
            ))
        }
    }
}

impl Destination {
    /// The metrics dimension naming this destination.
    pub fn label(&self) -> String {
        match self {
            Destination::Stdout => "stdout".into(),
            Destination::Dir(p) => format!("dir://{}", p.display()),
            Destination::Firehose(n) => format!("firehose://{n}"),
            Destination::Kinesis(n) => format!("kinesis://{n}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// The start-up check found a sink that cannot work.
    #[error("{destination}: {message}")]
    Unusable {
        destination: String,
        message: String,
        class: Class,
    },
}

/// The start-up check's verdict on a stream `destination` whose describe call answered
/// `status` (`Err`: the call failed): `ready` statuses take records, `CREATING` is worth
/// waiting for, any other is not.
pub(crate) fn judge_status<E, R>(
    destination: String,
    answer: Result<String, SdkError<E, R>>,
    ready: &[&str],
) -> Result<(), SinkError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let (message, class) = match answer {
        Err(e) => describe_sdk_error(&e),
        Ok(status) if ready.contains(&status.as_str()) => return Ok(()),
        Ok(status) if status == "CREATING" => (
            "still being created: try again in a minute".to_owned(),
            Class::Transient,
        ),
        Ok(status) => (
            format!("{status}, not ACTIVE: it takes no records"),
            Class::Refused,
        ),
    };
    Err(SinkError::Unusable {
        destination,
        message,
        class,
    })
}

/// The deadlines of every AWS call: connecting, and one attempt of an operation (the sinks
/// retry by themselves, so an attempt is an operation).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// An AWS SDK error as one line, cause first, and its class: a missing stream, denied
/// access or bad credentials cannot be fixed by retrying; throttling, 5xx, timeouts and
/// unreachable endpoints can; a request the SDK could not even build (no region, no
/// credentials) is configuration.
pub(crate) fn describe_sdk_error<E, R>(error: &SdkError<E, R>) -> (String, Class)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let root = |e: &(dyn std::error::Error + 'static)| {
        let mut last = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            last = s.to_string();
            source = s.source();
        }
        last
    };
    match error {
        SdkError::ServiceError(e) => {
            let inner = e.err();
            let code = inner.code().unwrap_or("unknown error");
            let message = inner.message().unwrap_or("");
            let class = match code {
                "ResourceNotFoundException"
                | "AccessDeniedException"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "IncompleteSignature"
                | "MissingAuthenticationToken"
                | "ExpiredTokenException"
                | "InvalidArgumentException"
                | "InvalidParameterException"
                | "ValidationException"
                | "KMSAccessDeniedException"
                | "KMSDisabledException"
                | "KMSNotFoundException"
                | "KMSInvalidStateException" => Class::Refused,
                _ => Class::Transient,
            };
            let text = if message.is_empty() {
                code.to_owned()
            } else {
                format!("{code}: {message}")
            };
            (text, class)
        }
        SdkError::TimeoutError(_) => ("no answer before the deadline".to_owned(), Class::Transient),
        SdkError::DispatchFailure(e) => {
            let cause = e
                .as_connector_error()
                .map_or_else(|| root(error), |c| root(c));
            if e.is_io() || e.is_timeout() {
                (format!("cannot connect: {cause}"), Class::Transient)
            } else if cause.contains("timed out") || cause.contains("timeout") {
                // A credentials provider (IMDS, STS) that did not answer in time.
                (cause, Class::Transient)
            } else if cause.contains("Missing Region") {
                (format!("{cause} (set AWS_REGION)"), Class::Usage)
            } else if cause.contains("provided credentials") {
                (
                    format!(
                        "{cause}: no AWS credentials (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with a role)"
                    ),
                    Class::Usage,
                )
            } else {
                // Nothing was sent: credentials or endpoint resolution refused the request.
                (cause, Class::Usage)
            }
        }
        SdkError::ResponseError(_) => (
            format!("the answer could not be read: {}", root(error)),
            Class::Transient,
        ),
        // No region, no credentials, an invalid endpoint: nothing was sent.
        _ => (root(error), Class::Usage),
    }
}

pub(crate) fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SinkError {
    move |source| SinkError::Io {
        context: context.into(),
        source,
    }
}

pub enum Sink {
    Stdout(tokio::io::Stdout),
    Dir(Box<dir::DirSink>),
    Firehose(firehose::FirehoseSink),
    Kinesis(kinesis::KinesisSink),
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sink::Stdout(_) => f.write_str("Sink::Stdout"),
            Sink::Dir(d) => d.fmt(f),
            Sink::Firehose(s) => s.fmt(f),
            Sink::Kinesis(s) => s.fmt(f),
        }
    }
}

impl Sink {
    /// Proves the sink can work before anything is read from X: the delivery stream or
    /// Kinesis stream exists and is active (and the credentials may describe it), the
    /// directory takes a file (and its leftovers of a killed run are recovered).
    pub async fn check(&mut self) -> Result<(), SinkError> {
        match self {
            Sink::Stdout(_) => Ok(()),
            Sink::Dir(d) => d.check(),
            Sink::Firehose(f) => f.check().await,
            Sink::Kinesis(k) => k.check().await,
        }
    }

    /// Writes a batch. Returns once every record was delivered (or counted as dropped, too
    /// large); the AWS sinks retry until then.
    pub async fn write(&mut self, batch: Vec<Record>, stats: &Stats) -> Result<(), SinkError> {
        let count = batch.len() as u64;
        match self {
            Sink::Stdout(out) => {
                let mut text = Vec::with_capacity(batch.iter().map(|r| r.line.len() + 1).sum());
                for r in &batch {
                    text.extend_from_slice(&r.line);
                    text.push(b'\n');
                }
                out.write_all(&text).await.map_err(io_error("stdout"))?;
                out.flush().await.map_err(io_error("stdout"))?;
                stats.delivered.fetch_add(count, Ordering::Relaxed);
            }
            Sink::Dir(d) => d.write(&batch, stats)?,
            Sink::Firehose(f) => f.write(batch, stats).await,
            Sink::Kinesis(k) => k.write(batch, stats).await,
        }
        Ok(())
    }

    /// Called every second: files complete their gzip member and rotate by age.
    pub fn tick(&mut self, stats: &Stats) -> Result<(), SinkError> {
        match self {
            Sink::Dir(d) => d.tick(stats),
            _ => Ok(()),
        }
    }

    /// Flushes and closes (the current file is completed and renamed into place).
    pub async fn close(&mut self, stats: &Stats) -> Result<(), SinkError> {
        match self {
            Sink::Stdout(out) => out.flush().await.map_err(io_error("stdout")),
            Sink::Dir(d) => d.close(stats),
            Sink::Firehose(_) | Sink::Kinesis(_) => Ok(()),
        }
    }
}

/// How often [`drain`] calls [`Sink::tick`].
const TICK: Duration = Duration::from_secs(1);

/// Moves records from the queue to the sink until the reader is gone and the queue empty,
/// then closes the sink.
pub async fn drain(rx: &mut QueueRx, sink: &mut Sink, stats: &Stats) -> Result<(), SinkError> {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            batch = rx.next_batch(stats) => {
                let Some(batch) = batch else { break };
                sink.write(batch, stats).await?;
            }
            _ = tick.tick() => sink.tick(stats)?,
        }
    }
    sink.close(stats).await
}

/// Splits records (by their sizes) into calls of at most `max_records` records and
/// `max_call_bytes` bytes, as lists of indexes in order; a record over `max_record_bytes`
/// goes to the second list. Pure, so the limits are tested as a table.
pub fn plan_batches(
    sizes: &[usize],
    max_records: usize,
    max_record_bytes: usize,
    max_call_bytes: usize,
) -> (Vec<Vec<usize>>, Vec<usize>) {
    let mut calls: Vec<Vec<usize>> = Vec::new();
    let mut too_large = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for (i, &size) in sizes.iter().enumerate() {
        if size > max_record_bytes {
            too_large.push(i);
            continue;
        }
        if !current.is_empty() && (current.len() == max_records || bytes + size > max_call_bytes) {
            calls.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(i);
    }
    if !current.is_empty() {
        calls.push(current);
    }
    (calls, too_large)
}

/// First delay before resending refused records; it doubles per attempt up to [`RETRY_MAX`],
/// and stays there for as long as the service refuses.
pub(crate) const RETRY_START: Duration = Duration::from_millis(200);
pub(crate) const RETRY_MAX: Duration = Duration::from_secs(30);

/// The delay before resend attempt `attempt` (1-based): `start` doubling, capped at
/// [`RETRY_MAX`] (the workspace's one [`Schedule`]).
pub(crate) fn retry_delay(start: Duration, attempt: u32) -> Duration {
    Schedule::Doubling {
        start,
        max: RETRY_MAX,
    }
    .delay(attempt)
}

/// Splits a batch by the per-entry answers of a call that succeeded as a whole (Firehose
/// `PutRecordBatch`, Kinesis `PutRecords`: `(error code, error message)` per entry, in order):
/// the refused entries, to resend alone, and the first refusal for the log. Accepted entries
/// are counted as delivered.
pub(crate) fn split_refused<'a, T>(
    answers: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
    sent: Vec<T>,
    stats: &Stats,
) -> (Vec<T>, Option<String>) {
    let mut refused = Vec::new();
    let mut first_error = None;
    for ((code, message), entry) in answers.into_iter().zip(sent) {
        match code {
            Some(code) => {
                first_error.get_or_insert_with(|| format!("{code}: {}", message.unwrap_or("")));
                refused.push(entry);
            }
            None => {
                stats.delivered.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    (refused, first_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_parse_table() {
        let table: &[(&str, Result<Destination, ()>)] = &[
            ("-", Ok(Destination::Stdout)),
            ("dir:///tmp/x", Ok(Destination::Dir("/tmp/x".into()))),
            ("dir://rel", Ok(Destination::Dir("rel".into()))),
            (
                "firehose://tweets",
                Ok(Destination::Firehose("tweets".into())),
            ),
            ("firehose://", Err(())),
            (
                "kinesis://tweets",
                Ok(Destination::Kinesis("tweets".into())),
            ),
            ("kinesis://", Err(())),
            ("dir://", Err(())),
            ("s3://bucket", Err(())),
            ("", Err(())),
        ];
        for (text, expected) in table {
            let got = text.parse::<Destination>().map_err(|_| ());
            assert_eq!(&got, expected, "{text}");
        }
    }

    #[test]
    fn plan_batches_table() {
        type Plan = (Vec<Vec<usize>>, Vec<usize>);
        let table: &[(&[usize], usize, usize, usize, Plan)] = &[
            (&[], 500, 10, 100, (vec![], vec![])),
            (&[1, 1, 1], 2, 10, 100, (vec![vec![0, 1], vec![2]], vec![])),
            (
                &[40, 40, 40],
                500,
                50,
                100,
                (vec![vec![0, 1], vec![2]], vec![]),
            ),
            (&[50, 50], 500, 50, 100, (vec![vec![0, 1]], vec![])),
            (&[51, 1], 500, 50, 100, (vec![vec![1]], vec![0])),
            // A too-large record between others is left out of its call, reported apart.
            (&[10, 99, 10], 500, 50, 100, (vec![vec![0, 2]], vec![1])),
        ];
        for (sizes, max_records, max_record, max_call, expected) in table {
            let got = plan_batches(sizes, *max_records, *max_record, *max_call);
            assert_eq!(&got, expected, "{sizes:?}");
        }
    }
}
