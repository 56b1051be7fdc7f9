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

mod aws;
pub mod dir;
mod error;
pub mod firehose;
pub mod kinesis;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

pub(crate) use aws::describe_sdk_error;
pub use aws::{CALL_TIMEOUT, CONNECT_TIMEOUT, plan_batches};
pub use error::SinkError;
use error::io_error;

use crate::metrics::Stats;
use crate::queue::QueueRx;
use crate::record::Record;

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
}
