//! The streaming bulk sink: operations are encoded into an NDJSON batch as they are pushed
//! (gzipped on the fly when compression is on, so a filling batch holds its compressed form
//! only) and sent when the batch reaches the byte or operation limit. Each batch retries only what is
//! unconfirmed, inside the caller's deadline, and routes permanent failures to dead letters.

use crate::bulk;
use crate::client::SearchClient;
use crate::dead_letter::{DeadLetter, DeadLetterStore};
use crate::delivery::{self, Batch, Body, Delivery, Entry, Failure, Target};
use crate::error::SinkError;
use crate::operation::{Operation, Origin};
use crate::retry::Backoff;
use bytes::Bytes;
use flate2::write::GzEncoder;
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The bulk path after `{index}/`. `filter_path` trims the response to what we read (big win on large
/// batches); the query is written already percent-encoded as SigV4 canonicalizes it.
pub const BULK_PATH: &str = "_bulk?filter_path=items.%2A.status%2Citems.%2A.result%2Citems.%2A.error.type%2Citems.%2A.error.reason";

/// Dead letters held in memory before they are written early (normally they are written once
/// per source object at `finish`).
const DEAD_LETTER_BUFFER_BYTES: usize = 8 * 1024 * 1024;

/// What happened to the operations pushed into one sink. When `finish` returns Ok,
/// `operations == created + updated + deleted + not_found + superseded + dead_lettered`.
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
    /// late or replayed index of a deleted or newer document). Done, not failures.
    pub superseded: u64,
    /// Operations written to the dead-letter store.
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

    /// Adds a delivery's outcome counts (`operations` and `dead_lettered` are counted by the
    /// sink itself).
    fn absorb(&mut self, other: &Report) {
        self.created += other.created;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.not_found += other.not_found;
        self.superseded += other.superseded;
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

/// One operation waiting in the buffer.
struct Pending {
    id: String,
    action: &'static str,
    origin: Origin,
    start: usize,
    end: usize,
}

/// A streaming bulk loader bound to one index and one deadline. Push operations, then call
/// [`BulkSink::finish`]; an error means some operations were not confirmed (the error says how
/// many) and the caller should fail so that the whole input is retried.
///
/// Up to [`Config::bulk_concurrency`](crate::Config::bulk_concurrency) batches are in flight
/// at once, each in its own task ([`crate::delivery`]). A batch that touches an `_id` still
/// in flight waits for the batches in flight, so operations on one id apply in push order.
pub struct BulkSink {
    client: Arc<SearchClient>,
    index: String,
    /// `{index}/_bulk?...`: the index in the path (not only in the action lines) so that IAM
    /// policies scoped to the index paths allow the request.
    bulk_path: Arc<str>,
    deadline: Instant,
    /// Shared by every delivery of this sink.
    backoff: Arc<std::sync::Mutex<Backoff>>,
    started: Instant,
    store: Option<Arc<dyn DeadLetterStore>>,
    /// The batch being filled.
    filling: Filling,
    /// One operation's lines, encoded before we know which batch they go in.
    scratch: Vec<u8>,
    /// 1 while the operation in `scratch` waits for its batch to be launched.
    waiting: usize,
    pending: Vec<Pending>,
    flights: JoinSet<Flight>,
    /// Operations in flight, and the sorted id hashes of each batch in flight by number.
    in_flight: usize,
    /// With each batch's first origin, for [`BulkSink::first_unconfirmed`].
    in_flight_ids: Vec<(u64, Vec<u64>, Origin)>,
    launched: u64,
    report: Report,
    letters: Vec<DeadLetter>,
    letters_bytes: usize,
    parts_written: HashMap<String, u32>,
    /// Permanent failures when no store is configured: count and the first one.
    failed_without_store: Vec<DeadLetter>,
    last_problem: String,
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

    /// The finished body; `self` is left empty, ready for the next batch.
    fn take(&mut self, bulk_max_bytes: usize) -> Body {
        match self {
            Filling::Plain(buffer) => {
                // Keep the next buffer's capacity: growing it again by doubling overshoots the limit.
                let next = Vec::with_capacity(buffer_capacity(bulk_max_bytes));
                Body::Plain(Bytes::from(std::mem::replace(buffer, next)))
            }
            Filling::Gzip { encoder, plain_len } => {
                let encoder = std::mem::replace(encoder, gzip_encoder(bulk_max_bytes));
                let mut gzip = encoder.finish().unwrap_or_default();
                gzip.shrink_to_fit();
                Body::Gzipped {
                    gzip: Bytes::from(gzip),
                    plain_len: std::mem::take(plain_len),
                }
            }
        }
    }
}

/// The gzip stream of a filling batch, sized for a full one.
fn gzip_encoder(bulk_max_bytes: usize) -> GzEncoder<Vec<u8>> {
    delivery::gzip_encoder(bulk_max_bytes.min(16 * 1024 * 1024))
}

/// A finished delivery and its batch number.
struct Flight {
    delivery: Delivery,
    number: u64,
}

impl std::fmt::Debug for BulkSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkSink")
            .field("index", &self.index)
            .field("pending", &self.pending.len())
            .field("in_flight", &self.in_flight)
            .field("report", &self.report)
            .finish()
    }
}

impl BulkSink {
    /// A sink writing into the client's configured index. `deadline` bounds every request,
    /// retry and backoff; `store` receives permanent failures (`None`: they fail the call).
    pub fn new(
        client: Arc<SearchClient>,
        deadline: Instant,
        store: Option<Arc<dyn DeadLetterStore>>,
    ) -> Self {
        let index = client.config.index.clone();
        Self::with_index(client, index, deadline, store)
    }

    /// Like [`BulkSink::new`] for another index.
    pub fn with_index(
        client: Arc<SearchClient>,
        index: impl Into<String>,
        deadline: Instant,
        store: Option<Arc<dyn DeadLetterStore>>,
    ) -> Self {
        let index = index.into();
        let filling = Filling::new(client.config.gzip, client.config.bulk_max_bytes);
        let backoff = Backoff::new(
            client.config.retry_initial_delay,
            client.config.retry_max_delay,
        );
        Self {
            backoff: Arc::new(std::sync::Mutex::new(backoff)),
            client,
            bulk_path: format!("{}/{BULK_PATH}", crate::ensure::segment(&index)).into(),
            index,
            deadline,
            started: Instant::now(),
            store,
            filling,
            scratch: Vec::new(),
            waiting: 0,
            pending: Vec::new(),
            flights: JoinSet::new(),
            in_flight: 0,
            in_flight_ids: Vec::new(),
            launched: 0,
            report: Report::default(),
            letters: Vec::new(),
            letters_bytes: 0,
            parts_written: HashMap::new(),
            failed_without_store: Vec::new(),
            last_problem: String::new(),
        }
    }

    /// Where to resume after an error: the origin of the first operation of the oldest batch
    /// that was not settled (the failed one, or one stopped with it), else of the first
    /// buffered operation. Every operation pushed before it is settled (indexed, deleted,
    /// superseded or dead-lettered); some after it may be too, which versioning makes safe to
    /// redo. `None` when nothing is pending.
    pub fn first_unconfirmed(&self) -> Option<&Origin> {
        self.in_flight_ids
            .iter()
            .min_by_key(|(number, _, _)| *number)
            .map(|(_, _, origin)| origin)
            .or_else(|| self.pending.first().map(|p| &p.origin))
    }

    /// The counts so far (operations still buffered are not in them yet).
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Adds one operation; sends a bulk request first when the buffer is full. An operation
    /// that cannot be encoded (empty id, source not a JSON object) is dead-lettered.
    pub async fn push(&mut self, op: Operation, origin: Origin) -> Result<(), SinkError> {
        self.report.operations += 1;
        self.scratch.clear();
        if let Err(e) = bulk::encode(&self.index, &op, &mut self.scratch) {
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
            self.dead_letter(letter);
            return self.after_flush().await;
        }
        let limits = Arc::clone(&self.client);
        let limits = &limits.config;
        let action = op.action();
        let id = match op {
            Operation::Index { id, .. } | Operation::Delete { id } => id,
        };
        if !self.pending.is_empty()
            && self.filling.plain_len() + self.scratch.len() > limits.bulk_max_bytes
        {
            // This operation would overflow the batch: send the others first. It waits in
            // `scratch` meanwhile, so an error counts it among the unconfirmed operations.
            self.waiting = 1;
            let launched = self.launch().await;
            self.waiting = 0;
            launched?;
        }
        let start = self.filling.plain_len();
        self.filling.append(&self.scratch);
        self.pending.push(Pending {
            id,
            action,
            origin,
            start,
            end: start + self.scratch.len(),
        });
        if self.filling.plain_len() >= limits.bulk_max_bytes
            || self.pending.len() >= limits.bulk_max_operations
        {
            self.launch().await?;
        }
        Ok(())
    }

    /// Dead-letters an input that never became an operation (e.g. a record that could not be
    /// parsed), next to the operations' dead letters of the same source object. It counts in
    /// `operations` and `dead_lettered`, so the report still adds up; with no store it fails
    /// the call like any permanent failure.
    pub async fn reject(
        &mut self,
        origin: Origin,
        error_type: &str,
        reason: &str,
    ) -> Result<(), SinkError> {
        self.report.operations += 1;
        self.dead_letter(DeadLetter {
            id: String::new(),
            action: "none".into(),
            status: 0,
            error_type: error_type.to_owned(),
            reason: reason.to_owned(),
            source_object: origin.object.to_string(),
            offset: origin.offset,
            document: None,
        });
        self.after_flush().await
    }

    /// Sends everything buffered, writes the dead letters and returns the report.
    pub async fn finish(mut self) -> Result<Report, SinkError> {
        self.flush().await?;
        self.write_dead_letters().await?;
        tracing::info!(index = %self.index, report = ?self.report, "bulk sink finished");
        Ok(self.report)
    }

    /// Sends the buffered operations now and waits until every batch in flight is settled.
    /// After an error the sink must be dropped: the error says how many operations were not
    /// confirmed.
    pub async fn flush(&mut self) -> Result<(), SinkError> {
        self.launch().await?;
        while !self.flights.is_empty() {
            self.settle_one().await?;
        }
        Ok(())
    }

    /// Hands the buffered operations to a new delivery task, first waiting for a free slot
    /// (and for every batch in flight if one of them holds an id of this batch).
    async fn launch(&mut self) -> Result<(), SinkError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut id_hashes: Vec<u64> = self.pending.iter().map(|p| id_hash(&p.id)).collect();
        id_hashes.sort_unstable();
        id_hashes.dedup();
        let shares_an_id = self
            .in_flight_ids
            .iter()
            .any(|(_, held, _)| id_hashes.iter().any(|h| held.binary_search(h).is_ok()));
        if shares_an_id {
            while !self.flights.is_empty() {
                self.settle_one().await?;
            }
        }
        let slots = self.client.config.bulk_concurrency.max(1);
        while self.flights.len() >= slots {
            self.settle_one().await?;
        }
        if Instant::now() >= self.deadline {
            return Err(self.deadline_error(self.in_flight));
        }
        let batch = self.take_batch();
        let number = self.launched;
        self.launched += 1;
        let first = batch.entries.first().map(|e| e.origin.clone());
        if let Some(first) = first {
            self.in_flight_ids.push((number, id_hashes, first));
        }
        self.in_flight += batch.entries.len();
        let target = Target {
            client: Arc::clone(&self.client),
            index: Arc::from(self.index.as_str()),
            path: Arc::clone(&self.bulk_path),
            deadline: self.deadline,
            backoff: Arc::clone(&self.backoff),
        };
        self.flights.spawn(async move {
            Flight {
                delivery: delivery::deliver(target, batch).await,
                number,
            }
        });
        Ok(())
    }

    /// Moves every pending operation and the filled body into a batch.
    fn take_batch(&mut self) -> Batch {
        let entries = self
            .pending
            .drain(..)
            .map(|p| Entry {
                id: p.id,
                action: p.action,
                origin: p.origin,
                range: p.start..p.end,
            })
            .collect();
        let body = self.filling.take(self.client.config.bulk_max_bytes);
        Batch { entries, body }
    }

    /// Waits for one delivery and takes in its counts and dead letters. If it failed, the
    /// other deliveries are stopped and counted as unconfirmed.
    async fn settle_one(&mut self) -> Result<(), SinkError> {
        let Some(joined) = self.flights.join_next().await else {
            return Ok(());
        };
        let flight = match joined {
            Ok(flight) => flight,
            Err(e) => {
                let unconfirmed = self.in_flight + self.pending.len();
                self.flights.abort_all();
                return Err(SinkError::Transport {
                    method: "POST".into(),
                    path: self.bulk_path.to_string(),
                    detail: format!(
                        "bulk delivery task failed: {e}; {unconfirmed} operations were not confirmed"
                    ),
                });
            }
        };
        let delivery = flight.delivery;
        if delivery.failure.is_none() {
            self.in_flight_ids.retain(|(n, _, _)| *n != flight.number);
        }
        self.in_flight -= delivery.operations;
        self.report.absorb(&delivery.report);
        if !delivery.last_problem.is_empty() {
            self.last_problem = delivery.last_problem;
        }
        for letter in delivery.letters {
            self.dead_letter(letter);
        }
        if let Some(failure) = delivery.failure {
            // Keep what we learned: failed operations already known are stored before the
            // caller gives up, so the retry of the whole input does not depend on them.
            if let Err(store_error) = self.write_dead_letters().await {
                tracing::error!(error = %store_error, "dead letters could not be written");
            }
            let others = self.in_flight;
            self.flights.abort_all();
            return Err(self.failure_error(failure, others));
        }
        self.after_flush().await
    }

    /// The caller-facing error for a failed delivery; `others` counts operations of other
    /// batches stopped with it.
    fn failure_error(&self, failure: Failure, others: usize) -> SinkError {
        let held = others + self.pending.len() + self.waiting;
        match failure {
            Failure::Deadline { unconfirmed } => self.deadline_error(unconfirmed + others),
            Failure::Rejected {
                status,
                body,
                unconfirmed,
            } => SinkError::Rejected {
                method: "POST".into(),
                path: self.bulk_path.to_string(),
                status,
                body,
                unconfirmed: unconfirmed + held,
            },
            Failure::Refused {
                status,
                error_type,
                reason,
                unconfirmed,
            } => SinkError::Refused {
                index: self.index.clone(),
                status,
                error_type,
                reason,
                unconfirmed: unconfirmed + held,
            },
            Failure::BadResponse {
                detail,
                unconfirmed,
            } => SinkError::BadResponse {
                method: "POST".into(),
                path: self.bulk_path.to_string(),
                detail: format!(
                    "{detail}; {} operations were not confirmed",
                    unconfirmed + held
                ),
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
            unconfirmed: unconfirmed + self.pending.len() + self.waiting,
            elapsed: self.started.elapsed(),
            last_problem: if self.last_problem.is_empty() {
                "none".into()
            } else {
                self.last_problem.clone()
            },
        }
    }

    fn dead_letter(&mut self, letter: DeadLetter) {
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
        self.letters.push(letter);
    }

    /// Writes buffered dead letters, one store call per source object.
    async fn write_dead_letters(&mut self) -> Result<(), SinkError> {
        let Some(store) = self.store.clone() else {
            return Ok(());
        };
        let letters = std::mem::take(&mut self.letters);
        self.letters_bytes = 0;
        let mut by_object: Vec<(String, Vec<DeadLetter>)> = Vec::new();
        for letter in letters {
            match by_object
                .iter_mut()
                .find(|(o, _)| *o == letter.source_object)
            {
                Some((_, group)) => group.push(letter),
                None => by_object.push((letter.source_object.clone(), vec![letter])),
            }
        }
        for (object, group) in by_object {
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
                        source: crate::dead_letter::DeadLetterError::Timeout {
                            source_object: object,
                        },
                    });
                }
            }
            *part += 1;
            self.report.dead_lettered += group.len() as u64;
        }
        Ok(())
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
