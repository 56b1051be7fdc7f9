//! `kinesis://NAME`: Kinesis Data Streams `PutRecords`. Each record is the raw stream line
//! (Kinesis keeps record boundaries, so no newline is added); the partition key is the author
//! id, like the classic setup (one author's tweets stay in order on one shard), or the tweet
//! id by option. At most 500 records and 5 MiB per call, 1 MiB per record (data plus key).
//! Per-record failures are resent alone, with exponential backoff, until accepted, and never
//! overtaken by a later record of the same partition key (see [`KinesisSink::write`]). The
//! start-up check is `DescribeStreamSummary` (the stream exists and takes records).
//!
//! The client comes from the AWS default chain; `AWS_ENDPOINT_URL_KINESIS` (or
//! `AWS_ENDPOINT_URL`) selects a local Kinesis such as moto.

use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use super::aws::{
    CALL_TIMEOUT, CONNECT_TIMEOUT, RETRY_START, describe_sdk_error, judge_status, retry_delay,
    split_refused,
};
use super::error::SinkError;
use crate::metrics::Stats;
use crate::record::Record;

pub const MAX_RECORDS_PER_CALL: usize = 500;
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
pub const MAX_CALL_BYTES: usize = 5 * 1024 * 1024;

/// Which id partitions the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionKey {
    /// The author id (falls back to the tweet id for lines without an author, e.g. deletes).
    Author,
    /// The tweet id.
    Tweet,
}

impl std::str::FromStr for PartitionKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "author" => Ok(PartitionKey::Author),
            "tweet" => Ok(PartitionKey::Tweet),
            other => Err(format!("{other}: expected author or tweet")),
        }
    }
}

/// The partition key of a record. Lines with no id at all (rare control lines) share one key.
pub fn partition_key(record: &Record, by: PartitionKey) -> String {
    let author = record.author_id.as_deref().filter(|a| !a.is_empty());
    let tweet = record.tweet_id.as_deref().filter(|t| !t.is_empty());
    let key = match by {
        PartitionKey::Author => author.or(tweet),
        PartitionKey::Tweet => tweet.or(author),
    };
    key.unwrap_or("tweet-capture").to_owned()
}

pub struct KinesisSink {
    client: aws_sdk_kinesis::Client,
    stream: String,
    by: PartitionKey,
    retry_start: Duration,
}

impl std::fmt::Debug for KinesisSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KinesisSink")
            .field("stream", &self.stream)
            .field("by", &self.by)
            .finish_non_exhaustive()
    }
}

impl KinesisSink {
    pub fn new(
        client: aws_sdk_kinesis::Client,
        stream: impl Into<String>,
        by: PartitionKey,
    ) -> Self {
        // This sink resends what failed, entry by entry, and counts every failed call; the
        // SDK's own retries would hide failures from the counters and resend whole calls.
        // Every call has a deadline.
        let config = client
            .config()
            .to_builder()
            .retry_config(aws_sdk_kinesis::config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_sdk_kinesis::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_timeout(CALL_TIMEOUT)
                    .build(),
            )
            .build();
        KinesisSink {
            client: aws_sdk_kinesis::Client::from_conf(config),
            stream: stream.into(),
            by,
            retry_start: RETRY_START,
        }
    }

    /// The first delay before resending (it doubles per failed call in a row); tests
    /// shorten it.
    pub fn with_retry_start(mut self, delay: Duration) -> Self {
        self.retry_start = delay;
        self
    }

    /// A client from the AWS default chain (region, credentials, endpoint overrides).
    pub async fn from_env(stream: impl Into<String>, by: PartitionKey) -> Self {
        let config = search_sink::https::aws_config_loader().load().await;
        KinesisSink::new(aws_sdk_kinesis::Client::new(&config), stream, by)
    }

    /// `DescribeStreamSummary`: the stream exists, takes records (`ACTIVE` or `UPDATING`),
    /// and the credentials work.
    pub async fn check(&self) -> Result<(), SinkError> {
        let answer = self
            .client
            .describe_stream_summary()
            .stream_name(&self.stream)
            .send()
            .await
            .map(|out| {
                out.stream_description_summary()
                    .map(|d| d.stream_status().as_str().to_owned())
                    .unwrap_or_default()
            });
        judge_status(
            format!("kinesis://{}", self.stream),
            answer,
            &["ACTIVE", "UPDATING"],
        )
    }

    /// Sends the batch; returns when every record was accepted (or counted as dropped, too
    /// large).
    ///
    /// Order per partition key is kept even when entries are refused: a call carries at most
    /// one entry per key (the oldest one not yet accepted), so a refused entry is resent
    /// before anything that came after it under its key. PutRecords may accept an entry and
    /// refuse an earlier one of the same call; with two entries of one key in a call that
    /// would reorder them for good. The cost: one call per entry for a batch from a single
    /// author; for the usual many-author stream, calls stay near full.
    pub async fn write(&mut self, batch: Vec<Record>, stats: &Stats) {
        let mut queue: Vec<Option<Pending>> = Vec::with_capacity(batch.len());
        for record in batch {
            let key = partition_key(&record, self.by);
            let size = record.line.len() + key.len();
            if size > MAX_RECORD_BYTES {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    tweet_id = record.tweet_id.as_deref().unwrap_or(""),
                    bytes = size,
                    "record larger than Kinesis's 1 MiB limit: not delivered"
                );
                continue;
            }
            queue.push(Some(Pending { record, key, size }));
        }
        let mut failed_calls_in_a_row: u32 = 0;
        loop {
            let waiting: Vec<(usize, &str, usize)> = queue
                .iter()
                .enumerate()
                .filter_map(|(i, p)| p.as_ref().map(|p| (i, p.key.as_str(), p.size)))
                .collect();
            if waiting.is_empty() {
                return;
            }
            let call = plan_ordered_call(&waiting, MAX_RECORDS_PER_CALL, MAX_CALL_BYTES);
            let refused = self.put(&queue, &call, stats).await;
            if refused.is_empty() {
                failed_calls_in_a_row = 0;
            } else {
                failed_calls_in_a_row = failed_calls_in_a_row.saturating_add(1);
            }
            let mut resent = 0u64;
            for (n, &i) in call.iter().enumerate() {
                if !refused.contains(&n) {
                    queue[i] = None;
                    continue;
                }
                if queue[i].is_some() {
                    resent += 1;
                }
            }
            if resent > 0 {
                stats.resent.fetch_add(resent, Ordering::Relaxed);
                tokio::time::sleep(retry_delay(self.retry_start, failed_calls_in_a_row)).await;
            }
        }
    }

    /// One `PutRecords` call with the entries `call` names; returns the positions (in
    /// `call`) of the entries that were not accepted (all of them when the call failed).
    async fn put(&self, queue: &[Option<Pending>], call: &[usize], stats: &Stats) -> Vec<usize> {
        let everything = || (0..call.len()).collect::<Vec<usize>>();
        let built: Result<Vec<PutRecordsRequestEntry>, _> = call
            .iter()
            .filter_map(|&i| queue[i].as_ref())
            .map(|p| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(p.record.line.to_vec()))
                    .partition_key(&p.key)
                    .build()
            })
            .collect();
        let built = match built {
            Ok(b) => b,
            Err(e) => {
                // Only a missing data or key fails here, which cannot happen.
                tracing::error!(error = %e, "building Kinesis records failed");
                stats.sink_failures.fetch_add(1, Ordering::Relaxed);
                return everything();
            }
        };
        let result = self
            .client
            .put_records()
            .stream_name(&self.stream)
            .set_records(Some(built))
            .send()
            .await;
        match result {
            Ok(out) if out.failed_record_count().unwrap_or(0) == 0 => {
                stats
                    .delivered
                    .fetch_add(call.len() as u64, Ordering::Relaxed);
                Vec::new()
            }
            Ok(out) => {
                let answers = out
                    .records()
                    .iter()
                    .map(|e| (e.error_code(), e.error_message()));
                let (refused, first_error) = split_refused(answers, everything(), stats);
                stats.sink_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    failed = refused.len(),
                    error = first_error.as_deref().unwrap_or(""),
                    "Kinesis refused some records: resending those"
                );
                refused
            }
            Err(e) => {
                stats.sink_failures.fetch_add(1, Ordering::Relaxed);
                let (error, _) = describe_sdk_error(&e);
                tracing::warn!(%error, records = call.len(), "PutRecords failed: resending");
                everything()
            }
        }
    }
}

/// A record waiting for Kinesis to accept it (kept whole: it holds its share of the queue's
/// memory until it is accepted).
struct Pending {
    record: Record,
    key: String,
    /// Data plus key, as Kinesis counts a record.
    size: usize,
}

/// Picks the next call from the waiting entries `(position, key, size)`, oldest first: at
/// most one entry per key, and never an entry whose key has an older entry left out (so a
/// key's entries go out in order), within the call's record and byte limits. Pure, so the
/// ordering rule is tested as a table.
pub fn plan_ordered_call(
    waiting: &[(usize, &str, usize)],
    max_records: usize,
    max_call_bytes: usize,
) -> Vec<usize> {
    let mut keys_seen = std::collections::HashSet::new();
    let mut call = Vec::new();
    let mut bytes = 0;
    for &(position, key, size) in waiting {
        if call.len() == max_records {
            break;
        }
        // Whether taken or left out for size, the key's later entries must wait.
        if !keys_seen.insert(key) {
            continue;
        }
        if call.is_empty() || bytes + size <= max_call_bytes {
            bytes += size;
            call.push(position);
        }
    }
    call
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_key_table() {
        let rec = |tweet: Option<&str>, author: Option<&str>| {
            Record::new(&b"{}"[..], tweet.map(Into::into), author.map(Into::into))
        };
        let table = [
            (rec(Some("1"), Some("9")), PartitionKey::Author, "9"),
            (rec(Some("1"), Some("9")), PartitionKey::Tweet, "1"),
            (rec(Some("1"), None), PartitionKey::Author, "1"),
            (rec(None, Some("9")), PartitionKey::Tweet, "9"),
            (rec(Some("1"), Some("")), PartitionKey::Author, "1"),
            (rec(None, None), PartitionKey::Author, "tweet-capture"),
        ];
        for (record, by, expected) in table {
            assert_eq!(partition_key(&record, by), expected, "{record:?} {by:?}");
        }
    }

    #[test]
    fn plan_ordered_call_table() {
        type Waiting = Vec<(usize, &'static str, usize)>;
        let table: Vec<(Waiting, usize, usize, Vec<usize>)> = vec![
            (vec![], 500, 100, vec![]),
            // One entry per key: a key's second entry waits for the next call.
            (
                vec![(0, "a", 1), (1, "b", 1), (2, "a", 1), (3, "c", 1)],
                500,
                100,
                vec![0, 1, 3],
            ),
            // The record limit.
            (
                vec![(0, "a", 1), (1, "b", 1), (2, "c", 1)],
                2,
                100,
                vec![0, 1],
            ),
            // An entry left out for size blocks its key's later entries, not other keys.
            (
                vec![(0, "a", 60), (1, "b", 50), (2, "b", 1), (3, "c", 30)],
                500,
                100,
                vec![0, 3],
            ),
            // A first entry over the byte limit still goes alone (Kinesis judges it).
            (vec![(4, "a", 150), (7, "b", 1)], 500, 100, vec![4]),
            // Positions are passed through (refused entries keep their old places).
            (vec![(5, "k", 1), (9, "k", 1)], 500, 100, vec![5]),
        ];
        for (waiting, max_records, max_bytes, expected) in table {
            assert_eq!(
                plan_ordered_call(&waiting, max_records, max_bytes),
                expected,
                "{waiting:?}"
            );
        }
    }
}
