//! Every field and message the indexer's saved Logs Insights queries (`infra/template.yaml`,
//! `AWS::Logs::QueryDefinition` on `IndexerLogGroup`) name is one `tweet-indexer-lambda` really
//! logs: the real binary runs under a local Lambda runtime API (`scripts/bench/fake_runtime.py`)
//! through what the queries look for, and its JSON lines are read back, not its source:
//! - an S3 object of the sample captures plus a damaged record, into osmem-server with a
//!   dead-letter bucket in moto (documents, deletes, an invalid record and its dead letter);
//! - the same damaged, gzip-compressed, as an S3 Batch Operations task (a backfill);
//! - a Kinesis batch of a tweet and a damaged record;
//! - an object that does not exist;
//! - one tweet that the search server refuses for good (a loopback fake answers its bulk item
//!   with `mapper_parsing_exception`), with a dead-letter bucket and without one (the object
//!   fails).
//!
//! Fields the compliance work (issue 24) is to log are listed in [`PENDING`]: the query that
//! names them ships now, and this test fails as soon as the binary logs one of them, so the
//! list is emptied when they land.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use testkit::fake_search::FakeServer;
use testkit::logs_insights::{Logged, saved_queries};

const BUCKET: &str = "lambda-logs-insights";
const LOG_GROUP: &str = "IndexerLogGroup";
/// Named by `IndexerComplianceLagQuery` before the binary logs them (issue 24, section 4 of the
/// compliance design: the lag from `event_at` to applied, per invocation, as EMF).
const PENDING: &[&str] = &["ComplianceLagMilliseconds", "ComplianceEventsApplied"];

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("lambda-insights-{}-{name}", std::process::id()))
}

fn batch_operations_event(key: &str) -> Value {
    json!({
        "invocationSchemaVersion": "2.0",
        "invocationId": "aW52b2NhdGlvbg",
        "job": {"id": "f3cc4f60-61f6-4a2b-8a21-d07600c373ce", "userArguments": {}},
        "tasks": [{"taskId": "dGFzaw", "s3Bucket": BUCKET, "s3Key": key, "s3VersionId": null}]
    })
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

fn s3_event(key: &str) -> Value {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-23T12:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:EXAMPLE"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
               "bucket": {"name": BUCKET, "ownerIdentity": {"principalId": "P"}, "arn": format!("arn:aws:s3:::{BUCKET}")},
               "object": {"key": key, "size": 1, "eTag": "e", "sequencer": "01"}}
    }]})
}

async fn put_objects(s3_endpoint: &str, objects: &[(&str, Vec<u8>)]) {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .http_client(search_sink::https::aws_http_client())
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .endpoint_url(s3_endpoint)
            .force_path_style(true)
            .build(),
    );
    let _ = s3.create_bucket().bucket(BUCKET).send().await;
    for (key, body) in objects {
        s3.put_object()
            .bucket(BUCKET)
            .key(*key)
            .body(body.clone().into())
            .send()
            .await
            .expect("put an object");
    }
}

/// One invocation of the binary with `event` and `env`; everything it printed.
fn invoke(python: &Path, name: &str, event: &Value, env: &[(&str, &str)]) -> String {
    let event_file = temp_path(&format!("{name}.json"));
    std::fs::write(&event_file, event.to_string()).expect("event file");
    let log = temp_path(&format!("{name}.log"));
    let _ = std::fs::remove_file(&log);
    let mut cmd = Command::new(python);
    for var in [
        "AWS_LAMBDA_LOG_LEVEL",
        "RUST_LOG",
        "ES_AUTH",
        "ES_USERNAME",
        "ES_API_KEY",
        "ES_API_KEY_FILE",
        "DEAD_LETTER_BUCKET",
        "BULK_GZIP",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd
        .arg(testkit::repo_root().join("scripts/bench/fake_runtime.py"))
        .args([
            "invoke",
            "--binary",
            env!("CARGO_BIN_EXE_tweet-indexer-lambda"),
        ])
        .arg("--event")
        .arg(&event_file)
        .arg("--log")
        .arg(&log)
        .envs([
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
        ])
        .envs(env.iter().copied())
        .output()
        .expect("run fake_runtime.py");
    let printed = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !printed.is_empty(),
        "{name}: the binary printed nothing\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_file(&event_file);
    let _ = std::fs::remove_file(&log);
    printed
}

/// One invocation of the test: its name, event and settings.
struct Run<'a> {
    name: &'static str,
    event: Value,
    settings: Vec<(&'a str, &'a str)>,
}

/// A search server that has the index and refuses every bulk item for good.
fn refusing_server() -> FakeServer {
    FakeServer::start(|_method, path| {
        let body = if path.contains("_bulk") {
            json!({"took": 1, "errors": true, "items": [{"index": {
                "_index": "twitter", "_id": "1", "status": 400,
                "error": {"type": "mapper_parsing_exception", "reason": "failed to parse field [lang]"}
            }}]})
            .to_string()
        } else {
            "{}".to_owned()
        };
        Some((200, "application/json", body))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_the_saved_queries_name_is_logged() {
    let (Some(osmem), Some(s3), Some(python)) = (
        testkit::peer("OSMEM_URL"),
        testkit::peer("S3_ENDPOINT_URL"),
        testkit::python(),
    ) else {
        return;
    };
    let template = std::fs::read_to_string(testkit::repo_root().join("infra/template.yaml"))
        .expect("infra/template.yaml");
    let queries: Vec<_> = saved_queries(&template)
        .into_iter()
        .filter(|q| q.log_groups.iter().any(|g| g == LOG_GROUP))
        .collect();
    assert!(
        queries.len() >= 6,
        "the indexer's saved queries: {queries:?}"
    );

    let samples =
        std::fs::read(testkit::repo_root().join("tests/samples/captured.ndjson")).expect("samples");
    let mut damaged = samples.clone();
    damaged.extend_from_slice(b"{\"id_str\": \"1\", \"text\": \"cut off\n");
    // The samples open with a tweet.
    let one_tweet = samples
        .split(|&b| b == b'\n')
        .next()
        .expect("a first line")
        .to_vec();
    put_objects(
        &s3,
        &[
            ("logs/damaged.ndjson.gz", gzip(&damaged)),
            ("logs/damaged.ndjson", damaged),
            ("logs/one.ndjson", one_tweet.clone()),
        ],
    )
    .await;
    let refusing = refusing_server();
    let s3_env = [("AWS_ENDPOINT_URL_S3", s3.as_str())];
    let kinesis = common::kinesis_event(&[one_tweet, b"{\"truncated".to_vec()], 0);
    let runs = [
        Run {
            name: "s3",
            event: s3_event("logs/damaged.ndjson"),
            settings: vec![
                ("ES_ENDPOINT", osmem.as_str()),
                ("ES_INDEX", "lambda-insights"),
                ("DEAD_LETTER_BUCKET", BUCKET),
            ],
        },
        Run {
            name: "backfill",
            event: batch_operations_event("logs/damaged.ndjson.gz"),
            settings: vec![
                ("ES_ENDPOINT", osmem.as_str()),
                ("ES_INDEX", "lambda-insights"),
            ],
        },
        Run {
            name: "kinesis",
            event: kinesis,
            settings: vec![
                ("ES_ENDPOINT", osmem.as_str()),
                ("ES_INDEX", "lambda-insights"),
            ],
        },
        Run {
            name: "missing",
            event: s3_event("logs/not-there.ndjson"),
            settings: vec![
                ("ES_ENDPOINT", osmem.as_str()),
                ("ES_INDEX", "lambda-insights"),
            ],
        },
        Run {
            name: "refused-with-store",
            event: s3_event("logs/one.ndjson"),
            settings: vec![
                ("ES_ENDPOINT", refusing.url.as_str()),
                ("BULK_GZIP", "false"),
                ("DEAD_LETTER_BUCKET", BUCKET),
            ],
        },
        Run {
            name: "refused-without-store",
            event: s3_event("logs/one.ndjson"),
            settings: vec![
                ("ES_ENDPOINT", refusing.url.as_str()),
                ("BULK_GZIP", "false"),
            ],
        },
    ];
    let mut logged = Logged::default();
    for Run {
        name,
        event,
        settings,
    } in runs
    {
        let python = python.clone();
        let mut env = settings;
        env.extend(s3_env);
        let env: Vec<(String, String)> = env
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let printed = tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            invoke(&python, name, &event, &env)
        })
        .await
        .expect("join");
        logged.add(&printed);
    }
    // The runs went where the queries look: each kind of line was written.
    for message in [
        "object indexed",
        "batch task succeeded",
        "kinesis batch indexed",
        "invalid record",
        "operation failed permanently",
        "dead letters stored",
    ] {
        assert!(
            logged.messages.contains(message),
            "no {message:?} line: {:?}",
            logged.messages
        );
    }
    for pending in PENDING {
        assert!(
            !logged.fields.contains(*pending),
            "{pending} is logged now: take it off PENDING"
        );
        logged.fields.insert((*pending).to_owned());
    }
    let missing: Vec<String> = queries.iter().flat_map(|q| logged.missing(q)).collect();
    assert!(
        missing.is_empty(),
        "{}\nlogged fields: {:?}",
        missing.join("\n"),
        logged.fields
    );
}

/// docs/deploy.md shows every saved query (the indexer's and the capture's) as the template
/// saves it.
#[test]
fn the_deploy_doc_shows_every_saved_query_as_saved() {
    let root = testkit::repo_root();
    let template = std::fs::read_to_string(root.join("infra/template.yaml")).expect("template");
    let doc = std::fs::read_to_string(root.join("docs/deploy.md")).expect("docs/deploy.md");
    let queries = saved_queries(&template);
    assert!(queries.len() >= 8, "{queries:?}");
    for query in queries {
        assert!(
            doc.contains(&format!("```\n{}\n```", query.query.trim_end())),
            "docs/deploy.md does not show {} as saved:\n{}",
            query.resource,
            query.query
        );
    }
}
