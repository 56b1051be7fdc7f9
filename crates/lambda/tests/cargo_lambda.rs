//! The real local path users take: `cargo lambda watch` (cargo-lambda's Lambda emulator) runs
//! the runtime API, our built `tweet-indexer-lambda` binary polls it, and `cargo lambda invoke`
//! sends an S3 put event; the object comes from moto S3 and lands in osmem-server.
//!
//! `--only-lambda-apis` keeps cargo-lambda from rebuilding the binary inside this test (cargo
//! already built it for us); everything else is what `scripts/demo` does.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use serde_json::Value;

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

#[tokio::test(flavor = "multi_thread")]
async fn cargo_lambda_invoke_indexes_an_s3_object() {
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

    // The object: the repo's sample captures, gzipped, under a key with a space.
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
    let bucket = "cargo-lambda-e2e";
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("bucket");
    let samples =
        std::fs::read(testkit::repo_root().join("tests/samples/captured.ndjson")).expect("samples");
    s3.put_object()
        .bucket(bucket)
        .key("firehose/cargo lambda.ndjson")
        .body(samples.into())
        .send()
        .await
        .expect("put");

    let port = free_port();
    let _watch = KillOnDrop(
        Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "--invoke-address",
                "127.0.0.1",
            ])
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
            .env("ES_INDEX", "cargo-lambda-e2e")
            .env("ES_AUTH", "none")
            .env("AWS_ENDPOINT_URL_S3", &s3_url)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env_remove("DEAD_LETTER_BUCKET")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the Lambda binary"),
    );

    let event = serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-23T12:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:EXAMPLE"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "P"}, "arn": "arn:aws:s3:::cargo-lambda-e2e"},
               "object": {"key": "firehose/cargo+lambda.ndjson", "size": 1, "eTag": "e", "sequencer": "01"}}
    }]});
    let event_file =
        std::env::temp_dir().join(format!("cargo-lambda-event-{}.json", std::process::id()));
    std::fs::write(&event_file, event.to_string()).expect("event file");
    let output = Command::new("cargo")
        .args([
            "lambda",
            "invoke",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
        ])
        .args(["--output-format", "json", "--data-file"])
        .arg(&event_file)
        .env("PATH", &path)
        .output()
        .expect("cargo lambda invoke");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).expect("JSON result");
    let object = &result["objects"][0];
    assert_eq!(object["status"], "indexed", "{result}");
    assert_eq!(
        object["object"],
        "s3://cargo-lambda-e2e/firehose/cargo lambda.ndjson"
    );
    let documents = object["documents"].as_u64().expect("documents");
    assert!(documents > 50, "{result}");
    assert_eq!(object["indexed"].as_u64(), Some(documents));
}
