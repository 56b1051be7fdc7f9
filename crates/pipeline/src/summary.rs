//! What happened to one object: the counts the Lambda returns, logs and turns into metrics.

use search_sink::Report;
use serde::Serialize;

/// Per-object counts. Records split into documents, deletes, compliance events, control
/// messages and invalid records (a v2 payload record can hold several documents, so documents
/// may exceed records).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ObjectSummary {
    /// `s3://bucket/key` or a local path.
    pub object: String,
    /// Bytes read from the source (compressed size for gzip objects).
    pub bytes_read: u64,
    /// Times reading the source resumed after a mid-body failure (S3 ranged GETs) instead of
    /// failing the object.
    pub resumed_reads: u64,
    /// Framed records, valid or not.
    pub records: u64,
    /// Tweets turned into documents.
    pub documents: u64,
    /// Delete notices.
    pub deletes: u64,
    /// Tweets by authors outside `FOLLOW_USER_IDS` (not indexed).
    pub filtered: u64,
    /// Tweets and deletes whose time partition is past `RETENTION` (not written: the
    /// partition is removed, or would be; writing would only bring it back).
    pub past_retention: u64,
    /// Stream control messages (limit, warning, ...): counted, not indexed.
    pub control_messages: u64,
    /// Compliance records other than tweet deletes (`scrub_geo`, withheld, user events, edits,
    /// batch job results, ...): each writes registers and fixes the documents it concerns.
    pub compliance_events: u64,
    /// Records that could not be framed or parsed (dead-lettered when a store is configured).
    pub invalid_records: u64,
    /// Fields dropped from otherwise good documents (e.g. out-of-range coordinates).
    pub warnings: u64,
    /// Documents the search server created or updated (`created + updated`).
    pub indexed: u64,
    /// Documents new to the index. A retried object (an invocation retry after a failure)
    /// re-writes documents the first attempt already wrote: those come back as `updated`, so
    /// `created` counts each tweet once however often its object is retried.
    pub created: u64,
    /// Documents that replaced one with the same `_id` (a retry, or a tweet seen twice).
    pub updated: u64,
    /// Deletes applied.
    pub deleted: u64,
    /// Deletes of ids the index did not have (done, nothing to delete).
    pub not_found: u64,
    /// Operations the index already held a newer version of (a late copy of a deleted or
    /// newer tweet): done, not failures.
    pub superseded: u64,
    /// Operations refused for an index-wide reason (write block, security, missing index):
    /// the object failed and is retried.
    pub refused: u64,
    /// Operations and invalid records written to the dead-letter store.
    pub dead_lettered: u64,
    /// Operations sent again after a retryable failure.
    pub retried: u64,
    /// Bulk requests sent.
    pub requests: u64,
    /// Bulk body bytes before and after compression.
    pub bulk_bytes: u64,
    pub bulk_bytes_sent: u64,
    /// The newest tweet's `timestamp_ms`, for the lag metric.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest_tweet_ms: Option<i64>,
    /// Compliance events and tweet deletes whose effect the server confirmed.
    pub compliance_applied: u64,
    /// The longest time from an applied event's `event_at` to its being applied, ms (events
    /// without a time, such as v1.1 `scrub_geo`, have none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compliance_lag_ms: Option<u64>,
    /// Register documents written to `{index}_compliance`, and those it already held a newer
    /// state of (done).
    pub registers_written: u64,
    pub registers_superseded: u64,
    /// Documents that registers changed before they were indexed (an event that came before
    /// its tweet, in an earlier input or earlier in this one).
    pub compliance_on_arrival: u64,
    /// Documents already indexed that events concern: read, written back changed, replaced
    /// by a tombstone (`user_delete` past 30 days), and overtaken by a newer copy meanwhile.
    pub compliance_checked: u64,
    pub compliance_changed: u64,
    pub compliance_tombstones: u64,
    pub compliance_superseded: u64,
    /// The DynamoDB archive (`ARCHIVE_TABLE`): tweets put, deleted and updated (compliance
    /// attributes) there, and changes written again after throttling or as unprocessed items.
    pub archive_puts: u64,
    pub archive_deletes: u64,
    pub archive_updates: u64,
    pub archive_retried: u64,
    /// Wall time spent on the object.
    pub duration_ms: u64,
}

impl ObjectSummary {
    pub fn new(object: impl Into<String>) -> Self {
        ObjectSummary {
            object: object.into(),
            ..Default::default()
        }
    }

    /// Copies the sink's counts in.
    pub(crate) fn apply(&mut self, report: &Report) {
        self.indexed = report.indexed();
        self.created = report.created;
        self.updated = report.updated;
        self.deleted = report.deleted;
        self.not_found = report.not_found;
        self.superseded = report.superseded;
        self.refused = report.refused;
        self.dead_lettered = report.dead_lettered;
        self.retried = report.retried;
        self.requests = report.requests;
        self.bulk_bytes = report.bytes_uncompressed;
        self.bulk_bytes_sent = report.bytes_sent;
    }

    /// Copies the archive's counts in (`None`: no archive).
    pub(crate) fn apply_archive(&mut self, counts: Option<crate::archive::ArchiveCounts>) {
        if let Some(c) = counts {
            self.archive_puts = c.puts;
            self.archive_deletes = c.deletes;
            self.archive_updates = c.updates;
            self.archive_retried = c.retried;
        }
    }

    /// Counts one operation on its way to the sink (or the dry-run output): a document or a
    /// delete, the document's warnings and its time.
    pub(crate) fn saw_operation(
        &mut self,
        op: &search_sink::Operation,
        warnings: u64,
        timestamp_ms: Option<i64>,
    ) {
        match op {
            search_sink::Operation::Index { .. } => self.documents += 1,
            search_sink::Operation::Delete { .. } => self.deletes += 1,
        }
        self.warnings += warnings;
        self.saw_tweet_time(timestamp_ms);
    }

    pub(crate) fn saw_tweet_time(&mut self, timestamp_ms: Option<i64>) {
        if let Some(t) = timestamp_ms {
            self.newest_tweet_ms = Some(self.newest_tweet_ms.map_or(t, |n| n.max(t)));
        }
    }

    /// `count` compliance events (or deletes) applied at `now_ms`, the earliest of them
    /// having happened at `earliest` (when they say).
    pub(crate) fn saw_applied_events(&mut self, count: u64, earliest: Option<i64>, now_ms: i64) {
        self.compliance_applied += count;
        if let Some(at) = earliest {
            let lag = u64::try_from(now_ms.saturating_sub(at)).unwrap_or(0);
            self.saw_compliance_lag(lag);
        }
    }

    fn saw_compliance_lag(&mut self, lag: u64) {
        self.compliance_lag_ms = Some(self.compliance_lag_ms.map_or(lag, |l| l.max(lag)));
    }

    /// Adds another object's counts (for totals over several objects).
    pub fn add(&mut self, other: &ObjectSummary) {
        self.bytes_read += other.bytes_read;
        self.resumed_reads += other.resumed_reads;
        self.records += other.records;
        self.documents += other.documents;
        self.deletes += other.deletes;
        self.filtered += other.filtered;
        self.past_retention += other.past_retention;
        self.control_messages += other.control_messages;
        self.compliance_events += other.compliance_events;
        self.compliance_applied += other.compliance_applied;
        self.registers_written += other.registers_written;
        self.registers_superseded += other.registers_superseded;
        self.compliance_on_arrival += other.compliance_on_arrival;
        self.compliance_checked += other.compliance_checked;
        self.compliance_changed += other.compliance_changed;
        self.compliance_tombstones += other.compliance_tombstones;
        self.compliance_superseded += other.compliance_superseded;
        if let Some(lag) = other.compliance_lag_ms {
            self.saw_compliance_lag(lag);
        }
        self.invalid_records += other.invalid_records;
        self.warnings += other.warnings;
        self.indexed += other.indexed;
        self.created += other.created;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.not_found += other.not_found;
        self.superseded += other.superseded;
        self.refused += other.refused;
        self.dead_lettered += other.dead_lettered;
        self.retried += other.retried;
        self.requests += other.requests;
        self.bulk_bytes += other.bulk_bytes;
        self.bulk_bytes_sent += other.bulk_bytes_sent;
        self.duration_ms += other.duration_ms;
        if let Some(t) = other.newest_tweet_ms {
            self.saw_tweet_time(Some(t));
        }
    }

    /// True when something in the object did not make it into the index as intended.
    pub fn has_failures(&self) -> bool {
        self.invalid_records > 0 || self.dead_lettered > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_every_count_and_keep_the_newest_tweet() {
        let one = ObjectSummary {
            records: 3,
            documents: 2,
            indexed: 2,
            created: 1,
            updated: 1,
            dead_lettered: 1,
            newest_tweet_ms: Some(10),
            compliance_events: 2,
            compliance_applied: 3,
            compliance_lag_ms: Some(7),
            compliance_changed: 4,
            ..ObjectSummary::new("a")
        };
        let two = ObjectSummary {
            records: 1,
            documents: 1,
            indexed: 1,
            created: 1,
            newest_tweet_ms: Some(5),
            compliance_applied: 1,
            compliance_lag_ms: Some(9),
            ..ObjectSummary::new("b")
        };
        let mut total = ObjectSummary::new("2 objects");
        total.add(&one);
        total.add(&two);
        assert_eq!((total.records, total.documents, total.indexed), (4, 3, 3));
        assert_eq!(
            (total.created, total.updated, total.dead_lettered),
            (2, 1, 1)
        );
        assert_eq!(total.newest_tweet_ms, Some(10));
        assert_eq!((total.compliance_events, total.compliance_applied), (2, 4));
        assert_eq!(total.compliance_changed, 4);
        assert_eq!(total.compliance_lag_ms, Some(9), "the longest lag");
        assert!(total.has_failures());
        assert!(!two.has_failures());
    }
}
