//! What the Lambda's test binaries share: Kinesis events as Lambda delivers them, the
//! repository's sample tweets, one invocation of the real binary under a local Lambda runtime
//! API, and a proxy in front of osmem-server that fails requests on demand.
#![allow(dead_code)] // each test binary uses some of it

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The sequence number of the record at `position` of a shard.
pub fn sequence_number(position: usize) -> String {
    format!("4960{position:052}")
}

/// A Kinesis event whose records carry `payloads` (each base64-encoded) in order, the first at
/// `first_position` of shard 0 of stream `tweets`.
pub fn kinesis_event(payloads: &[Vec<u8>], first_position: usize) -> Value {
    let records: Vec<Value> = payloads
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let sequence = sequence_number(first_position + i);
            json!({
                "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "p",
                            "sequenceNumber": sequence, "data": STANDARD.encode(data),
                            "approximateArrivalTimestamp": 1_764_417_600.5},
                "eventSource": "aws:kinesis", "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{sequence}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/indexer",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/tweets"
            })
        })
        .collect();
    json!({ "Records": records })
}

/// Which requests a [`FaultyProxy`] fails, and how.
#[derive(Debug, Clone, Copy)]
pub struct Fault {
    /// Requests whose request line contains this (e.g. `/_bulk`).
    pub path: &'static str,
    /// The status they are answered with.
    pub status: u16,
}

impl Fault {
    /// Every bulk request answered 500 (retried by the sink until the deadline).
    pub const BULK_500: Fault = Fault {
        path: "/_bulk",
        status: 500,
    };
}

/// An HTTP/1.1 proxy to `upstream` that lets `budget` of the requests `fault` names through and
/// then answers each of them as `fault` says while `failing` is set.
pub struct FaultyProxy {
    pub url: String,
    pub failing: Arc<AtomicBool>,
}

pub async fn faulty_proxy(upstream: &str, budget: usize, fault: Fault) -> FaultyProxy {
    let upstream = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let failing = Arc::new(AtomicBool::new(true));
    let passed = Arc::new(AtomicUsize::new(0));
    let flag = failing.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let failing = flag.clone();
            let passed = passed.clone();
            tokio::spawn(async move {
                let _ = relay(client, &upstream, budget, fault, &failing, &passed).await;
            });
        }
    });
    FaultyProxy { url, failing }
}

async fn relay(
    client: TcpStream,
    upstream: &str,
    budget: usize,
    fault: Fault,
    failing: &AtomicBool,
    passed: &AtomicUsize,
) -> std::io::Result<()> {
    let mut client = BufReader::new(client);
    loop {
        let mut head = Vec::new();
        let mut content_length = 0usize;
        loop {
            let mut line = String::new();
            if client.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                content_length = value.trim().parse().unwrap_or(0);
            }
            if !lower.starts_with("connection:") {
                head.extend_from_slice(line.as_bytes());
            }
        }
        let mut body = vec![0; content_length];
        client.read_exact(&mut body).await?;
        let named = String::from_utf8_lossy(&head)
            .lines()
            .next()
            .is_some_and(|l| l.contains(fault.path));
        if named
            && failing.load(Ordering::SeqCst)
            && passed.fetch_add(1, Ordering::SeqCst) >= budget
        {
            let reply = br#"{"error":"injected failure"}"#;
            let response = format!(
                "HTTP/1.1 {} Injected\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                fault.status,
                reply.len()
            );
            client.get_mut().write_all(response.as_bytes()).await?;
            client.get_mut().write_all(reply).await?;
            continue;
        }
        head.extend_from_slice(b"connection: close\r\n\r\n");
        let mut server = TcpStream::connect(upstream).await?;
        server.write_all(&head).await?;
        server.write_all(&body).await?;
        let mut response = Vec::new();
        server.read_to_end(&mut response).await?;
        client.get_mut().write_all(&response).await?;
        // The upstream closed; so do we (the response says `connection: close`).
        return Ok(());
    }
}

/// The repository's captured sample tweets (`tests/samples/captured.ndjson`), one record each.
pub fn samples() -> Vec<Vec<u8>> {
    let text =
        std::fs::read(testkit::repo_root().join("tests/samples/captured.ndjson")).expect("samples");
    text.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
        .collect()
}

/// One invocation of `tweet-indexer-lambda` (`binary`) with `event`, under
/// `scripts/bench/fake_runtime.py` run by `python`, with the test's environment less the variables a test sets itself
/// when it needs them (log level, auth, dead letters, endpoints, gzip),
/// plus `env`: the runner's output (its JSON report on stdout) and everything the binary
/// printed. `name` tells this invocation's temporary files apart.
pub fn invoke_binary(
    python: &std::path::Path,
    binary: &str,
    name: &str,
    event: &Value,
    env: &[(String, String)],
) -> (std::process::Output, String) {
    let temp = |what: &str| {
        std::env::temp_dir().join(format!(
            "lambda-invoke-{}-{name}.{what}",
            std::process::id()
        ))
    };
    let (event_file, log) = (temp("json"), temp("log"));
    std::fs::write(&event_file, event.to_string()).expect("event file");
    let _ = std::fs::remove_file(&log);
    const UNSET: [&str; 10] = [
        "AWS_LAMBDA_LOG_LEVEL",
        "RUST_LOG",
        "ES_AUTH",
        "ES_USERNAME",
        "ES_API_KEY",
        "ES_API_KEY_FILE",
        "DEAD_LETTER_BUCKET",
        "AWS_ENDPOINT_URL",
        "AWS_PROFILE",
        "BULK_GZIP",
    ];
    let mut cmd = std::process::Command::new(python);
    for var in UNSET {
        cmd.env_remove(var);
    }
    let out = cmd
        .arg(testkit::repo_root().join("scripts/bench/fake_runtime.py"))
        .args(["invoke", "--binary", binary, "--event"])
        .arg(&event_file)
        .arg("--log")
        .arg(&log)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run fake_runtime.py");
    let printed = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&event_file);
    let _ = std::fs::remove_file(&log);
    (out, printed)
}

/// An S3 client of moto at `endpoint` (path-style, dummy credentials).
pub fn moto_s3(endpoint: &str) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .http_client(search_sink::https::aws_http_client())
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .endpoint_url(endpoint)
            .force_path_style(true)
            .build(),
    )
}

/// An S3 `ObjectCreated:Put` event naming one object.
pub fn s3_put_event(bucket: &str, key: &str) -> Value {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-23T12:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:EXAMPLE"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "P"}, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": key, "size": 1, "eTag": "e", "sequencer": "01"}}
    }]})
}
