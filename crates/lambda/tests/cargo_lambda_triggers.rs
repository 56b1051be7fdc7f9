//! The shipped sample events through the real binary: `cargo lambda watch` runs the runtime
//! API, our built `tweet-indexer-lambda` polls it, and `cargo lambda invoke --data-file` sends
//! `events/kinesis.json` (plain records and KPL aggregates of the sample captures) and an S3
//! Batch Operations job over three objects, one of them missing. Peers: osmem-server and moto.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use serde_json::{Value, json};

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cargo_lambda_dir() -> Option<PathBuf> {
    let python = testkit::python()?;
    let bin = python.parent()?.to_path_buf();
    if bin.join("cargo-lambda").exists() {
        Some(bin)
    } else if std::env::var("REQUIRE_PEERS").is_ok_and(|v| v == "1") {
        panic!("cargo-lambda is not installed next to {}", python.display());
    } else {
        eprintln!("skipped: cargo-lambda not installed");
        None
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn wait_for_port(port: u16) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "cargo lambda watch did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn invoke(path: &str, port: u16, event_file: &Path) -> Value {
    let output = Command::new("cargo")
        .args(["lambda", "invoke", "--invoke-address", "127.0.0.1"])
        .args(["--invoke-port", &port.to_string()])
        .args(["--output-format", "json", "--data-file"])
        .arg(event_file)
        .env("PATH", path)
        .output()
        .expect("cargo lambda invoke");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON result")
}

#[tokio::test(flavor = "multi_thread")]
async fn cargo_lambda_invoke_answers_kinesis_and_batch_operations_events() {
    let (Some(osmem), Some(s3_url), Some(bin_dir)) = (
        testkit::peer("OSMEM_URL"),
        testkit::peer("S3_ENDPOINT_URL"),
        cargo_lambda_dir(),
    ) else {
        return;
    };
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .http_client(search_sink::https::aws_http_client())
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&s3_url)
            .force_path_style(true)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .build(),
    );
    let bucket = "cargo-lambda-triggers";
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("bucket");
    let samples =
        std::fs::read(testkit::repo_root().join("tests/samples/captured.ndjson")).expect("samples");
    for key in ["backfill/one.ndjson", "backfill/two.ndjson"] {
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(samples.clone().into())
            .send()
            .await
            .expect("put");
    }

    let port = free_port();
    let _watch = KillOnDrop(
        Command::new("cargo")
            .args(["lambda", "watch", "--only-lambda-apis"])
            .args(["--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string()])
            .env("PATH", &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cargo lambda watch"),
    );
    wait_for_port(port);
    let _function = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_tweet-indexer-lambda"))
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("ES_ENDPOINT", &osmem)
            .env("ES_INDEX", "cargo-lambda-triggers")
            .env("ES_AUTH", "none")
            .env("AWS_ENDPOINT_URL_S3", &s3_url)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env_remove("DEAD_LETTER_BUCKET")
            .env_remove("FOLLOW_USER_IDS")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the Lambda binary"),
    );

    // The shipped Kinesis sample: every record confirmed.
    let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let kinesis = invoke(&path, port, &events.join("kinesis.json"));
    assert_eq!(kinesis, json!({"batchItemFailures": []}));

    // A Batch Operations job over three objects, the second missing.
    let arn = format!("arn:aws:s3:::{bucket}");
    let job = json!({
        "invocationSchemaVersion": "1.0", "invocationId": "inv", "job": {"id": "job"},
        "tasks": [
            {"taskId": "a", "s3Key": "backfill/one.ndjson", "s3VersionId": null, "s3BucketArn": arn},
            {"taskId": "b", "s3Key": "backfill/missing.ndjson", "s3VersionId": null, "s3BucketArn": arn},
            {"taskId": "c", "s3Key": "backfill/two.ndjson", "s3VersionId": null, "s3BucketArn": arn},
        ]
    });
    let job_file =
        std::env::temp_dir().join(format!("cargo-lambda-batch-{}.json", std::process::id()));
    std::fs::write(&job_file, job.to_string()).expect("event file");
    let answer = invoke(&path, port, &job_file);
    let _ = std::fs::remove_file(&job_file);
    assert_eq!(answer["invocationSchemaVersion"], "1.0");
    assert_eq!(answer["treatMissingKeysAs"], "PermanentFailure");
    assert_eq!(answer["invocationId"], "inv");
    let codes: Vec<&str> = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["resultCode"].as_str().expect("resultCode"))
        .collect();
    assert_eq!(
        codes,
        ["Succeeded", "PermanentFailure", "Succeeded"],
        "{answer}"
    );
    let summary: Value = serde_json::from_str(
        answer["results"][0]["resultString"]
            .as_str()
            .expect("resultString"),
    )
    .expect("a JSON summary");
    assert!(
        summary["indexed"].as_u64().expect("indexed") > 50,
        "{summary}"
    );
}
