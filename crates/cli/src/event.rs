//! `tweet-indexer event kinesis FILE`: turns a captured stream file (any layout the framer
//! reads, gzip included) into a Kinesis Data Streams Lambda event, one record per tweet, so a
//! capture can be replayed with `cargo lambda invoke --data-file`. `--aggregate N` packs N
//! records into each KPL aggregate, as the Kinesis Producer Library does.
//!
//! Only builds JSON: it sends nothing to Kinesis or Lambda.

use std::path::Path;

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pipeline::kpl::{self, UserRecord};
use serde_json::{Value, json};
use tweets::Framer;

use crate::args::KinesisArgs;

/// Lambda's synchronous invocation payload limit.
const MAX_EVENT_BYTES: usize = 6 * 1024 * 1024;

/// Prints the event for `args` on stdout.
pub fn kinesis(args: &KinesisArgs) -> Result<()> {
    let records = read_records(&args.file)?;
    let event = kinesis_event(&records, args.aggregate, &args.stream, &args.shard);
    let text = serde_json::to_string_pretty(&event)?;
    if text.len() > MAX_EVENT_BYTES {
        eprintln!(
            "warning: the event is {} bytes; Lambda accepts at most {MAX_EVENT_BYTES} per invocation",
            text.len()
        );
    }
    println!("{text}");
    Ok(())
}

/// The records of a captured file, each as the bytes a producer would have put.
pub fn read_records(path: &Path) -> Result<Vec<Vec<u8>>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Framer::new(std::io::BufReader::new(file))
        .map(|frame| {
            frame
                .map(|record| record.bytes)
                .map_err(|e| anyhow::anyhow!("{}: byte {}: {}", path.display(), e.offset, e.kind))
        })
        .collect()
}

/// A Kinesis event holding `records` in order: plain records, or KPL aggregates of
/// `aggregate` records each. Sequence numbers increase with the position in the stream.
pub fn kinesis_event(records: &[Vec<u8>], aggregate: usize, stream: &str, shard: &str) -> Value {
    let user_records: Vec<UserRecord> = records
        .iter()
        .map(|data| UserRecord {
            partition_key: partition_key(data),
            explicit_hash_key: None,
            data: data.clone(),
        })
        .collect();
    let payloads: Vec<(String, Vec<u8>)> = if aggregate == 0 {
        user_records
            .into_iter()
            .map(|r| (r.partition_key, r.data))
            .collect()
    } else {
        user_records
            .chunks(aggregate)
            .map(|chunk| (chunk[0].partition_key.clone(), kpl::aggregate(chunk)))
            .collect()
    };
    let records: Vec<Value> = payloads
        .iter()
        .enumerate()
        .map(|(i, (partition_key, data))| {
            let sequence = sequence_number(i);
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": partition_key,
                    "sequenceNumber": sequence,
                    "data": STANDARD.encode(data),
                    "approximateArrivalTimestamp": 1_764_417_600.0 + i as f64 / 1000.0
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("{shard}:{sequence}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/tweet-indexer",
                "awsRegion": "us-east-1",
                "eventSourceARN": format!("arn:aws:kinesis:us-east-1:123456789012:stream/{stream}")
            })
        })
        .collect();
    json!({ "Records": records })
}

/// A 56-digit sequence number, increasing with `position`.
pub fn sequence_number(position: usize) -> String {
    format!("4960{position:052}")
}

/// The author's id, as the producer of the issue's setup uses it (`PartitionKey=user_id`).
fn partition_key(data: &[u8]) -> String {
    let value: Value = serde_json::from_slice(data).unwrap_or(Value::Null);
    [
        "/user/id_str",
        "/data/author_id",
        "/delete/status/user_id_str",
    ]
    .iter()
    .find_map(|pointer| value.pointer(pointer).and_then(Value::as_str))
    .unwrap_or("0")
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_aggregated_events_carry_every_record_in_order() {
        let records: Vec<Vec<u8>> = vec![
            br#"{"id_str":"1","user":{"id_str":"7"}}"#.to_vec(),
            br#"{"data":{"id":"2","author_id":"8"}}"#.to_vec(),
            br#"{"delete":{"status":{"id_str":"1","user_id_str":"7"}}}"#.to_vec(),
        ];
        let plain = kinesis_event(&records, 0, "s", "shardId-1");
        let plain = plain["Records"].as_array().unwrap();
        assert_eq!(plain.len(), 3);
        let keys: Vec<&str> = plain
            .iter()
            .map(|r| r["kinesis"]["partitionKey"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["7", "8", "7"]);
        for (record, data) in plain.iter().zip(&records) {
            let decoded = STANDARD
                .decode(record["kinesis"]["data"].as_str().unwrap())
                .unwrap();
            assert_eq!(&decoded, data);
        }
        assert!(sequence_number(1) > sequence_number(0));
        assert_eq!(sequence_number(0).len(), 56);

        let aggregated = kinesis_event(&records, 2, "s", "shardId-1");
        let aggregated = aggregated["Records"].as_array().unwrap();
        assert_eq!(aggregated.len(), 2);
        let mut back = Vec::new();
        for record in aggregated {
            let data = STANDARD
                .decode(record["kinesis"]["data"].as_str().unwrap())
                .unwrap();
            back.extend(kpl::deaggregate(&data).unwrap().into_iter().map(|r| r.data));
        }
        assert_eq!(back, records);
    }
}
