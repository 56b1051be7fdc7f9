//! Compliance through the Lambda handler, against osmem-server: an S3 event naming an object of
//! compliance records and then the tweets they concern, a Kinesis batch of later events and
//! their reversals, each line of metrics counting the events applied and their lag; and a
//! Kinesis batch whose register write fails, answered with a record no later than the event,
//! whose retry applies it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::Context;
use pipeline::{Indexer, Object, ObjectStore, SourceError};
use search_sink::{Config, Method};
use serde_json::{Value, json};
use testkit::compliance::{self as records, now_ms};
use tweet_indexer_lambda::Handler;
use tweets::{Extractor, ExtractorOptions, Item};

mod common;
use common::{Fault, faulty_proxy, kinesis_event, sequence_number};

/// Objects served from memory, by key.
#[derive(Clone, Default)]
struct Objects(Arc<Mutex<HashMap<String, Vec<u8>>>>);

impl Objects {
    fn put(&self, key: &str, lines: &[String]) {
        let body = lines.join("\n").into_bytes();
        self.0.lock().unwrap().insert(key.to_owned(), body);
    }
}

impl ObjectStore for Objects {
    async fn get(&self, bucket: &str, key: &str) -> Result<Object, SourceError> {
        let name = format!("s3://{bucket}/{key}");
        let Some(body) = self.0.lock().unwrap().get(key).cloned() else {
            return Err(SourceError::NotFound { name });
        };
        Ok(Object {
            received_at: Some(1_764_417_600_000),
            ..Object::in_memory(name, body)
        })
    }
}

struct Env {
    index: String,
    objects: Objects,
    indexer: Indexer,
    handler: Handler<Objects>,
    metrics: Arc<Mutex<Vec<Value>>>,
}

async fn setup(name: &str, endpoint: Option<String>) -> Option<Env> {
    let osmem = testkit::peer("OSMEM_URL")?;
    let index = testkit::unique_name(&format!("lambda-{name}"));
    let mut config = Config::new(endpoint.unwrap_or(osmem));
    config.index = index.clone();
    config.bulk_max_operations = 20;
    let indexer = Indexer::connect(config).await.expect("connect");
    let objects = Objects::default();
    let metrics = Arc::new(Mutex::new(Vec::new()));
    let collected = metrics.clone();
    let handler = Handler::new(objects.clone(), indexer.clone()).with_metrics_writer(Arc::new(
        move |line: String| {
            collected
                .lock()
                .unwrap()
                .push(serde_json::from_str(&line).expect("EMF line is JSON"));
        },
    ));
    Some(Env {
        index,
        objects,
        indexer,
        handler,
        metrics,
    })
}

impl Env {
    async fn invoke(&self, payload: Value) -> Value {
        let mut context = Context::default();
        context.deadline = (SystemTime::now() + Duration::from_secs(120))
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        self.handler
            .handle(payload, &context)
            .await
            .expect("invocation succeeds")
    }

    /// One S3 notification naming `keys` in order.
    fn s3_event(&self, keys: &[&str]) -> Value {
        let records: Vec<Value> = keys
            .iter()
            .flat_map(|key| {
                common::s3_put_event("in", key)["Records"]
                    .as_array()
                    .cloned()
            })
            .flatten()
            .collect();
        json!({ "Records": records })
    }

    /// The EMF lines written since the last call.
    fn take_metrics(&self) -> Vec<Value> {
        std::mem::take(&mut *self.metrics.lock().unwrap())
    }

    /// `_source` of every document by id.
    async fn documents(&self) -> HashMap<String, Value> {
        let body = json!({"size": 2000, "query": {"match_all": {}}}).to_string();
        let r = self
            .indexer
            .client()
            .request(
                Method::Post,
                &format!("{}/_search", self.index),
                Some(body.as_bytes()),
            )
            .await
            .unwrap();
        testkit::compliance::search_hits(&r.body)
            .into_iter()
            .map(|h| (h.id, h.source))
            .collect()
    }
}

/// The samples' tweet records, with id and author.
fn sample_tweets() -> Vec<(String, u64, u64)> {
    let text = std::fs::read_to_string(testkit::repo_root().join("tests/samples/captured.ndjson"))
        .expect("samples");
    let extractor = Extractor::new(ExtractorOptions::default());
    text.lines()
        .filter_map(|line| {
            let mut items = Vec::new();
            extractor.bytes_items(line.as_bytes(), 0, &mut items);
            match items.as_slice() {
                [Item::Document { id, doc, .. }] => {
                    Some((line.to_owned(), id.parse().ok()?, doc.user.id?))
                }
                _ => None,
            }
        })
        .collect()
}

fn suppressed(doc: &Value) -> Vec<String> {
    doc["suppressed_reasons"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn metric(line: &Value, name: &str) -> Option<u64> {
    line.get(name).and_then(Value::as_u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_event_and_a_kinesis_batch_apply_compliance_and_report_its_lag() {
    let Some(env) = setup("compliance", None).await else {
        return;
    };
    let tweets = sample_tweets();
    let now = now_ms();
    let hour = 3_600_000;
    let (first, second) = (&tweets[0], &tweets[1]);
    assert_ne!(first.2, second.2, "two authors");
    // Events first, the tweets after them: an object each, one event.
    env.objects.put(
        "early.ndjson",
        &[
            records::v2_user("user_protect", first.2, now - 2 * hour),
            records::v2_tweet("delete", second.1, second.2, now - hour),
        ],
    );
    let lines: Vec<String> = tweets.iter().map(|t| t.0.clone()).collect();
    env.objects.put("tweets.ndjson", &lines);
    env.invoke(env.s3_event(&["early.ndjson", "tweets.ndjson"]))
        .await;
    let docs = env.documents().await;
    assert_eq!(suppressed(&docs[&first.1.to_string()]), ["user_protect"]);
    assert_eq!(docs[&second.1.to_string()], json!({"deleted": true}));
    let lines = env.take_metrics();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let early = &lines[0];
    assert_eq!(early["trigger"], "s3");
    assert_eq!(metric(early, "ComplianceEventsApplied"), Some(2), "{early}");
    let lag = metric(early, "ComplianceLagMilliseconds").expect("a lag");
    assert!((2 * hour as u64..3 * hour as u64).contains(&lag), "{lag}");
    assert!(
        metric(&lines[1], "ComplianceDocumentsChanged").unwrap_or(0) >= 1,
        "the protected author's tweets changed on arrival: {}",
        lines[1]
    );

    // A Kinesis batch: the protection lifted, a tweet withheld.
    let batch = [
        records::v2_user("user_unprotect", first.2, now - hour / 2),
        records::v2_withheld(tweets[2].1, tweets[2].2, &["DE"], now - hour / 2),
    ];
    let payloads: Vec<Vec<u8>> = batch.iter().map(|l| l.clone().into_bytes()).collect();
    let response = env.invoke(kinesis_event(&payloads, 0)).await;
    assert_eq!(response, json!({"batchItemFailures": []}));
    let docs = env.documents().await;
    assert!(suppressed(&docs[&first.1.to_string()]).is_empty());
    assert_eq!(
        docs[&tweets[2].1.to_string()]["withheld_in_countries"],
        json!(["DE"])
    );
    let lines = env.take_metrics();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["trigger"], "kinesis");
    assert_eq!(metric(&lines[0], "ComplianceEventsApplied"), Some(2));
    assert!(metric(&lines[0], "ComplianceDocumentsChanged").unwrap_or(0) >= 2);
    let lag = metric(&lines[0], "ComplianceLagMilliseconds").expect("a lag");
    assert!(lag >= hour as u64 / 2, "{lag}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_register_write_fails_is_retried_from_no_later_than_the_event() {
    let Some(osmem) = testkit::peer("OSMEM_URL") else {
        return;
    };
    // Writes to the compliance index are refused (403) while the proxy fails.
    let fault = Fault {
        path: "_compliance/_bulk",
        status: 403,
    };
    let proxy = faulty_proxy(&osmem, 0, fault).await;
    let Some(env) = setup("compliance-fault", Some(proxy.url.clone())).await else {
        return;
    };
    let tweets = sample_tweets();
    // More tweets than one group (500) before the event, a few after.
    let mut payloads: Vec<Vec<u8>> = Vec::new();
    while payloads.len() < 520 {
        payloads.extend(tweets.iter().map(|t| t.0.clone().into_bytes()));
    }
    let event_at = payloads.len();
    let protected = tweets[0].2;
    payloads.push(records::v2_user("user_protect", protected, now_ms() - 60_000).into_bytes());
    payloads.extend(tweets[..5].iter().map(|t| t.0.clone().into_bytes()));

    let response = env.invoke(kinesis_event(&payloads, 0)).await;
    let failed: Vec<&str> = response["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["itemIdentifier"].as_str())
        .collect();
    assert_eq!(failed.len(), 1, "{response}");
    let position = (0..payloads.len())
        .find(|i| sequence_number(*i) == failed[0])
        .expect("the answer names a record of the batch");
    assert!(
        position > 0 && position <= event_at,
        "answered {position}: the event is record {event_at}"
    );
    let lines = env.take_metrics();
    assert_eq!(lines[0]["outcome"], "failed", "{lines:?}");

    // Lambda retries from the answered record: now the event is applied.
    proxy
        .failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let retry = env
        .invoke(kinesis_event(&payloads[position..], position))
        .await;
    assert_eq!(retry, json!({"batchItemFailures": []}));
    let docs = env.documents().await;
    for (_, id, author) in &tweets {
        let reasons = suppressed(&docs[&id.to_string()]);
        let want: &[&str] = if *author == protected {
            &["user_protect"]
        } else {
            &[]
        };
        assert_eq!(reasons, want, "{id}");
    }
}
