//! End to end with real peers: moto S3 + osmem-server + the real handler and pipeline.
//! Each test uses its own bucket and index, so they run in parallel against one server.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream;
use flate2::Compression;
use flate2::write::GzEncoder;
use lambda_runtime::Context;
use pipeline::{Indexer, S3Store};
use search_sink::{Config, DeadLetterTarget, Method};
use serde_json::{Value, json};
use tweet_indexer_lambda::Handler;
use tweets::{Extractor, ExtractorOptions, Item};

struct Env {
    s3: aws_sdk_s3::Client,
    bucket: String,
    index: String,
    indexer: Indexer,
    handler: Handler<S3Store>,
    /// The EMF lines the handler wrote, parsed.
    metrics: Arc<Mutex<Vec<Value>>>,
}

async fn setup(name: &str) -> Option<Env> {
    let osmem = testkit::peer("OSMEM_URL")?;
    let s3_url = testkit::peer("S3_ENDPOINT_URL")?;
    let s3 = common::moto_s3(&s3_url);
    let bucket = format!("e2e-{name}");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    let index = format!("e2e-{name}");
    let mut config = Config::new(osmem);
    config.index = index.clone();
    config.dead_letter = Some(DeadLetterTarget::S3 {
        bucket: bucket.clone(),
        prefix: "dead-letter/".into(),
    });
    let indexer = Indexer::connect_with_s3(config, s3.clone())
        .await
        .expect("connect");
    let metrics = Arc::new(Mutex::new(Vec::new()));
    let collected = metrics.clone();
    let handler = Handler::new(S3Store::new(s3.clone()), indexer.clone()).with_metrics_writer(
        Arc::new(move |line: String| {
            let value = serde_json::from_str(&line).expect("EMF line is JSON");
            collected.lock().expect("metrics lock").push(value);
        }),
    );
    Some(Env {
        s3,
        bucket,
        index,
        indexer,
        handler,
        metrics,
    })
}

impl Env {
    async fn put(&self, key: &str, body: Vec<u8>) {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .expect("put object");
    }

    /// An S3 put notification naming `keys`, URL-encoded the way S3 does it.
    fn event(&self, keys: &[&str]) -> Value {
        let records: Vec<Value> = keys
            .iter()
            .map(|key| {
                json!({
                    "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                    "eventTime": "2026-11-23T12:00:00.000Z", "eventName": "ObjectCreated:Put",
                    "userIdentity": {"principalId": "AWS:EXAMPLE"},
                    "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                    "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
                    "s3": {"s3SchemaVersion": "1.0", "configurationId": "tweets",
                           "bucket": {"name": self.bucket, "ownerIdentity": {"principalId": "P"}, "arn": format!("arn:aws:s3:::{}", self.bucket)},
                           "object": {"key": s3_encode(key), "size": 1, "eTag": "e", "sequencer": "01"}}
                })
            })
            .collect();
        json!({ "Records": records })
    }

    async fn invoke(&self, payload: Value) -> Value {
        self.handler
            .handle(payload, &context(Duration::from_secs(120)))
            .await
            .expect("invocation succeeds")
    }

    /// The EMF lines written so far.
    fn metrics(&self) -> Vec<Value> {
        self.metrics.lock().expect("metrics lock").clone()
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .indexer
            .client()
            .request(Method::Get, path, None)
            .await
            .expect("search request");
        (
            response.status,
            serde_json::from_slice(&response.body).unwrap_or(Value::Null),
        )
    }

    async fn count(&self) -> u64 {
        self.indexer
            .client()
            .request(Method::Post, &format!("{}/_refresh", self.index), None)
            .await
            .expect("refresh");
        // Tweets only: delete tombstones have no `timestamp_ms`.
        let response = self
            .indexer
            .client()
            .request(
                Method::Post,
                &format!("{}/_count", self.index),
                Some(br#"{"query":{"exists":{"field":"timestamp_ms"}}}"#),
            )
            .await
            .expect("count");
        let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        assert_eq!(response.status, 200, "{body}");
        body["count"].as_u64().expect("count")
    }
}

/// S3 notification key encoding: like a form value, `/` kept.
fn s3_encode(key: &str) -> String {
    let mut out = String::new();
    for byte in key.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' | b'*' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

fn context(remaining: Duration) -> Context {
    let mut ctx = Context::default();
    ctx.request_id = "e2e-request".into();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    ctx.deadline = now + remaining.as_millis() as u64;
    ctx
}

/// Document ids the extractor finds in plain NDJSON records: the independent expectation.
fn document_ids(records: &[Vec<u8>]) -> Vec<String> {
    let extractor = Extractor::new(ExtractorOptions::default());
    let ndjson: Vec<u8> = records
        .iter()
        .flat_map(|r| r.iter().copied().chain([b'\n']))
        .collect();
    extractor
        .items(&ndjson[..])
        .filter_map(|item| match item {
            Item::Document { id, .. } => Some(id),
            _ => None,
        })
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

fn join(records: &[Vec<u8>], sep: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        out.extend_from_slice(r);
        out.extend_from_slice(sep);
    }
    out
}

#[tokio::test]
async fn every_firehose_layout_in_one_multi_record_event() {
    let Some(env) = setup("layouts").await else {
        return;
    };
    let records = common::samples();
    let parts: Vec<&[Vec<u8>]> = records.chunks(records.len().div_ceil(4)).collect();
    assert_eq!(parts.len(), 4);
    let half = parts[3].len() / 2;
    let objects: Vec<(&str, Vec<u8>)> = vec![
        (
            "firehose/2026/11/23/12/ndjson-1.gz",
            gzip(&join(parts[0], b"\n")),
        ),
        ("firehose/2026/11/23/12/no delimiter 2", join(parts[1], b"")),
        ("firehose/2026/11/23/12/legacy-3.json", {
            let mut body = b"[".to_vec();
            body.extend(parts[2].join(&b",\n"[..]));
            body.extend_from_slice(b"]\n");
            body
        }),
        ("firehose/2026/11/23/12/crlf-été-4.gz", {
            let mut body = gzip(&join(&parts[3][..half], b"\r\n"));
            body.extend(gzip(&join(&parts[3][half..], b"\r\n")));
            body
        }),
    ];
    for (key, body) in &objects {
        env.put(key, body.clone()).await;
    }
    let keys: Vec<&str> = objects.iter().map(|(k, _)| *k).collect();
    let result = env.invoke(env.event(&keys)).await;

    let reports = result["objects"].as_array().expect("objects");
    assert_eq!(
        reports.len(),
        4,
        "every record of the event is processed: {result}"
    );
    for (report, part) in reports.iter().zip(&parts) {
        let expected = document_ids(part).len() as u64;
        assert_eq!(report["status"], "indexed");
        assert_eq!(report["documents"].as_u64(), Some(expected), "{report}");
        assert_eq!(report["indexed"].as_u64(), Some(expected), "{report}");
        assert_eq!(report["invalid_records"].as_u64(), Some(0), "{report}");
    }
    assert!(
        reports[1]["object"]
            .as_str()
            .unwrap()
            .ends_with("no delimiter 2")
    );
    assert!(
        reports[3]["object"]
            .as_str()
            .unwrap()
            .ends_with("crlf-été-4.gz")
    );
    let mut unique = document_ids(&records);
    unique.sort();
    unique.dedup();
    assert_eq!(env.count().await, unique.len() as u64);
}

#[tokio::test]
async fn the_same_event_three_times_leaves_the_same_documents() {
    let Some(env) = setup("redelivery").await else {
        return;
    };
    let records = common::samples();
    env.put("firehose/a.gz", gzip(&join(&records, b"\n"))).await;
    let event = env.event(&["firehose/a.gz"]);
    let mut counts = Vec::new();
    for _ in 0..3 {
        let result = env.invoke(event.clone()).await;
        assert_eq!(result["objects"][0]["status"], "indexed");
        counts.push(env.count().await);
    }
    let mut unique = document_ids(&records);
    unique.sort();
    unique.dedup();
    assert_eq!(counts, vec![unique.len() as u64; 3]);
}

#[tokio::test]
async fn a_delete_notice_removes_an_earlier_tweet() {
    let Some(env) = setup("delete").await else {
        return;
    };
    let records = common::samples();
    let first = &records[0];
    let id = document_ids(std::slice::from_ref(first))
        .pop()
        .expect("a tweet");
    env.put("firehose/1", join(&records[..3], b"\n")).await;
    env.invoke(env.event(&["firehose/1"])).await;
    let before = env.count().await;
    let (status, _) = env.get(&format!("{}/_doc/{id}", env.index)).await;
    assert_eq!(status, 200);

    let delete = format!(
        r#"{{"delete":{{"status":{{"id":{id},"id_str":"{id}","user_id":1,"user_id_str":"1"}},"timestamp_ms":"1700000000000"}}}}"#
    );
    env.put("firehose/2", delete.into_bytes()).await;
    let result = env.invoke(env.event(&["firehose/2"])).await;
    assert_eq!(
        result["objects"][0]["deletes"].as_u64(),
        Some(1),
        "{result}"
    );
    assert_eq!(
        result["objects"][0]["deleted"].as_u64(),
        Some(1),
        "{result}"
    );
    assert_eq!(env.count().await, before - 1);
    // The tweet is replaced by a tombstone, so a late retry of firehose/1 cannot bring it back.
    let (status, body) = env.get(&format!("{}/_doc/{id}", env.index)).await;
    assert_eq!(status, 200);
    assert_eq!(body["_source"], serde_json::json!({"deleted": true}));
}

#[tokio::test]
async fn a_bad_record_is_dead_lettered_to_s3_while_the_rest_is_indexed() {
    let Some(env) = setup("deadletter").await else {
        return;
    };
    let records = common::samples();
    let good = &records[..4];
    let mut body = join(&good[..2], b"\n");
    let bad_offset = body.len() as u64;
    body.extend_from_slice(b"{\"id_str\": \"123\", \"text\": \"cut off\n");
    body.extend(join(&good[2..], b"\n"));
    env.put("firehose/bad", body).await;
    let result = env.invoke(env.event(&["firehose/bad"])).await;
    let report = &result["objects"][0];
    let expected = document_ids(good).len() as u64;
    assert_eq!(report["invalid_records"].as_u64(), Some(1), "{report}");
    assert_eq!(report["indexed"].as_u64(), Some(expected), "{report}");
    assert_eq!(report["dead_lettered"].as_u64(), Some(1), "{report}");
    assert_eq!(env.count().await, expected);

    let listed = env
        .s3
        .list_objects_v2()
        .bucket(&env.bucket)
        .prefix("dead-letter/")
        .send()
        .await
        .expect("list dead letters");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let object = env
        .s3
        .get_object()
        .bucket(&env.bucket)
        .key(keys[0])
        .send()
        .await
        .expect("get");
    let bytes = object.body.collect().await.expect("body").into_bytes();
    let lines: Vec<Value> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("NDJSON dead letter"))
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["error_type"], "invalid_record");
    assert_eq!(lines[0]["offset"].as_u64(), Some(bad_offset));
    assert_eq!(
        lines[0]["source_object"],
        format!("s3://{}/firehose/bad", env.bucket)
    );
    assert!(!lines[0]["reason"].as_str().unwrap_or("").is_empty());
}

#[tokio::test]
async fn a_missing_object_fails_the_invocation_and_is_counted() {
    let Some(env) = setup("missing").await else {
        return;
    };
    let error = env
        .handler
        .handle(
            env.event(&["firehose/never-written"]),
            &context(Duration::from_secs(60)),
        )
        .await
        .expect_err("a missing object must fail the invocation so that an alarm sees it");
    assert!(
        error.to_string().contains("firehose/never-written"),
        "{error}"
    );
    assert_eq!(
        lambda_runtime::Diagnostic::from(error).error_type,
        "ObjectMissing"
    );
    let metrics = env.metrics();
    assert_eq!(metrics.len(), 1, "{metrics:?}");
    assert_eq!(metrics[0]["MissingObjects"], 1);
    assert_eq!(metrics[0]["ObjectsIndexed"], 0);
    assert_eq!(metrics[0]["outcome"], "missing");

    // Through SQS it is a failed message, the others go through.
    let records = common::samples();
    env.put("firehose/there", join(&records[..3], b"\n")).await;
    let message = |id: &str, keys: &[&str]| {
        json!({"messageId": id, "body": env.event(keys).to_string(), "eventSource": "aws:sqs",
               "attributes": {}, "messageAttributes": {}})
    };
    let result = env
        .invoke(json!({"Records": [
            message("present", &["firehose/there"]),
            message("absent", &["firehose/never-written"]),
        ]}))
        .await;
    let failures = result["batchItemFailures"]
        .as_array()
        .expect("batch response");
    assert_eq!(failures.len(), 1, "{result}");
    assert_eq!(failures[0]["itemIdentifier"], "absent");
    assert_eq!(env.count().await, document_ids(&records[..3]).len() as u64);
}

#[tokio::test]
async fn an_eventbridge_key_is_tried_as_given_then_percent_decoded() {
    let Some(env) = setup("eventbridge").await else {
        return;
    };
    let records = common::samples();
    env.put("firehose/a b%.ndjson", join(&records[..2], b"\n"))
        .await;
    env.put("firehose/plain.ndjson", join(&records[2..4], b"\n"))
        .await;
    let event = |key: &str| {
        json!({"version": "0", "id": "1", "detail-type": "Object Created", "source": "aws.s3",
            "account": "1", "time": "2026-11-23T12:00:00Z", "region": "us-east-1", "resources": [],
            "detail": {"version": "0", "bucket": {"name": env.bucket}, "object": {"key": key, "size": 3}}})
    };
    for key in [
        "firehose/a b%.ndjson",
        "firehose/a%20b%25.ndjson",
        "firehose/plain.ndjson",
    ] {
        let result = env.invoke(event(key)).await;
        assert_eq!(result["objects"][0]["status"], "indexed", "{key}: {result}");
    }
    let decoded = env.invoke(event("firehose/a%20b%25.ndjson")).await;
    assert_eq!(
        decoded["objects"][0]["object"],
        format!("s3://{}/firehose/a b%.ndjson", env.bucket)
    );
    assert_eq!(env.count().await, document_ids(&records[..4]).len() as u64);
    // Neither form exists: the invocation fails.
    assert!(
        env.handler
            .handle(
                event("firehose/gone%20too"),
                &context(Duration::from_secs(60))
            )
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_s3_test_event_is_skipped() {
    let Some(env) = setup("testevent").await else {
        return;
    };
    let event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-23T12:00:00.000Z",
                       "Bucket": env.bucket, "RequestId": "R", "HostId": "H"});
    let result = env.invoke(event).await;
    assert_eq!(result["objects"].as_array().map(Vec::len), Some(0));
    assert_eq!(result["skipped"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn sqs_batches_report_only_the_failed_messages() {
    let Some(env) = setup("sqs").await else {
        return;
    };
    let records = common::samples();
    env.put("firehose/ok", join(&records[..5], b"\n")).await;
    let good = env.event(&["firehose/ok"]).to_string();
    let event = json!({"Records": [
        {"messageId": "good", "body": good, "eventSource": "aws:sqs", "attributes": {}, "messageAttributes": {}},
        {"messageId": "broken", "body": "{\"not\": \"an event\"}", "eventSource": "aws:sqs", "attributes": {}, "messageAttributes": {}},
    ]});
    let result = env.invoke(event).await;
    let failures = result["batchItemFailures"]
        .as_array()
        .expect("batch response");
    assert_eq!(failures.len(), 1, "{result}");
    assert_eq!(failures[0]["itemIdentifier"], "broken");
    assert_eq!(env.count().await, document_ids(&records[..5]).len() as u64);
}

#[tokio::test]
async fn an_exhausted_deadline_fails_the_invocation() {
    let Some(env) = setup("deadline").await else {
        return;
    };
    env.put("firehose/late", join(&common::samples(), b"\n"))
        .await;
    // The deadline has already passed: nothing can be confirmed in time.
    let result = env
        .handler
        .handle(env.event(&["firehose/late"]), &context(Duration::ZERO))
        .await;
    let error = result.expect_err("the invocation must fail so that S3 retries it");
    assert!(error.to_string().contains("firehose/late"), "{error}");
    // The failure has its metrics line too.
    let metrics = env.metrics();
    assert_eq!(metrics.len(), 1, "{metrics:?}");
    assert_eq!(metrics[0]["ObjectsFailed"], 1);
    assert_eq!(metrics[0]["outcome"], "failed");
    assert_eq!(
        metrics[0]["object"],
        format!("s3://{}/firehose/late", env.bucket)
    );
}

#[tokio::test]
async fn every_indexed_object_has_a_metrics_line_counting_new_documents_once() {
    let Some(env) = setup("emf").await else {
        return;
    };
    let records = common::samples();
    env.put("firehose/one", join(&records[..6], b"\n")).await;
    let ids = document_ids(&records[..6]);
    let unique = ids.iter().collect::<std::collections::HashSet<_>>().len() as u64;
    env.invoke(env.event(&["firehose/one"])).await;
    // The same object again (a retry): the documents are rewritten, not new.
    env.invoke(env.event(&["firehose/one"])).await;
    let metrics = env.metrics();
    assert_eq!(metrics.len(), 2, "{metrics:?}");
    assert_eq!(metrics[0]["DocumentsIndexed"].as_u64(), Some(unique));
    assert_eq!(metrics[1]["DocumentsIndexed"].as_u64(), Some(0));
    assert_eq!(
        metrics[1]["DocumentsUpdated"].as_u64(),
        Some(ids.len() as u64)
    );
    assert!(metrics.iter().all(|m| m["ObjectsIndexed"] == 1));
}
