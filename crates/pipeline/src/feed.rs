//! The one path from an input's work items to the index, for objects ([`crate::run`]) and
//! Kinesis batches ([`crate::batch`]) alike: what X requires is applied on the way.
//!
//! Items are staged in input order, a group at a time (at most [`GROUP_DOCUMENTS`]
//! documents, [`GROUP_BYTES`] of them, or [`GROUP_REGISTERS`] registers). When a group is
//! full, has waited [`GROUP_WAIT`] for more, or the input ends, it is applied in this order:
//!
//! 1. the registers of its compliance events (and of what its tweets say of themselves) are
//!    written to `{index}_compliance`, each confirmed or found superseded;
//! 2. the registers of its documents' authors and ids are looked up (one real-time `_mget`,
//!    [`crate::compliance::Registers::of`]) and, with the group's own, applied to each
//!    document: its compliance fields set, its location removed, or (a `user_delete` past
//!    X's 30 days) a tombstone instead. So an event that came before its tweet, in an earlier
//!    input or earlier in this one, holds when the tweet arrives;
//! 3. the group's operations go to the bulk sink, in input order;
//! 4. the documents already indexed that its events concern are fixed
//!    (`compliance::Registers::fix_subjects`). Before step 1, the sink confirms what this
//!    input sent before and the alias is refreshed (where the server allows it), so that
//!    tweets earlier in this input are found too.
//!
//! With an archive ([`crate::archive`]), each document's and delete's change waits until the
//! sink says what the server did with its operation: a document the index accepted is put, a
//! superseded one is not, a delete is applied; step 4's fix-ups change the archive once they
//! are confirmed. An operation is settled only once its change is written too.
//!
//! Documents and deletes are operations of the sink and settle in its ledger once pushed; a
//! compliance event (and a tweet with events of its own) settles when steps 1 and 4 of its
//! group are confirmed. Until then its record holds the line like an unconfirmed operation:
//! [`Feed::first_staged_record`] names the group's first such record, or the first record
//! whose items are not pushed yet, and a failure retries from there (idempotent: versions
//! make every write of a retry land where it did or be refused as superseded).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use search_sink::{BulkSink, Operation, Origin, Report, SinkError};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tweets::compliance::{Register, RegisterSet, Verdict};

use crate::archive::{ArchiveCounts, ArchiveError, ArchiveWriter, Change, Entry, State};
use crate::compliance::{Registers, applied, now_ms};
use crate::indexer::Indexer;
use crate::lifecycle::Route;
use crate::summary::ObjectSummary;
use crate::work::{Work, decimal_id, log_invalid};

/// Documents staged before their registers are looked up (about 9 register ids each in one
/// `_mget`).
pub(crate) const GROUP_DOCUMENTS: usize = 500;

/// Document bytes staged before their registers are looked up (bounds the memory a group of
/// large documents holds).
pub(crate) const GROUP_BYTES: usize = 2 * 1024 * 1024;

/// Registers staged before they are written (and their documents fixed).
pub(crate) const GROUP_REGISTERS: usize = 1_000;

/// The longest a group waits for more items before it is applied: an input that trickles (a
/// pipe from a live capture) is indexed as it comes, not once 500 documents are there.
pub(crate) const GROUP_WAIT: Duration = Duration::from_millis(250);

/// One staged operation (or rejected record) of the sink, in input order. `index` is the
/// partition the operation goes to ([`crate::lifecycle`]; `None`: the sink's index).
enum Staged {
    /// A tweet's document: its ids for the register look-up.
    Doc {
        op: Operation,
        origin: Origin,
        index: Option<Arc<str>>,
        ids: (Option<u64>, Option<u64>),
        /// For the archive: the tweet's time and raw record.
        time_ms: Option<i64>,
        raw: Option<Arc<[u8]>>,
    },
    /// A delete.
    Delete {
        op: Operation,
        origin: Origin,
        index: Option<Arc<str>>,
    },
    /// A record to dead-letter (a store is configured).
    Reject { origin: Origin, reason: String },
}

/// Why an input's way to the index stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FeedError {
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

/// The archive's side of a feed: the change of each operation pushed and not yet confirmed
/// (by its number), and the writer of the confirmed ones.
struct Archived {
    awaiting: BTreeMap<u64, Change>,
    writer: ArchiveWriter,
}

/// An input's way to the index (module docs). Shares the indexer's client, dead-letter
/// store and compliance index.
pub(crate) struct Feed {
    indexer: Indexer,
    sink: BulkSink,
    registers: Registers,
    deadline: Instant,
    /// With the record each came from (Kinesis batches; 0 for an object).
    staged: VecDeque<(Staged, usize)>,
    staged_bytes: usize,
    staged_documents: usize,
    /// Registers of the group's compliance events and of its tweets' own events.
    staged_registers: Vec<Register>,
    /// Compliance events of the group (not counting deletes).
    staged_events: u64,
    /// The earliest `event_at` of the group's compliance events.
    staged_event_at: Option<i64>,
    /// Where the group's first event is (named by its fix-ups' errors).
    staged_origin: Option<Origin>,
    /// When the group's first item was staged plus [`GROUP_WAIT`]: it is applied then.
    apply_by: Option<Instant>,
    /// The record of the group's first compliance event (or tweet with events of its own):
    /// unsettled until the group's registers are written and its fix-ups confirmed.
    first_event_record: Option<usize>,
    /// Deletes sent to the sink, and the earliest `event_at` among them: applied (for the lag)
    /// once the sink confirms everything.
    deletes: u64,
    delete_event_at: Option<i64>,
    /// Operations went to the sink since the alias was last refreshed.
    sent_since_refresh: bool,
    archive: Option<Archived>,
}

impl Feed {
    pub(crate) fn new(indexer: &Indexer, deadline: Instant) -> Self {
        let mut sink = BulkSink::new(
            indexer.client.clone(),
            deadline,
            indexer.dead_letters.clone(),
        );
        let mut registers = Registers::new(indexer);
        let archive = indexer.archive_writer().map(|writer| {
            sink.track_outcomes();
            registers.collect_archive_changes();
            Archived {
                awaiting: BTreeMap::new(),
                writer,
            }
        });
        Feed {
            sink,
            registers,
            archive,
            indexer: indexer.clone(),
            deadline,
            staged: VecDeque::new(),
            staged_bytes: 0,
            staged_documents: 0,
            staged_registers: Vec::new(),
            staged_events: 0,
            staged_event_at: None,
            staged_origin: None,
            apply_by: None,
            first_event_record: None,
            deletes: 0,
            delete_event_at: None,
            sent_since_refresh: false,
        }
    }

    /// The sink's counts so far.
    pub(crate) fn report(&self) -> &Report {
        self.sink.report()
    }

    /// Operations pushed into the sink, or staged to be (they will be numbered in this order):
    /// where the next record's operations begin.
    pub(crate) fn operations(&self) -> u64 {
        let staged = self.staged.len() as u64;
        self.sink.report().operations + staged
    }

    /// What the archive wrote (`None`: no archive).
    pub(crate) fn archive_counts(&self) -> Option<ArchiveCounts> {
        self.archive.as_ref().map(|a| a.writer.counts())
    }

    /// The first unsettled operation: the sink's ([`BulkSink::first_unconfirmed`]), or one
    /// confirmed whose archive change is not written yet.
    pub(crate) fn first_unconfirmed(&self) -> Option<u64> {
        let archive = self.archive.as_ref().and_then(|a| {
            let awaiting = a.awaiting.keys().next().copied();
            earliest_op(awaiting, a.writer.first_unwritten())
        });
        earliest_op(self.sink.first_unconfirmed(), archive)
    }

    /// The first record the sink's ledger cannot vouch for: the group's first compliance
    /// event (its registers and fix-ups not confirmed yet) or the first item not yet pushed
    /// into the sink. It and every later record are unsettled.
    pub(crate) fn first_staged_record(&self) -> Option<usize> {
        let unpushed = self.staged.front().map(|(_, record)| *record);
        match (self.first_event_record, unpushed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Takes one work item of `object` (record number `record` of a batch): counts it and
    /// stages it; applies the group when it is full. `gzip`: offsets are in the decompressed
    /// stream.
    pub(crate) async fn take(
        &mut self,
        work: Work,
        object: &Arc<str>,
        gzip: bool,
        summary: &mut ObjectSummary,
        record: usize,
    ) -> Result<(), FeedError> {
        let origin = |offset| Origin::new(object.clone(), offset);
        // Each tweet's operation goes to its partition; one past retention is not written,
        // an id that names no partition is an invalid record.
        let (work, index) = match work {
            Work::Doc { ref op, offset, .. } | Work::Delete { ref op, offset, .. } => {
                let route = self
                    .indexer
                    .lifecycle
                    .index_for(&self.indexer.client, op.id(), self.deadline)
                    .await?;
                match route {
                    Route::Default => (work, None),
                    Route::Index(index) => (work, Some(index)),
                    Route::PastRetention => {
                        summary.past_retention += 1;
                        return Ok(());
                    }
                    Route::Invalid(reason) => (Work::Invalid { offset, reason }, None),
                }
            }
            other => (other, None),
        };
        match work {
            Work::Doc {
                op,
                offset,
                timestamp_ms,
                warnings,
                ids,
                own,
                raw,
            } => {
                summary.saw_operation(&op, warnings, timestamp_ms);
                if let Operation::Index { source, .. } = &op {
                    self.staged_bytes += source.len();
                }
                self.staged_bytes += raw.as_ref().map_or(0, |raw| raw.len());
                self.staged_documents += 1;
                if !own.is_empty() {
                    self.first_event_record.get_or_insert(record);
                    self.staged_registers.extend(own);
                }
                self.stage(
                    Staged::Doc {
                        op,
                        origin: origin(offset),
                        index,
                        ids,
                        time_ms: timestamp_ms,
                        raw,
                    },
                    record,
                );
            }
            Work::Delete {
                op,
                offset,
                event_at,
            } => {
                summary.saw_operation(&op, 0, None);
                self.deletes += 1;
                self.delete_event_at = earliest(self.delete_event_at, event_at);
                let origin = origin(offset);
                self.stage(Staged::Delete { op, origin, index }, record);
            }
            Work::Compliance {
                registers,
                offset,
                event_at,
            } => {
                summary.compliance_events += 1;
                self.staged_events += 1;
                self.staged_event_at = earliest(self.staged_event_at, event_at);
                self.staged_origin.get_or_insert_with(|| origin(offset));
                self.staged_registers.extend(registers);
                self.first_event_record.get_or_insert(record);
            }
            Work::Control => summary.control_messages += 1,
            Work::Filtered => summary.filtered += 1,
            Work::Invalid { offset, reason } => {
                summary.invalid_records += 1;
                log_invalid(object, offset, gzip, &reason);
                // With no store the record stays where it is (the source object, at this
                // offset) and is counted: failing the object cannot repair its bytes.
                if self.indexer.dead_letters.is_some() {
                    let origin = origin(offset);
                    self.stage(Staged::Reject { origin, reason }, record);
                }
            }
        }
        if self.apply_by.is_none() && !self.group_is_empty() {
            self.apply_by = Some(Instant::now() + GROUP_WAIT);
        }
        if self.staged_documents >= GROUP_DOCUMENTS
            || self.staged_bytes >= GROUP_BYTES
            || self.staged_registers.len() >= GROUP_REGISTERS
        {
            self.apply(summary).await?;
        }
        Ok(())
    }

    fn stage(&mut self, staged: Staged, record: usize) {
        self.staged.push_back((staged, record));
    }

    /// Nothing staged: no operation, no register, no event (some events write none).
    fn group_is_empty(&self) -> bool {
        self.staged.is_empty() && self.staged_registers.is_empty() && self.staged_events == 0
    }

    /// The next item of `items`; meanwhile, a group that has waited [`GROUP_WAIT`] is applied.
    /// `None` when the sender is done.
    pub(crate) async fn next<T>(
        &mut self,
        items: &mut mpsc::Receiver<T>,
        summary: &mut ObjectSummary,
    ) -> Result<Option<T>, FeedError> {
        loop {
            let Some(at) = self.apply_by else {
                return Ok(items.recv().await);
            };
            tokio::select! {
                biased;
                item = items.recv() => return Ok(item),
                () = tokio::time::sleep_until(at) => self.apply(summary).await?,
            }
        }
    }

    /// Applies the staged group (module docs, steps 1 to 4).
    async fn apply(&mut self, summary: &mut ObjectSummary) -> Result<(), FeedError> {
        self.apply_by = None;
        if self.group_is_empty() {
            self.first_event_record = None;
            return Ok(());
        }
        let now_ms = now_ms();
        let deadline = self.deadline;
        let own: RegisterSet = self.staged_registers.iter().cloned().collect();
        let origin = self
            .staged_origin
            .clone()
            .or_else(|| self.staged.front().map(|(s, _)| staged_origin(s)))
            .unwrap_or_else(|| Origin::new("compliance", 0));
        if !own.is_empty() && self.sent_since_refresh {
            // What this input sent before must be confirmed and searchable to be fixed (step
            // 4); from here on the sink's ledger vouches for all of it.
            self.sink.flush().await?;
            // And archived: an update of step 4 finds the items of these tweets.
            self.archive_flush().await?;
            let alias = self.indexer.client.config().index.clone();
            self.indexer.client.refresh(&alias, deadline).await?;
            self.sent_since_refresh = false;
        }
        // 1. The registers, before anything is indexed with them.
        let written = self.registers.write(&own, &origin, deadline).await?;
        summary.registers_written += written.written;
        summary.registers_superseded += written.superseded;
        // 2. The registers of the group's documents, applied.
        let docs: Vec<(Option<u64>, Option<u64>)> = self
            .staged
            .iter()
            .filter_map(|(s, _)| match s {
                Staged::Doc { ids, .. } => Some(*ids),
                _ => None,
            })
            .collect();
        let mut set = self.registers.of(&docs, deadline).await?;
        set.extend(own.iter().cloned());
        // 3. To the sink, in input order (from then on its ledger holds the item's line; what
        // is not pushed yet stays staged). These documents have the registers applied already.
        while let Some((staged, _)) = self.staged.pop_front() {
            match staged {
                Staged::Doc {
                    op,
                    origin,
                    index,
                    ids,
                    time_ms,
                    raw,
                } => {
                    let (op, applied) = apply_registers(op, ids, &set, now_ms);
                    summary.compliance_on_arrival += u64::from(applied);
                    let change = raw.and_then(|raw| {
                        let state = State::of(&set.verdict(ids.0, ids.1, now_ms));
                        archive_change(&op, ids, time_ms, raw, state)
                    });
                    self.push(op, origin, index, change).await?;
                }
                Staged::Delete { op, origin, index } => {
                    let change = self
                        .archive
                        .as_ref()
                        .and_then(|_| decimal_id(op.id()))
                        .map(|id| Change::Delete { id });
                    self.push(op, origin, index, change).await?;
                }
                Staged::Reject { origin, reason } => {
                    self.sink.reject(origin, "invalid_record", &reason).await?;
                }
            }
            self.sent_since_refresh = true;
        }
        self.staged_bytes = 0;
        self.staged_documents = 0;
        // 4. The documents already indexed that the group's registers concern.
        if !own.is_empty() {
            let fixed = self
                .registers
                .fix_subjects(&own, &origin, now_ms, deadline)
                .await?;
            summary.compliance_checked += fixed.checked;
            summary.compliance_changed += fixed.changed;
            summary.compliance_tombstones += fixed.tombstones;
            summary.compliance_superseded += fixed.superseded;
            // Their changes to the archive, written before the events count as applied.
            if let Some(archived) = &mut self.archive {
                for change in self.registers.take_archive_changes() {
                    archived.writer.add(None, change, deadline).await?;
                }
                archived.writer.flush(deadline).await?;
            }
        }
        if self.staged_events > 0 {
            // Applied now: their registers and fixes are confirmed.
            let applied_at = crate::compliance::now_ms();
            summary.saw_applied_events(self.staged_events, self.staged_event_at, applied_at);
        }
        self.staged_registers.clear();
        self.staged_events = 0;
        self.staged_event_at = None;
        self.staged_origin = None;
        self.first_event_record = None;
        Ok(())
    }

    /// Pushes `op` into the sink, to its partition when it has one; its `change` to the
    /// archive waits for its outcome.
    async fn push(
        &mut self,
        op: Operation,
        origin: Origin,
        index: Option<Arc<str>>,
        change: Option<Change>,
    ) -> Result<(), FeedError> {
        if let (Some(archived), Some(change)) = (&mut self.archive, change) {
            archived.awaiting.insert(self.sink.pushed(), change);
        }
        match index {
            Some(index) => self.sink.push_to(&index, op, origin).await?,
            None => self.sink.push(op, origin).await?,
        }
        self.archive_confirmed().await
    }

    /// Hands the changes of the operations the sink confirmed to the archive's writer: a
    /// document the index accepted is put, one superseded is dropped, a delete is applied
    /// whatever its outcome. Those settled without an outcome were dead-lettered: the index
    /// does not have them either.
    async fn archive_confirmed(&mut self) -> Result<(), FeedError> {
        let Some(archived) = &mut self.archive else {
            return Ok(());
        };
        for (seq, applied) in self.sink.take_outcomes() {
            let Some(change) = archived.awaiting.remove(&seq) else {
                continue;
            };
            if applied || !matches!(change, Change::Put(_)) {
                archived
                    .writer
                    .add(Some(seq), change, self.deadline)
                    .await?;
            }
        }
        match self.sink.first_unconfirmed() {
            Some(first) => archived.awaiting = archived.awaiting.split_off(&first),
            None => archived.awaiting.clear(),
        }
        Ok(())
    }

    /// Writes the archive's confirmed changes.
    async fn archive_flush(&mut self) -> Result<(), FeedError> {
        self.archive_confirmed().await?;
        if let Some(archived) = &mut self.archive {
            archived.writer.flush(self.deadline).await?;
        }
        Ok(())
    }

    /// Applies what is staged and sends everything to the server, waiting until it is
    /// confirmed.
    pub(crate) async fn flush(&mut self, summary: &mut ObjectSummary) -> Result<(), FeedError> {
        self.apply(summary).await?;
        self.sink.flush().await?;
        self.archive_flush().await
    }

    /// Applies what is staged, sends everything and writes the dead letters: every item of
    /// the input is settled when this returns Ok.
    pub(crate) async fn complete(&mut self, summary: &mut ObjectSummary) -> Result<(), FeedError> {
        self.apply(summary).await?;
        self.sink.complete().await?;
        self.archive_flush().await?;
        if self.deletes > 0 {
            summary.saw_applied_events(self.deletes, self.delete_event_at, now_ms());
            self.deletes = 0;
            self.delete_event_at = None;
        }
        tracing::info!(report = ?self.sink.report(), "bulk sink finished");
        Ok(())
    }
}

fn staged_origin(staged: &Staged) -> Origin {
    match staged {
        Staged::Doc { origin, .. }
        | Staged::Delete { origin, .. }
        | Staged::Reject { origin, .. } => origin.clone(),
    }
}

/// The earlier of two optional operation numbers.
fn earliest_op(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What the operation `op` of a tweet (its ids, time and raw record) asks of the archive
/// once the index accepts it: a put, a delete when registers made it a tombstone, nothing
/// for an id that is not a number (no key).
fn archive_change(
    op: &Operation,
    ids: (Option<u64>, Option<u64>),
    time_ms: Option<i64>,
    raw: Arc<[u8]>,
    state: State,
) -> Option<Change> {
    let Some(id) = ids.0.or_else(|| decimal_id(op.id())) else {
        tracing::warn!(
            id = op.id(),
            "archive: a tweet id that is not a number has no key"
        );
        return None;
    };
    Some(match op {
        Operation::Delete { .. } => Change::Delete { id },
        Operation::Index { .. } => Change::Put(Entry {
            id,
            time_ms,
            user_id: ids.1,
            raw,
            state,
        }),
    })
}

/// The earlier of two optional times.
fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A tweet's operation with the registers applied to its document, and whether they changed
/// it. The serialized document is read again only when a register concerns it: a document
/// carries compliance fields only from its own events, whose registers are in `set`, so a
/// verdict of nothing leaves it as it is.
fn apply_registers(
    op: Operation,
    ids: (Option<u64>, Option<u64>),
    set: &RegisterSet,
    now_ms: i64,
) -> (Operation, bool) {
    let Operation::Index {
        id,
        source,
        version,
    } = &op
    else {
        return (op, false);
    };
    if set.verdict(ids.0, ids.1, now_ms) == Verdict::default() {
        return (op, false);
    }
    // Our own serialization: always an object (else it is sent as it is; the server judges).
    let Ok(doc) = serde_json::from_slice::<Map<String, Value>>(source) else {
        return (op, false);
    };
    match applied(id.clone(), doc, *version, set, now_ms) {
        Some(changed) => (changed, true),
        None => (op, false),
    }
}
