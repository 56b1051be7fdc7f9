//! No credential in anything `tweet-indexer` prints, at TRACE: `index s3://...` with session
//! credentials (S3 GetObject from moto, signed by the AWS SDK) into osmem-server signed with
//! SigV4 (our signer, session token included), with basic auth, and with an API key (inline
//! and from a file); `RUST_LOG=trace` and a span filter that would enable every event inside
//! the SDK's request spans. The SDK's own traces print the access key id, the token and the
//! signature unless `search_sink::logs::shield` filters them (`search-sink/tests/log_redaction.rs`
//! shows it in-process).

use std::process::Output;

use testkit::secrets::{self, API_KEY, AWS_SESSION_ENV, PASSWORD, USERNAME};

mod common;

const BUCKET: &str = "cli-secrets";
const KEY: &str = "captured/objects.ndjson";

async fn upload_samples(s3_endpoint: &str) {
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
    let samples = std::fs::read(common::samples()).expect("samples");
    s3.put_object()
        .bucket(BUCKET)
        .key(KEY)
        .body(samples.into())
        .send()
        .await
        .expect("put the sample object");
}

/// `tweet-indexer index s3://BUCKET/KEY` with session credentials, `RUST_LOG` and the given
/// auth flags and variables.
async fn index(
    osmem: &str,
    s3: &str,
    index: &str,
    rust_log: &str,
    auth: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let mut cmd = common::bin();
    for var in [
        "AWS_ENDPOINT_URL",
        "AWS_PROFILE",
        "ES_API_KEY",
        "ES_USERNAME",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(AWS_SESSION_ENV)
        .envs(env.iter().copied())
        .env("AWS_ENDPOINT_URL_S3", s3)
        .env("RUST_LOG", rust_log)
        .args(["index", "--endpoint", osmem, "--index", index])
        .args(auth)
        .arg(format!("s3://{BUCKET}/{KEY}"));
    tokio::task::spawn_blocking(move || cmd.output().expect("run tweet-indexer"))
        .await
        .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_from_s3_at_trace_prints_no_credential_with_any_auth() {
    let (Some(osmem), Some(s3)) = (testkit::peer("OSMEM_URL"), testkit::peer("S3_ENDPOINT_URL"))
    else {
        return;
    };
    upload_samples(&s3).await;
    let key_file = std::env::temp_dir().join(format!("cli-secrets-{}.key", std::process::id()));
    std::fs::write(&key_file, format!("{API_KEY}\n")).expect("key file");
    let key_file = key_file.to_str().expect("UTF-8 path").to_owned();
    // (name, RUST_LOG, auth flags, auth variables)
    type Case<'a> = (&'a str, &'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        ("sigv4", "trace", vec!["--auth", "sigv4"], vec![]),
        (
            "sigv4-spans",
            "warn,[try_attempt]=trace",
            vec!["--auth", "sigv4"],
            vec![],
        ),
        (
            "basic",
            "trace",
            vec![
                "--auth",
                "basic",
                "--username",
                USERNAME,
                "--password",
                PASSWORD,
            ],
            vec![],
        ),
        ("apikey", "trace", vec!["--api-key", API_KEY], vec![]),
        (
            "apikey-file",
            "trace",
            vec!["--auth", "apikey"],
            vec![("ES_API_KEY_FILE", &key_file)],
        ),
    ];
    for (name, rust_log, auth, env) in cases {
        let index_name = format!("cli-secrets-{name}");
        let out = index(&osmem, &s3, &index_name, rust_log, &auth, &env).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        let indexed = common::count(&osmem, &index_name).await;
        assert!(indexed > 0, "{name}: nothing indexed");
        // The SDK's traces of its requests are there, only not the credentials.
        assert!(stderr.contains("try_attempt"), "{name}: no SDK traces");
        if rust_log == "trace" {
            assert!(stderr.contains("TRACE"), "{name}: not at TRACE");
        }
        let printed = format!("{stderr}{}", String::from_utf8_lossy(&out.stdout));
        secrets::assert_no_leak(&format!("tweet-indexer ({name})"), &printed);
    }
    let _ = std::fs::remove_file(&key_file);
}
