//! The streaming bulk sink: operations are encoded into an NDJSON batch of their target index
//! as they are pushed (gzipped on the fly when compression is on, so a filling batch holds its
//! compressed form only) and sent as `POST /{index}/_bulk` when the batch reaches the byte or
//! operation limit. Action lines never name `_index`: the index is in the path, so policies on
//! index paths confine every write. At most [`MAX_OPEN_BATCHES`] batches fill at once (one
//! per index), and their NDJSON adds up to at most twice the byte limit: past either bound the
//! oldest, or the largest, is sent early. Each batch retries only what is unconfirmed, inside
//! the caller's deadline, and routes permanent failures to dead letters.

use crate::bulk;
use crate::client::SearchClient;
use crate::dead_letter::{DeadLetter, DeadLetterStore};
use crate::delivery::{self, Batch, Body, Delivery, Entry, Failure, Target};
use crate::error::SinkError;
use crate::ledger::{Confirmed, Ledger, Seq};
use crate::operation::{Operation, Origin};
use crate::report::Report;
use crate::retry::Backoff;
use bytes::Bytes;
use flate2::write::GzEncoder;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The bulk path after `{index}/`. `filter_path` trims the response to what we read (big win on large
/// batches); the query is written already percent-encoded as SigV4 canonicalizes it.
pub const BULK_PATH: &str = "_bulk?filter_path=items.%2A.status%2Citems.%2A.result%2Citems.%2A.error.type%2Citems.%2A.error.reason";

/// Batches filling at once (one per target index): an operation for one more index sends the
/// batch whose first operation is the oldest. Bounds memory when operations spread over many
/// time partitions (deletes of old tweets).
pub const MAX_OPEN_BATCHES: usize = 16;

/// Dead letters held in memory before they are written early (normally they are written once
/// per source object at `finish`).
const DEAD_LETTER_BUFFER_BYTES: usize = 8 * 1024 * 1024;

/// Time kept back from a sink's deadline for writing its dead letters (with a store): bulks
/// and their backoffs stop this much earlier, so that letters still in memory when a bulk
/// runs out of time can be stored, not lost with the invocation. At most a fifth of the
/// sink's time, so short deadlines keep most of theirs for the bulks.
pub(crate) const DEAD_LETTER_RESERVE: Duration = Duration::from_secs(2);

/// One operation waiting in a filling batch.
struct Pending {
    seq: Seq,
    id: String,
    action: &'static str,
    origin: Origin,
    start: usize,
    end: usize,
}

/// A streaming bulk loader with a default index and one deadline. Push operations (into the
/// default index, or [`BulkSink::push_to`] another), then call [`BulkSink::finish`]; an error
/// means some operations were not confirmed (the error says how many,
/// [`BulkSink::first_unconfirmed`] says from where) and the caller should fail so that the
/// input is retried from there.
///
/// Up to [`Config::bulk_concurrency`](crate::Config::bulk_concurrency) batches are in flight
/// at once, each in its own task ([`crate::delivery`]). A batch that touches an `_id` still
/// in flight waits for the batches in flight, so operations on one id apply in push order
/// (within one index an id's operations are in one batch in push order, or in batches sent
/// one after the other).
pub struct BulkSink {
    client: Arc<SearchClient>,
    /// The default index ([`BulkSink::push`]).
    index: Arc<str>,
    /// The caller's deadline: dead letters may be written until then.
    deadline: Instant,
    /// Bulks and their retries stop here: [`DEAD_LETTER_RESERVE`] before `deadline` when
    /// there is a store.
    send_deadline: Instant,
    /// Shared by every delivery of this sink.
    backoff: Arc<std::sync::Mutex<Backoff>>,
    started: Instant,
    store: Option<Arc<dyn DeadLetterStore>>,
    /// Where every operation stands.
    ledger: Ledger,
    /// The batches being filled, one per target index, at most [`MAX_OPEN_BATCHES`].
    open: Vec<Open>,
    /// Numbers batches (the ledger's and the deliveries').
    next_batch: u64,
    /// One operation's lines, encoded before we know which batch they go in.
    scratch: Vec<u8>,
    flights: JoinSet<Flight>,
    /// The sorted id hashes of each batch in flight, by number.
    in_flight_ids: Vec<(u64, Vec<u64>)>,
    report: Report,
    /// Dead letters not yet written, with their operations' numbers.
    letters: Vec<(Seq, DeadLetter)>,
    letters_bytes: usize,
    parts_written: HashMap<String, u32>,
    /// Permanent failures when no store is configured: count and the first one.
    failed_without_store: Vec<DeadLetter>,
    last_problem: String,
    /// Confirmed operations not yet taken ([`BulkSink::take_outcomes`]), kept only once
    /// [`BulkSink::track_outcomes`] asked for them.
    outcomes: Option<Vec<(u64, bool)>>,
}

/// A batch being filled for one index.
struct Open {
    /// Its number in the ledger (from its first operation on).
    number: u64,
    index: Arc<str>,
    /// `{index}/_bulk?...`: the index in the path, where IAM policies and
    /// `rest.action.multi.allow_explicit_index: false` confine it.
    path: Arc<str>,
    filling: Filling,
    pending: Vec<Pending>,
}

impl Open {
    fn first(&self) -> Seq {
        self.pending.first().map_or(Seq::MAX, |p| p.seq)
    }
}

/// The batch being filled: its NDJSON, or a gzip stream of it.
enum Filling {
    Plain(Vec<u8>),
    Gzip {
        encoder: GzEncoder<Vec<u8>>,
        plain_len: usize,
    },
}

impl Filling {
    fn new(gzip: bool, bulk_max_bytes: usize) -> Self {
        if gzip {
            Filling::Gzip {
                encoder: gzip_encoder(bulk_max_bytes),
                plain_len: 0,
            }
        } else {
            Filling::Plain(Vec::with_capacity(buffer_capacity(bulk_max_bytes)))
        }
    }

    /// NDJSON bytes in the batch (before compression).
    fn plain_len(&self) -> usize {
        match self {
            Filling::Plain(buffer) => buffer.len(),
            Filling::Gzip { plain_len, .. } => *plain_len,
        }
    }

    fn append(&mut self, lines: &[u8]) {
        match self {
            Filling::Plain(buffer) => buffer.extend_from_slice(lines),
            Filling::Gzip { encoder, plain_len } => {
                // Writing into a Vec cannot fail.
                let _ = encoder.write_all(lines);
                *plain_len += lines.len();
            }
        }
    }

    /// The finished body.
    fn into_body(self) -> Body {
        match self {
            Filling::Plain(buffer) => Body::Plain(Bytes::from(buffer)),
            Filling::Gzip { encoder, plain_len } => {
                let mut gzip = encoder.finish().unwrap_or_default();
                gzip.shrink_to_fit();
                Body::Gzipped {
                    gzip: Bytes::from(gzip),
                    plain_len,
                }
            }
        }
    }
}

/// A filling batch's operations and body, handed to a delivery.
fn take_batch(pending: Vec<Pending>, filling: Filling) -> Batch {
    let entries = pending
        .into_iter()
        .map(|p| Entry {
            seq: p.seq,
            id: p.id,
            action: p.action,
            origin: p.origin,
            range: p.start..p.end,
        })
        .collect();
    Batch {
        entries,
        body: filling.into_body(),
    }
}

/// The gzip stream of a filling batch, sized for a full one.
fn gzip_encoder(bulk_max_bytes: usize) -> GzEncoder<Vec<u8>> {
    delivery::gzip_encoder(bulk_max_bytes.min(16 * 1024 * 1024))
}

/// A finished delivery, its batch number and where it went.
struct Flight {
    delivery: Delivery,
    number: u64,
    index: Arc<str>,
    path: Arc<str>,
}

impl std::fmt::Debug for BulkSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkSink")
            .field("index", &self.index)
            .field("open", &self.open.len())
            .field("pending", &self.ledger.pending())
            .field("unconfirmed", &self.ledger.unconfirmed())
            .field("report", &self.report)
            .finish()
    }
}

impl BulkSink {
    /// A sink writing into the client's configured index. `deadline` bounds every request,
    /// retry and backoff; `store` receives permanent failures (`None`: they fail the call).
    /// With a store, bulks stop 2 s (at most a fifth of the time left) before `deadline`:
    /// that time is kept for writing dead letters.
    pub fn new(
        client: Arc<SearchClient>,
        deadline: Instant,
        store: Option<Arc<dyn DeadLetterStore>>,
    ) -> Self {
        let index = client.config.index.clone();
        Self::with_index(client, index, deadline, store)
    }

    /// Like [`BulkSink::new`] with another default index.
    pub fn with_index(
        client: Arc<SearchClient>,
        index: impl Into<String>,
        deadline: Instant,
        store: Option<Arc<dyn DeadLetterStore>>,
    ) -> Self {
        let index: String = index.into();
        let backoff = Backoff::new(
            client.config.retry_initial_delay,
            client.config.retry_max_delay,
        );
        let now = Instant::now();
        let reserve = letters_reserve(store.is_some(), deadline.saturating_duration_since(now));
        Self {
            backoff: Arc::new(std::sync::Mutex::new(backoff)),
            client,
            index: Arc::from(index),
            deadline,
            send_deadline: deadline - reserve,
            started: now,
            store,
            ledger: Ledger::default(),
            open: Vec::new(),
            next_batch: 0,
            scratch: Vec::new(),
            flights: JoinSet::new(),
            in_flight_ids: Vec::new(),
            report: Report::default(),
            letters: Vec::new(),
            letters_bytes: 0,
            parts_written: HashMap::new(),
            failed_without_store: Vec::new(),
            last_problem: String::new(),
            outcomes: None,
        }
    }

    /// Keeps, from now on, which operations the server confirmed and how, for a caller that
    /// acts on confirmed writes only ([`BulkSink::take_outcomes`]; e.g. an archive of what
    /// the index accepted).
    pub fn track_outcomes(&mut self) {
        self.outcomes.get_or_insert_with(Vec::new);
    }

    /// The operations confirmed since the last call (tracked: [`BulkSink::track_outcomes`]),
    /// by their position in push order (as [`BulkSink::first_unconfirmed`] counts): `true`
    /// when the server applied it (created, updated, deleted, not found), `false` when it
    /// was superseded (a tombstone or a newer copy is there). Operations on one id are
    /// confirmed in push order; dead-lettered ones never appear.
    pub fn take_outcomes(&mut self) -> Vec<(u64, bool)> {
        self.outcomes
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Where to resume after an error: the position (0-based, in push order, rejected inputs
    /// included) of the first operation that is not settled: pending, in flight (or in a
    /// batch a failure stopped), or failed with its dead letter still in memory. Every
    /// operation before it is confirmed by the server or dead-lettered in the store; some
    /// after it may be too, which versioning makes safe to redo. `None` when all are settled.
    pub fn first_unconfirmed(&self) -> Option<u64> {
        self.ledger.first_unconfirmed()
    }

    /// Operations pushed so far (rejected inputs included): the number the next one gets.
    pub fn pushed(&self) -> u64 {
        self.ledger.pushed()
    }

    /// The counts so far (operations still buffered are not in them yet).
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Copies the ledger's counts into the report.
    fn book(&mut self) {
        let confirmed = *self.ledger.confirmed();
        let report = &mut self.report;
        report.operations = self.ledger.pushed();
        report.created = confirmed.created;
        report.updated = confirmed.updated;
        report.deleted = confirmed.deleted;
        report.not_found = confirmed.not_found;
        report.superseded = confirmed.superseded;
        report.dead_lettered = self.ledger.letters_stored();
    }

    /// Adds one operation for the default index; sends a bulk request first when its batch
    /// is full. An operation that cannot be encoded (empty id, source not a JSON object) is
    /// dead-lettered.
    pub async fn push(&mut self, op: Operation, origin: Origin) -> Result<(), SinkError> {
        let index = Arc::clone(&self.index);
        self.push_to(&index, op, origin).await
    }

    /// Like [`BulkSink::push`], into `index` (e.g. a time partition, or the index a search
    /// hit came from). Batches are per index: each is sent as `POST /{index}/_bulk`.
    pub async fn push_to(
        &mut self,
        index: &str,
        op: Operation,
        origin: Origin,
    ) -> Result<(), SinkError> {
        let seq = self.ledger.push();
        self.book();
        self.scratch.clear();
        if let Err(e) = bulk::encode(&op, &mut self.scratch) {
            tracing::warn!(object = %origin.object, offset = origin.offset, error = %e, "operation cannot be encoded");
            let letter = DeadLetter {
                id: op.id().to_owned(),
                action: op.action().to_owned(),
                status: 0,
                error_type: "encode_error".into(),
                reason: e.to_string(),
                source_object: origin.object.to_string(),
                offset: origin.offset,
                document: None,
            };
            self.ledger.hold_pending(seq);
            self.dead_letter(seq, letter);
            return self.after_flush().await;
        }
        let (max_bytes, max_operations) = (
            self.client.config.bulk_max_bytes,
            self.client.config.bulk_max_operations,
        );
        let action = op.action();
        let id = match op {
            Operation::Index { id, .. } | Operation::Delete { id } => id,
        };
        let mut at = self.batch_for(index).await?;
        let batch = &self.open[at];
        if !batch.pending.is_empty() && batch.filling.plain_len() + self.scratch.len() > max_bytes {
            // This operation would overflow the batch: send the others first. It stays
            // pending in the ledger meanwhile, so an error counts it among the unconfirmed.
            self.launch(at).await?;
            at = self.batch_for(index).await?;
        }
        let batch = &mut self.open[at];
        let start = batch.filling.plain_len();
        batch.filling.append(&self.scratch);
        batch.pending.push(Pending {
            seq,
            id,
            action,
            origin,
            start,
            end: start + self.scratch.len(),
        });
        self.ledger.fill(seq, batch.number);
        if batch.filling.plain_len() >= max_bytes || batch.pending.len() >= max_operations {
            self.launch(at).await?;
        } else if self.open.len() > 1 {
            // Several small batches must not add up to more than two full ones.
            let total: usize = self.open.iter().map(|b| b.filling.plain_len()).sum();
            if total > 2 * max_bytes {
                let largest = (0..self.open.len())
                    .max_by_key(|&i| self.open[i].filling.plain_len())
                    .unwrap_or(at);
                self.launch(largest).await?;
            }
        }
        Ok(())
    }

    /// The position in `open` of `index`'s filling batch, opened if there is none (first
    /// sending the oldest batch when [`MAX_OPEN_BATCHES`] are open).
    async fn batch_for(&mut self, index: &str) -> Result<usize, SinkError> {
        if let Some(at) = self.open.iter().position(|b| &*b.index == index) {
            return Ok(at);
        }
        if self.open.len() >= MAX_OPEN_BATCHES {
            let oldest = (0..self.open.len())
                .min_by_key(|&i| self.open[i].first())
                .unwrap_or(0);
            self.launch(oldest).await?;
        }
        let number = self.next_batch;
        self.next_batch += 1;
        let config = &self.client.config;
        self.open.push(Open {
            number,
            index: Arc::from(index),
            path: format!("{}/{BULK_PATH}", crate::ensure::segment(index)).into(),
            filling: Filling::new(config.gzip, config.bulk_max_bytes),
            pending: Vec::new(),
        });
        Ok(self.open.len() - 1)
    }

    /// Dead-letters an input that never became an operation (e.g. a record that could not be
    /// parsed), next to the operations' dead letters of the same source object. It counts in
    /// `operations` and `dead_lettered`, so the report still adds up, and it holds
    /// [`BulkSink::first_unconfirmed`] until its letter is stored; with no store it fails the
    /// call like any permanent failure.
    pub async fn reject(
        &mut self,
        origin: Origin,
        error_type: &str,
        reason: &str,
    ) -> Result<(), SinkError> {
        let seq = self.ledger.push();
        self.ledger.hold_pending(seq);
        self.book();
        self.dead_letter(
            seq,
            DeadLetter {
                id: String::new(),
                action: "none".into(),
                status: 0,
                error_type: error_type.to_owned(),
                reason: reason.to_owned(),
                source_object: origin.object.to_string(),
                offset: origin.offset,
                document: None,
            },
        );
        self.after_flush().await
    }

    /// Sends everything buffered, writes the dead letters and returns the report.
    pub async fn finish(mut self) -> Result<Report, SinkError> {
        self.complete().await?;
        tracing::info!(index = %self.index, report = ?self.report, "bulk sink finished");
        Ok(self.report)
    }

    /// Like [`BulkSink::finish`], keeping the sink: after an error,
    /// [`BulkSink::first_unconfirmed`] and [`BulkSink::report`] say how far it got.
    pub async fn complete(&mut self) -> Result<(), SinkError> {
        self.flush().await?;
        self.write_dead_letters().await?;
        debug_assert_eq!(self.ledger.unconfirmed(), 0, "{self:?}");
        Ok(())
    }

    /// Sends the buffered operations now and waits until every batch in flight is settled.
    /// After an error the sink must be dropped: the error says how many operations were not
    /// confirmed.
    pub async fn flush(&mut self) -> Result<(), SinkError> {
        // Oldest first: the line of confirmed operations moves as early as it can.
        while let Some(oldest) = (0..self.open.len()).min_by_key(|&i| self.open[i].first()) {
            self.launch(oldest).await?;
        }
        while !self.flights.is_empty() {
            self.settle_one().await?;
        }
        Ok(())
    }

    /// Hands the filling batch at `at` in `open` to a new delivery task (it leaves `open`),
    /// first waiting for a free slot (and for every batch in flight if one of them holds an
    /// id of this batch).
    async fn launch(&mut self, at: usize) -> Result<(), SinkError> {
        if self.open[at].pending.is_empty() {
            self.open.swap_remove(at);
            return Ok(());
        }
        let mut id_hashes: Vec<u64> = self.open[at]
            .pending
            .iter()
            .map(|p| id_hash(&p.id))
            .collect();
        id_hashes.sort_unstable();
        id_hashes.dedup();
        let shares_an_id = self
            .in_flight_ids
            .iter()
            .any(|(_, held)| id_hashes.iter().any(|h| held.binary_search(h).is_ok()));
        // Waiting settles other batches only: `open` keeps its order meanwhile.
        if shares_an_id {
            while !self.flights.is_empty() {
                self.settle_one().await?;
            }
        }
        let slots = self.client.config.bulk_concurrency.max(1);
        while self.flights.len() >= slots {
            self.settle_one().await?;
        }
        if Instant::now() >= self.send_deadline {
            return Err(self.stopped(Stop::Deadline).await);
        }
        let open = self.open.swap_remove(at);
        let (number, index, path) = (open.number, open.index, open.path);
        let batch = take_batch(open.pending, open.filling);
        let count = self.ledger.launch(number);
        debug_assert_eq!(count, batch.entries.len() as u64);
        self.in_flight_ids.push((number, id_hashes));
        let target = Target {
            client: Arc::clone(&self.client),
            index: Arc::clone(&index),
            path: Arc::clone(&path),
            deadline: self.send_deadline,
            backoff: Arc::clone(&self.backoff),
        };
        self.flights.spawn(async move {
            Flight {
                delivery: delivery::deliver(target, batch).await,
                number,
                index,
                path,
            }
        });
        Ok(())
    }

    /// Waits for one delivery and books its outcome and dead letters. If it failed, the
    /// other deliveries are stopped (their operations stay unconfirmed).
    async fn settle_one(&mut self) -> Result<(), SinkError> {
        let Some(joined) = self.flights.join_next().await else {
            return Ok(());
        };
        let flight = match joined {
            Ok(flight) => flight,
            Err(e) => return Err(self.stopped(Stop::Task(e.to_string())).await),
        };
        let Flight {
            delivery,
            number,
            index,
            path,
        } = flight;
        let stopped = delivery.failure.is_some();
        if !stopped {
            self.in_flight_ids.retain(|(n, _)| *n != number);
        }
        let letters: Vec<Seq> = delivery.letters.iter().map(|(seq, _)| *seq).collect();
        let report = &delivery.report;
        let confirmed = Confirmed {
            created: report.created,
            updated: report.updated,
            deleted: report.deleted,
            not_found: report.not_found,
            superseded: report.superseded,
        };
        self.ledger.settle(number, confirmed, &letters, stopped);
        if let Some(outcomes) = &mut self.outcomes {
            outcomes.extend_from_slice(&delivery.outcomes);
        }
        self.report.absorb(report);
        if !delivery.last_problem.is_empty() {
            self.last_problem = delivery.last_problem;
        }
        for (seq, letter) in delivery.letters {
            self.dead_letter(seq, letter);
        }
        self.book();
        if let Some(failure) = delivery.failure {
            tracing::warn!(
                batch = number,
                operations = delivery.operations,
                unconfirmed = failure.unconfirmed(),
                "bulk delivery stopped before confirming its batch"
            );
            return Err(self
                .stopped(Stop::Failure {
                    failure,
                    index,
                    path,
                })
                .await);
        }
        self.after_flush().await
    }

    /// Stops every delivery in flight (their operations stay unconfirmed), writes the dead
    /// letters already known in the time kept for them, and returns the caller's error.
    async fn stopped(&mut self, stop: Stop) -> SinkError {
        self.flights.abort_all();
        // Keep what we learned: failed operations already known are stored before the caller
        // gives up, so that the retry can start after them.
        if let Err(store_error) = self.write_dead_letters().await {
            tracing::error!(error = %store_error, "dead letters could not be written: their operations stay unconfirmed");
        }
        let unconfirmed = self.ledger.unconfirmed() as usize;
        let (failure, index, path) = match stop {
            Stop::Deadline => return self.deadline_error(unconfirmed),
            Stop::Task(detail) => {
                return SinkError::Transport {
                    method: "POST".into(),
                    path: format!("{{index}}/{BULK_PATH}"),
                    detail: format!(
                        "bulk delivery task failed: {detail}; {unconfirmed} operations were not confirmed"
                    ),
                };
            }
            Stop::Failure {
                failure,
                index,
                path,
            } => (failure, index, path),
        };
        match failure {
            Failure::Deadline { .. } => self.deadline_error(unconfirmed),
            Failure::Rejected { status, body, .. } => SinkError::Rejected {
                method: "POST".into(),
                path: path.to_string(),
                status,
                body,
                unconfirmed,
            },
            Failure::Refused {
                status,
                error_type,
                reason,
                ..
            } => SinkError::Refused {
                index: index.to_string(),
                status,
                error_type,
                reason,
                unconfirmed,
            },
            Failure::BadResponse { detail, .. } => SinkError::BadResponse {
                method: "POST".into(),
                path: path.to_string(),
                detail: format!("{detail}; {unconfirmed} operations were not confirmed"),
            },
            Failure::Fatal(e) => e,
        }
    }

    async fn after_flush(&mut self) -> Result<(), SinkError> {
        if let Some(first) = self.failed_without_store.first() {
            return Err(SinkError::PermanentFailures {
                count: self.failed_without_store.len(),
                first_id: first.id.clone(),
                first_object: first.source_object.clone(),
                first_offset: first.offset,
                first_reason: format!("{}: {}", first.error_type, first.reason),
            });
        }
        if self.letters_bytes >= DEAD_LETTER_BUFFER_BYTES {
            self.write_dead_letters().await?;
        }
        Ok(())
    }

    fn deadline_error(&self, unconfirmed: usize) -> SinkError {
        SinkError::DeadlineExceeded {
            unconfirmed,
            elapsed: self.started.elapsed(),
            last_problem: if self.last_problem.is_empty() {
                "none".into()
            } else {
                self.last_problem.clone()
            },
        }
    }

    /// Keeps the dead letter of operation `seq` (already held in the ledger) for the store.
    fn dead_letter(&mut self, seq: Seq, letter: DeadLetter) {
        tracing::warn!(
            id = %letter.id,
            object = %letter.source_object,
            offset = letter.offset,
            error_type = %letter.error_type,
            reason = %letter.reason,
            "operation failed permanently"
        );
        if self.store.is_none() {
            self.failed_without_store.push(letter);
            return;
        }
        self.letters_bytes +=
            letter.document.as_ref().map_or(0, |d| d.get().len()) + letter.reason.len() + 200;
        self.letters.push((seq, letter));
    }

    /// Writes buffered dead letters, one store call per source object, each bounded by the
    /// caller's deadline (not the bulks': the time kept for letters is theirs).
    async fn write_dead_letters(&mut self) -> Result<(), SinkError> {
        let Some(store) = self.store.clone() else {
            return Ok(());
        };
        let letters = std::mem::take(&mut self.letters);
        self.letters_bytes = 0;
        let mut by_object: Vec<(String, Vec<Seq>, Vec<DeadLetter>)> = Vec::new();
        for (seq, letter) in letters {
            match by_object
                .iter_mut()
                .find(|(o, _, _)| *o == letter.source_object)
            {
                Some((_, seqs, group)) => {
                    seqs.push(seq);
                    group.push(letter);
                }
                None => by_object.push((letter.source_object.clone(), vec![seq], vec![letter])),
            }
        }
        for (object, seqs, group) in by_object {
            let part = self.parts_written.entry(object.clone()).or_insert(0);
            // Bounded like every request: a hung store must not outlive the invocation.
            match tokio::time::timeout_at(self.deadline, store.store(&object, *part, &group)).await
            {
                Ok(stored) => stored.map_err(|source| SinkError::DeadLetter {
                    count: group.len(),
                    source,
                })?,
                Err(_) => {
                    return Err(SinkError::DeadLetter {
                        count: group.len(),
                        source: crate::error::DeadLetterError::Timeout {
                            source_object: object,
                        },
                    });
                }
            }
            *part += 1;
            self.ledger.stored(seqs);
            self.book();
        }
        Ok(())
    }
}

/// Why a sink stopped: its own deadline before a launch, a delivery task that died, or a
/// delivery's failure.
enum Stop {
    Deadline,
    Task(String),
    Failure {
        failure: Failure,
        index: Arc<str>,
        path: Arc<str>,
    },
}

/// The time kept for dead letters: [`DEAD_LETTER_RESERVE`], at most a fifth of `left`; none
/// without a store.
pub(crate) fn letters_reserve(has_store: bool, left: Duration) -> Duration {
    if has_store {
        DEAD_LETTER_RESERVE.min(left / 5)
    } else {
        Duration::ZERO
    }
}

/// A fast hash of an id, to spot batches that touch the same document.
fn id_hash(id: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(id)
}

/// The bulk buffer's capacity: the flush limit plus room for the operation that crosses it
/// (pages are only touched as they fill, so a small object does not pay for it).
fn buffer_capacity(bulk_max_bytes: usize) -> usize {
    bulk_max_bytes.min(16 * 1024 * 1024) + 64 * 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_is_kept_for_dead_letters_only_with_a_store() {
        let s = Duration::from_secs;
        // (store, time left) -> kept for letters
        let table = [
            (true, s(300), s(2)),
            (true, s(10), s(2)),
            (true, s(5), s(1)),
            (true, Duration::ZERO, Duration::ZERO),
            (false, s(300), Duration::ZERO),
        ];
        for (store, left, kept) in table {
            assert_eq!(
                letters_reserve(store, left),
                kept,
                "store={store} left={left:?}"
            );
        }
    }
}
