//! The Kinesis sink against moto: every record lands once, as the raw line, keyed by author.

use std::sync::atomic::Ordering;

use capture::metrics::Stats;
use capture::sink::kinesis::{KinesisSink, PartitionKey};
use capture::stream::Record;

mod common;
use common::{kinesis_client, shard_records};

#[tokio::test]
async fn moto_kinesis_receives_every_record_once_keyed_by_author() {
    let Some(endpoint) = testkit::peer("S3_ENDPOINT_URL") else {
        return;
    };
    let client = kinesis_client(&endpoint);
    let stream = "capture-kinesis-test";
    client
        .create_stream()
        .stream_name(stream)
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let records: Vec<Record> = (0..700)
        .map(|i| {
            Record::new(
                format!(r#"{{"data":{{"id":"{i}","author_id":"a{}"}}}}"#, i % 7).into_bytes(),
                Some(i.to_string()),
                Some(format!("a{}", i % 7)),
            )
        })
        .collect();
    let mut sink = KinesisSink::new(client.clone(), stream, PartitionKey::Author);
    let stats = Stats::default();
    sink.write(records, &stats).await;
    assert_eq!(stats.delivered.load(Ordering::Relaxed), 700);
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 0);

    let shards = client
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .unwrap();
    let shard = shards.shards()[0].shard_id().to_owned();
    let mut seen = Vec::new();
    for (key, data) in shard_records(&client, stream, &shard).await {
        let v: serde_json::Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(v["data"]["author_id"].as_str().unwrap(), key);
        seen.push(v["data"]["id"].as_str().unwrap().parse::<u32>().unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..700).collect::<Vec<_>>());
}
