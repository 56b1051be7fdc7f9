//! SigV4 of a real `_bulk` request (gzipped body, query string, session token) checked by an
//! independent implementation: botocore's SigV4Auth, run from the test venv (TEST_PYTHON).

mod common;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use base64::Engine as _;
use common::{FaultPeer, Reply, doc, fast_config, origin};
use search_sink::{Auth, BulkSink, SearchClient, SigV4, SigV4Service};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

async fn check(service: SigV4Service) {
    let Some(python) = testkit::python() else {
        return;
    };
    let peer = FaultPeer::start(|c| Reply::Items(vec![201; c.ops().len()])).await;
    let mut config = fast_config(&peer.url);
    let credentials = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("FwoGZXIvYXdzE//session+token=".into()),
        None,
        "test",
    );
    config.auth = Auth::SigV4(SigV4 {
        service,
        region: Some("eu-west-1".into()),
        credentials: Some(SharedCredentialsProvider::new(credentials)),
    });
    let client = Arc::new(SearchClient::connect(config).await.unwrap());
    let mut sink = BulkSink::new(client, Instant::now() + Duration::from_secs(10), None);
    for i in 0..3 {
        sink.push(doc(&format!("s{i}"), i), origin(i as u64))
            .await
            .unwrap();
    }
    let report = sink.finish().await.unwrap();
    assert_eq!(report.created, 3);
    let requests = peer.requests();
    assert_eq!(requests.len(), 1);
    let captured = &requests[0];
    assert_eq!(
        captured.header("content-encoding"),
        Some("gzip"),
        "the signed body must be the gzipped one"
    );
    assert!(
        captured.target.contains('?'),
        "no query string in {}",
        captured.target
    );
    let capture = serde_json::json!({
        "method": captured.method,
        "url": format!("{}{}", peer.url, captured.target),
        "headers": captured.headers,
        "body_b64": base64::engine::general_purpose::STANDARD.encode(&captured.raw_body),
        "service": service.name(),
        "region": "eu-west-1",
        "access_key": "AKIDEXAMPLE",
        "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "session_token": "FwoGZXIvYXdzE//session+token=",
    });
    let (ok, stdout) = run_check(&python, &capture, service);
    assert!(ok, "botocore disagrees:\n{stdout}");
    assert!(stdout.starts_with("ok "), "{stdout}");

    // The check can fail: a changed query string is caught.
    let mut tampered = capture.clone();
    tampered["url"] = format!("{}{}&refresh=true", peer.url, captured.target).into();
    let (ok, stdout) = run_check(&python, &tampered, service);
    assert!(
        !ok && stdout.contains("signature differs"),
        "tampered request passed: {stdout}"
    );
}

fn run_check(
    python: &std::path::Path,
    capture: &serde_json::Value,
    service: SigV4Service,
) -> (bool, String) {
    let path = std::env::temp_dir().join(format!(
        "search-sink-sigv4-{}-{}.json",
        std::process::id(),
        service.name()
    ));
    std::fs::write(&path, capture.to_string()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sigv4_check.py");
    let output = std::process::Command::new(python)
        .arg(script)
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn botocore_agrees_with_the_es_signature() {
    check(SigV4Service::Es).await;
}

#[tokio::test]
async fn botocore_agrees_with_the_aoss_signature() {
    check(SigV4Service::Aoss).await;
}
