//! The S3 dead-letter store against moto (S3_ENDPOINT_URL, started by scripts/test; skipped
//! when unset unless REQUIRE_PEERS=1): one NDJSON object per source object, with the reason.

mod common;

use aws_credential_types::Credentials;
use common::{FaultPeer, Reply, doc, fast_config, origin};
use search_sink::{BulkSink, DeadLetter, DeadLetterStore, S3DeadLetters, SearchClient};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

async fn s3() -> Option<aws_sdk_s3::Client> {
    let endpoint = testkit::peer("S3_ENDPOINT_URL")?;
    let conf = aws_sdk_s3::config::Builder::new()
        .http_client(search_sink::https::aws_http_client())
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .force_path_style(true)
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .build();
    Some(aws_sdk_s3::Client::from_conf(conf))
}

async fn read_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<DeadLetter> {
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(object.content_type(), Some("application/x-ndjson"));
    let bytes = object.body.collect().await.unwrap().into_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn failed_documents_land_in_one_object_per_source_object() {
    let Some(s3) = s3().await else { return };
    let bucket = common::unique_index("dl");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let store = S3DeadLetters::new(s3.clone(), &bucket, "dead-letter/");

    // Two source objects in one sink; the peer rejects every document whose id ends in "x".
    let peer = FaultPeer::start(|c| {
        Reply::Items(
            c.ids()
                .iter()
                .map(|id| if id.ends_with('x') { 400 } else { 201 })
                .collect(),
        )
    })
    .await;
    let client = Arc::new(SearchClient::connect(fast_config(&peer.url)).await.unwrap());
    let store: Arc<dyn DeadLetterStore> = Arc::new(store);
    let mut sink = BulkSink::new(
        client,
        Instant::now() + Duration::from_secs(10),
        Some(store),
    );
    let other = search_sink::Origin::new("s3://in/other key ü.ndjson", 7);
    sink.push(doc("a1", 1), origin(0)).await.unwrap();
    sink.push(doc("a2x", 2), origin(100)).await.unwrap();
    sink.push(doc("b1x", 3), other.clone()).await.unwrap();
    sink.push(doc("a3x", 4), origin(300)).await.unwrap();
    let report = sink.finish().await.unwrap();
    assert_eq!((report.created, report.dead_lettered), (1, 3));

    let first = read_object(
        &s3,
        &bucket,
        "dead-letter/in/captures/2026/11/23/part-0001.gz.ndjson",
    )
    .await;
    assert_eq!(
        first.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
        ["a2x", "a3x"]
    );
    assert_eq!(
        first.iter().map(|l| l.offset).collect::<Vec<_>>(),
        [100, 300]
    );
    assert!(
        first
            .iter()
            .all(|l| l.error_type == "mapper_parsing_exception" && l.status == 400)
    );
    assert!(first[0].reason.contains("a2x"));
    let second = read_object(&s3, &bucket, "dead-letter/in/other key ü.ndjson.ndjson").await;
    assert_eq!(second.len(), 1);
    assert_eq!((second[0].id.as_str(), second[0].offset), ("b1x", 7));
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(2));
}

#[tokio::test]
async fn a_missing_bucket_fails_the_call() {
    let Some(s3) = s3().await else { return };
    let store: Arc<dyn DeadLetterStore> = Arc::new(S3DeadLetters::new(
        s3,
        "no-such-bucket-for-sink-tests",
        "dl/",
    ));
    let peer = FaultPeer::start(|c| Reply::Items(vec![400; c.ops().len()])).await;
    let client = Arc::new(SearchClient::connect(fast_config(&peer.url)).await.unwrap());
    let mut sink = BulkSink::new(
        client,
        Instant::now() + Duration::from_secs(10),
        Some(store),
    );
    sink.push(doc("z", 1), origin(0)).await.unwrap();
    let err = sink.finish().await.unwrap_err();
    assert!(
        matches!(err, search_sink::SinkError::DeadLetter { count: 1, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("no-such-bucket-for-sink-tests"),
        "{err}"
    );
}
