//! `--dry-run`: writes the bulk NDJSON the sink would send (action line + document line,
//! `index` with `_id` = id_str for tweets, `delete` for delete notices) to any writer, with no
//! search server involved. Invalid records are counted and logged, not written.

use std::io::{Read, Write};

use search_sink::{Operation, bulk};
use tweets::{Extractor, FramerOptions, Item};

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

/// Streams `reader` (any layout, gzip or not) into bulk NDJSON on `out`.
pub fn write_bulk<R: Read, W: Write>(
    extractor: &Extractor,
    framing: FramerOptions,
    index: &str,
    object: &str,
    reader: R,
    out: &mut W,
) -> Result<ObjectSummary, DryRunError> {
    let mut summary = ObjectSummary::new(object);
    let mut line = Vec::new();
    let mut items = extractor.items_with(reader, framing);
    while let Some(item) = items.next() {
        {
            let (op, offset) = match item {
                Item::Document {
                    id,
                    offset,
                    doc,
                    warnings,
                } => {
                    summary.documents += 1;
                    summary.warnings += warnings.len() as u64;
                    summary.saw_tweet_time(doc.timestamp_ms);
                    let source = doc.to_json();
                    let version = crate::run::tweet_version(doc.timestamp_ms);
                    (
                        Operation::Index {
                            id,
                            source,
                            version,
                        },
                        offset,
                    )
                }
                Item::Delete { id, offset } => {
                    summary.deletes += 1;
                    (Operation::Delete { id }, offset)
                }
                Item::Control { .. } => {
                    summary.control_messages += 1;
                    continue;
                }
                Item::Invalid { offset, reason } => {
                    summary.invalid_records += 1;
                    if items.is_gzip() {
                        let decompressed_offset = offset;
                        tracing::warn!(object, decompressed_offset, %reason, "invalid record");
                    } else {
                        tracing::warn!(object, offset, %reason, "invalid record");
                    }
                    continue;
                }
            };
            line.clear();
            match bulk::encode(index, &op, &mut line) {
                Ok(()) => out.write_all(&line)?,
                Err(e) => {
                    summary.invalid_records += 1;
                    tracing::warn!(object, offset, error = %e, "operation cannot be encoded");
                }
            }
        }
    }
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
