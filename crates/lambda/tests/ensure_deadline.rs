//! Ensuring the index is bounded by the invocation's deadline: a search endpoint that accepts
//! connections and never answers (a stale keep-alive after a frozen sandbox) ends the
//! invocation at the deadline, each object named as failed with the reason and its metrics
//! line, and nothing read. No peers: the endpoint is a silent loopback listener and the objects
//! come from an in-memory store.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::Context;
use pipeline::{Indexer, Object, ObjectStore, SourceError};
use search_sink::Config;
use serde_json::{Value, json};
use tweet_indexer_lambda::Handler;

/// Serves any key with a small body, counting the reads.
#[derive(Clone, Default)]
struct MemoryStore {
    opened: Arc<Mutex<Vec<String>>>,
}

impl ObjectStore for MemoryStore {
    async fn get(&self, bucket: &str, key: &str) -> Result<Object, SourceError> {
        let name = format!("s3://{bucket}/{key}");
        self.opened.lock().unwrap().push(name.clone());
        let body = br#"{"id":"5","text":"hi"}"#.to_vec();
        Ok(Object::in_memory(name, body))
    }
}

/// A listener that accepts and holds connections without ever answering.
async fn silent_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    url
}

fn context(remaining: Duration) -> Context {
    let mut ctx = Context::default();
    ctx.request_id = "ensure-deadline".into();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    ctx.deadline = now + remaining.as_millis() as u64;
    ctx
}

fn s3_event(bucket: &str, keys: &[&str]) -> Value {
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
                       "bucket": {"name": bucket, "ownerIdentity": {"principalId": "P"}, "arn": format!("arn:aws:s3:::{bucket}")},
                       "object": {"key": key, "size": 1, "eTag": "e", "sequencer": "01"}}
            })
        })
        .collect();
    json!({ "Records": records })
}

#[tokio::test]
async fn a_hung_ensure_ends_at_the_deadline_failing_every_object_with_its_metrics_line() {
    let url = silent_endpoint().await;
    let mut config = Config::new(&url);
    // A unique index: the ensured-once guard is per endpoint and index.
    config.index = "ensure-deadline".into();
    // Longer than the invocation: only the deadline can end the wait.
    config.request_timeout = Duration::from_secs(60);
    let indexer = Indexer::connect(config).await.unwrap();
    let store = MemoryStore::default();
    let metrics = Arc::new(Mutex::new(Vec::<Value>::new()));
    let collected = metrics.clone();
    let handler =
        Handler::new(store.clone(), indexer).with_metrics_writer(Arc::new(move |line: String| {
            collected
                .lock()
                .unwrap()
                .push(serde_json::from_str(&line).unwrap());
        }));

    let started = std::time::Instant::now();
    let error = handler
        .handle(
            s3_event("in", &["firehose/a", "firehose/b"]),
            &context(Duration::from_secs(3)),
        )
        .await
        .expect_err("the invocation fails so that AWS retries it");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    let text = error.to_string();
    assert!(
        text.contains("s3://in/firehose/a")
            && text.contains("s3://in/firehose/b")
            && text.contains("index not ensured before the deadline"),
        "{text}"
    );
    let diagnostic: lambda_runtime::Diagnostic = error.into();
    assert_eq!(diagnostic.error_type, "EnsureIndexFailed");
    assert!(store.opened.lock().unwrap().is_empty(), "nothing is read");
    let metrics = metrics.lock().unwrap();
    let failed: Vec<&str> = metrics
        .iter()
        .filter(|m| m["outcome"] == "failed" && m["ObjectsFailed"] == 1)
        .filter_map(|m| m["object"].as_str())
        .collect();
    assert_eq!(failed, ["s3://in/firehose/a", "s3://in/firehose/b"]);
}
