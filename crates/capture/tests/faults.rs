//! The Kinesis and Firehose sinks against moto behind `testkit::aws_faults`, a proxy that
//! refuses some entries of chosen calls (`ProvisionedThroughputExceededException` /
//! `ServiceUnavailableException`, with `FailedRecordCount` / `FailedPutCount`) and fails
//! some calls whole (500, throttling), seeded: every record is delivered exactly once (read
//! back with GetRecords, or from the S3 objects), Kinesis keeps each partition key's order,
//! and every failed call and resent record is counted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use capture::metrics::Stats;
use capture::sink::firehose::FirehoseSink;
use capture::sink::kinesis::{KinesisSink, PartitionKey};
use capture::stream::Record;
use testkit::aws_faults::{FaultLog, FaultPlan, FaultProxy, Upstream};

mod common;
use common::{
    create_delivery_stream_to_s3, firehose_client, kinesis_client, s3_texts, shard_records,
};

const PLAN: FaultPlan = FaultPlan::Seeded {
    seed: 0x13,
    whole_rate: 0.1,
    partial_rate: 0.35,
    entry_rate: 0.3,
};

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Every failed call is counted once, every refused entry resent once per refusal, and
/// each record reached the real service exactly once.
fn assert_counted(stats: &Stats, log: &FaultLog, records: usize) {
    assert!(
        log.partial_failures > 0,
        "the seed refuses entries: {log:?}"
    );
    assert!(
        log.whole_failures > 0,
        "the seed fails calls whole: {log:?}"
    );
    assert_eq!(get(&stats.delivered), records as u64);
    assert_eq!(get(&stats.dropped), 0);
    assert_eq!(
        get(&stats.sink_failures),
        (log.partial_failures + log.whole_failures) as u64,
        "{log:?}"
    );
    assert_eq!(
        get(&stats.resent),
        (log.refused_entries + log.entries_in_failed_calls) as u64,
        "{log:?}"
    );
    assert_eq!(log.passed_entries, records, "each record forwarded once");
    eprintln!(
        "{records} records: {} calls, {} failed whole, {} with refused entries ({} entries), {} resent",
        log.calls,
        log.whole_failures,
        log.partial_failures,
        log.refused_entries,
        get(&stats.resent)
    );
}

#[tokio::test]
async fn kinesis_partial_failures_deliver_once_in_order_per_key() {
    let Some(moto) = testkit::peer("S3_ENDPOINT_URL") else {
        return;
    };
    let direct = kinesis_client(&moto);
    let stream = "capture-kinesis-faults";
    direct
        .create_stream()
        .stream_name(stream)
        .shard_count(2)
        .send()
        .await
        .unwrap();
    let proxy = FaultProxy::start(Upstream::Forward(moto.clone()), PLAN)
        .await
        .unwrap();
    // 600 tweets by 12 authors, each author's tweets in increasing id order.
    const RECORDS: usize = 600;
    let records: Vec<Record> = (0..RECORDS)
        .map(|i| {
            let author = format!("a{}", i % 12);
            Record::new(
                format!(r#"{{"data":{{"id":"{i}","author_id":"{author}"}}}}"#).into_bytes(),
                Some(i.to_string()),
                Some(author),
            )
        })
        .collect();
    let mut sink = KinesisSink::new(kinesis_client(&proxy.url()), stream, PartitionKey::Author)
        .with_retry_start(Duration::from_millis(2));
    let stats = Stats::default();
    sink.write(records, &stats).await;

    // Read every shard back: each id once, and each author's ids in the order sent.
    let shards = direct
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .unwrap();
    let mut by_author: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for shard in shards.shards() {
        for (key, data) in shard_records(&direct, stream, shard.shard_id()).await {
            let v: serde_json::Value = serde_json::from_slice(&data).unwrap();
            let author = v["data"]["author_id"].as_str().unwrap();
            assert_eq!(author, key);
            by_author
                .entry(author.to_owned())
                .or_default()
                .push(v["data"]["id"].as_str().unwrap().parse().unwrap());
        }
    }
    let mut all: Vec<u32> = by_author.values().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..RECORDS as u32).collect::<Vec<_>>(), "each once");
    for (author, ids) in &by_author {
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{author}'s tweets out of order"
        );
    }
    assert_counted(&stats, &proxy.log(), RECORDS);
}

#[tokio::test]
async fn firehose_partial_failures_deliver_once_to_s3() {
    let Some(moto) = testkit::peer("S3_ENDPOINT_URL") else {
        return;
    };
    let bucket = "capture-firehose-faults";
    let stream = "capture-firehose-faults";
    let (s3, _) = create_delivery_stream_to_s3(&moto, stream, bucket, "faults/").await;
    let proxy = FaultProxy::start(Upstream::Forward(moto.clone()), PLAN)
        .await
        .unwrap();
    const RECORDS: usize = 1203;
    let mut records: Vec<Record> = (0..RECORDS)
        .map(|i| {
            Record::new(
                format!(r#"{{"data":{{"id":"{i}","text":"t\u00e9 {i}"}}}}"#).into_bytes(),
                Some(i.to_string()),
                None,
            )
        })
        .collect();
    let mut sink = FirehoseSink::new(firehose_client(&proxy.url()), stream)
        .with_retry_start(Duration::from_millis(2));
    let stats = Stats::default();
    // Batches as the drain hands them over: one of 500 (the call limit), then small ones.
    let mut rest = records.split_off(500);
    sink.write(records, &stats).await;
    while !rest.is_empty() {
        let later = rest.split_off(rest.len().min(37));
        sink.write(rest, &stats).await;
        rest = later;
    }
    assert_counted(&stats, &proxy.log(), RECORDS);

    let mut ids = Vec::new();
    for text in s3_texts(&s3, bucket, "faults/").await {
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            ids.push(v["data"]["id"].as_str().unwrap().parse::<usize>().unwrap());
        }
    }
    ids.sort_unstable();
    assert_eq!(ids, (0..RECORDS).collect::<Vec<_>>(), "each record once");
}
