//! `firehose://NAME`: Amazon Data Firehose `PutRecordBatch`. Each record is the raw stream
//! line plus `\n` (Firehose concatenates records as given); calls hold at most 500 records
//! and 4 MiB, a record at most 1,000 KiB. `FailedPutCount > 0` on a successful call means
//! some entries failed: only those are resent, with exponential backoff, until accepted.
//! The start-up check is `DescribeDeliveryStream` (the stream exists and is `ACTIVE`).
//!
//! The client comes from the AWS default chain; `AWS_ENDPOINT_URL_FIREHOSE` (or
//! `AWS_ENDPOINT_URL`) selects a local Firehose such as moto.

use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record as FirehoseRecord;

use super::aws::{
    CALL_TIMEOUT, CONNECT_TIMEOUT, RETRY_START, describe_sdk_error, judge_status, plan_batches,
    retry_delay, split_refused,
};
use super::error::SinkError;
use crate::metrics::Stats;
use crate::record::Record;

pub const MAX_RECORDS_PER_CALL: usize = 500;
pub const MAX_RECORD_BYTES: usize = 1000 * 1024;
pub const MAX_CALL_BYTES: usize = 4 * 1024 * 1024;

pub struct FirehoseSink {
    client: aws_sdk_firehose::Client,
    stream: String,
    retry_start: Duration,
}

impl std::fmt::Debug for FirehoseSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirehoseSink")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl FirehoseSink {
    pub fn new(client: aws_sdk_firehose::Client, stream: impl Into<String>) -> Self {
        // This sink resends what failed, entry by entry, and counts every failed call; the
        // SDK's own retries would hide failures from the counters and resend whole calls.
        // Every call has a deadline.
        let config = client
            .config()
            .to_builder()
            .retry_config(aws_sdk_firehose::config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_sdk_firehose::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_timeout(CALL_TIMEOUT)
                    .build(),
            )
            .build();
        FirehoseSink {
            client: aws_sdk_firehose::Client::from_conf(config),
            stream: stream.into(),
            retry_start: RETRY_START,
        }
    }

    /// The first delay before resending (it doubles per attempt); tests shorten it.
    pub fn with_retry_start(mut self, delay: Duration) -> Self {
        self.retry_start = delay;
        self
    }

    /// A client from the AWS default chain (region, credentials, endpoint overrides).
    pub async fn from_env(stream: impl Into<String>) -> Self {
        let config = search_sink::https::aws_config_loader().load().await;
        FirehoseSink::new(aws_sdk_firehose::Client::new(&config), stream)
    }

    /// `DescribeDeliveryStream`: the delivery stream exists, is `ACTIVE`, and the
    /// credentials work.
    pub async fn check(&self) -> Result<(), SinkError> {
        let answer = self
            .client
            .describe_delivery_stream()
            .delivery_stream_name(&self.stream)
            .send()
            .await
            .map(|out| {
                out.delivery_stream_description()
                    .map(|d| d.delivery_stream_status().as_str().to_owned())
                    .unwrap_or_default()
            });
        judge_status(format!("firehose://{}", self.stream), answer, &["ACTIVE"])
    }

    /// Sends the batch; returns when every record was accepted (or counted as dropped, too
    /// large).
    pub async fn write(&mut self, batch: Vec<Record>, stats: &Stats) {
        // `batch` lives until every call is done: its records hold their share of the buffer.
        let blobs: Vec<(Vec<u8>, Option<&str>)> = batch
            .iter()
            .map(|r| {
                let mut data = Vec::with_capacity(r.line.len() + 1);
                data.extend_from_slice(&r.line);
                data.push(b'\n');
                (data, r.tweet_id.as_deref())
            })
            .collect();
        let sizes: Vec<usize> = blobs.iter().map(|(d, _)| d.len()).collect();
        let (calls, too_large) = plan_batches(
            &sizes,
            MAX_RECORDS_PER_CALL,
            MAX_RECORD_BYTES,
            MAX_CALL_BYTES,
        );
        for i in too_large {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                tweet_id = blobs[i].1.unwrap_or(""),
                bytes = sizes[i],
                "record larger than Firehose's 1,000 KiB limit: not delivered"
            );
        }
        for call in calls {
            let entries = call.iter().map(|&i| blobs[i].0.clone()).collect();
            self.put(entries, stats).await;
        }
    }

    async fn put(&self, mut pending: Vec<Vec<u8>>, stats: &Stats) {
        let mut attempt: u32 = 0;
        loop {
            let records: Result<Vec<FirehoseRecord>, _> = pending
                .iter()
                .map(|d| FirehoseRecord::builder().data(Blob::new(d.clone())).build())
                .collect();
            let records = match records {
                Ok(r) => r,
                Err(e) => {
                    // Only a missing `data` field fails here, which cannot happen.
                    stats
                        .dropped
                        .fetch_add(pending.len() as u64, Ordering::Relaxed);
                    tracing::error!(error = %e, records = pending.len(), "building Firehose records failed: not delivered");
                    return;
                }
            };
            let result = self
                .client
                .put_record_batch()
                .delivery_stream_name(&self.stream)
                .set_records(Some(records))
                .send()
                .await;
            match result {
                Ok(out) if out.failed_put_count() == 0 => {
                    stats
                        .delivered
                        .fetch_add(pending.len() as u64, Ordering::Relaxed);
                    return;
                }
                Ok(out) => {
                    let answers = out
                        .request_responses()
                        .iter()
                        .map(|e| (e.error_code(), e.error_message()));
                    let (failed, first_error) =
                        split_refused(answers, std::mem::take(&mut pending), stats);
                    stats.sink_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        failed = failed.len(),
                        error = first_error.as_deref().unwrap_or(""),
                        "Firehose refused some records: resending those"
                    );
                    pending = failed;
                    if pending.is_empty() {
                        return;
                    }
                }
                Err(e) => {
                    stats.sink_failures.fetch_add(1, Ordering::Relaxed);
                    let (error, _) = describe_sdk_error(&e);
                    tracing::warn!(
                        %error,
                        records = pending.len(),
                        attempt = attempt + 1,
                        "PutRecordBatch failed: resending"
                    );
                }
            }
            attempt = attempt.saturating_add(1);
            stats
                .resent
                .fetch_add(pending.len() as u64, Ordering::Relaxed);
            tokio::time::sleep(retry_delay(self.retry_start, attempt)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_to_a_cap() {
        let ms = Duration::from_millis;
        let got: Vec<Duration> = (1..=10).map(|a| retry_delay(ms(200), a)).collect();
        assert_eq!(
            got,
            vec![
                ms(200),
                ms(400),
                ms(800),
                ms(1600),
                ms(3200),
                ms(6400),
                ms(12800),
                ms(25600),
                ms(30000),
                ms(30000)
            ]
        );
    }
}
