//! What the Lambda's test binaries share: Kinesis events as Lambda delivers them, the
//! repository's sample tweets. (Not every binary uses every helper.)
#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// The sequence number of the record at `position` of a shard.
pub fn sequence_number(position: usize) -> String {
    format!("4960{position:052}")
}

/// A Kinesis event whose records carry `payloads` (each base64-encoded) in order, the first at
/// `first_position` of shard 0 of stream `tweets`.
pub fn kinesis_event(payloads: &[Vec<u8>], first_position: usize) -> Value {
    let records: Vec<Value> = payloads
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let sequence = sequence_number(first_position + i);
            json!({
                "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "p",
                            "sequenceNumber": sequence, "data": STANDARD.encode(data),
                            "approximateArrivalTimestamp": 1_764_417_600.5},
                "eventSource": "aws:kinesis", "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{sequence}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/indexer",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/tweets"
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The repository's captured sample tweets (`tests/samples/captured.ndjson`), one record each.
pub fn samples() -> Vec<Vec<u8>> {
    let text =
        std::fs::read(testkit::repo_root().join("tests/samples/captured.ndjson")).expect("samples");
    text.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
        .collect()
}
