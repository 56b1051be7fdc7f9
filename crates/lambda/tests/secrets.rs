//! No credential in anything `tweet-indexer-lambda` prints, at TRACE: the real binary under a
//! local Lambda runtime API (`scripts/bench/fake_runtime.py`, which passes the environment
//! through) indexes an S3 object from moto (session credentials, signed by the AWS SDK) into
//! osmem-server with SigV4 (our signer, session token included), basic auth and an API key,
//! with `AWS_LAMBDA_LOG_LEVEL=TRACE` (Lambda's advanced logging controls) or `RUST_LOG=trace`.

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;
use testkit::secrets::{self, API_KEY, AWS_SESSION_ENV, PASSWORD, USERNAME};

const BUCKET: &str = "lambda-secrets";
const KEY: &str = "firehose/objects.ndjson";

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("lambda-secrets-{}-{name}", std::process::id()))
}

async fn upload_samples(s3_endpoint: &str) {
    let s3 = common::moto_s3(s3_endpoint);
    let _ = s3.create_bucket().bucket(BUCKET).send().await;
    let samples =
        std::fs::read(testkit::repo_root().join("tests/samples/captured.ndjson")).expect("samples");
    s3.put_object()
        .bucket(BUCKET)
        .key(KEY)
        .body(samples.into())
        .send()
        .await
        .expect("put the sample object");
}

fn s3_event() -> Value {
    common::s3_put_event(BUCKET, KEY)
}

/// One invocation of the binary with `env` on top of the session credentials: the runtime's
/// report (the handler's response among it) and everything the binary printed.
fn invoke(python: &Path, name: &str, env_given: &[(String, String)]) -> (Value, String) {
    // The session credentials first: `env` may override them.
    let mut env: Vec<(String, String)> = AWS_SESSION_ENV
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    env.extend_from_slice(env_given);
    let (out, printed) = common::invoke_binary(
        python,
        env!("CARGO_BIN_EXE_tweet-indexer-lambda"),
        name,
        &s3_event(),
        &env,
    );
    assert!(
        out.status.success(),
        "{name}: {}\n{}\n{printed}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("the runtime's JSON line");
    (report, printed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_at_trace_prints_no_credential_with_any_auth() {
    let (Some(osmem), Some(s3), Some(python)) = (
        testkit::peer("OSMEM_URL"),
        testkit::peer("S3_ENDPOINT_URL"),
        testkit::python(),
    ) else {
        return;
    };
    upload_samples(&s3).await;
    let key_file = temp_path("api.key");
    std::fs::write(&key_file, API_KEY).expect("key file");
    let key_file = key_file.to_str().expect("UTF-8 path").to_owned();
    let trace = ("AWS_LAMBDA_LOG_LEVEL", "TRACE");
    // (name, settings)
    let cases: [(&str, Vec<(&str, &str)>); 5] = [
        ("sigv4", vec![trace, ("ES_AUTH", "sigv4")]),
        (
            "sigv4-rust-log",
            vec![("RUST_LOG", "trace"), ("ES_AUTH", "sigv4")],
        ),
        (
            "basic",
            vec![trace, ("ES_USERNAME", USERNAME), ("ES_PASSWORD", PASSWORD)],
        ),
        ("apikey", vec![trace, ("ES_API_KEY", API_KEY)]),
        ("apikey-file", vec![trace, ("ES_API_KEY_FILE", &key_file)]),
    ];
    for (name, settings) in cases {
        let index = format!("lambda-secrets-{name}");
        let mut env = vec![
            ("ES_ENDPOINT", osmem.as_str()),
            ("ES_INDEX", index.as_str()),
            ("AWS_ENDPOINT_URL_S3", s3.as_str()),
        ];
        env.extend(settings);
        let env: Vec<(String, String)> = env
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let python = python.clone();
        let (report, printed) = tokio::task::spawn_blocking(move || invoke(&python, name, &env))
            .await
            .expect("join");
        let object = &report["response"]["objects"][0];
        assert_eq!(object["status"], "indexed", "{name}: {report}\n{printed}");
        assert!(object["documents"].as_u64() > Some(0), "{name}: {report}");
        // The SDK's traces of its requests are there, only not the credentials.
        assert!(printed.contains("try_attempt"), "{name}: no SDK traces");
        assert!(printed.contains("\"TRACE\""), "{name}: not at TRACE");
        secrets::assert_no_leak(&format!("tweet-indexer-lambda ({name})"), &printed);
    }
    let _ = std::fs::remove_file(&key_file);
}
