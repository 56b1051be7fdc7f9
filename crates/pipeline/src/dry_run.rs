//! `--dry-run`: writes the bulk NDJSON the sink would send (action line + document line,
//! `index` with `_id` = id_str for tweets, `delete` for delete notices) to any writer, with no
//! search server involved. Invalid records are counted and logged, not written; tweets the author
//! filter leaves out are counted as `filtered`. Compliance events are counted: what they write
//! (registers, and fixes of indexed documents) depends on what the server holds, so it is not
//! printed, nor are registers from earlier inputs applied to the documents printed.

use std::io::{Read, Write};

use search_sink::bulk;
use tweets::{Extractor, FramerOptions};

use crate::filter::AuthorFilter;
use crate::run::{Extraction, Work, log_invalid};
use crate::summary::ObjectSummary;

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

/// Bytes of bulk lines gathered before they are written out.
const OUTPUT_CHUNK: usize = 256 * 1024;

/// Streams `reader` (any layout, gzip or not) into bulk NDJSON on `out`: the operations the
/// sink would send, built by the same conversion (versions and tombstones included), with
/// the same author filter.
pub fn write_bulk<R: Read, W: Write>(
    extractor: &Extractor,
    framing: FramerOptions,
    filter: &AuthorFilter,
    index: &str,
    object: &str,
    reader: R,
    out: &mut W,
) -> Result<ObjectSummary, DryRunError> {
    let mut summary = ObjectSummary::new(object);
    // Lines are encoded straight into one buffer written out whole when it fills (no copy
    // per line into a writer's buffer, one write per chunk).
    let mut lines = Vec::with_capacity(OUTPUT_CHUNK + OUTPUT_CHUNK / 4);
    let source = Extraction {
        extractor,
        filter,
        framing,
        // No register is written: the time is not used.
        received_at: 0,
    };
    let mut items = extractor.items_with(reader, framing);
    while let Some(item) = items.next() {
        let (op, offset, timestamp_ms, warnings) = match source.work_for(item, items.record_crc()) {
            Work::Doc {
                op,
                offset,
                timestamp_ms,
                warnings,
                ..
            } => (op, offset, timestamp_ms, warnings),
            Work::Delete { op, offset, .. } => (op, offset, None, 0),
            Work::Compliance { .. } => {
                summary.compliance_events += 1;
                continue;
            }
            Work::Control => {
                summary.control_messages += 1;
                continue;
            }
            Work::Filtered => {
                summary.filtered += 1;
                continue;
            }
            Work::Invalid { offset, reason } => {
                summary.invalid_records += 1;
                log_invalid(object, offset, items.is_gzip(), &reason);
                continue;
            }
        };
        summary.saw_operation(&op, warnings, timestamp_ms);
        match bulk::encode(index, &op, &mut lines) {
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
