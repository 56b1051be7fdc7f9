//! The streaming bulk sink: operations are encoded into an NDJSON buffer as they are pushed and
//! sent when the buffer reaches the byte or operation limit. Each flush retries only what is
//! unconfirmed, inside the caller's deadline, and routes permanent failures to dead letters.

use crate::bulk;
use crate::client::{SearchClient, SendError};
use crate::dead_letter::{DeadLetter, DeadLetterStore};
use crate::ensure::excerpt;
use crate::error::SinkError;
use crate::operation::{Operation, Origin};
use crate::retry::Backoff;
use bytes::Bytes;
use elasticsearch::http::Method;
use elasticsearch::http::headers::HeaderValue;
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The bulk path after `{index}/`. `filter_path` trims the response to what we read (big win on large
/// batches); the query is written already percent-encoded as SigV4 canonicalizes it.
pub const BULK_PATH: &str = "_bulk?filter_path=items.%2A.status%2Citems.%2A.result%2Citems.%2A.error.type%2Citems.%2A.error.reason";

/// Dead letters held in memory before they are written early (normally they are written once
/// per source object at `finish`).
const DEAD_LETTER_BUFFER_BYTES: usize = 8 * 1024 * 1024;

/// What happened to the operations pushed into one sink. When `finish` returns Ok,
/// `operations == created + updated + deleted + not_found + dead_lettered`.
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
    /// Operations written to the dead-letter store.
    pub dead_lettered: u64,
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

/// One operation in flight: its encoded lines share the flushed buffer.
struct Entry {
    id: String,
    action: &'static str,
    origin: Origin,
    lines: Bytes,
}

/// A streaming bulk loader bound to one index and one deadline. Push operations, then call
/// [`BulkSink::finish`]; an error means some operations were not confirmed (the error says how
/// many) and the caller should fail so that the whole input is retried.
pub struct BulkSink {
    client: Arc<SearchClient>,
    index: String,
    /// `{index}/_bulk?...`: the index in the path (not only in the action lines) so that IAM
    /// policies scoped to the index paths allow the request.
    bulk_path: String,
    deadline: Instant,
    started: Instant,
    store: Option<Arc<dyn DeadLetterStore>>,
    buffer: Vec<u8>,
    pending: Vec<Pending>,
    report: Report,
    letters: Vec<DeadLetter>,
    letters_bytes: usize,
    parts_written: HashMap<String, u32>,
    /// Permanent failures when no store is configured: count and the first one.
    failed_without_store: Vec<DeadLetter>,
    last_problem: String,
}

impl std::fmt::Debug for BulkSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkSink")
            .field("index", &self.index)
            .field("pending", &self.pending.len())
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
        let capacity = buffer_capacity(client.config.bulk_max_bytes);
        let index = index.into();
        Self {
            client,
            bulk_path: format!("{index}/{BULK_PATH}"),
            index,
            deadline,
            started: Instant::now(),
            store,
            buffer: Vec::with_capacity(capacity),
            pending: Vec::new(),
            report: Report::default(),
            letters: Vec::new(),
            letters_bytes: 0,
            parts_written: HashMap::new(),
            failed_without_store: Vec::new(),
            last_problem: String::new(),
        }
    }

    /// The counts so far (operations still buffered are not in them yet).
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Adds one operation; sends a bulk request first when the buffer is full. An operation
    /// that cannot be encoded (empty id, source not a JSON object) is dead-lettered.
    pub async fn push(&mut self, op: Operation, origin: Origin) -> Result<(), SinkError> {
        self.report.operations += 1;
        let start = self.buffer.len();
        if let Err(e) = bulk::encode(&self.index, &op, &mut self.buffer) {
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
        let end = self.buffer.len();
        let limits = Arc::clone(&self.client);
        let limits = &limits.config;
        let action = op.action();
        let id = match op {
            Operation::Index { id, .. } | Operation::Delete { id } => id,
        };
        if !self.pending.is_empty() && end > limits.bulk_max_bytes {
            // This operation would overflow the batch: send the others first. It waits in the
            // buffer meanwhile, so an error counts it among the unconfirmed operations.
            let lines = self.buffer[start..end].to_vec();
            self.buffer.truncate(start);
            let batch = self.take_batch();
            self.buffer.extend_from_slice(&lines);
            self.pending.push(Pending {
                id,
                action,
                origin,
                start: 0,
                end: lines.len(),
            });
            self.send_batch(batch).await?;
        } else {
            self.pending.push(Pending {
                id,
                action,
                origin,
                start,
                end,
            });
        }
        if self.buffer.len() >= limits.bulk_max_bytes
            || self.pending.len() >= limits.bulk_max_operations
        {
            self.flush().await?;
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

    /// Sends the buffered operations now. After an error the sink must be dropped: the error
    /// says how many operations were not confirmed.
    pub async fn flush(&mut self) -> Result<(), SinkError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = self.take_batch();
        self.send_batch(batch).await
    }

    fn buffer_capacity(&self) -> usize {
        buffer_capacity(self.client.config.bulk_max_bytes)
    }

    /// Moves every pending operation out of the buffer into a batch sharing its bytes.
    fn take_batch(&mut self) -> Vec<Entry> {
        // Keep the next buffer's capacity: growing it again by doubling overshoots the limit.
        let next = Vec::with_capacity(self.buffer_capacity());
        let data = Bytes::from(std::mem::replace(&mut self.buffer, next));
        self.pending
            .drain(..)
            .map(|p| Entry {
                id: p.id,
                action: p.action,
                origin: p.origin,
                lines: data.slice(p.start..p.end),
            })
            .collect()
    }

    async fn send_batch(&mut self, batch: Vec<Entry>) -> Result<(), SinkError> {
        if let Err(e) = self.send(batch).await {
            // Keep what we learned: failed operations already known are stored before the
            // caller gives up, so the retry of the whole input does not depend on them.
            if let Err(store_error) = self.write_dead_letters().await {
                tracing::error!(error = %store_error, "dead letters could not be written");
            }
            return Err(e);
        }
        self.after_flush().await
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

    /// Sends `batch`, splitting on 413 and re-sending only unconfirmed operations.
    async fn send(&mut self, batch: Vec<Entry>) -> Result<(), SinkError> {
        let config = &self.client.config;
        let mut backoff = Backoff::new(config.retry_initial_delay, config.retry_max_delay);
        let mut work = vec![batch];
        while let Some(batch) = work.pop() {
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.deadline_error(batch.len() + waiting(&work)));
            }
            let raw_len: usize = batch.iter().map(|e| e.lines.len()).sum();
            let gzip = self.client.config.gzip;
            // Gzip straight from the operations' slices: no second copy of the batch.
            let body = if gzip {
                gzip_entries(&batch, raw_len)
            } else {
                let mut raw = Vec::with_capacity(raw_len);
                for entry in &batch {
                    raw.extend_from_slice(&entry.lines);
                }
                raw
            };
            self.report.requests += 1;
            self.report.bytes_uncompressed += raw_len as u64;
            self.report.bytes_sent += body.len() as u64;
            let timeout = self.client.config.request_timeout.min(remaining);
            let sent_at = Instant::now();
            let result = self
                .client
                .send(
                    Method::Post,
                    &self.bulk_path,
                    Some(Bytes::from(body)),
                    HeaderValue::from_static("application/x-ndjson"),
                    &[],
                    gzip,
                    Some(timeout),
                )
                .await;
            self.report.request_wait += sent_at.elapsed();
            let response = match result {
                Ok(r) => r,
                Err(SendError::Fatal(e)) => return Err(e),
                Err(SendError::Retryable(problem)) => {
                    tracing::warn!(
                        problem,
                        operations = batch.len(),
                        "bulk request failed; will retry"
                    );
                    self.last_problem = problem;
                    self.retry_later(&mut work, batch, &mut backoff).await?;
                    continue;
                }
            };
            match response.status {
                200 => {
                    let items = bulk::parse_response(&response.body).map_err(|e| {
                        SinkError::BadResponse {
                            method: "POST".into(),
                            path: self.bulk_path.clone(),
                            detail: format!(
                                "{e}; {} operations were not confirmed",
                                batch.len() + waiting(&work) + self.pending.len()
                            ),
                        }
                    })?;
                    if items.len() != batch.len() {
                        return Err(SinkError::BadResponse {
                            method: "POST".into(),
                            path: self.bulk_path.clone(),
                            detail: format!(
                                "{} items for {} operations; {} operations were not confirmed",
                                items.len(),
                                batch.len(),
                                batch.len() + waiting(&work) + self.pending.len()
                            ),
                        });
                    }
                    let mut again = Vec::new();
                    for (entry, item) in batch.into_iter().zip(items) {
                        match (item.status, entry.action) {
                            (200..=299, "delete") => self.report.deleted += 1,
                            (404, "delete") => self.report.not_found += 1,
                            (200..=299, _)
                                if item.status == 201
                                    || item.result.as_deref() == Some("created") =>
                            {
                                self.report.created += 1
                            }
                            (200..=299, _) => self.report.updated += 1,
                            (429 | 502 | 503 | 504, _) => {
                                self.last_problem = format!(
                                    "item status {}: {}: {}",
                                    item.status,
                                    item.error_type.as_deref().unwrap_or("-"),
                                    item.error_reason.as_deref().unwrap_or("-")
                                );
                                again.push(entry);
                            }
                            (status, _) => {
                                let letter = letter_for(
                                    &entry,
                                    status,
                                    item.error_type.unwrap_or_else(|| "unknown".into()),
                                    item.error_reason.unwrap_or_default(),
                                );
                                self.dead_letter(letter);
                            }
                        }
                    }
                    if !again.is_empty() {
                        tracing::warn!(operations = again.len(), problem = %self.last_problem, "bulk items rejected; will retry them");
                        self.retry_later(&mut work, again, &mut backoff).await?;
                    }
                }
                413 if batch.len() == 1 => {
                    let entry = &batch[0];
                    let letter = letter_for(
                        entry,
                        413,
                        "request_entity_too_large".into(),
                        format!(
                            "a bulk request with only this operation ({raw_len} bytes) is too large for the server"
                        ),
                    );
                    self.dead_letter(letter);
                }
                413 => {
                    let mut first = batch;
                    let second = first.split_off(first.len() / 2);
                    tracing::info!(
                        operations = first.len() + second.len(),
                        "413 request too large; splitting the batch"
                    );
                    self.report.retried += (first.len() + second.len()) as u64;
                    // Stack: the first half goes out first.
                    work.push(second);
                    work.push(first);
                }
                429 | 502 | 503 | 504 => {
                    self.last_problem =
                        format!("HTTP {}: {}", response.status, excerpt(&response.body));
                    tracing::warn!(
                        status = response.status,
                        operations = batch.len(),
                        "bulk request refused; will retry"
                    );
                    self.retry_later(&mut work, batch, &mut backoff).await?;
                }
                status => {
                    return Err(SinkError::Rejected {
                        method: "POST".into(),
                        path: self.bulk_path.clone(),
                        status,
                        body: excerpt(&response.body),
                        unconfirmed: batch.len() + waiting(&work) + self.pending.len(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Sleeps a jittered backoff and queues `batch` again, unless the deadline would pass.
    async fn retry_later(
        &mut self,
        work: &mut Vec<Vec<Entry>>,
        batch: Vec<Entry>,
        backoff: &mut Backoff,
    ) -> Result<(), SinkError> {
        let delay = backoff.next_delay();
        if Instant::now() + delay >= self.deadline {
            return Err(self.deadline_error(batch.len() + waiting(work)));
        }
        tokio::time::sleep(delay).await;
        self.report.backoff_wait += delay;
        self.report.retried += batch.len() as u64;
        work.push(batch);
        Ok(())
    }

    fn deadline_error(&self, unconfirmed: usize) -> SinkError {
        SinkError::DeadlineExceeded {
            unconfirmed: unconfirmed + self.pending.len(),
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
            store
                .store(&object, *part, &group)
                .await
                .map_err(|source| SinkError::DeadLetter {
                    count: group.len(),
                    source,
                })?;
            *part += 1;
            self.report.dead_lettered += group.len() as u64;
        }
        Ok(())
    }
}

fn waiting(work: &[Vec<Entry>]) -> usize {
    work.iter().map(Vec::len).sum()
}

fn letter_for(entry: &Entry, status: u16, error_type: String, reason: String) -> DeadLetter {
    // The source line is the second line of an `index` entry.
    let document = (entry.action == "index")
        .then(|| {
            let lines = &entry.lines;
            let split = lines.iter().position(|&b| b == b'\n')?;
            let source = lines[split + 1..].trim_ascii_end();
            let text = String::from_utf8(source.to_vec()).ok()?;
            serde_json::value::RawValue::from_string(text).ok()
        })
        .flatten();
    DeadLetter {
        id: entry.id.clone(),
        action: entry.action.into(),
        status,
        error_type,
        reason,
        source_object: entry.origin.object.to_string(),
        offset: entry.origin.offset,
        document,
    }
}

/// The bulk buffer's capacity: the flush limit plus room for the operation that crosses it
/// (pages are only touched as they fill, so a small object does not pay for it).
fn buffer_capacity(bulk_max_bytes: usize) -> usize {
    bulk_max_bytes.min(16 * 1024 * 1024) + 64 * 1024
}

/// Gzip at the fastest level: bulk NDJSON still shrinks several-fold and CPU is scarce in a
/// Lambda.
pub fn gzip_bytes(raw: &[u8]) -> Vec<u8> {
    gzip_parts([raw], raw.len())
}

fn gzip_entries(batch: &[Entry], raw_len: usize) -> Vec<u8> {
    gzip_parts(batch.iter().map(|e| &e.lines[..]), raw_len)
}

/// Gzips the concatenation of `parts` (writing into a Vec cannot fail).
fn gzip_parts<'a>(parts: impl IntoIterator<Item = &'a [u8]>, raw_len: usize) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw_len / 4 + 64),
        flate2::Compression::fast(),
    );
    for part in parts {
        let _ = encoder.write_all(part);
    }
    encoder.finish().unwrap_or_default()
}
