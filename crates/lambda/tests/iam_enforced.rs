//! The Lambda's AWS calls made with the Lambda role's permissions and nothing else: moto with
//! IAM enforced (`testkit::iam_moto`), the handler's S3 client signing as a user whose only
//! policy is `policies/lambda-execution.json` rendered for the stack (the policy the template
//! gives `IndexerRole`), osmem-server as the search side. Every call the handler makes on
//! each trigger must be allowed (reads of the current object and of a version, a read resumed
//! after a cut, dead letters from documents and from Kinesis records), and calls outside the
//! policy must be refused, so the enforcement is known to be real.
//!
//! Not covered here (the AWS services make these calls with the role, not our code): Lambda's
//! Kinesis poller (`policies/lambda-kinesis-read.json`), the failure queue destination
//! (`sqs:SendMessage`), log delivery, and KMS for SSE-KMS objects (moto does not check it).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use lambda_runtime::Context;
use pipeline::{Indexer, S3Store};
use search_sink::{Config, DeadLetterTarget, Method};
use serde_json::{Value, json};
use testkit::faults::{BodyCutter, CutRule};
use testkit::iam_moto::{BUCKET, IamMoto, Keys, stack_values};
use tweet_indexer_lambda::Handler;
use tweets::{Extractor, ExtractorOptions, Item};

/// Where Firehose writes in the stack (`FirehosePrefix` and its hour folders).
const HOUR: &str = "tweets/2026/11/23/12/";

struct Env {
    moto: IamMoto,
    osmem: String,
    index: String,
    admin: aws_sdk_s3::Client,
}

fn s3_client(endpoint: &str, keys: &Keys) -> aws_sdk_s3::Client {
    let credentials = Credentials::new(
        &keys.access_key_id,
        &keys.secret_access_key,
        None,
        None,
        "iam-moto",
    );
    let config = aws_sdk_s3::Config::builder()
        .http_client(search_sink::https::aws_http_client())
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .force_path_style(true)
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

async fn setup(name: &str) -> Option<Env> {
    let osmem = testkit::peer("OSMEM_URL")?;
    let moto = IamMoto::start(&json!({
        "values": stack_values(),
        "buckets": [{"name": BUCKET, "versioned": true}],
        "principals": {"lambda": ["lambda-execution.json"], "nobody": []},
    }))?;
    let admin = s3_client(moto.endpoint(), moto.keys("admin"));
    Some(Env {
        index: format!("iam-{name}-{}", std::process::id()),
        admin,
        moto,
        osmem,
    })
}

impl Env {
    /// The handler as it runs in the function: every S3 call (reads and dead letters) signed
    /// as `principal`, sent to `s3_endpoint` (moto, or a proxy in front of it).
    async fn handler(&self, principal: &str, s3_endpoint: &str) -> Handler<S3Store> {
        let s3 = s3_client(s3_endpoint, self.moto.keys(principal));
        let mut config = Config::new(&self.osmem);
        config.index = self.index.clone();
        config.dead_letter = Some(DeadLetterTarget::S3 {
            bucket: BUCKET.into(),
            prefix: "dead-letter/".into(),
        });
        let indexer = Indexer::connect_with_s3(config, s3.clone())
            .await
            .expect("connect");
        Handler::new(S3Store::new(s3), indexer).with_metrics_writer(std::sync::Arc::new(|_| {}))
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> String {
        self.admin
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .expect("put object")
            .version_id()
            .expect("the bucket is versioned")
            .to_owned()
    }

    /// Every dead letter written under `dead-letter/`, one JSON value per line.
    async fn dead_letters(&self) -> Vec<Value> {
        let listed = self
            .admin
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix("dead-letter/")
            .send()
            .await
            .expect("list dead letters");
        let mut letters = Vec::new();
        for key in listed.contents().iter().filter_map(|o| o.key()) {
            let object = self
                .admin
                .get_object()
                .bucket(BUCKET)
                .key(key)
                .send()
                .await
                .expect("get dead letter");
            let bytes = object.body.collect().await.expect("body").into_bytes();
            letters.extend(
                bytes
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(|l| serde_json::from_slice::<Value>(l).expect("NDJSON dead letter")),
            );
        }
        letters
    }

    /// The ids of tweets in the index (a delete leaves a tombstone, which is no tweet).
    async fn ids(&self) -> Vec<String> {
        let client = search_sink::SearchClient::connect(Config::new(&self.osmem))
            .await
            .expect("search client");
        client
            .request(Method::Post, &format!("{}/_refresh", self.index), None)
            .await
            .expect("refresh");
        let query = json!({"size": 10000, "_source": ["deleted"], "query": {"match_all": {}}});
        let answer = client
            .request(
                Method::Post,
                &format!("{}/_search", self.index),
                Some(query.to_string().as_bytes()),
            )
            .await
            .expect("search");
        let body: Value = serde_json::from_slice(&answer.body).expect("search answer");
        let mut ids: Vec<String> = body["hits"]["hits"]
            .as_array()
            .map(|hits| {
                hits.iter()
                    .filter(|h| h["_source"]["deleted"] != json!(true))
                    .filter_map(|h| h["_id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }
}

fn context() -> Context {
    let mut ctx = Context::default();
    ctx.request_id = "iam-enforced".into();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    ctx.deadline = now + Duration::from_secs(120).as_millis() as u64;
    ctx
}

fn ndjson(records: &[Vec<u8>]) -> Vec<u8> {
    records
        .iter()
        .flat_map(|r| r.iter().copied().chain([b'\n']))
        .collect()
}

/// The independent expectation: the tweet ids the extractor finds in `records`, sorted.
fn document_ids(records: &[Vec<u8>]) -> Vec<String> {
    let extractor = Extractor::new(ExtractorOptions::default());
    let ndjson = ndjson(records);
    let mut ids: Vec<String> = extractor
        .items(&ndjson[..])
        .filter_map(|item| match item {
            Item::Document { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[tokio::test]
async fn an_object_is_read_and_its_bad_record_dead_lettered_as_the_lambda_role() {
    let Some(env) = setup("object").await else {
        return;
    };
    let records = common::samples();
    let mut body = ndjson(&records[..6]);
    body.extend_from_slice(b"{\"id_str\": \"123\", \"text\": \"cut off\n");
    let key = format!("{HOUR}tweet-indexer-tweets-1");
    env.put(&key, body).await;
    let handler = env.handler("lambda", env.moto.endpoint()).await;

    let result = handler
        .handle(common::s3_put_event(BUCKET, &key), &context())
        .await
        .expect("the Lambda role reads the object and writes its dead letter");
    let report = &result["objects"][0];
    let want = document_ids(&records[..6]);
    assert_eq!(report["indexed"], json!(want.len()), "{report}");
    assert_eq!(report["dead_lettered"], json!(1), "{report}");
    assert_eq!(env.ids().await, want);
    let letters = env.dead_letters().await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["error_type"], "invalid_record");
    assert_eq!(letters[0]["source_object"], format!("s3://{BUCKET}/{key}"));
}

/// A Batch Operations task that names a version reads that version: `GetObject` with a
/// `versionId`, which IAM authorises as `s3:GetObjectVersion`.
#[tokio::test]
async fn a_batch_operations_task_reads_the_version_it_names() {
    let Some(env) = setup("version").await else {
        return;
    };
    let records = common::samples();
    let key = format!("{HOUR}rewritten");
    let first = env.put(&key, ndjson(&records[..3])).await;
    env.put(&key, ndjson(&records[3..6])).await;
    let handler = env.handler("lambda", env.moto.endpoint()).await;

    let job = json!({
        "invocationSchemaVersion": "2.0", "invocationId": "inv", "job": {"id": "job", "userArguments": {}},
        "tasks": [{"taskId": "t", "s3Bucket": BUCKET, "s3Key": key, "s3VersionId": first}]
    });
    let response = handler.handle(job, &context()).await.expect("invocation");
    let result = &response["results"][0];
    assert_eq!(result["resultCode"], "Succeeded", "{result}");
    assert_eq!(env.ids().await, document_ids(&records[..3]));
}

/// A body cut mid-way is resumed with a ranged GET pinned to the version first read (the
/// bucket is versioned, as the stack's is): that GET needs `s3:GetObjectVersion` too.
#[tokio::test]
async fn a_read_cut_mid_body_resumes_pinned_to_the_version_first_read() {
    let Some(env) = setup("resume").await else {
        return;
    };
    let records = common::samples();
    let key = format!("{HOUR}cut");
    let version = env.put(&key, ndjson(&records)).await;
    let cutter =
        BodyCutter::start(env.moto.endpoint(), CutRule::FirstGetOf(key.clone()), false).await;
    let handler = env.handler("lambda", &cutter.url).await;

    let result = handler
        .handle(common::s3_put_event(BUCKET, &key), &context())
        .await
        .expect("the resumed read is allowed");
    let report = &result["objects"][0];
    assert_eq!(report["resumed_reads"], json!(1), "{report}");
    assert_eq!(env.ids().await, document_ids(&records));
    let ranged: Vec<_> = cutter
        .seen()
        .into_iter()
        .filter(|r| r.range.is_some())
        .collect();
    assert_eq!(ranged.len(), 1, "{ranged:?}");
    assert!(
        ranged[0].target.contains(&format!("versionId={version}")),
        "the resume names the version first read: {ranged:?}"
    );
}

#[tokio::test]
async fn unreadable_kinesis_records_are_dead_lettered_as_the_lambda_role() {
    let Some(env) = setup("kinesis").await else {
        return;
    };
    let records = common::samples();
    let mut event = common::kinesis_event(&[records[0].clone(), records[1].clone()], 0);
    event["Records"][1]["kinesis"]["data"] = json!("%%% not base64 %%%");
    let handler = env.handler("lambda", env.moto.endpoint()).await;

    let response = handler.handle(event, &context()).await.expect("invocation");
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    assert_eq!(env.ids().await, document_ids(&records[..1]));
    let letters = env.dead_letters().await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["error_type"], "invalid_record");
    assert!(
        letters[0]["source_object"]
            .as_str()
            .is_some_and(|s| s.ends_with(&common::sequence_number(1))),
        "{letters:?}"
    );
}

/// The enforcement is real: what the policy does not grant is refused, for the same keys and
/// objects that exist.
#[tokio::test]
async fn calls_outside_the_policy_are_refused() {
    let Some(env) = setup("refused").await else {
        return;
    };
    let records = common::samples();
    let inside = format!("{HOUR}inside");
    env.put(&inside, ndjson(&records[..2])).await;
    env.put("other/outside", ndjson(&records[..2])).await;
    let lambda = env.handler("lambda", env.moto.endpoint()).await;

    // Outside FirehosePrefix: no s3:GetObject there.
    let error = lambda
        .handle(common::s3_put_event(BUCKET, "other/outside"), &context())
        .await
        .expect_err("outside the prefix");
    assert!(error.to_string().contains("AccessDenied"), "{error}");
    // The same object, read as admin: it exists, the refusal was the policy's.
    env.admin
        .get_object()
        .bucket(BUCKET)
        .key("other/outside")
        .send()
        .await
        .expect("admin reads it");
    // A principal whose keys are valid but hold no policy.
    let nobody = env.handler("nobody", env.moto.endpoint()).await;
    let error = nobody
        .handle(common::s3_put_event(BUCKET, &inside), &context())
        .await
        .expect_err("no policy");
    assert!(error.to_string().contains("AccessDenied"), "{error}");
    // The Lambda role never writes where its own trigger fires.
    let s3 = s3_client(env.moto.endpoint(), env.moto.keys("lambda"));
    let put = s3
        .put_object()
        .bucket(BUCKET)
        .key(format!("{HOUR}written-by-the-lambda"))
        .body(ByteStream::from_static(b"{}"))
        .send()
        .await;
    let error = put.expect_err("no s3:PutObject under FirehosePrefix");
    assert!(
        format!("{}", aws_sdk_s3::error::DisplayErrorContext(&error)).contains("AccessDenied"),
        "{error:?}"
    );
    // A missing object under the prefix is NoSuchKey (s3:ListBucket is granted), not a
    // refusal: the handler reports it missing.
    let error = lambda
        .handle(
            common::s3_put_event(BUCKET, &format!("{HOUR}missing")),
            &context(),
        )
        .await
        .expect_err("missing");
    assert!(error.to_string().contains("NoSuchKey"), "{error}");
    // Nothing was indexed by the refused reads, nothing was dead-lettered.
    assert_eq!(env.ids().await, Vec::<String>::new());
    assert_eq!(env.dead_letters().await, Vec::<Value>::new());
}
