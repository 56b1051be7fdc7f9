//! `--dry-run`: writes the bulk NDJSON the sink would send (action line + document line,
//! `index` with `_id` = id_str for tweets, `delete` for delete notices) to any writer, with no
//! search server involved. Invalid records are counted and logged, not written.

use std::io::{Read, Write};

use search_sink::{Operation, bulk};
use tweets::{Extractor, FrameErrorKind, Framer, FramerOptions, Item};

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
    let mut items = Vec::new();
    let mut line = Vec::new();
    for frame in Framer::with_options(reader, framing) {
        summary.records += 1;
        match frame {
            Ok(record) => extractor.record_items(&record, &mut items),
            Err(e) => match e.kind {
                FrameErrorKind::Io(detail) => {
                    return Err(DryRunError::Read {
                        object: object.to_owned(),
                        offset: e.offset,
                        detail,
                    });
                }
                kind => items.push(Item::Invalid {
                    offset: e.offset,
                    reason: kind.to_string(),
                }),
            },
        }
        for item in items.drain(..) {
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
                    tracing::warn!(object, offset, %reason, "invalid record");
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
    Ok(summary)
}
