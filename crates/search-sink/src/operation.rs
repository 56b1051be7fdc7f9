//! What callers push into the sink: an operation on one document id, plus where it came from.
//!
//! Every write is versioned so that operations replayed late (a Lambda retry, an SQS
//! redelivery, a timed-out bulk the server still applied) can never undo a newer one: an index
//! carries the caller's version with `version_type=external_gte` (an equal version overwrites,
//! so a replay is idempotent), a delete is written as a *tombstone* document at
//! [`TOMBSTONE_VERSION`], above every index version, with `version_type=external` (strictly
//! greater), so a replayed delete is refused with 409 and counted once. A late index of a
//! deleted id is refused the same way and counted as `superseded`; a delete that arrives
//! before its document wins the same way.
//!
//! # Versions of copies ([`copy_version`])
//! When several copies of one document exist (a tweet captured twice, by two captures or with
//! other counts), the version decides which one the index keeps, whatever the order they
//! arrive in: `(time_ms << 16) | (fingerprint & 0xFFFF)`, below [`TOMBSTONE_VERSION`]. The
//! time is the document's (a tweet's `timestamp_ms`), so a newer copy wins; copies of the same
//! time are ordered by the low 16 bits of a fingerprint of the copy as received (the caller's:
//! `pipeline` uses the CRC-32 of the raw record), so the same set of copies always leaves the
//! same document. The fingerprint is of the input, not of the document sent: a release that
//! builds documents differently re-indexes the same input at the same version, which
//! overwrites (`external_gte`), so a re-index brings every document up to date. Two different
//! copies of one time tie only when their fingerprints agree in 16 bits (1 in 65,536); then
//! the last to arrive wins. Times up to year 2453 fit (`time_ms < 2^43.8`); later ones are
//! clamped. Indexes written by releases whose version was the time alone are replaced by the
//! next copy of each tweet (its version is 65,536 times larger).

use std::sync::Arc;

/// The version of a tombstone: above every index version (indexes are clamped below it), so a
/// delete is final. Deletes must therefore only be used for ids that are never reused.
pub const TOMBSTONE_VERSION: u64 = 1_000_000_000_000_000_000;

/// Bits of a copy's fingerprint in its version.
const FINGERPRINT_BITS: u32 = 16;

/// The version of one copy of a document made at `time_ms` whose input has `fingerprint`:
/// `(time_ms << 16) | (fingerprint & 0xFFFF)`, below [`TOMBSTONE_VERSION`] (module docs).
pub fn copy_version(time_ms: u64, fingerprint: u32) -> u64 {
    let max_time = (TOMBSTONE_VERSION - 1) >> FINGERPRINT_BITS;
    let low = u64::from(fingerprint) & ((1 << FINGERPRINT_BITS) - 1);
    (time_ms.min(max_time) << FINGERPRINT_BITS) | low
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_versions_order_by_time_then_fingerprint_below_tombstones() {
        let ms = 1_764_504_000_123u64;
        // (time, fingerprint) -> version
        let table = [
            (0, 0, 0),
            (0, 0xFFFF_FFFF, 0xFFFF),
            (ms, 0, ms << 16),
            (ms, 0x1234_ABCD, (ms << 16) | 0xABCD),
            (1, 0, 65_536),
            // 2^42 ms (year 2109) fits as it is.
            (1 << 42, 7, (1 << 58) | 7),
        ];
        for (time, fingerprint, want) in table {
            assert_eq!(
                copy_version(time, fingerprint),
                want,
                "{time} {fingerprint:#x}"
            );
        }
        // A later time wins whatever the fingerprints; then the higher fingerprint.
        assert!(copy_version(ms + 1, 0) > copy_version(ms, 0xFFFF));
        assert!(copy_version(ms, 2) > copy_version(ms, 1));
        // A version from an earlier release (the time alone) loses to any copy of it.
        assert!(copy_version(ms, 0) > ms);
        // Times past year 2453 are clamped below the tombstones.
        for time in [u64::MAX, 1 << 50, (TOMBSTONE_VERSION >> 16) + 1] {
            let version = copy_version(time, 0xFFFF);
            assert!(version < TOMBSTONE_VERSION, "{time}: {version}");
            assert!(version > copy_version(1 << 43, 0xFFFF), "{time}");
        }
    }
}
