//! What one sink did with its operations ([`Report`]): shared by the sink, which owns the
//! ledger's outcome counts, and each delivery, which counts its requests.

use serde::Serialize;
use std::time::Duration;

/// What happened to the operations pushed into one sink. When `finish` returns Ok,
/// `operations == created + updated + deleted + not_found + superseded + dead_lettered`.
/// The outcome counts are the sink's ledger (`crate::ledger`): an operation counts once it is
/// confirmed by the server or its dead letter is stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Operations pushed.
    pub operations: u64,
    /// Documents indexed that did not exist before (item status 201).
    pub created: u64,
    /// Documents indexed that replaced an existing one (same `_id`).
    pub updated: u64,
    /// Documents deleted.
    pub deleted: u64,
    /// Deletes of documents that did not exist (counted as done).
    pub not_found: u64,
    /// Operations the index already held a newer version of (409 on a versioned write: a
    /// late or replayed index of a deleted or newer document, or a replayed delete whose
    /// tombstone is there already). Done, not failures.
    pub superseded: u64,
    /// Operations whose dead letter the store confirmed.
    pub dead_lettered: u64,
    /// Operations refused for an index-wide or unknown reason (write block, security error,
    /// missing index): they fail the call and are never dead-lettered.
    pub refused: u64,
    /// Operation re-sends (after 429/5xx/timeouts/resets, per-item retries and 413 splits).
    pub retried: u64,
    /// HTTP bulk requests sent (including failed attempts).
    pub requests: u64,
    /// NDJSON bytes sent, before compression (retries included).
    pub bytes_uncompressed: u64,
    /// Body bytes sent on the wire (after gzip when enabled).
    pub bytes_sent: u64,
    /// Time spent sleeping in backoff.
    #[serde(serialize_with = "millis")]
    pub backoff_wait: Duration,
    /// Time spent waiting for bulk responses.
    #[serde(serialize_with = "millis")]
    pub request_wait: Duration,
}

impl Report {
    /// Documents indexed (created + updated).
    pub fn indexed(&self) -> u64 {
        self.created + self.updated
    }

    /// Adds a delivery's request counts (the outcome counts come from the ledger).
    pub(crate) fn absorb(&mut self, other: &Report) {
        self.refused += other.refused;
        self.retried += other.retried;
        self.requests += other.requests;
        self.bytes_uncompressed += other.bytes_uncompressed;
        self.bytes_sent += other.bytes_sent;
        self.backoff_wait += other.backoff_wait;
        self.request_wait += other.request_wait;
    }
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
