//! A batch of small in-memory records (a Kinesis batch) through one bulk sink, in order.
//!
//! Each record holds one or more payloads (a KPL aggregate gives several); each payload is
//! framed like an object (one JSON value, NDJSON, any layout the framer reads, gzip included).
//! The caller learns which prefix of the batch is confirmed: the sink is flushed at record
//! boundaries once `bulk_concurrency` bulks' worth of operations or bytes were pushed (a
//! checkpoint), so on a failure every record before the last checkpoint is known indexed and
//! the first record after it is where a retry starts. Computed from what the sink reports
//! (a flush that returned Ok), not from a per-operation acknowledgement it does not give.
//! Unlike [`Indexer::index`], nothing streams: a batch is bounded by the invocation payload
//! (6 MB), so it is extracted in one blocking task and then sent.
//!
//! Not here: what the records came from (the Lambda's Kinesis module decodes base64 and KPL).

use std::time::Instant as StdInstant;

use search_sink::{BulkSink, Operation, Origin, SinkError};
use tokio::time::Instant;
use tweets::{Extractor, FramerOptions};

use crate::filter::AuthorFilter;
use crate::run::{Indexer, PipelineError, Work, work_for};
use crate::summary::ObjectSummary;

/// One record of a batch.
#[derive(Debug, Clone)]
pub struct BatchRecord {
    /// Names the record in logs and dead letters (for Kinesis: stream, shard, sequence number).
    pub name: String,
    /// The record's payloads, or why it is not readable data (bad base64, bad aggregate):
    /// such a record is counted and dead-lettered, never retried.
    pub payloads: Result<Vec<Vec<u8>>, String>,
}

/// What became of a batch.
#[derive(Debug)]
pub struct BatchOutcome {
    /// Counts over the whole batch (`object` is the batch's name).
    pub summary: ObjectSummary,
    /// The first record not known to be confirmed, when something failed: every record
    /// before it is indexed (or dead-lettered), it and the later ones must be retried.
    pub first_unconfirmed: Option<usize>,
    /// The failure, when there was one.
    pub error: Option<PipelineError>,
}

/// One step of a record, ready for the sink.
enum Step {
    Op {
        op: Operation,
        origin: Origin,
        timestamp_ms: Option<i64>,
        warnings: u64,
    },
    Control,
    Filtered,
    Invalid {
        origin: Origin,
        reason: String,
    },
}

/// The steps of one record, and how many framed records its payloads held.
struct Extracted {
    steps: Vec<Step>,
    frames: u64,
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
        let extractor = self.extractor.clone();
        let filter = self.filter.clone();
        let framing = self.framing;
        let extracted = tokio::task::spawn_blocking(move || {
            records
                .iter()
                .map(|record| extract(&extractor, &filter, framing, record))
                .collect::<Vec<_>>()
        })
        .await;
        let extracted = match extracted {
            Ok(extracted) => extracted,
            Err(e) => {
                return BatchOutcome {
                    summary,
                    first_unconfirmed: Some(0),
                    error: Some(PipelineError::Extractor {
                        object: name.to_owned(),
                        detail: e.to_string(),
                    }),
                };
            }
        };

        let config = self.client.config();
        let checkpoint_every = config
            .bulk_max_operations
            .saturating_mul(config.bulk_concurrency.max(1))
            .max(1) as u64;
        let mut sink = BulkSink::new(self.client.clone(), deadline, self.dead_letters.clone());
        let mut confirmed_records = 0usize;
        let mut pushed_at_checkpoint = 0u64;
        // Document bytes since the checkpoint: the sink also sends a bulk at `bulk_max_bytes`.
        let checkpoint_bytes = config
            .bulk_max_bytes
            .saturating_mul(config.bulk_concurrency.max(1));
        let mut bytes_since_checkpoint = 0usize;
        let mut failure = None;
        'records: for (index, record) in extracted.into_iter().enumerate() {
            summary.records += record.frames;
            for step in record.steps {
                if let Step::Op {
                    op: Operation::Index { source, .. },
                    ..
                } = &step
                {
                    bytes_since_checkpoint += source.len();
                }
                if let Err(e) = self.send(&mut sink, step, &mut summary).await {
                    failure = Some(e);
                    break 'records;
                }
            }
            if sink.report().operations - pushed_at_checkpoint >= checkpoint_every
                || bytes_since_checkpoint >= checkpoint_bytes
            {
                if let Err(e) = sink.flush().await {
                    failure = Some(e);
                    break;
                }
                pushed_at_checkpoint = sink.report().operations;
                bytes_since_checkpoint = 0;
                // Dead letters are written when the sink finishes: until then a record with
                // one is not confirmed, so the checkpoint stops moving.
                if sink.report().dead_lettered == 0 {
                    confirmed_records = index + 1;
                }
            }
        }
        let result = match failure {
            Some(e) => {
                summary.apply(sink.report());
                Err(e)
            }
            None => sink.finish().await.map(|report| summary.apply(&report)),
        };
        summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok(()) => BatchOutcome {
                summary,
                first_unconfirmed: None,
                error: None,
            },
            Err(source) => BatchOutcome {
                summary,
                first_unconfirmed: Some(confirmed_records),
                error: Some(PipelineError::Sink {
                    object: name.to_owned(),
                    source,
                }),
            },
        }
    }

    async fn send(
        &self,
        sink: &mut BulkSink,
        step: Step,
        summary: &mut ObjectSummary,
    ) -> Result<(), SinkError> {
        match step {
            Step::Op {
                op,
                origin,
                timestamp_ms,
                warnings,
            } => {
                summary.saw_operation(&op, warnings, timestamp_ms);
                sink.push(op, origin).await
            }
            Step::Control => {
                summary.control_messages += 1;
                Ok(())
            }
            Step::Filtered => {
                summary.filtered += 1;
                Ok(())
            }
            Step::Invalid { origin, reason } => {
                summary.invalid_records += 1;
                tracing::warn!(record = %origin.object, offset = origin.offset, %reason, "invalid record");
                // As for objects: with no store the record is logged and counted; a retry
                // cannot repair its bytes.
                if self.dead_letters.is_some() {
                    sink.reject(origin, "invalid_record", &reason).await
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// Frames and extracts one record's payloads (CPU work, on the blocking thread).
fn extract(
    extractor: &Extractor,
    filter: &AuthorFilter,
    framing: FramerOptions,
    record: &BatchRecord,
) -> Extracted {
    let mut out = Extracted {
        steps: Vec::new(),
        frames: 0,
    };
    let payloads = match &record.payloads {
        Ok(payloads) => payloads,
        Err(reason) => {
            out.frames = 1;
            out.steps.push(Step::Invalid {
                origin: Origin::new(record.name.as_str(), 0),
                reason: reason.clone(),
            });
            return out;
        }
    };
    for payload in payloads {
        // The one frame -> items loop, as for objects.
        let mut items = extractor.items_with(payload.as_slice(), framing);
        for item in items.by_ref() {
            out.steps.push(step(work_for(item, filter), &record.name));
        }
        out.frames += items.records();
        // A slice never fails to read (corrupt gzip is invalid data, not a read error); kept
        // so that nothing could end a payload silently.
        if let Some(e) = items.read_error() {
            out.steps.push(Step::Invalid {
                origin: Origin::new(record.name.as_str(), e.offset),
                reason: e.kind.to_string(),
            });
        }
    }
    out
}

/// A record's work item with its origin (the record's name) for the sink.
fn step(work: Work, name: &str) -> Step {
    match work {
        Work::Op {
            op,
            offset,
            timestamp_ms,
            warnings,
        } => Step::Op {
            op,
            origin: Origin::new(name, offset),
            timestamp_ms,
            warnings,
        },
        Work::Control => Step::Control,
        Work::Filtered => Step::Filtered,
        Work::Invalid { offset, reason } => Step::Invalid {
            origin: Origin::new(name, offset),
            reason,
        },
    }
}
