//! What callers push into the sink: an operation on one document id, plus where it came from.
//!
//! Every write is versioned (`version_type=external_gte`) so that operations replayed late
//! (a Lambda retry, an SQS redelivery, a timed-out bulk the server still applied) can never
//! undo a newer one: an index carries the caller's version (e.g. the tweet's time), a delete
//! is written as a *tombstone* document at [`TOMBSTONE_VERSION`], above every index version.
//! A late index of a deleted id is then refused by the server with 409 and counted as
//! `superseded`; a delete that arrives before its document wins the same way.

use std::sync::Arc;

/// The version of a tombstone: above every index version (indexes are clamped below it), so a
/// delete is final. Deletes must therefore only be used for ids that are never reused.
pub const TOMBSTONE_VERSION: u64 = 1_000_000_000_000_000_000;

/// The source of a tombstone. It has none of the caller's fields: with the project mapping
/// (`dynamic: false`) `deleted` is kept in `_source` only, tombstones never show in
/// time-based dashboards (no time field), and `exists` on any always-set field (e.g.
/// `timestamp_ms`) excludes them from searches and counts.
pub const TOMBSTONE_SOURCE: &[u8] = br#"{"deleted":true}"#;

/// One change to the index. The sink knows nothing of the document's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Create or replace the document `id` with `source`, a serialized JSON object, unless
    /// the index holds a higher version of it (then the operation is `superseded`).
    Index {
        /// The `_id`; re-sending the same id and version overwrites, which makes retries safe.
        id: String,
        /// The document: one serialized JSON object (compact or pretty; newlines are folded).
        source: Vec<u8>,
        /// External version (e.g. the document's creation time in epoch milliseconds); a
        /// higher version of the same id wins whatever the arrival order. Values at or above
        /// [`TOMBSTONE_VERSION`] are clamped just below it.
        version: u64,
    },
    /// Delete the document `id` for good: a tombstone replaces it (or stands in for it when it
    /// has not arrived yet). `not_found` counts tombstones of ids the index did not have.
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

    /// `"index"` or `"delete"`: what the operation means (both are sent as bulk `index`
    /// actions; a delete as a tombstone).
    pub fn action(&self) -> &'static str {
        match self {
            Operation::Index { .. } => "index",
            Operation::Delete { .. } => "delete",
        }
    }

    /// The external version written with this operation.
    pub fn version(&self) -> u64 {
        match self {
            Operation::Index { version, .. } => (*version).min(TOMBSTONE_VERSION - 1),
            Operation::Delete { .. } => TOMBSTONE_VERSION,
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
