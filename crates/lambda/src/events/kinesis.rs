//! The Kinesis Data Streams event, read as far as it allows: each record keeps its place in
//! the batch even when its data is unreadable (it has a sequence number to retry from).
//! Indexing the batch is [`crate::kinesis`]'s.

use aws_lambda_events::event::kinesis::KinesisEventRecord;
use serde::Deserialize;
use serde_json::Value;

use crate::event_error::EventError;

/// One record of a Kinesis event, decoded as far as the event allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisRecord {
    /// The stream's name (from `eventSourceARN`), `?` when absent.
    pub stream: String,
    pub shard_id: String,
    pub sequence_number: String,
    /// The record's bytes, or why they could not be read.
    pub data: Result<Vec<u8>, String>,
    /// `approximateArrivalTimestamp`, epoch ms (the time of its compliance records that carry
    /// none, so a retried record writes the same register versions).
    pub arrival_ms: Option<i64>,
}

/// True for a Kinesis event (`Records[0].eventSource == "aws:kinesis"`).
pub fn is_kinesis(payload: &Value) -> bool {
    payload
        .pointer("/Records/0/eventSource")
        .and_then(Value::as_str)
        == Some("aws:kinesis")
}

/// The records of a Kinesis event. A record whose data is not base64 stays in the batch as an
/// unreadable record (it has a sequence number); a record without a sequence number makes the
/// event malformed (it could not be named in a failure answer).
pub fn parse(payload: &Value) -> Result<Vec<KinesisRecord>, EventError> {
    let records = payload
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| EventError::Malformed {
            shape: "Kinesis event",
            reason: "no Records array".into(),
        })?;
    records
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let text = |pointer: &str| raw.pointer(pointer).and_then(Value::as_str);
            let sequence_number = text("/kinesis/sequenceNumber")
                .filter(|s| !s.is_empty())
                .ok_or_else(|| EventError::Malformed {
                    shape: "Kinesis event",
                    reason: format!("record {i} has no kinesis.sequenceNumber"),
                })?
                .to_owned();
            // eventID is `shardId-...:sequenceNumber`.
            let shard_id = text("/eventID")
                .and_then(|id| id.split_once(':'))
                .map_or("?", |(shard, _)| shard)
                .to_owned();
            let stream = text("/eventSourceARN")
                .and_then(|arn| arn.rsplit_once(":stream/"))
                .map_or("?", |(_, name)| name)
                .to_owned();
            let data = KinesisEventRecord::deserialize(raw)
                .map(|record| record.kinesis.data.0)
                .map_err(|e| format!("record data is not base64: {e}"));
            // Seconds with a fraction, as Lambda writes it.
            let arrival_ms = raw
                .pointer("/kinesis/approximateArrivalTimestamp")
                .and_then(Value::as_f64)
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| (s * 1000.0).round() as i64);
            Ok(KinesisRecord {
                stream,
                shard_id,
                sequence_number,
                data,
                arrival_ms,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn kinesis_record(sequence: &str, data_base64: &str) -> Value {
        json!({
            "kinesis": {
                "kinesisSchemaVersion": "1.0", "partitionKey": "7",
                "sequenceNumber": sequence, "data": data_base64,
                "approximateArrivalTimestamp": 1_764_400_000.123
            },
            "eventSource": "aws:kinesis", "eventVersion": "1.0",
            "eventID": format!("shardId-000000000003:{sequence}"), "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::123456789012:role/indexer",
            "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/tweets"
        })
    }

    #[test]
    fn records_keep_order_and_bad_base64_is_one_unreadable_record() {
        // "eyJpZF9zdHIiOiIxIn0=" is {"id_str":"1"}
        let event = json!({"Records": [
            kinesis_record("100", "eyJpZF9zdHIiOiIxIn0="),
            kinesis_record("101", "not base64!"),
            kinesis_record("102", ""),
        ]});
        assert!(is_kinesis(&event));
        let records = parse(&event).unwrap();
        let sequences: Vec<&str> = records.iter().map(|r| r.sequence_number.as_str()).collect();
        assert_eq!(sequences, ["100", "101", "102"]);
        assert_eq!(records[0].stream, "tweets");
        assert_eq!(records[0].shard_id, "shardId-000000000003");
        assert_eq!(records[0].data.as_deref(), Ok(&br#"{"id_str":"1"}"#[..]));
        assert_eq!(records[0].arrival_ms, Some(1_764_400_000_123));
        assert!(records[1].data.as_ref().unwrap_err().contains("not base64"));
        assert_eq!(records[2].data.as_deref(), Ok(&b""[..]));
    }

    #[test]
    fn empty_batch_and_missing_sequence_number() {
        assert_eq!(parse(&json!({"Records": []})).unwrap(), []);
        let mut record = kinesis_record("1", "e30=");
        record["kinesis"]
            .as_object_mut()
            .unwrap()
            .remove("sequenceNumber");
        let err = parse(&json!({"Records": [record]})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed Kinesis event: record 0 has no kinesis.sequenceNumber"
        );
    }
}
