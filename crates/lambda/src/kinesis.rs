//! Kinesis Data Streams trigger: each record's data (base64 in the event) is one or more tweets
//! in any layout the framer reads (gzip included) or a KPL aggregate of such records. The whole
//! batch goes through one bulk sink in record order, streamed like an object (however far its
//! records inflate, memory stays bounded: [`pipeline::batch`]), and writes one metrics line.
//!
//! The answer is a [`KinesisEventResponse`]: empty when every record is confirmed, else the
//! sequence number of the first record not known to be settled, never past the last one (a
//! record whose dead letter is still in memory is not settled). Lambda retries the shard from
//! there; document ids make the re-sent records harmless. Records that are not readable
//! data (bad base64, a KPL aggregate with a wrong MD5) are logged with shard id and sequence
//! number and dead-lettered, never failed: a retry cannot repair them.
//!
//! Not here: framing and extraction (`tweets`), the sink (`search-sink`), the KPL format
//! ([`pipeline::kpl`]).

use aws_lambda_events::event::streams::KinesisEventResponse;
use lambda_runtime::tracing;
use pipeline::{BatchRecord, Indexer, kpl};
use tokio::time::Instant;

pub use crate::events::kinesis::KinesisRecord;
use crate::metrics::{Emit, Subject};

/// What the batch is called in logs, metrics and dead letters: `kinesis://STREAM/SHARD`.
pub fn batch_name(records: &[KinesisRecord]) -> String {
    match records.first() {
        Some(first) => format!("kinesis://{}/{}", first.stream, first.shard_id),
        None => "kinesis://?/?".into(),
    }
}

/// Indexes the batch and answers which record Lambda should retry from. `emit` gets the
/// batch's counts for its metrics line (not for an empty batch).
pub async fn handle(
    indexer: &Indexer,
    mut records: Vec<KinesisRecord>,
    deadline: Instant,
    emit: Emit<'_>,
) -> KinesisEventResponse {
    let mut response = KinesisEventResponse::default();
    if records.is_empty() {
        return response;
    }
    let batch_name = batch_name(&records);
    let batch: Vec<BatchRecord> = records.iter_mut().map(batch_record).collect();
    let outcome = indexer.index_batch(&batch_name, batch, deadline).await;
    let summary = &outcome.summary;
    emit(
        summary,
        Subject::KinesisBatch {
            failed: outcome.error.is_some(),
        },
    );
    tracing::info!(
        object = %batch_name,
        batch = %batch_name,
        kinesis_records = records.len(),
        records = summary.records,
        documents = summary.documents,
        deletes = summary.deletes,
        compliance_events = summary.compliance_events,
        compliance_changed = summary.compliance_changed,
        compliance_lag_ms = summary.compliance_lag_ms,
        filtered = summary.filtered,
        control_messages = summary.control_messages,
        invalid_records = summary.invalid_records,
        indexed = summary.indexed,
        deleted = summary.deleted,
        dead_lettered = summary.dead_lettered,
        retried = summary.retried,
        bytes_read = summary.bytes_read,
        duration_ms = summary.duration_ms,
        "kinesis batch indexed"
    );
    if let Some(error) = &outcome.error {
        // The pipeline names a record of the batch; were it ever past the end, retrying the
        // whole batch loses nothing, acknowledging it could.
        let index = outcome
            .first_unconfirmed
            .filter(|&i| i < records.len())
            .unwrap_or(0);
        let record = &records[index];
        tracing::error!(
            object = %batch_name,
            batch = %batch_name,
            shard_id = %record.shard_id,
            sequence_number = %record.sequence_number,
            confirmed_records = index,
            %error,
            "kinesis batch failed: Lambda retries from this record"
        );
        response.add_failure(record.sequence_number.clone());
    }
    response
}

/// Answers "retry the whole batch" (from its first record) without reading it: for when the
/// index could not be ensured.
pub fn retry_all(records: &[KinesisRecord], reason: &str) -> KinesisEventResponse {
    let mut response = KinesisEventResponse::default();
    if let Some(first) = records.first() {
        tracing::error!(
            shard_id = %first.shard_id,
            sequence_number = %first.sequence_number,
            %reason,
            "kinesis batch not read: Lambda retries from its first record"
        );
        response.add_failure(first.sequence_number.clone());
    }
    response
}

/// A Kinesis record as the pipeline sees it: named by stream, shard and sequence number,
/// with its payloads (several when it is a KPL aggregate). The record's data moves into the
/// payloads (the batch is not held twice).
fn batch_record(record: &mut KinesisRecord) -> BatchRecord {
    let name = format!(
        "kinesis://{}/{}/{}",
        record.stream, record.shard_id, record.sequence_number
    );
    let data = std::mem::replace(&mut record.data, Ok(Vec::new()));
    let payloads = match data {
        Err(reason) => Err(reason),
        Ok(data) if kpl::is_aggregate(&data) => kpl::deaggregate(&data)
            .map(|records| records.into_iter().map(|r| r.data).collect())
            .map_err(|e| e.to_string()),
        Ok(data) => Ok(vec![data]),
    };
    if let Err(reason) = &payloads {
        tracing::warn!(
            shard_id = %record.shard_id,
            sequence_number = %record.sequence_number,
            %reason,
            "unreadable kinesis record: skipped (dead-lettered when a store is configured)"
        );
    }
    BatchRecord {
        name,
        payloads,
        received_at: record.arrival_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn aggregates_are_split_and_a_bad_one_is_one_unreadable_record() {
        let user = |data: &[u8]| kpl::UserRecord {
            partition_key: "7".into(),
            explicit_hash_key: None,
            data: data.to_vec(),
        };
        let aggregate = kpl::aggregate(&[
            user(br#"{"id_str":"1","text":"a"}"#),
            user(br#"{"delete":{"status":{"id_str":"1"}}}"#),
        ]);
        let mut corrupt = aggregate.clone();
        corrupt[6] ^= 0xFF;
        let record = |data: Vec<u8>| KinesisRecord {
            stream: "s".into(),
            shard_id: "shardId-0".into(),
            sequence_number: "9".into(),
            data: Ok(data),
            arrival_ms: Some(1_764_400_000_123),
        };
        let good = batch_record(&mut record(aggregate));
        assert_eq!(good.name, "kinesis://s/shardId-0/9");
        assert_eq!(good.received_at, Some(1_764_400_000_123));
        let payloads = good.payloads.unwrap();
        assert_eq!(payloads.len(), 2);
        assert!(payloads[1].starts_with(b"{\"delete\""));
        assert_eq!(
            batch_record(&mut record(corrupt)).payloads,
            Err("KPL aggregate MD5 mismatch (truncated or corrupted record)".into())
        );
        assert_eq!(
            batch_record(&mut record(b"{}".to_vec())).payloads,
            Ok(vec![b"{}".to_vec()])
        );
    }

    #[test]
    fn response_shapes_are_what_lambda_expects() {
        let empty = KinesisEventResponse::default();
        assert_eq!(
            serde_json::to_value(&empty).unwrap(),
            json!({"batchItemFailures": []})
        );
        let mut failed = KinesisEventResponse::default();
        failed.add_failure("49590338271490256608559692538361571095921575989136588898");
        assert_eq!(
            serde_json::to_value(&failed).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "49590338271490256608559692538361571095921575989136588898"}]})
        );
    }
}
