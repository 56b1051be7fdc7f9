//! `--dry-run`: writes the bulk NDJSON the sink would send (action line + document line,
//! `index` with `_id` = id_str for tweets, a tombstone for delete notices) to any writer, with
//! no search server involved. Invalid records are counted and logged, not written; tweets the
//! author filter leaves out are counted as `filtered`. Compliance events are counted: what
//! they write (registers, and fixes of indexed documents) depends on what the server holds, so
//! it is not printed, nor are registers from earlier inputs applied to the documents printed.
//!
//! Action lines name no `_index` (the sink sends them to `POST /{index}/_bulk`). With one
//! index (`INDEX_PARTITION=none`) the output is exactly such a body. Partitioned, each run
//! of operations for one partition is preceded by its request line, `POST /{partition}/_bulk`,
//! as the Dev Tools console takes it: the output says where each operation goes.

use std::io::{Read, Write};

use search_sink::bulk;
use tweets::partition::{Partition, Period, Retention};
use tweets::{Extractor, FramerOptions};

use crate::filter::AuthorFilter;
use crate::run::Extraction;
use crate::summary::ObjectSummary;
use crate::work::{Work, log_invalid};

#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    #[error("{object}: read failed at byte {offset} of the decompressed stream: {detail}")]
    Read {
        object: String,
        offset: u64,
        detail: String,
    },
    #[error("writing the bulk output failed: {0}")]
    Write(#[from] std::io::Error),
}

/// Where a dry run's operations go: the index (or alias), its partitioning, and the
/// retention with the time it is judged at (operations of partitions past it are counted as
/// `past_retention`, not printed, as the sink would not send them).
#[derive(Debug, Clone, Copy)]
pub struct Routing<'a> {
    pub index: &'a str,
    pub partition: Partition,
    pub retention: Option<(Retention, i64)>,
}

/// Bytes of bulk lines gathered before they are written out.
const OUTPUT_CHUNK: usize = 256 * 1024;

/// Streams `reader` (any layout, gzip or not) into bulk NDJSON on `out`: the operations the
/// sink would send, built by the same conversion (versions and tombstones included), with
/// the same author filter.
pub fn write_bulk<R: Read, W: Write>(
    extractor: &Extractor,
    framing: FramerOptions,
    filter: &AuthorFilter,
    routing: Routing<'_>,
    object: &str,
    reader: R,
    out: &mut W,
) -> Result<ObjectSummary, DryRunError> {
    let mut summary = ObjectSummary::new(object);
    // Lines are encoded straight into one buffer written out whole when it fills (no copy
    // per line into a writer's buffer, one write per chunk).
    let mut lines = Vec::with_capacity(OUTPUT_CHUNK + OUTPUT_CHUNK / 4);
    let Routing {
        index,
        partition,
        retention,
    } = routing;
    let source = Extraction {
        extractor,
        filter,
        framing,
        // No register is written: the time is not used.
        received_at: 0,
        // The archive is not written: what the index would accept is not known.
        keep_raw: false,
        last_raw: Default::default(),
    };
    let mut items = extractor.items_with(reader, framing);
    // The partition of the last request line written.
    let mut target: Option<Period> = None;
    while let Some(item) = items.next() {
        let operation = match source.work_for(item, items.record_crc(), &[]) {
            Work::Doc {
                op,
                offset,
                timestamp_ms,
                warnings,
                ..
            } => Some((op, offset, timestamp_ms, warnings)),
            Work::Delete { op, offset, .. } => Some((op, offset, None, 0)),
            Work::Compliance { .. } => {
                summary.compliance_events += 1;
                None
            }
            Work::Control => {
                summary.control_messages += 1;
                None
            }
            Work::Filtered => {
                summary.filtered += 1;
                None
            }
            Work::Invalid { offset, reason } => {
                summary.invalid_records += 1;
                log_invalid(object, offset, items.is_gzip(), &reason);
                None
            }
        };
        let Some((op, offset, timestamp_ms, warnings)) = operation else {
            continue;
        };
        match partition.period_of_id(op.id()) {
            Ok(None) => {}
            Ok(Some(period)) if retention.is_some_and(|(r, now)| r.expired(&period, now)) => {
                summary.past_retention += 1;
                continue;
            }
            Ok(Some(period)) if target == Some(period) => {}
            Ok(Some(period)) => {
                target = Some(period);
                lines.extend_from_slice(b"POST /");
                lines.extend_from_slice(period.index_name(index).as_bytes());
                lines.extend_from_slice(b"/_bulk\n");
            }
            Err(e) => {
                summary.invalid_records += 1;
                log_invalid(object, offset, items.is_gzip(), &e.to_string());
                continue;
            }
        }
        summary.saw_operation(&op, warnings, timestamp_ms);
        match bulk::encode(&op, &mut lines) {
            Ok(()) if lines.len() >= OUTPUT_CHUNK => {
                out.write_all(&lines)?;
                lines.clear();
            }
            Ok(()) => {}
            Err(e) => {
                summary.invalid_records += 1;
                tracing::warn!(object, offset, error = %e, "operation cannot be encoded");
            }
        }
    }
    out.write_all(&lines)?;
    summary.records = items.records();
    if let Some(e) = items.read_error() {
        return Err(DryRunError::Read {
            object: object.to_owned(),
            offset: e.offset,
            detail: e.kind.to_string(),
        });
    }
    Ok(summary)
}
