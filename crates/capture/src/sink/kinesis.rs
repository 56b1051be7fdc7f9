//! `kinesis://NAME`: Kinesis Data Streams `PutRecords`. Each record is the raw stream line
//! (Kinesis keeps record boundaries, so no newline is added); the partition key is the author
//! id, like the classic setup (one author's tweets stay in order on one shard), or the tweet
//! id by option. At most 500 records and 5 MiB per call, 1 MiB per record (data plus key).
//! Per-record failures are resent alone, with exponential backoff.
//!
//! The client comes from the AWS default chain; `AWS_ENDPOINT_URL_KINESIS` (or
//! `AWS_ENDPOINT_URL`) selects a local Kinesis such as moto.

use std::sync::atomic::Ordering;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use super::{RETRY_START, plan_batches, retry_delay, split_refused};
use crate::metrics::Stats;
use crate::stream::Record;

pub const MAX_RECORDS_PER_CALL: usize = 500;
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
pub const MAX_CALL_BYTES: usize = 5 * 1024 * 1024;
/// Same budget as the Firehose sink.
pub const MAX_ATTEMPTS: u32 = 10;

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
        KinesisSink {
            client,
            stream: stream.into(),
            by,
        }
    }

    /// A client from the AWS default chain (region, credentials, endpoint overrides).
    pub async fn from_env(stream: impl Into<String>, by: PartitionKey) -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        KinesisSink::new(aws_sdk_kinesis::Client::new(&config), stream, by)
    }

    /// Sends the batch; returns when every record was accepted or counted as dropped.
    pub async fn write(&mut self, batch: Vec<Record>, stats: &Stats) {
        let entries: Vec<(Vec<u8>, String)> = batch
            .iter()
            .map(|r| (r.line.to_vec(), partition_key(r, self.by)))
            .collect();
        let sizes: Vec<usize> = entries.iter().map(|(d, k)| d.len() + k.len()).collect();
        let (calls, too_large) = plan_batches(
            &sizes,
            MAX_RECORDS_PER_CALL,
            MAX_RECORD_BYTES,
            MAX_CALL_BYTES,
        );
        for i in too_large {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                tweet_id = batch[i].tweet_id.as_deref().unwrap_or(""),
                bytes = sizes[i],
                "record larger than Kinesis's 1 MiB limit: dropped"
            );
        }
        for call in calls {
            let pending = call.iter().map(|&i| entries[i].clone()).collect();
            self.put(pending, stats).await;
        }
    }

    async fn put(&self, mut pending: Vec<(Vec<u8>, String)>, stats: &Stats) {
        let mut attempt = 0u32;
        loop {
            let built: Result<Vec<PutRecordsRequestEntry>, _> = pending
                .iter()
                .map(|(data, key)| {
                    PutRecordsRequestEntry::builder()
                        .data(Blob::new(data.clone()))
                        .partition_key(key)
                        .build()
                })
                .collect();
            let built = match built {
                Ok(b) => b,
                Err(e) => {
                    // Only a missing data or key fails here, which cannot happen.
                    stats
                        .dropped
                        .fetch_add(pending.len() as u64, Ordering::Relaxed);
                    tracing::error!(error = %e, "building Kinesis records failed: dropped");
                    return;
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
                        .fetch_add(pending.len() as u64, Ordering::Relaxed);
                    return;
                }
                Ok(out) => {
                    let answers = out
                        .records()
                        .iter()
                        .map(|e| (e.error_code(), e.error_message()));
                    let (failed, first_error) =
                        split_refused(answers, std::mem::take(&mut pending), stats);
                    stats.sink_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        failed = failed.len(),
                        error = first_error.as_deref().unwrap_or(""),
                        "Kinesis refused some records: resending those"
                    );
                    pending = failed;
                    if pending.is_empty() {
                        return;
                    }
                }
                Err(e) => {
                    stats.sink_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        error = %aws_sdk_kinesis::error::DisplayErrorContext(&e),
                        records = pending.len(),
                        "PutRecords failed: resending"
                    );
                }
            }
            attempt += 1;
            if attempt >= MAX_ATTEMPTS {
                stats
                    .dropped
                    .fetch_add(pending.len() as u64, Ordering::Relaxed);
                tracing::error!(
                    records = pending.len(),
                    attempts = attempt,
                    "Kinesis kept refusing: records dropped"
                );
                return;
            }
            tokio::time::sleep(retry_delay(RETRY_START, attempt)).await;
        }
    }
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
}
