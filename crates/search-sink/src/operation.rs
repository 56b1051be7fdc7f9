//! What callers push into the sink: an operation on one document id, plus where it came from.

use std::sync::Arc;

/// One change to the index. The sink knows nothing of the document's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Create or replace the document `id` with `source`, a serialized JSON object.
    Index {
        /// The `_id`; re-sending the same id overwrites, which makes retries safe.
        id: String,
        /// The document: one serialized JSON object (compact or pretty; newlines are folded).
        source: Vec<u8>,
    },
    /// Delete the document `id`; a missing document counts as done (`not_found`).
    Delete {
        /// The `_id` to delete.
        id: String,
    },
}

impl Operation {
    /// The document id this operation is about.
    pub fn id(&self) -> &str {
        match self {
            Operation::Index { id, .. } | Operation::Delete { id } => id,
        }
    }

    /// `"index"` or `"delete"`: the bulk action name.
    pub fn action(&self) -> &'static str {
        match self {
            Operation::Index { .. } => "index",
            Operation::Delete { .. } => "delete",
        }
    }
}

/// Where an operation came from, written into dead-letter entries so a person can find the
/// input record: the source object's name (S3 key or file path) and the record's byte offset.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The source object (e.g. `s3://bucket/key` or a local path). Shared, so cheap to clone.
    pub object: Arc<str>,
    /// Byte offset of the record inside the (decompressed) object.
    pub offset: u64,
}

impl Origin {
    /// An origin at `offset` inside `object`.
    pub fn new(object: impl Into<Arc<str>>, offset: u64) -> Self {
        Self {
            object: object.into(),
            offset,
        }
    }
}
