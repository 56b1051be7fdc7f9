//! Every field and message the capture's saved Logs Insights queries (`infra/template.yaml`,
//! `AWS::Logs::QueryDefinition` on `CaptureLogGroup`) name is one `tweet-capture` really logs:
//! the binary streams from the loopback X fake (a refused first connection, then tweets and a
//! delete, then a dropped connection) into `dir://`, is stopped by SIGTERM, and its stderr (JSON lines, as on ECS where
//! stderr is no terminal, and the EMF lines) is read back, not its source.

mod common;

use std::time::Duration;

use testkit::logs_insights::{Logged, queries_reading};
use testkit::xfake::{Reply, Step, XFake, tweet_line};

const TOKEN: &str = "logs-insights-test-token";
const LOG_GROUP: &str = "CaptureLogGroup";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_the_saved_queries_name_is_logged() {
    let queries = queries_reading(LOG_GROUP);
    assert!(
        queries.len() >= 2,
        "the capture's saved queries: {queries:?}"
    );

    let mut body = String::new();
    for id in 1..=3 {
        body.push_str(&tweet_line(&id.to_string(), "7", "a tweet"));
        body.push_str("\r\n");
    }
    body.push_str(r#"{"data":{"delete":{"tweet":{"id":"1","author_id":"7"},"event_at":"2024-05-01T10:05:00.000Z"}}}"#);
    body.push_str("\r\n");
    let script = vec![
        Reply::Status {
            status: 503,
            headers: vec![],
            body: r#"{"title":"Service Unavailable","detail":"try later","type":"about:blank"}"#
                .into(),
        },
        Reply::Stream {
            gzip: true,
            steps: vec![Step::send(&body), Step::Drop],
        },
        Reply::Stream {
            gzip: true,
            steps: vec![Step::keep_alive(), Step::Sleep(Duration::from_secs(3600))],
        },
    ];
    let fake = XFake::start(TOKEN, script).await.expect("X fake");
    let dir = std::env::temp_dir().join(format!("capture-insights-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let to = format!("dir://{}", dir.display());
    let running = common::Running::spawn(
        &["stream", "--to", &to, "--max-backoff", "1s"],
        &[("X_API_URL", &fake.url()), ("X_BEARER_TOKEN", TOKEN)],
    );
    // Polls (bounded) until the third connection (after the refused one and the dropped
    // one) is open.
    for _ in 0..2400 {
        if fake.connections() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        fake.connections() >= 3,
        "no reconnect after the 503 and the drop"
    );
    running.signal("TERM");
    let (code, stderr) = running.wait();
    assert_eq!(code, Some(0), "{stderr}");

    let _ = std::fs::remove_dir_all(&dir);
    let mut logged = Logged::default();
    logged.add(&stderr);
    assert!(
        logged.fields.contains("Tweets") && logged.fields.contains("fields.message"),
        "no EMF or JSON log lines: {stderr}"
    );
    logged.assert_covers(&queries);
}
