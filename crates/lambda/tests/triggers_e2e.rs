//! The Kinesis, S3 Batch Operations and author-filter paths end to end with real peers:
//! moto S3 + osmem-server + the real handler, pipeline and sink. A small HTTP proxy in front
//! of osmem-server fails bulk requests on demand, to stop a batch part-way.
//! Each test uses its own bucket and index, so they run in parallel against one server.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream;
use lambda_runtime::Context;
use pipeline::kpl::{self, UserRecord};
use pipeline::{AuthorFilter, Indexer, S3Store};
use search_sink::{Config, DeadLetterTarget, Method};
use serde_json::{Value, json};
use tweet_indexer_lambda::Handler;
use tweets::{Extractor, ExtractorOptions, Item};

mod common;
use common::{Fault, faulty_proxy, kinesis_event, sequence_number};

struct Env {
    s3: aws_sdk_s3::Client,
    bucket: String,
    index: String,
    indexer: Indexer,
    handler: Handler<S3Store>,
    /// The handler's EMF lines.
    metrics: Arc<Mutex<Vec<Value>>>,
}

#[derive(Default)]
struct Options {
    /// Search endpoint to use instead of osmem-server itself (a proxy in front of it).
    endpoint: Option<String>,
    bulk_max_operations: Option<usize>,
    bulk_concurrency: Option<usize>,
    /// Dead letters go to this bucket of the local S3 (which may not exist).
    dead_letter_bucket: Option<String>,
    follow: AuthorFilter,
}

async fn setup(name: &str, options: Options) -> Option<Env> {
    let osmem = testkit::peer("OSMEM_URL")?;
    let s3_url = testkit::peer("S3_ENDPOINT_URL")?;
    let s3 = common::moto_s3(&s3_url);
    let bucket = format!("triggers-{name}");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    let index = format!("triggers-{name}");
    let mut config = Config::new(options.endpoint.unwrap_or(osmem));
    config.index = index.clone();
    if let Some(n) = options.bulk_max_operations {
        config.bulk_max_operations = n;
    }
    if let Some(n) = options.bulk_concurrency {
        config.bulk_concurrency = n;
    }
    if let Some(bucket) = options.dead_letter_bucket {
        config.dead_letter = Some(DeadLetterTarget::S3 {
            bucket,
            prefix: "dead-letter/".into(),
        });
    }
    let indexer = Indexer::connect_with_s3(config, s3.clone())
        .await
        .expect("connect")
        .with_author_filter(options.follow);
    let metrics = Arc::new(Mutex::new(Vec::new()));
    let collected = metrics.clone();
    let handler = Handler::new(S3Store::new(s3.clone()), indexer.clone()).with_metrics_writer(
        Arc::new(move |line| {
            let value: Value = serde_json::from_str(&line).expect("EMF line is JSON");
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
    async fn create_bucket(&self, name: &str) {
        self.s3
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .expect("create bucket");
    }

    /// The EMF lines written so far, emptied.
    fn take_metrics(&self) -> Vec<Value> {
        std::mem::take(&mut *self.metrics.lock().expect("metrics lock"))
    }

    async fn invoke(&self, payload: Value) -> Value {
        self.handler
            .handle(payload, &context(Duration::from_secs(120)))
            .await
            .expect("invocation succeeds")
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Option<String> {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .expect("put object")
            .version_id()
            .map(str::to_owned)
    }

    async fn request(&self, method: Method, path: &str, body: Option<&[u8]>) -> (u16, Value) {
        let response = self
            .indexer
            .client()
            .request(method, path, body)
            .await
            .expect("search request");
        (
            response.status,
            serde_json::from_slice(&response.body).unwrap_or(Value::Null),
        )
    }

    /// The ids now in the index.
    async fn ids(&self) -> BTreeSet<String> {
        self.request(Method::Post, &format!("{}/_refresh", self.index), None)
            .await;
        // Tweets only: a delete leaves a tombstone (`{"deleted": true}`) under the tweet's id.
        let query = json!({"size": 10000, "_source": ["deleted"], "query": {"match_all": {}}});
        let (status, body) = self
            .request(
                Method::Post,
                &format!("{}/_search", self.index),
                Some(query.to_string().as_bytes()),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["hits"]["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .filter(|hit| hit["_source"]["deleted"] != json!(true))
            .map(|hit| hit["_id"].as_str().expect("_id").to_owned())
            .collect()
    }
}

fn context(remaining: Duration) -> Context {
    let mut ctx = Context::default();
    ctx.request_id = "triggers-e2e".into();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    ctx.deadline = now + remaining.as_millis() as u64;
    ctx
}

/// `n` records from the shared corpus: v1.1 tweets and up to a tenth of v2 payloads.
fn corpus_records(n: usize) -> Option<Vec<Vec<u8>>> {
    let corpus = testkit::shared_dir()?.join("corpus");
    let lines = |file: &str, take: usize| -> Vec<Vec<u8>> {
        let text = std::fs::read(corpus.join(file)).expect("corpus file");
        text.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .take(take)
            .map(<[u8]>::to_vec)
            .collect()
    };
    let v2 = lines("tweets_v2_payloads.ndjson", n / 10);
    let mut records = lines("tweets_v1.ndjson", n - v2.len());
    // Interleave the v2 payloads among the v1 tweets.
    for (i, payload) in v2.into_iter().enumerate() {
        records.insert((i * 9 + 5).min(records.len()), payload);
    }
    Some(records)
}

/// The independent expectation: what the extractor makes of the records, in order.
fn items(records: &[Vec<u8>]) -> Vec<Item> {
    let extractor = Extractor::new(ExtractorOptions::default());
    let mut out = Vec::new();
    for (i, record) in records.iter().enumerate() {
        extractor.bytes_items(record, i as u64, &mut out);
    }
    out
}

/// Ids left in the index after applying the records' documents and deletes in order.
/// The tweets the index must hold: a delete is final (its tombstone outranks every version of
/// the tweet), so a copy of a deleted tweet later in the batch stays deleted.
fn expected_ids(records: &[Vec<u8>]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut deleted = BTreeSet::new();
    for item in items(records) {
        match item {
            Item::Document { id, .. } => {
                ids.insert(id);
            }
            Item::Delete { id, .. } => {
                deleted.insert(id);
            }
            _ => {}
        }
    }
    ids.difference(&deleted).cloned().collect()
}

fn document_ids(records: &[Vec<u8>]) -> Vec<String> {
    items(records)
        .into_iter()
        .filter_map(|item| match item {
            Item::Document { id, .. } => Some(id),
            _ => None,
        })
        .collect()
}

fn failures(response: &Value) -> Vec<String> {
    response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("not a Kinesis response: {response}"))
        .iter()
        .map(|f| {
            f["itemIdentifier"]
                .as_str()
                .expect("itemIdentifier")
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_kinesis_batch_of_plain_and_aggregated_records_indexes_each_tweet_once_and_applies_deletes()
 {
    let Some(env) = setup("kinesis", Options::default()).await else {
        return;
    };
    let Some(mut user_records) = corpus_records(480) else {
        return;
    };
    // Delete notices for 20 tweets indexed earlier in the same batch.
    let ids = document_ids(&user_records);
    for (n, id) in ids.iter().step_by(ids.len() / 20).take(20).enumerate() {
        let delete = format!(r#"{{"delete":{{"status":{{"id_str":"{id}","user_id_str":"1"}}}}}}"#);
        user_records.insert(300 + n * 8, delete.into_bytes());
    }
    assert_eq!(user_records.len(), 500);
    let expected = expected_ids(&user_records);
    assert!(expected.len() < ids.len(), "the deletes remove documents");

    // Records 100..400 travel as KPL aggregates of 10 user records, the rest one per record.
    let mut payloads: Vec<Vec<u8>> = user_records[..100].to_vec();
    for chunk in user_records[100..400].chunks(10) {
        let chunk: Vec<UserRecord> = chunk
            .iter()
            .map(|data| UserRecord {
                partition_key: "p".into(),
                explicit_hash_key: None,
                data: data.clone(),
            })
            .collect();
        payloads.push(kpl::aggregate(&chunk));
    }
    payloads.extend_from_slice(&user_records[400..]);
    let response = env.invoke(kinesis_event(&payloads, 0)).await;
    assert_eq!(failures(&response), Vec::<String>::new());
    assert_eq!(env.ids().await, expected);

    // Lambda may deliver the batch again: same documents, nothing new.
    let again = env.invoke(kinesis_event(&payloads, 0)).await;
    assert_eq!(failures(&again), Vec::<String>::new());
    assert_eq!(env.ids().await, expected);
}

#[tokio::test]
async fn unreadable_kinesis_records_are_skipped_not_failed() {
    let Some(env) = setup("kinesis-bad", Options::default()).await else {
        return;
    };
    let Some(records) = corpus_records(10) else {
        return;
    };
    let mut corrupt = kpl::aggregate(&[UserRecord {
        partition_key: "p".into(),
        explicit_hash_key: None,
        data: records[1].clone(),
    }]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    let mut event = kinesis_event(&[records[0].clone(), corrupt, records[2].clone()], 0);
    event["Records"][1]["kinesis"]["data"] = json!("%%% not base64 %%%");
    let response = env.invoke(event).await;
    assert_eq!(failures(&response), Vec::<String>::new());
    let want: BTreeSet<String> = [&records[0], &records[2]]
        .iter()
        .flat_map(|r| document_ids(std::slice::from_ref(r)))
        .collect();
    assert_eq!(env.ids().await, want);
}

#[tokio::test]
async fn a_search_failure_mid_batch_answers_the_first_unconfirmed_record_and_a_retry_completes() {
    let Some(osmem) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let Some(records) = corpus_records(200) else {
        return;
    };
    let proxy = faulty_proxy(&osmem, 3, Fault::BULK_500).await;
    let options = Options {
        endpoint: Some(proxy.url.clone()),
        bulk_max_operations: Some(20),
        ..Options::default()
    };
    let Some(env) = setup("kinesis-fault", options).await else {
        return;
    };
    let response = env.invoke(kinesis_event(&records, 0)).await;
    let failed = failures(&response);
    assert_eq!(failed.len(), 1, "{response}");
    let position = (0..records.len())
        .find(|i| sequence_number(*i) == failed[0])
        .expect("the answer names a record of the batch");
    assert!(
        position > 0,
        "some records were confirmed before the failure"
    );
    // Everything before the answer is in the index.
    let indexed = env.ids().await;
    let before: BTreeSet<String> = document_ids(&records[..position]).into_iter().collect();
    assert!(
        before.is_subset(&indexed),
        "a record before the answer is missing"
    );
    assert!(indexed.len() < expected_ids(&records).len());

    // Lambda retries the shard from the answered record.
    proxy.failing.store(false, Ordering::SeqCst);
    let retry = env
        .invoke(kinesis_event(&records[position..], position))
        .await;
    assert_eq!(failures(&retry), Vec::<String>::new());
    assert_eq!(env.ids().await, expected_ids(&records));
}

#[tokio::test]
async fn a_batch_operations_job_over_three_objects_answers_per_task_codes() {
    let Some(env) = setup("batch-ops", Options::default()).await else {
        return;
    };
    let Some(records) = corpus_records(30) else {
        return;
    };
    env.s3
        .put_bucket_versioning()
        .bucket(&env.bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    let ndjson = |records: &[Vec<u8>]| -> Vec<u8> {
        records
            .iter()
            .flat_map(|r| r.iter().copied().chain([b'\n']))
            .collect()
    };
    // Two versions of the first object: the task names the older one.
    let first_version = env
        .put("archive/one file.ndjson", ndjson(&records[..10]))
        .await;
    env.put("archive/one file.ndjson", ndjson(&records[10..12]))
        .await;
    env.put("archive/two.ndjson", ndjson(&records[20..30]))
        .await;
    let arn = format!("arn:aws:s3:::{}", env.bucket);
    let event = json!({
        "invocationSchemaVersion": "1.0", "invocationId": "inv-1", "job": {"id": "job-1"},
        "tasks": [
            {"taskId": "t1", "s3Key": "archive/one+file.ndjson", "s3VersionId": first_version, "s3BucketArn": arn},
            {"taskId": "t2", "s3Key": "archive/missing.ndjson", "s3VersionId": null, "s3BucketArn": arn},
            {"taskId": "t3", "s3Key": "archive/two.ndjson", "s3VersionId": null, "s3BucketArn": arn},
        ]
    });
    let response = env.invoke(event).await;
    assert_eq!(response["invocationSchemaVersion"], "1.0");
    assert_eq!(response["treatMissingKeysAs"], "PermanentFailure");
    assert_eq!(response["invocationId"], "inv-1");
    let results = response["results"].as_array().expect("results");
    let codes: Vec<(&str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["taskId"].as_str().unwrap(),
                r["resultCode"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            ("t1", "Succeeded"),
            ("t2", "PermanentFailure"),
            ("t3", "Succeeded")
        ]
    );
    assert!(
        results[1]["resultString"]
            .as_str()
            .unwrap()
            .contains("not found")
    );
    let summary: Value =
        serde_json::from_str(results[0]["resultString"].as_str().unwrap()).unwrap();
    assert_eq!(summary["documents"], document_ids(&records[..10]).len());
    let mut want: BTreeSet<String> = document_ids(&records[..10]).into_iter().collect();
    want.extend(document_ids(&records[20..30]));
    assert_eq!(env.ids().await, want);

    // Schema 2.0: bucket name and plain key.
    let v2 = json!({
        "invocationSchemaVersion": "2.0", "invocationId": "inv-2",
        "job": {"id": "job-2", "userArguments": {}},
        "tasks": [{"taskId": "t4", "s3Bucket": env.bucket, "s3Key": "archive/one file.ndjson", "s3VersionId": null}]
    });
    let response = env.invoke(v2).await;
    assert_eq!(response["invocationSchemaVersion"], "2.0");
    assert_eq!(
        response["results"][0]["resultCode"], "Succeeded",
        "{response}"
    );
    want.extend(document_ids(&records[10..12]));
    assert_eq!(env.ids().await, want);
}

#[tokio::test]
async fn with_follow_user_ids_only_those_authors_are_indexed_and_deletes_apply() {
    let Some(records) = corpus_records(100) else {
        return;
    };
    // Follow the authors of the first three documents.
    let authors: Vec<u64> = items(&records)
        .into_iter()
        .filter_map(|item| match item {
            Item::Document { doc, .. } => doc.user.id,
            _ => None,
        })
        .take(3)
        .collect();
    let list = authors
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let options = Options {
        follow: AuthorFilter::parse(&list).expect("ids"),
        ..Options::default()
    };
    let Some(env) = setup("follow", options).await else {
        return;
    };
    let followed: Vec<(String, u64)> = items(&records)
        .into_iter()
        .filter_map(|item| match item {
            Item::Document { id, doc, .. } => Some((id, doc.user.id?)),
            _ => None,
        })
        .filter(|(_, author)| authors.contains(author))
        .collect();
    let first_followed = followed[0].0.clone();
    let mut batch = records.clone();
    batch
        .push(format!(r#"{{"delete":{{"status":{{"id_str":"{first_followed}"}}}}}}"#).into_bytes());
    let response = env.invoke(kinesis_event(&batch, 0)).await;
    assert_eq!(failures(&response), Vec::<String>::new());
    let want: BTreeSet<String> = followed
        .iter()
        .map(|(id, _)| id.clone())
        .filter(|id| *id != first_followed)
        .collect();
    assert!(!want.is_empty());
    assert_eq!(env.ids().await, want);

    // The same filter on the S3 path: an object of all 100 records.
    env.put(
        "firehose/all.ndjson",
        batch
            .iter()
            .flat_map(|r| r.iter().copied().chain([b'\n']))
            .collect(),
    )
    .await;
    let arn = format!("arn:aws:s3:::{}", env.bucket);
    let job = json!({"invocationSchemaVersion": "1.0", "invocationId": "i", "job": {"id": "j"},
        "tasks": [{"taskId": "t", "s3Key": "firehose/all.ndjson", "s3VersionId": null, "s3BucketArn": arn}]});
    let response = env.invoke(job).await;
    let summary: Value =
        serde_json::from_str(response["results"][0]["resultString"].as_str().unwrap()).unwrap();
    let documents = document_ids(&records).len() as u64;
    assert_eq!(summary["documents"], followed.len() as u64, "{summary}");
    assert_eq!(
        summary["filtered"],
        documents - followed.len() as u64,
        "{summary}"
    );
    assert_eq!(env.ids().await, want);
}

#[tokio::test]
async fn an_exhausted_deadline_answers_the_first_record_of_the_batch() {
    let Some(env) = setup("kinesis-deadline", Options::default()).await else {
        return;
    };
    let Some(records) = corpus_records(20) else {
        return;
    };
    // Nothing can be confirmed in time: Lambda must retry the whole batch, from its first record.
    let response = env
        .handler
        .handle(kinesis_event(&records, 7), &context(Duration::ZERO))
        .await
        .expect("a Kinesis batch is answered, not failed");
    assert_eq!(failures(&response), [sequence_number(7)]);
}

#[tokio::test]
async fn a_dead_letter_not_yet_stored_holds_the_batch_at_its_record_even_at_the_end() {
    // Record 6 is not JSON: it is dead-lettered, but the dead-letter bucket does not exist
    // yet, so its letter cannot be stored. One operation per bulk, one bulk in flight: every
    // record boundary is confirmed as the batch goes, up to the last record. The answer must
    // still name record 6 (its letter is only in memory), never acknowledge the batch.
    let Some(records) = corpus_records(10) else {
        return;
    };
    let letters = "triggers-kinesis-letters-later".to_owned();
    let options = Options {
        bulk_max_operations: Some(1),
        bulk_concurrency: Some(1),
        dead_letter_bucket: Some(letters.clone()),
        ..Options::default()
    };
    let Some(env) = setup("kinesis-letter", options).await else {
        return;
    };
    let mut records = records;
    records[6] = b"this record is not JSON".to_vec();
    let response = env.invoke(kinesis_event(&records, 0)).await;
    assert_eq!(failures(&response), [sequence_number(6)], "{response}");
    let line = env.take_metrics();
    assert_eq!(line.len(), 1, "{line:?}");
    assert_eq!(
        (
            &line[0]["KinesisBatchesFailed"],
            &line[0]["DocumentsDeadLettered"]
        ),
        (&json!(1), &json!(0)),
        "{line:?}"
    );
    // Every record before it is in the index.
    let before: BTreeSet<String> = document_ids(&records[..6]).into_iter().collect();
    assert!(before.is_subset(&env.ids().await));

    // Once the bucket exists, Lambda's retry from record 6 completes and stores the letter.
    env.create_bucket(&letters).await;
    let retry = env.invoke(kinesis_event(&records[6..], 6)).await;
    assert_eq!(failures(&retry), Vec::<String>::new());
    assert_eq!(env.ids().await, expected_ids(&records));
    let stored = env
        .s3
        .list_objects_v2()
        .bucket(&letters)
        .send()
        .await
        .expect("list dead letters");
    assert_eq!(stored.contents().len(), 1, "{stored:?}");
    let line = env.take_metrics();
    assert_eq!(
        (
            &line[0]["KinesisBatchesIndexed"],
            &line[0]["DocumentsDeadLettered"]
        ),
        (&json!(1), &json!(1)),
        "{line:?}"
    );
}

#[tokio::test]
async fn kinesis_batches_and_batch_operations_tasks_each_write_a_metrics_line() {
    let Some(records) = corpus_records(12) else {
        return;
    };
    let letters = "triggers-metrics-letters".to_owned();
    let options = Options {
        dead_letter_bucket: Some(letters.clone()),
        ..Options::default()
    };
    let Some(env) = setup("metrics", options).await else {
        return;
    };
    env.create_bucket(&letters).await;
    let mut batch = records[..6].to_vec();
    batch.push(b"{not json".to_vec());
    let response = env.invoke(kinesis_event(&batch, 0)).await;
    assert_eq!(failures(&response), Vec::<String>::new());
    let documents = document_ids(&records[..6]).len() as u64;
    let kinesis = env.take_metrics();
    assert_eq!(kinesis.len(), 1, "{kinesis:?}");
    let line = &kinesis[0];
    assert_eq!(line["trigger"], "kinesis");
    assert_eq!(line["object"], "kinesis://tweets/shardId-000000000000");
    assert_eq!(line["KinesisBatchesIndexed"], 1);
    assert_eq!(line["DocumentsIndexed"], documents, "{line}");
    // The dead-letter alarm sees the Kinesis path.
    assert_eq!(line["DocumentsDeadLettered"], 1, "{line}");
    assert_eq!(line["InvalidRecords"], 1, "{line}");
    assert!(line["LagMilliseconds"].is_u64(), "{line}");

    // A backfill task over the other records, and one over a key that does not exist.
    env.put(
        "firehose/rest.ndjson",
        records[6..]
            .iter()
            .flat_map(|r| r.iter().copied().chain([b'\n']))
            .collect(),
    )
    .await;
    let arn = format!("arn:aws:s3:::{}", env.bucket);
    let job = json!({"invocationSchemaVersion": "1.0", "invocationId": "i", "job": {"id": "j"},
    "tasks": [
        {"taskId": "t1", "s3Key": "firehose/rest.ndjson", "s3VersionId": null, "s3BucketArn": arn},
        {"taskId": "t2", "s3Key": "firehose/gone.ndjson", "s3VersionId": null, "s3BucketArn": arn}
    ]});
    let response = env.invoke(job).await;
    assert_eq!(response["results"][1]["resultCode"], "PermanentFailure");
    let tasks = env.take_metrics();
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    assert_eq!(tasks[0]["trigger"], "batch-operations");
    assert_eq!(tasks[0]["BackfillTasksSucceeded"], 1);
    assert_eq!(
        tasks[0]["BackfillDocumentsIndexed"],
        document_ids(&records[6..]).len() as u64
    );
    assert_eq!(tasks[0]["DocumentsDeadLettered"], 0);
    // Backfilled tweets feed neither the volume alarm nor the lag.
    assert!(tasks[0].get("DocumentsIndexed").is_none(), "{}", tasks[0]);
    assert!(tasks[0].get("LagMilliseconds").is_none(), "{}", tasks[0]);
    assert_eq!(tasks[1]["BackfillTasksFailed"], 1);
    assert_eq!(tasks[1]["outcome"], "missing");
    assert!(tasks[1].get("MissingObjects").is_none(), "{}", tasks[1]);
}
