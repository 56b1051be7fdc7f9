//! What one item of an input asks of the sink side, as the per-object loop ([`crate::run`])
//! and the Kinesis batch ([`crate::batch`]) hand it to the feed (`feed.rs`), with the helpers
//! both sides use: the log line of an invalid record, a decimal id as a number.

use std::sync::Arc;

use search_sink::Operation;
use tweets::compliance::Register;

/// What one item of an input asks of the sink side ([`crate::feed`] takes it).
pub(crate) enum Work {
    /// A tweet's document (an [`Operation::Index`]), with what the look-up of its
    /// compliance registers needs.
    Doc {
        op: Operation,
        offset: u64,
        timestamp_ms: Option<i64>,
        warnings: u64,
        /// The tweet's id and its author's.
        ids: (Option<u64>, Option<u64>),
        /// The registers of the compliance events the tweet implies of itself (already
        /// applied to the document; written with the others, they concern other documents
        /// too, e.g. earlier versions of an edited tweet).
        own: Vec<Register>,
        /// The record it was read from, when there is an archive; shared by the tweets of
        /// one record (a v2 payload of many).
        raw: Option<Arc<[u8]>>,
    },
    /// A tweet delete (an [`Operation::Delete`]) and when it happened, when the record says.
    Delete {
        op: Operation,
        offset: u64,
        event_at: Option<i64>,
    },
    /// A compliance event other than a tweet delete: the registers it writes.
    Compliance {
        registers: Vec<Register>,
        offset: u64,
        event_at: Option<i64>,
    },
    Control,
    Filtered,
    Invalid {
        offset: u64,
        reason: String,
    },
}

/// Logs an invalid record; in a gzip object its offset is in the decompressed stream.
pub(crate) fn log_invalid(object: &str, offset: u64, gzip: bool, reason: &str) {
    if gzip {
        let decompressed_offset = offset;
        tracing::warn!(object, decompressed_offset, reason, "invalid record");
    } else {
        tracing::warn!(object, offset, reason, "invalid record");
    }
}

/// A tweet id written in decimal (`_id`s are), as a number.
pub(crate) fn decimal_id(id: &str) -> Option<u64> {
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        .then(|| id.parse().ok())
        .flatten()
}
