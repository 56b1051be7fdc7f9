//! One batch's life after it leaves the sink's buffer: send it, read the per-item outcomes,
//! re-send only what is unconfirmed (429/5xx, timeouts, resets, with backoff), split it on 413,
//! until every operation is confirmed or dead-lettered, or the deadline passes.
//!
//! Each delivery runs as its own task, so several batches can be in flight while the sink
//! fills the next one. A gzipped batch keeps only its compressed body while in flight (a
//! quarter of the NDJSON or less); a request that failed whole is re-sent with the same body,
//! and the batch is decompressed again only when a part of it must be re-sent or
//! dead-lettered, which is rare.

use crate::bulk;
use crate::classify::{ItemClass, classify};
use crate::client::Method;
use crate::client::{SearchClient, SendError};
use crate::dead_letter::DeadLetter;
use crate::deadline::fit_delay;
use crate::error::{SinkError, excerpt};
use crate::ledger::Seq;
use crate::operation::Origin;
use crate::report::Report;
use crate::retry::Backoff;
use bytes::Bytes;
use flate2::write::GzEncoder;
use http::HeaderValue;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// One operation of a batch: its lines are `range` of the batch's NDJSON; `seq` is its number
/// in the sink's ledger.
pub(crate) struct Entry {
    pub(crate) seq: Seq,
    pub(crate) id: String,
    pub(crate) action: &'static str,
    pub(crate) origin: Origin,
    pub(crate) range: Range<usize>,
}

/// The batch's NDJSON, or only its gzip form while nothing needs re-sending.
pub(crate) enum Body {
    Plain(Bytes),
    Gzipped { gzip: Bytes, plain_len: usize },
}

/// A batch handed over by the sink.
pub(crate) struct Batch {
    pub(crate) entries: Vec<Entry>,
    pub(crate) body: Body,
}

/// Where and how long a delivery may try.
pub(crate) struct Target {
    pub(crate) client: Arc<SearchClient>,
    /// The index name (to ensure it again if it disappeared).
    pub(crate) index: Arc<str>,
    /// `{index}/_bulk?filter_path=...`
    pub(crate) path: Arc<str>,
    pub(crate) deadline: Instant,
    /// One backoff state per sink: a congested cluster slows every batch, not each anew.
    pub(crate) backoff: Arc<Mutex<Backoff>>,
}

/// Why a delivery stopped before confirming everything. `unconfirmed` counts only this
/// delivery's operations; the sink adds the ones it still holds.
#[derive(Debug)]
pub(crate) enum Failure {
    Deadline {
        unconfirmed: usize,
    },
    Rejected {
        status: u16,
        body: String,
        unconfirmed: usize,
    },
    /// Items refused for an index-wide or unknown reason (write block, security, missing
    /// index): nothing is dead-lettered, the input must be retried later.
    Refused {
        status: u16,
        error_type: String,
        reason: String,
        unconfirmed: usize,
    },
    BadResponse {
        detail: String,
        unconfirmed: usize,
    },
    Fatal(SinkError),
}

impl Failure {
    /// This delivery's operations left unconfirmed (unknown for a fatal error).
    pub(crate) fn unconfirmed(&self) -> Option<usize> {
        match self {
            Failure::Deadline { unconfirmed }
            | Failure::Rejected { unconfirmed, .. }
            | Failure::Refused { unconfirmed, .. }
            | Failure::BadResponse { unconfirmed, .. } => Some(*unconfirmed),
            Failure::Fatal(_) => None,
        }
    }
}

/// What a delivery did: counts to add to the sink's report, permanent failures to
/// dead-letter (with their operations' numbers), and a failure if it stopped early.
pub(crate) struct Delivery {
    /// Operations in the batch.
    pub(crate) operations: usize,
    pub(crate) report: Report,
    pub(crate) letters: Vec<(Seq, DeadLetter)>,
    /// The confirmed operations' numbers: applied (`true`) or superseded.
    pub(crate) outcomes: Vec<(Seq, bool)>,
    pub(crate) last_problem: String,
    pub(crate) failure: Option<Failure>,
}

/// Delivers `batch`; never panics on server input, never returns before every operation is
/// settled or the delivery has failed.
pub(crate) async fn deliver(target: Target, batch: Batch) -> Delivery {
    let mut run = Run {
        operations: batch.entries.len(),
        report: Report::default(),
        letters: Vec::new(),
        outcomes: Vec::new(),
        last_problem: String::new(),
        plain: None,
        gzipped: None,
        gzip: target.client.config().gzip,
    };
    let failure = run.send_all(&target, batch).await.err();
    Delivery {
        operations: run.operations,
        report: run.report,
        letters: run.letters,
        outcomes: run.outcomes,
        last_problem: run.last_problem,
        failure,
    }
}

struct Run {
    operations: usize,
    report: Report,
    letters: Vec<(Seq, DeadLetter)>,
    outcomes: Vec<(Seq, bool)>,
    last_problem: String,
    /// The batch's NDJSON once it had to be decompressed (or when it was never compressed).
    plain: Option<Bytes>,
    /// The in-flight gzip body and its plain length, kept until `plain` is needed.
    gzipped: Option<(Bytes, usize)>,
    gzip: bool,
}

/// A part of the batch to send: all of it the first time (its body already built), then the
/// entries that still need sending.
struct Work {
    entries: Vec<Entry>,
    /// Set when the body is built already (the batch's first send, or a part re-sent whole
    /// after a failed request): no re-encoding needed.
    ready: Option<(Bytes, usize)>,
}

impl Run {
    async fn send_all(&mut self, target: &Target, batch: Batch) -> Result<(), Failure> {
        let config = target.client.config();
        let mut reensured = false;
        let ready = match batch.body {
            Body::Plain(plain) => {
                let len = plain.len();
                self.plain = Some(plain.clone());
                (plain, len)
            }
            Body::Gzipped { gzip, plain_len } => {
                self.gzipped = Some((gzip.clone(), plain_len));
                (gzip, plain_len)
            }
        };
        let mut work = vec![Work {
            entries: batch.entries,
            ready: Some(ready),
        }];
        while let Some(part) = work.pop() {
            let remaining = target.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Failure::Deadline {
                    unconfirmed: part.entries.len() + waiting(&work),
                });
            }
            let (body, plain_len) = match part.ready {
                Some(ready) => ready,
                None => self.encode(&part.entries, &mut work)?,
            };
            let entries = part.entries;
            self.report.requests += 1;
            self.report.bytes_uncompressed += plain_len as u64;
            self.report.bytes_sent += body.len() as u64;
            let timeout = bulk_timeout(config.request_timeout, plain_len, remaining);
            let sent_at = Instant::now();
            let exchange = target.client.send(
                Method::Post,
                &target.path,
                Some(body.clone()),
                HeaderValue::from_static("application/x-ndjson"),
                &[],
                self.gzip,
                Some(timeout),
            );
            // The request's own timeout does not cover signing (credentials may be fetched
            // first): the whole exchange is bounded too.
            let result = tokio::time::timeout(timeout, exchange)
                .await
                .unwrap_or_else(|_| {
                    Err(SendError::Retryable(format!(
                        "no answer within {timeout:?}"
                    )))
                });
            self.report.request_wait += sent_at.elapsed();
            let response = match result {
                Ok(r) => r,
                Err(SendError::Fatal(e)) => return Err(Failure::Fatal(e)),
                Err(SendError::Retryable(problem)) => {
                    tracing::warn!(
                        problem,
                        operations = entries.len(),
                        "bulk request failed; will retry"
                    );
                    self.last_problem = problem;
                    let same = Some((body, plain_len));
                    self.retry_later(target, &mut work, entries, same).await?;
                    continue;
                }
            };
            match response.status {
                200 => {
                    let items =
                        bulk::parse_response(&response.body).map_err(|e| Failure::BadResponse {
                            detail: e.to_string(),
                            unconfirmed: entries.len() + waiting(&work),
                        })?;
                    if items.len() != entries.len() {
                        return Err(Failure::BadResponse {
                            detail: format!(
                                "{} items for {} operations",
                                items.len(),
                                entries.len()
                            ),
                            unconfirmed: entries.len() + waiting(&work),
                        });
                    }
                    self.settle_items(target, entries, items, &mut work, &mut reensured)
                        .await?;
                }
                413 if entries.len() == 1 => {
                    let reason = format!(
                        "a bulk request with only this operation ({plain_len} bytes) is too large for the server"
                    );
                    let letter = self.letter_for(
                        &entries[0],
                        413,
                        "request_entity_too_large".into(),
                        reason,
                        &mut work,
                    )?;
                    self.letters.push((entries[0].seq, letter));
                }
                413 => {
                    let mut first = entries;
                    let second = first.split_off(first.len() / 2);
                    tracing::info!(
                        operations = first.len() + second.len(),
                        "413 request too large; splitting the batch"
                    );
                    self.report.retried += (first.len() + second.len()) as u64;
                    // Stack: the first half goes out first.
                    work.push(Work {
                        entries: second,
                        ready: None,
                    });
                    work.push(Work {
                        entries: first,
                        ready: None,
                    });
                }
                status if crate::classify::is_transient_status(status) => {
                    if let Some(error_type) = index_wide_error(&response.body) {
                        return Err(Failure::Refused {
                            status: response.status,
                            error_type,
                            reason: excerpt(&response.body),
                            unconfirmed: entries.len() + waiting(&work),
                        });
                    }
                    self.last_problem =
                        format!("HTTP {}: {}", response.status, excerpt(&response.body));
                    tracing::warn!(
                        status = response.status,
                        operations = entries.len(),
                        "bulk request refused; will retry"
                    );
                    let same = Some((body, plain_len));
                    self.retry_later(target, &mut work, entries, same).await?;
                }
                status => {
                    return Err(Failure::Rejected {
                        status,
                        body: excerpt(&response.body),
                        unconfirmed: entries.len() + waiting(&work),
                    });
                }
            }
        }
        Ok(())
    }

    /// The batch's NDJSON, decompressing the in-flight gzip body the first time it is needed.
    fn plain(&mut self, unconfirmed: usize) -> Result<Bytes, Failure> {
        if let Some(plain) = &self.plain {
            return Ok(plain.clone());
        }
        let inflated = self
            .gzipped
            .take()
            .and_then(|(gzip, plain_len)| gunzip(&gzip, plain_len));
        match inflated {
            Some(plain) => {
                let plain = Bytes::from(plain);
                self.plain = Some(plain.clone());
                Ok(plain)
            }
            // Only reachable if our own gzip output were corrupt.
            None => Err(Failure::BadResponse {
                detail: "the in-flight batch could not be decompressed for a re-send".into(),
                unconfirmed,
            }),
        }
    }

    /// A body for `entries`: their lines, gzipped when configured.
    fn encode(&mut self, entries: &[Entry], work: &mut [Work]) -> Result<(Bytes, usize), Failure> {
        let plain = self.plain(entries.len() + waiting(work))?;
        let parts = entries.iter().map(|e| &plain[e.range.clone()]);
        let plain_len = entries.iter().map(|e| e.range.len()).sum();
        let body = if self.gzip {
            gzip_parts(parts, plain_len)
        } else {
            let mut out = Vec::with_capacity(plain_len);
            parts.for_each(|p| out.extend_from_slice(p));
            out
        };
        Ok((Bytes::from(body), plain_len))
    }

    fn letter_for(
        &mut self,
        entry: &Entry,
        status: u16,
        error_type: String,
        reason: String,
        work: &mut [Work],
    ) -> Result<DeadLetter, Failure> {
        let plain = self.plain(1 + waiting(work))?;
        // The source line is the second line of an `index` entry.
        let document = (entry.action == "index")
            .then(|| {
                let lines = &plain[entry.range.clone()];
                let split = lines.iter().position(|&b| b == b'\n')?;
                let source = lines[split + 1..].trim_ascii_end();
                let text = String::from_utf8(source.to_vec()).ok()?;
                serde_json::value::RawValue::from_string(text).ok()
            })
            .flatten();
        Ok(DeadLetter {
            id: entry.id.clone(),
            action: entry.action.into(),
            status,
            error_type,
            reason,
            source_object: entry.origin.object.to_string(),
            offset: entry.origin.offset,
            document,
        })
    }

    /// Sleeps a jittered backoff (shortened to fit the deadline) and queues `entries` again.
    /// Queues `entries` again after a backoff. `ready` is the body they were just sent in, when
    /// all of them go again: it is re-sent as it is, rather than rebuilt from a decompressed
    /// copy of the batch (which, for a gzipped batch, would hold the whole NDJSON in memory
    /// for the rest of the delivery: ~5 MiB per bulk in flight while a slow server times out).
    async fn retry_later(
        &mut self,
        target: &Target,
        work: &mut Vec<Work>,
        entries: Vec<Entry>,
        ready: Option<(Bytes, usize)>,
    ) -> Result<(), Failure> {
        let delay = lock(&target.backoff).next_delay();
        let remaining = target.deadline.saturating_duration_since(Instant::now());
        let Some(delay) = fit_delay(delay, remaining) else {
            return Err(Failure::Deadline {
                unconfirmed: entries.len() + waiting(work),
            });
        };
        tokio::time::sleep(delay).await;
        self.report.backoff_wait += delay;
        self.report.retried += entries.len() as u64;
        work.push(Work { entries, ready });
        Ok(())
    }

    /// Books one bulk response's items by their [`classify`] class; queues the retryable ones
    /// (with the later operations on their ids) and fails on index-wide refusals.
    async fn settle_items(
        &mut self,
        target: &Target,
        entries: Vec<Entry>,
        items: Vec<bulk::ItemOutcome>,
        work: &mut Vec<Work>,
        reensured: &mut bool,
    ) -> Result<(), Failure> {
        let mut again = Vec::new();
        // Ids with an operation to retry: their later operations in this batch go with it,
        // whatever their status, so that a delete that succeeded is not overtaken by the
        // retried index of the same tweet.
        let mut again_ids: HashSet<String> = HashSet::new();
        let mut refused: Option<(u16, String, String)> = None;
        let mut refused_count = 0;
        let mut index_missing = 0;
        for (entry, item) in entries.into_iter().zip(items) {
            if !again_ids.is_empty() && again_ids.contains(&entry.id) {
                again.push(entry);
                continue;
            }
            let class = classify(
                entry.action == "delete",
                item.status,
                item.created,
                item.error_type.as_deref(),
                item.error_reason.as_deref(),
            );
            let problem = || {
                format!(
                    "item status {}: {}: {}",
                    item.status,
                    item.error_type.as_deref().unwrap_or("-"),
                    item.error_reason.as_deref().unwrap_or("-")
                )
            };
            match class {
                ItemClass::Created => {
                    self.report.created += 1;
                    self.outcomes.push((entry.seq, true));
                }
                ItemClass::Updated => {
                    self.report.updated += 1;
                    self.outcomes.push((entry.seq, true));
                }
                ItemClass::Deleted => {
                    self.report.deleted += 1;
                    self.outcomes.push((entry.seq, true));
                }
                ItemClass::NotFound => {
                    self.report.not_found += 1;
                    self.outcomes.push((entry.seq, true));
                }
                ItemClass::Superseded => {
                    self.report.superseded += 1;
                    self.outcomes.push((entry.seq, false));
                }
                ItemClass::Retry => {
                    self.last_problem = problem();
                    again_ids.insert(entry.id.clone());
                    again.push(entry);
                }
                ItemClass::IndexMissing if !*reensured => {
                    self.last_problem = problem();
                    index_missing += 1;
                    again_ids.insert(entry.id.clone());
                    again.push(entry);
                }
                ItemClass::IndexMissing | ItemClass::Fail => {
                    self.report.refused += 1;
                    refused_count += 1;
                    if refused.is_none() {
                        let error_type =
                            item.error_type.clone().unwrap_or_else(|| "unknown".into());
                        let mut reason = item.error_reason.clone().unwrap_or_default();
                        if let Some(meaning) =
                            crate::classify::collection_refusal(&error_type, &reason)
                        {
                            reason = format!("{reason}: {meaning}");
                        }
                        refused = Some((item.status, error_type, reason));
                    }
                }
                ItemClass::DeadLetter => {
                    let letter = self.letter_for(
                        &entry,
                        item.status,
                        item.error_type.unwrap_or_else(|| "unknown".into()),
                        item.error_reason.unwrap_or_default(),
                        work,
                    )?;
                    self.letters.push((entry.seq, letter));
                }
            }
        }
        if let Some((status, error_type, reason)) = refused {
            tracing::error!(
                status,
                error_type,
                reason,
                operations = refused_count,
                "bulk items refused for a reason that is not the documents'; failing the delivery"
            );
            return Err(Failure::Refused {
                status,
                error_type,
                reason,
                unconfirmed: refused_count + again.len() + waiting(work),
            });
        }
        if index_missing > 0 {
            *reensured = true;
            tracing::warn!(index = %target.index, "the index disappeared; ensuring it again");
            match target.client.reensure(&target.index, target.deadline).await {
                Ok(true) => {}
                Ok(false) => {
                    return Err(Failure::Refused {
                        status: 404,
                        error_type: "index_not_found_exception".into(),
                        reason: format!(
                            "index {:?} does not exist and this process never ensured it",
                            target.index
                        ),
                        unconfirmed: again.len() + waiting(work),
                    });
                }
                Err(e) => return Err(Failure::Fatal(e)),
            }
        }
        if again.is_empty() {
            lock(&target.backoff).reset();
        } else {
            tracing::warn!(operations = again.len(), problem = %self.last_problem, "bulk items rejected; will retry them");
            self.retry_later(target, work, again, None).await?;
        }
        Ok(())
    }
}

fn lock(backoff: &Mutex<Backoff>) -> std::sync::MutexGuard<'_, Backoff> {
    backoff
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Bytes per second a bulk request is given on top of the base timeout: large bodies take
/// longer to upload and to index, and a timeout the server outlives makes it apply the batch
/// twice.
const BULK_TIMEOUT_BYTES_PER_SECOND: u64 = 256 * 1024;

/// The timeout of one bulk request: `base` plus time for its `plain_len` bytes, capped by
/// the time left.
pub(crate) fn bulk_timeout(base: Duration, plain_len: usize, remaining: Duration) -> Duration {
    let for_payload =
        Duration::from_secs_f64(plain_len as f64 / BULK_TIMEOUT_BYTES_PER_SECOND as f64);
    (base + for_payload).min(remaining)
}

/// The `error.type` of a whole-request refusal that retrying in this invocation cannot fix
/// (a block on the index, e.g. the flood-stage `read_only_allow_delete` answered with 429).
fn index_wide_error(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error_type = value.pointer("/error/type")?.as_str()?;
    (classify(false, 429, false, Some(error_type), None) == ItemClass::Fail)
        .then(|| error_type.to_owned())
}

fn waiting(work: &[Work]) -> usize {
    work.iter().map(|w| w.entries.len()).sum()
}

/// Gzips `raw` as bulk bodies are gzipped.
pub fn gzip_bytes(raw: &[u8]) -> Vec<u8> {
    gzip_parts([raw], raw.len())
}

/// Gzips the concatenation of `parts` (writing into a Vec cannot fail).
pub(crate) fn gzip_parts<'a>(parts: impl IntoIterator<Item = &'a [u8]>, raw_len: usize) -> Vec<u8> {
    let mut encoder = gzip_encoder(raw_len);
    for part in parts {
        let _ = encoder.write_all(part);
    }
    encoder.finish().unwrap_or_default()
}

/// The one gzip setting of bulk bodies: the fastest level (bulk NDJSON still shrinks 4-5 fold
/// and CPU is scarce in a Lambda), the output sized for `plain_len` bytes at a ratio of 3
/// (pages are touched only as they fill).
pub(crate) fn gzip_encoder(plain_len: usize) -> GzEncoder<Vec<u8>> {
    GzEncoder::new(
        Vec::with_capacity(plain_len / 3 + 4096),
        flate2::Compression::fast(),
    )
}

/// Inflates a body this crate gzipped; `None` if it is not valid gzip (it always is).
pub(crate) fn gunzip(gzip: &[u8], plain_len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(plain_len);
    flate2::read::GzDecoder::new(gzip)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_timeouts_grow_with_the_payload_and_stop_at_the_deadline() {
        let base = Duration::from_secs(60);
        let hour = Duration::from_secs(3600);
        assert_eq!(bulk_timeout(base, 0, hour), base);
        // 5 MiB at 256 KiB/s: 20 s more.
        assert_eq!(bulk_timeout(base, 5 << 20, hour), Duration::from_secs(80));
        assert_eq!(
            bulk_timeout(base, 5 << 20, Duration::from_secs(7)),
            Duration::from_secs(7)
        );
    }

    #[test]
    fn the_last_backoff_is_shortened_to_fit_the_deadline() {
        let ms = Duration::from_millis;
        let table = [
            // (delay, remaining) -> sleep
            (ms(100), ms(10_000), Some(ms(100))),
            (ms(8_000), ms(10_000), Some(ms(5_000))),
            (ms(8_000), ms(100), Some(ms(50))),
            (ms(8_000), ms(99), None),
            (ms(0), ms(0), None),
        ];
        for (delay, remaining, want) in table {
            assert_eq!(
                fit_delay(delay, remaining),
                want,
                "{delay:?} with {remaining:?} left"
            );
        }
    }

    #[test]
    fn whole_request_blocks_fail_and_busy_answers_retry() {
        let block = br#"{"error":{"type":"cluster_block_exception","reason":"index [t] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];"},"status":429}"#;
        assert_eq!(
            index_wide_error(block).as_deref(),
            Some("cluster_block_exception")
        );
        let busy =
            br#"{"error":{"type":"es_rejected_execution_exception","reason":"busy"},"status":429}"#;
        assert_eq!(index_wide_error(busy), None);
        assert_eq!(index_wide_error(b"<html>bad gateway</html>"), None);
    }
}
