//! `tweet-indexer index s3://...` over real TLS on loopback: osmem-server and moto behind
//! testkit's TLS terminator, whose certificate a test CA issued. Trusted through
//! `SSL_CERT_FILE`, the documents land; without it, the run fails at once naming the
//! certificate (no retry loop until the deadline).

use std::process::Output;
use std::time::{Duration, Instant};

use testkit::tls::TestCa;

mod common;

const BUCKET: &str = "cli-tls";
const KEY: &str = "captured/2026/objects.ndjson";

struct Peers {
    osmem: String,
    s3: String,
}

fn peers() -> Option<Peers> {
    Some(Peers {
        osmem: testkit::peer("OSMEM_URL")?,
        s3: testkit::peer("S3_ENDPOINT_URL")?,
    })
}

fn samples() -> Vec<u8> {
    std::fs::read(common::samples()).expect("samples")
}

/// A plain-HTTP S3 client for moto (the set-up does not go through the proxy).
fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
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

async fn upload_samples(s3_endpoint: &str) {
    let s3 = s3_client(s3_endpoint);
    // Another test run may have made it already.
    let _ = s3.create_bucket().bucket(BUCKET).send().await;
    s3.put_object()
        .bucket(BUCKET)
        .key(KEY)
        .body(samples().into())
        .send()
        .await
        .expect("put the sample object");
}

/// Runs `tweet-indexer index` on the sample object with the given endpoints (blocking, off the
/// runtime that serves the proxies).
async fn index(es: &str, s3: &str, index: &str, ssl_cert_file: Option<&std::path::Path>) -> Output {
    let mut cmd = common::bin();
    for var in [
        "AWS_ENDPOINT_URL",
        "AWS_PROFILE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_ENDPOINT_URL_S3", s3)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args([
            "index",
            "--endpoint",
            es,
            "--index",
            index,
            "--auth",
            "none",
            "--timeout-secs",
            "60",
        ])
        .arg(format!("s3://{BUCKET}/{KEY}"));
    if let Some(file) = ssl_cert_file {
        cmd.env("SSL_CERT_FILE", file);
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("run tweet-indexer"))
        .await
        .expect("join")
}

/// The proxy's count of failed handshakes, once the first one is in (the proxy may see the
/// client's alert a moment after the client gave up).
async fn handshakes_failed(proxy: &testkit::tls::TlsProxy) -> usize {
    for _ in 0..100 {
        if proxy.failed_handshakes() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.failed_handshakes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_from_s3_into_osmem_over_tls_with_a_private_ca() {
    let Some(peers) = peers() else {
        return;
    };
    upload_samples(&peers.s3).await;
    let ca = TestCa::new().expect("test CA");
    let es = ca.proxy(&peers.osmem).await.expect("osmem TLS proxy");
    let s3 = ca.proxy(&peers.s3).await.expect("moto TLS proxy");

    let out = index(es.url(), s3.url(), "cli-tls", Some(ca.ca_file())).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(es.failed_handshakes() + s3.failed_handshakes(), 0);
    let indexed = common::count(&peers.osmem, "cli-tls").await;
    assert!(indexed > 0, "nothing indexed: {stderr}");
    assert!(stderr.contains(&format!("indexed {indexed},")), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_search_server_certificate_fails_at_once_and_says_so() {
    let Some(peers) = peers() else {
        return;
    };
    upload_samples(&peers.s3).await;
    let ca = TestCa::new().expect("test CA");
    let es = ca.proxy(&peers.osmem).await.expect("osmem TLS proxy");

    // S3 over plain HTTP: only the search client meets the untrusted certificate.
    let started = Instant::now();
    let out = index(es.url(), &peers.s3, "cli-tls-untrusted", None).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A refusal no rerun fixes: 4, not 3.
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");
    assert!(stderr.contains("(UnknownIssuer)"), "{stderr}");
    assert!(stderr.contains("set SSL_CERT_FILE"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "retried until the deadline: {stderr}"
    );
    assert_eq!(handshakes_failed(&es).await, 1, "one attempt, no retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_s3_certificate_fails_naming_the_certificate() {
    let Some(peers) = peers() else {
        return;
    };
    upload_samples(&peers.s3).await;
    let ca = TestCa::new().expect("test CA");
    let s3 = ca.proxy(&peers.s3).await.expect("moto TLS proxy");

    let started = Instant::now();
    let out = index(&peers.osmem, s3.url(), "cli-tls-untrusted-s3", None).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "retried until the deadline: {stderr}"
    );
    assert!(handshakes_failed(&s3).await >= 1);
}
