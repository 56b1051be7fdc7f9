//! `tweet-capture` against the X fake over real TLS on loopback (testkit's TLS terminator, a
//! test CA): the X client uses the platform's roots, so `SSL_CERT_FILE` = the CA makes it
//! work, and without it the command fails before anything reaches the server.

use std::process::{Command, Output};

use testkit::tls::TestCa;
use testkit::xfake::XFake;

const TOKEN: &str = "tls-test-token-not-in-output";

async fn capture(api_url: &str, ssl_cert_file: Option<&std::path::Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tweet-capture"));
    cmd.args(args)
        .env("X_API_URL", api_url)
        .env("X_BEARER_TOKEN", TOKEN)
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    if let Some(file) = ssl_cert_file {
        cmd.env("SSL_CERT_FILE", file);
    }
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_over_tls_trust_the_ca_in_ssl_cert_file_and_only_it() {
    let fake = XFake::start(TOKEN, vec![]).await.unwrap();
    let ca = TestCa::new().unwrap();
    let proxy = ca.proxy(&fake.url()).await.unwrap();

    let out = capture(
        proxy.url(),
        Some(ca.ca_file()),
        &["rules", "add", "cats", "--tag", "c"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fake.rules().len(), 1);

    let out = capture(proxy.url(), None, &["rules", "add", "dogs"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    // The cause comes first, with a hint that fits it, and no rerun fixes it (exit 4, as
    // for `tweet-indexer`); the fake seeing no second rule shows the request never got
    // through.
    let error = stderr
        .lines()
        .find(|l| l.contains("tweet-capture failed"))
        .unwrap_or_default();
    let error: serde_json::Value = serde_json::from_str(error).unwrap();
    let message = error["fields"]["error"].as_str().unwrap();
    let first: String = message.chars().take(200).collect();
    assert!(
        first.contains("invalid peer certificate: UnknownIssuer"),
        "{message}"
    );
    assert!(message.contains("SSL_CERT_FILE"), "{message}");
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert_eq!(fake.rules().len(), 1, "nothing reached the server");
}
