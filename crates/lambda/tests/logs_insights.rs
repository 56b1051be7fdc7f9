//! Every field and message the indexer's saved Logs Insights queries (`infra/template.yaml`,
//! `AWS::Logs::QueryDefinition` on `IndexerLogGroup`) name is one `tweet-indexer-lambda` really
//! logs: the real binary runs under a local Lambda runtime API (`scripts/bench/fake_runtime.py`)
//! through what the queries look for, and its JSON lines are read back, not its source:
//! - an S3 object of the sample captures plus a damaged record, into osmem-server with a
//!   dead-letter bucket in moto (documents, deletes, an invalid record and its dead letter);
//! - the same damaged, gzip-compressed, as an S3 Batch Operations task (a backfill);
//! - a Kinesis batch of a tweet, a compliance event (what the compliance lag query reads) and a
//!   damaged record;
//! - an object that does not exist;
//! - one tweet that the search server refuses for good (a loopback fake answers its bulk item
//!   with `mapper_parsing_exception`), with a dead-letter bucket and without one (the object
//!   fails).

mod common;

use std::path::Path;

use serde_json::{Value, json};
use testkit::fake_search::FakeServer;
use testkit::logs_insights::{Logged, queries_reading, saved_queries};

const BUCKET: &str = "lambda-logs-insights";
const LOG_GROUP: &str = "IndexerLogGroup";

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
    common::s3_put_event(BUCKET, key)
}

async fn put_objects(s3_endpoint: &str, objects: &[(&str, Vec<u8>)]) {
    let s3 = common::moto_s3(s3_endpoint);
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

/// One invocation of the binary with `event` and `env` (on top of dummy credentials):
/// everything it printed.
fn invoke(python: &Path, name: &str, event: &Value, env: &[(&str, &str)]) -> String {
    let all: Vec<(String, String)> = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ]
    .iter()
    .chain(env)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let (out, printed) = common::invoke_binary(
        python,
        env!("CARGO_BIN_EXE_tweet-indexer-lambda"),
        name,
        event,
        &all,
    );
    assert!(
        !printed.is_empty(),
        "{name}: the binary printed nothing\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
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
    let queries = queries_reading(LOG_GROUP);
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
    let protect = testkit::compliance::v2_user("user_protect", 7, testkit::compliance::now_ms());
    let kinesis = common::kinesis_event(
        &[one_tweet, protect.into_bytes(), b"{\"truncated".to_vec()],
        0,
    );
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
    logged.assert_covers(&queries);
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
