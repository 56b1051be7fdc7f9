//! The README's exit-code table, case by case, through the binary: each failure of issue 23
//! ends with the code the table gives it, fast and in one line where a server cannot help.
//! (The classification itself is table-tested in `src/exit.rs`.)

use std::path::Path;
use std::process::Command;

mod common;
use common::{FakeServer, Ran, bin, run_bounded, samples};

/// A loopback port nothing listens on (bound, then let go).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// `bin()` with S3 at `endpoint` and test credentials, and no other AWS setting of the host.
fn with_s3(endpoint: &str) -> Command {
    let mut cmd = bin();
    for var in ["AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_REGION"] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_ENDPOINT_URL_S3", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// The bulk lines of a dry run of `inputs` alone.
fn dry_run_of(inputs: &[&Path]) -> Vec<u8> {
    let ran = run_bounded(bin().args(["index", "--dry-run"]).args(inputs));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    ran.stdout
}

/// `index` of the samples into the server at `url`.
fn index_samples(url: &str) -> Ran {
    run_bounded(
        bin()
            .args(["index", "--auth", "none", "--endpoint", url])
            .arg(samples()),
    )
}

fn error_lines(ran: &Ran) -> Vec<&str> {
    ran.stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect()
}

#[test]
fn s3_out_of_reach_is_transient_alone_and_beside_a_good_file() {
    let s3 = format!("http://127.0.0.1:{}", closed_port());
    let alone = run_bounded(with_s3(&s3).args(["index", "--dry-run", "s3://bucket/prefix/"]));
    assert_eq!(alone.code, Some(3), "{}", alone.stderr);
    assert!(
        alone.stderr.contains("Connection refused"),
        "{}",
        alone.stderr
    );
    assert!(
        !alone
            .stderr
            .contains("s3://bucket/prefix/: cannot list it: s3://"),
        "the prefix is named once: {}",
        alone.stderr
    );
    let beside = run_bounded(
        with_s3(&s3)
            .args(["index", "--dry-run", "s3://bucket/prefix/"])
            .arg(samples()),
    );
    assert_eq!(beside.code, Some(3), "{}", beside.stderr);
    assert_eq!(beside.stdout, dry_run_of(&[&samples()]), "the file is done");
}

#[test]
fn a_missing_file_alone_is_a_usage_error_and_beside_a_good_file_a_partial_run() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.ndjson");
    let alone = run_bounded(bin().args(["index", "--dry-run"]).arg(&missing));
    assert_eq!(alone.code, Some(2), "{}", alone.stderr);
    let beside = run_bounded(
        bin()
            .args(["index", "--dry-run"])
            .arg(&missing)
            .arg(samples()),
    );
    assert_eq!(beside.code, Some(1), "{}", beside.stderr);
    assert_eq!(beside.stdout, dry_run_of(&[&samples()]));
}

#[test]
fn an_empty_s3_prefix_alone_is_a_usage_error_and_beside_a_good_file_a_partial_run() {
    let Some(s3) = testkit::peer("S3_ENDPOINT_URL") else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
        let client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .http_client(search_sink::https::aws_http_client())
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("testing", "testing", None, None, "t"))
                .endpoint_url(&s3)
                .force_path_style(true)
                .build(),
        );
        // Another run may have made it already.
        let _ = client.create_bucket().bucket("cli-exit-codes").send().await;
    });
    let prefix = "s3://cli-exit-codes/nothing-here/";
    let alone = run_bounded(with_s3(&s3).args(["index", "--dry-run", prefix]));
    assert_eq!(alone.code, Some(2), "{}", alone.stderr);
    assert!(
        alone.stderr.contains("no objects under this prefix"),
        "{}",
        alone.stderr
    );
    let beside = run_bounded(
        with_s3(&s3)
            .args(["index", "--dry-run", prefix])
            .arg(samples()),
    );
    assert_eq!(beside.code, Some(1), "{}", beside.stderr);
    let missing_bucket = run_bounded(with_s3(&s3).args([
        "index",
        "--dry-run",
        "s3://cli-exit-codes-no-such-bucket/x",
    ]));
    assert_eq!(missing_bucket.code, Some(2), "{}", missing_bucket.stderr);
}

/// Connection refused is tried three times in quick succession and reported in one line (it
/// was retried for 60 s with a warning each time).
#[test]
fn a_server_that_refuses_connections_fails_fast_in_one_line() {
    let ran = index_samples(&format!("http://127.0.0.1:{}", closed_port()));
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    let lines = error_lines(&ran);
    assert_eq!(lines.len(), 1, "{}", ran.stderr);
    assert!(
        lines[0].contains("connection refused (3 attempts)"),
        "{}",
        lines[0]
    );
    assert!(!ran.stderr.contains("WARN"), "{}", ran.stderr);
}

/// A 75-line HTML page, as a web server that is no search API answers.
fn html_page(status: u16) -> String {
    let mut page = String::from(
        "<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<title>Error response</title>\n</head>\n<body>\n",
    );
    for i in 0..68 {
        page.push_str(&format!("<p>Error code: {status}, line {i}</p>\n"));
    }
    page.push_str("</body>\n</html>\n");
    page
}

/// 501 and 405 are final: one request, one line, an excerpt of the page and not the page.
#[test]
fn a_server_that_is_no_search_api_fails_at_once_in_one_line() {
    for status in [501, 405] {
        let server = FakeServer::start(move |_, _| Some((status, "text/html", html_page(status))));
        let ran = index_samples(&server.url);
        assert_eq!(ran.code, Some(4), "{status}: {}", ran.stderr);
        // A 405 on the template is only a warning (some policies forbid templates); the
        // index request that follows fails.
        let lines = error_lines(&ran);
        assert!(lines.len() <= 2, "{status}: {}", ran.stderr);
        let error = lines.last().copied().unwrap_or_default();
        assert!(
            error.starts_with("error: preparing the index: ")
                && error.contains(&format!("HTTP {status} "))
                && error.contains("is the endpoint an OpenSearch / Elasticsearch URL?"),
            "{error}"
        );
        // The 501 comes back on the first request, with its page: the page's title only.
        if status == 501 {
            assert!(error.contains(": HTML page \"Error response\""), "{error}");
        }
        assert!(!ran.stderr.contains("<p>"), "{}", ran.stderr);
        let requests = server.seen();
        assert!(requests.len() <= 3, "no retries: {requests:?}");
        let mut distinct = requests.clone();
        distinct.dedup();
        assert_eq!(distinct, requests, "a request sent twice: {requests:?}");
    }
}

#[test]
fn a_404_during_setup_is_a_refusal_with_no_unconfirmed_count() {
    let server = FakeServer::start(|_, _| {
        Some((
            404,
            "application/json",
            r#"{"error":"no handler found for uri"}"#.into(),
        ))
    });
    let ran = index_samples(&server.url);
    assert_eq!(ran.code, Some(4), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("HTTP 404 Not Found: no handler found for uri"),
        "{}",
        ran.stderr
    );
    assert!(
        !ran.stderr.contains("operations were not confirmed"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_mapping_conflict_is_a_refusal() {
    let server = FakeServer::start(|method, path| {
        let body = if method == "GET" && path.ends_with("/_mapping") {
            r#"{"twitter":{"mappings":{"properties":{"user":{"type":"keyword"}}}}}"#
        } else {
            "{}"
        };
        Some((200, "application/json", body.into()))
    });
    let ran = index_samples(&server.url);
    assert_eq!(ran.code, Some(4), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("field \"user\" is mapped as \"keyword\""),
        "{}",
        ran.stderr
    );
    assert!(!server.seen().iter().any(|r| r.contains("_bulk")));
}

/// A certificate that is a CA's, served as the server's own: refused even when trusted, and
/// the hint says so instead of suggesting `SSL_CERT_FILE`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_certificate_served_as_the_servers_own_is_a_refusal_that_says_so() {
    let ca = testkit::tls::TestCa::serving_itself().expect("test CA");
    let proxy = ca
        .proxy(&format!("http://127.0.0.1:{}", closed_port()))
        .await
        .expect("TLS proxy");
    let mut cmd = bin();
    cmd.env("SSL_CERT_FILE", ca.ca_file())
        .env_remove("SSL_CERT_DIR")
        .args(["index", "--auth", "none", "--endpoint", proxy.url()])
        .arg(samples());
    let ran = tokio::task::spawn_blocking(move || run_bounded(&mut cmd))
        .await
        .unwrap();
    assert_eq!(ran.code, Some(4), "{}", ran.stderr);
    let lines = error_lines(&ran);
    assert_eq!(lines.len(), 1, "{}", ran.stderr);
    assert!(lines[0].contains("(CaUsedAsEndEntity)"), "{}", lines[0]);
    assert!(
        lines[0].contains("a CA certificate (CA:TRUE) that the server presents as its own"),
        "{}",
        lines[0]
    );
    assert!(!lines[0].contains("set SSL_CERT_FILE"), "{}", lines[0]);
}

#[test]
fn timeout_secs_0_or_too_large_is_a_usage_error() {
    for value in ["0", "18446744073709551615"] {
        let ran = run_bounded(
            bin()
                .args(["index", "--dry-run", "--timeout-secs", value])
                .arg(samples()),
        );
        assert_eq!(ran.code, Some(2), "{value}: {}", ran.stderr);
        assert!(
            ran.stderr
                .contains(&format!("invalid value '{value}' for '--timeout-secs")),
            "{}",
            ran.stderr
        );
        assert!(ran.stderr.contains("is not in 1..="), "{}", ran.stderr);
        assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);
    }
}
