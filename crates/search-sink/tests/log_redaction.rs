//! Whatever the log level, no credential reaches the logs: with a subscriber at TRACE for
//! every target (what a user sets to debug a 403), a signed `_bulk` leaves no session token
//! or secret in the log output, nor does basic auth or an API key (whose headers do reach the
//! server). The same capture shows aws-sigv4's own traces do print the token when signing is
//! not shielded, so the check can fail. The AWS SDK clients sign inside the SDK: their traces
//! print the access key id, the token and the signature, and `logs::shield` (the filter every
//! binary installs) keeps them out.

mod common;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use common::{FaultPeer, Reply, doc, fast_config, origin};
use search_sink::{Auth, BulkSink, SearchClient, SigV4, SigV4Service};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

const TOKEN: &str = "SESSIONTOKEN-b1-7f3a9c-DO-NOT-LOG";
const SECRET: &str = "SECRETKEY-b1-2d8e41-DO-NOT-LOG";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn trace_subscriber(
    out: &Captured,
) -> tracing_subscriber::fmt::Subscriber<
    tracing_subscriber::fmt::format::DefaultFields,
    tracing_subscriber::fmt::format::Format,
    tracing_subscriber::filter::LevelFilter,
    impl for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
> {
    let out = out.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || out.clone())
        .finish()
}

fn credentials() -> Credentials {
    Credentials::new("AKIDB1EXAMPLE", SECRET, Some(TOKEN.into()), None, "test")
}

#[test]
fn unshielded_sigv4_traces_do_print_the_token() {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let out = Captured::default();
    tracing::subscriber::with_default(trace_subscriber(&out), || {
        let identity = credentials().into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name("es")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let request = SignableRequest::new(
            "POST",
            "https://search-x.eu-west-1.es.amazonaws.com/t/_bulk",
            std::iter::empty(),
            SignableBody::Bytes(b"{}"),
        )
        .unwrap();
        sign(request, &params).unwrap();
    });
    assert!(
        out.text().contains(TOKEN),
        "aws-sigv4 no longer traces the token; this test's premise changed:\n{}",
        out.text()
    );
}

#[tokio::test]
async fn a_signed_bulk_at_trace_level_logs_no_credential() {
    let out = Captured::default();
    let _guard = tracing::subscriber::set_default(trace_subscriber(&out));
    let peer = FaultPeer::start(|c| Reply::Items(vec![201; c.ops().len()])).await;
    let mut config = fast_config(&peer.url);
    config.auth = Auth::SigV4(SigV4 {
        service: SigV4Service::Es,
        region: Some("eu-west-1".into()),
        credentials: Some(SharedCredentialsProvider::new(credentials())),
    });
    let client = Arc::new(SearchClient::connect(config).await.unwrap());
    let mut sink = BulkSink::new(client, Instant::now() + Duration::from_secs(10), None);
    sink.push(doc("t1", 1), origin(0)).await.unwrap();
    let report = sink.finish().await.unwrap();
    assert_eq!(report.created, 1);
    let requests = peer.requests();
    assert_eq!(
        requests[0].header("x-amz-security-token"),
        Some(TOKEN),
        "the token was sent"
    );
    let logs = out.text();
    assert!(
        logs.contains("bulk sink finished"),
        "nothing captured:\n{logs}"
    );
    assert!(!logs.contains(TOKEN), "the session token reached the logs");
    assert!(!logs.contains(SECRET), "the secret key reached the logs");
}

#[tokio::test]
async fn basic_auth_and_api_keys_reach_the_server_and_not_the_logs() {
    use base64::Engine as _;
    const PASSWORD: &str = "PASSWORD-b1-59c0e2-DO-NOT-LOG";
    const KEY: &str = "QVBJS0VZLWIxLTMzYTdkNC1ETy1OT1QtTE9HOnNlY3JldA==";
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("alice:{PASSWORD}"));
    let cases = [
        (
            Auth::Basic {
                username: "alice".into(),
                password: PASSWORD.into(),
            },
            format!("Basic {basic}"),
        ),
        (Auth::ApiKey { key: KEY.into() }, format!("ApiKey {KEY}")),
    ];
    for (auth, header) in cases {
        let out = Captured::default();
        let _guard = tracing::subscriber::set_default(trace_subscriber(&out));
        let peer = FaultPeer::start(|c| Reply::Items(vec![201; c.ops().len()])).await;
        let mut config = fast_config(&peer.url);
        config.auth = auth;
        let client = Arc::new(SearchClient::connect(config).await.unwrap());
        let mut sink = BulkSink::new(client, Instant::now() + Duration::from_secs(10), None);
        sink.push(doc("t1", 1), origin(0)).await.unwrap();
        assert_eq!(sink.finish().await.unwrap().created, 1);
        let requests = peer.requests();
        assert_eq!(requests[0].header("authorization"), Some(header.as_str()));
        let logs = out.text();
        assert!(logs.contains("bulk sink finished"), "nothing captured");
        for secret in [PASSWORD, basic.as_str(), KEY] {
            assert!(
                !logs.contains(secret),
                "a credential reached the logs:\n{logs}"
            );
        }
    }
}

/// One GetObject with session credentials through an SDK client, logged at TRACE for every
/// target, with or without the shield; the log text and the requests' `authorization`s.
async fn sdk_call_logged_at_trace(shielded: bool) -> (String, Vec<String>) {
    use tracing_subscriber::layer::SubscriberExt as _;
    // A 503 first: the retry's attempt carries the identity the first one resolved.
    let peer = FaultPeer::start(|c| match c.number {
        0 => Reply::Status(503, "<Error><Code>SlowDown</Code></Error>".into()),
        _ => Reply::Status(200, "object body".into()),
    })
    .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .http_client(search_sink::https::aws_http_client())
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .endpoint_url(&peer.url)
            .force_path_style(true)
            .region(aws_sdk_s3::config::Region::new("eu-west-1"))
            .credentials_provider(credentials())
            .build(),
    );
    let out = Captured::default();
    let subscriber = trace_subscriber(&out);
    let _guard = match shielded {
        true => tracing::subscriber::set_default(subscriber.with(search_sink::logs::shield())),
        false => tracing::subscriber::set_default(subscriber),
    };
    let object = s3.get_object().bucket("b").key("k").send().await.unwrap();
    let body = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"object body");
    let requests = peer.requests();
    assert_eq!(requests.len(), 2, "the 503 was retried");
    let authorizations = requests
        .iter()
        .map(|r| r.header("authorization").unwrap_or_default().to_owned())
        .collect();
    (out.text(), authorizations)
}

/// What would reveal a credential: the key id, secret and token, and the signatures.
fn leaks(logs: &str, authorizations: &[String]) -> Vec<&'static str> {
    let signatures = authorizations.iter().map(|a| {
        a.rsplit("Signature=")
            .next()
            .filter(|s| s.len() == 64)
            .expect("a SigV4 signature was sent")
    });
    [
        ("access key id", "AKIDB1EXAMPLE"),
        ("secret", SECRET),
        ("session token", TOKEN),
    ]
    .into_iter()
    .chain(signatures.map(|s| ("signature", s)))
    .filter(|(_, secret)| logs.contains(secret))
    .map(|(what, _)| what)
    .collect()
}

#[tokio::test]
async fn the_sdk_clients_trace_credentials_and_the_shield_keeps_them_out() {
    let (logs, authorizations) = sdk_call_logged_at_trace(false).await;
    let leaked = leaks(&logs, &authorizations);
    assert!(
        leaked.contains(&"access key id") && leaked.contains(&"session token"),
        "the SDK no longer traces credentials ({leaked:?}); this test's premise changed"
    );
    let (logs, authorizations) = sdk_call_logged_at_trace(true).await;
    assert_eq!(leaks(&logs, &authorizations), Vec::<&str>::new(), "{logs}");
    // The rest of the SDK's tracing still comes through.
    assert!(logs.contains("aws_smithy_runtime"), "{logs}");
    assert!(logs.contains("TRACE"), "{logs}");
}

#[test]
fn debug_of_the_s3_dead_letter_store_shows_no_credential() {
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .http_client(search_sink::https::aws_http_client())
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("eu-west-1"))
            .credentials_provider(credentials())
            .build(),
    );
    assert!(
        format!("{client:?}").contains("AKIDB1EXAMPLE"),
        "the SDK client's Debug no longer shows the key id; this test's premise changed"
    );
    let store = search_sink::S3DeadLetters::new(client, "bucket", "dead-letter/");
    let shown = format!("{store:?}");
    assert!(shown.contains("dead-letter/"), "{shown}");
    assert!(!shown.contains("AKIDB1EXAMPLE"), "{shown}");
}
