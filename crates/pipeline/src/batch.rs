//! A batch of small in-memory records (a Kinesis batch) through one bulk sink, in order.
//!
//! Each record holds one or more payloads (a KPL aggregate gives several); each payload is
//! framed like an object (one JSON value, NDJSON, any layout the framer reads, gzip included).
//! The records stream like an object's bytes ([`Indexer::index`]): framed and extracted one at
//! a time on a blocking thread, their items sent through the same bounded channel into the
//! sink. A batch is at most the invocation payload (6 MB), but gzip (or KPL aggregates of gzip)
//! can inflate it a thousandfold: what is in memory is the channel's depth and the bulks in
//! flight, never the batch's documents. (A cap on the inflated bytes, with the rest answered
//! as a batch item failure, would bound memory too, but every such answer is a retry that
//! counts towards `MaximumRetryAttempts` and trips the failed-batch alarm, and a record above
//! the cap could never be read; streaming has no limit but the deadline.)
//!
//! The caller learns which prefix of the batch is settled. The sink's ledger names the first
//! operation that is not (pending, in flight, or failed with its dead letter not yet stored);
//! the batch keeps where each record's operations start, so that operation names its record:
//! every record before it is indexed or dead-lettered, it and the later ones must be retried.
//! A failure never answers "past the last record": an error with nothing unconfirmed (which
//! the ledger does not allow) retries from the first record.
//!
//! Not here: what the records came from (the Lambda's Kinesis module decodes base64 and KPL).

use std::sync::Arc;
use std::time::Instant as StdInstant;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tweets::{Extractor, FramerOptions};

use crate::feed::Feed;
use crate::filter::AuthorFilter;
use crate::indexer::Indexer;
use crate::run::{CHANNEL_DEPTH, Extraction, PipelineError};
use crate::summary::ObjectSummary;
use crate::work::Work;

/// One record of a batch.
#[derive(Debug, Clone)]
pub struct BatchRecord {
    /// Names the record in logs and dead letters (for Kinesis: stream, shard, sequence number).
    pub name: String,
    /// The record's payloads, or why it is not readable data (bad base64, bad aggregate):
    /// such a record is counted and dead-lettered, never retried.
    pub payloads: Result<Vec<Vec<u8>>, String>,
    /// When the record was received (Kinesis: its approximate arrival), epoch ms: the time
    /// of its compliance records that carry none. `None`: the time it is read.
    pub received_at: Option<i64>,
}

/// What became of a batch.
#[derive(Debug)]
pub struct BatchOutcome {
    /// Counts over the whole batch (`object` is the batch's name, `bytes_read` the records'
    /// payload bytes).
    pub summary: ObjectSummary,
    /// The first record not known to be settled, when something failed: every record before
    /// it is indexed (or dead-lettered), it and the later ones must be retried. Always less
    /// than the number of records.
    pub first_unconfirmed: Option<usize>,
    /// The failure, when there was one.
    pub error: Option<PipelineError>,
}

/// What the extractor thread sends: each record's items between its start and its end.
enum Fed {
    Start(Arc<str>),
    Item { work: Work, gzip: bool },
    End { frames: u64 },
}

impl Indexer {
    /// Indexes `records` in order through one bulk sink. Never fails as a whole: a failure is
    /// reported in [`BatchOutcome::error`] with the first record to retry.
    pub async fn index_batch(
        &self,
        name: &str,
        records: Vec<BatchRecord>,
        deadline: Instant,
    ) -> BatchOutcome {
        let started = StdInstant::now();
        let mut summary = ObjectSummary::new(name);
        summary.bytes_read = records
            .iter()
            .filter_map(|r| r.payloads.as_ref().ok())
            .flatten()
            .map(|p| p.len() as u64)
            .sum();
        let total = records.len();
        let (tx, mut rx) = mpsc::channel::<Fed>(CHANNEL_DEPTH);
        let extractor = self.extractor.clone();
        let filter = self.filter.clone();
        let framing = self.framing;
        let keep_raw = self.archive.is_some();
        let producer = tokio::task::spawn_blocking(move || {
            produce(&extractor, &filter, framing, records, &tx, keep_raw);
        });

        let mut feed = Feed::new(self, deadline);
        // bounds[i]: operations pushed (or staged) before record i; one more entry per record
        // read whole.
        let mut bounds: Vec<u64> = vec![0];
        let mut object: Arc<str> = Arc::from(name);
        let mut failure = None;
        loop {
            let fed = match feed.next(&mut rx, &mut summary).await {
                Ok(Some(fed)) => fed,
                Ok(None) => break,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            match fed {
                Fed::Start(record) => object = record,
                Fed::Item { work, gzip } => {
                    let record = bounds.len() - 1;
                    let taken = feed.take(work, &object, gzip, &mut summary, record);
                    if let Err(e) = taken.await {
                        failure = Some(e);
                        break;
                    }
                }
                Fed::End { frames } => {
                    summary.records += frames;
                    bounds.push(feed.operations());
                }
            }
        }
        // After a failure the extractor stops at its next send.
        drop(rx);
        let produced = producer.await;
        let error = match (failure, produced) {
            (Some(source), _) => Some(source.for_object(name.to_owned())),
            (None, Err(e)) => Some(PipelineError::Extractor {
                object: name.to_owned(),
                detail: e.to_string(),
            }),
            (None, Ok(())) => feed
                .complete(&mut summary)
                .await
                .err()
                .map(|source| source.for_object(name.to_owned())),
        };
        summary.apply(feed.report());
        summary.apply_archive(feed.archive_counts());
        summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let first_unconfirmed = error.as_ref().map(|e| {
            // A group staged (or failing to be applied) holds the line at its oldest record,
            // like an operation of the sink that is not settled.
            let sink = first_unconfirmed_record(&bounds, feed.first_unconfirmed(), total);
            let first = match (sink, feed.first_staged_record()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            first.unwrap_or_else(|| {
                tracing::error!(batch = name, error = %e, "a failed batch with every operation settled: retrying it whole");
                0
            })
        });
        BatchOutcome {
            summary,
            first_unconfirmed,
            error,
        }
    }
}

/// The record to retry from: the first with an operation at or after `first_operation` (the
/// sink's first unconfirmed one), or the first not read whole. `bounds[i]` is the operations
/// pushed before record `i`, with one entry more per record read whole. `None` when every
/// record of the `records` was read and settled: an error then has no record to name.
pub(crate) fn first_unconfirmed_record(
    bounds: &[u64],
    first_operation: Option<u64>,
    records: usize,
) -> Option<usize> {
    let read = bounds.len().saturating_sub(1);
    let unsettled = first_operation.and_then(|op| bounds[1..].iter().position(|&end| end > op));
    let first = unsettled.unwrap_or(read);
    (first < records).then_some(first)
}

/// Frames and extracts the records in order (CPU work, on the blocking thread); each record's
/// payloads are freed once read. Stops early (quietly) when the receiver is gone: the sink
/// failed and that error is the one reported.
fn produce(
    extractor: &Extractor,
    filter: &AuthorFilter,
    framing: FramerOptions,
    records: Vec<BatchRecord>,
    tx: &mpsc::Sender<Fed>,
    keep_raw: bool,
) {
    for record in records {
        let source = Extraction {
            extractor,
            filter,
            framing,
            received_at: record.received_at.unwrap_or_else(crate::compliance::now_ms),
            keep_raw,
            last_raw: Default::default(),
        };
        let name: Arc<str> = Arc::from(record.name);
        if tx.blocking_send(Fed::Start(name.clone())).is_err() {
            return;
        }
        let mut frames = 0;
        let payloads = match record.payloads {
            Ok(payloads) => payloads,
            Err(reason) => {
                let work = Work::Invalid { offset: 0, reason };
                let item = Fed::Item { work, gzip: false };
                if tx.blocking_send(item).is_err() {
                    return;
                }
                if tx.blocking_send(Fed::End { frames: 1 }).is_err() {
                    return;
                }
                continue;
            }
        };
        for payload in payloads {
            // The one frame -> items loop, as for objects.
            let mut items = extractor.items_with(payload.as_slice(), framing);
            while let Some(item) = items.next() {
                let work = source.work_for(item, items.record_crc(), items.record());
                let gzip = items.is_gzip();
                if tx.blocking_send(Fed::Item { work, gzip }).is_err() {
                    return;
                }
            }
            frames += items.records();
            // A slice never fails to read (corrupt gzip is invalid data, not a read error);
            // kept so that nothing could end a payload silently.
            if let Some(e) = items.read_error() {
                let work = Work::Invalid {
                    offset: e.offset,
                    reason: e.kind.to_string(),
                };
                if tx.blocking_send(Fed::Item { work, gzip: false }).is_err() {
                    return;
                }
            }
        }
        if tx.blocking_send(Fed::End { frames }).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_record_to_retry() {
        // Records of 2, 0 and 3 operations: bounds 0, 2, 2, 5.
        const READ_ALL: &[u64] = &[0, 2, 2, 5];
        // (bounds, first unconfirmed operation, records) -> first record to retry
        type Row = (&'static [u64], Option<u64>, usize, Option<usize>);
        let table: &[Row] = &[
            (READ_ALL, Some(0), 3, Some(0)),
            (READ_ALL, Some(1), 3, Some(0)),
            // Operation 2 is record 2's first: record 1 (no operations) is settled.
            (READ_ALL, Some(2), 3, Some(2)),
            (READ_ALL, Some(4), 3, Some(2)),
            // Everything settled: no record to name (the caller retries from the first).
            (READ_ALL, None, 3, None),
            // The last record's last operation (e.g. its dead letter held): that record.
            (&[0, 2, 2, 5], Some(4), 3, Some(2)),
            // Two records read whole, the third not: an operation past them is in the third.
            (&[0, 2, 2], Some(2), 3, Some(2)),
            (&[0, 2, 2], None, 3, Some(2)),
            (&[0, 2, 2], Some(0), 3, Some(0)),
            // Nothing read.
            (&[0], None, 3, Some(0)),
            (&[0], None, 0, None),
        ];
        for &(bounds, first_operation, records, want) in table {
            assert_eq!(
                first_unconfirmed_record(bounds, first_operation, records),
                want,
                "bounds {bounds:?}, operation {first_operation:?}"
            );
        }
    }
}
