//! Whatever the log level, no credential reaches the logs: with a subscriber at TRACE for
//! every target (what a user sets to debug a 403), a signed `_bulk` leaves no session token
//! or secret in the log output. The same capture shows aws-sigv4's own traces do print the
//! token when signing is not shielded, so the check can fail.

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

fn trace_subscriber(out: &Captured) -> impl tracing::Subscriber + Send + Sync {
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
