//! The `tweet-capture` binary against the loopback X fake: the rules commands, and
//! `stream --to dir://` stopped by SIGTERM, whose files the indexer's extractor (the
//! `tweets` crate `tweet-indexer` runs) turns into one document per streamed tweet.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use testkit::xfake::{Reply, Step, XFake, tweet_line};

const TOKEN: &str = "cli-test-token-not-in-output";

fn capture(fake: &XFake, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tweet-capture"))
        .args(args)
        .env("X_API_URL", fake.url())
        .env("X_BEARER_TOKEN", TOKEN)
        .env("RUST_LOG", "debug")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn tmpdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capture-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn rules_add_list_delete_and_sync() {
    let fake = XFake::start(TOKEN, vec![]).await.unwrap();
    let out = capture(&fake, &["rules", "add", "cats has:media", "--tag", "cats"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = capture(&fake, &["rules", "add", "dogs"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A duplicate rule is refused by the server: the command fails and says so.
    let out = capture(&fake, &["rules", "add", "dogs"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("DuplicateRule"),
        "{}",
        text(&out.stderr)
    );

    let out = capture(&fake, &["rules", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["value"], "cats has:media");
    assert_eq!(listed[0]["tag"], "cats");

    let dir = tmpdir("rules");
    let file = dir.join("rules.json");
    std::fs::write(
        &file,
        r#"[{"value": "cats has:media", "tag": "cats"}, {"value": "birds", "tag": "b"}]"#,
    )
    .unwrap();
    let file_arg = file.to_str().unwrap();
    // --dry-run: plan printed, nothing changed.
    let out = capture(&fake, &["rules", "sync", file_arg, "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(r#""add":{"tag":"b","value":"birds"}"#),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(fake.rules().len(), 2);
    assert!(fake.rules().iter().any(|r| r.1 == "dogs"));
    let dry: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST")
        .collect();
    assert!(
        dry.iter()
            .rev()
            .take(2)
            .all(|s| s.target.contains("dry_run=true")),
        "{dry:?}"
    );

    let out = capture(&fake, &["rules", "sync", file_arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut now: Vec<(String, Option<String>)> =
        fake.rules().into_iter().map(|(_, v, t)| (v, t)).collect();
    now.sort();
    assert_eq!(
        now,
        vec![
            ("birds".to_owned(), Some("b".to_owned())),
            ("cats has:media".to_owned(), Some("cats".to_owned()))
        ]
    );
    let id = fake.rules()[0].0.clone();
    let out = capture(&fake, &["rules", "delete", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(fake.rules().len(), 1);

    for request in fake.seen() {
        assert!(request.authorized, "{request:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn documents_in(dir: &Path) -> (BTreeMap<String, usize>, Vec<String>) {
    let extractor = tweets::Extractor::new(tweets::ExtractorOptions::default());
    let mut docs = BTreeMap::new();
    let mut deletes = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for item in extractor.items(&bytes[..]) {
            match item {
                tweets::Item::Document { id, .. } => *docs.entry(id).or_insert(0) += 1,
                tweets::Item::Delete { id, .. } => deletes.push(id),
                _ => {}
            }
        }
    }
    (docs, deletes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn stream_to_dir_then_sigterm_gives_every_tweet_once_to_the_indexer() {
    let tweets: Vec<String> = (1..=40)
        .map(|i| {
            tweet_line(
                &(1000 + i).to_string(),
                "7",
                &format!("tweet {i} \u{1f600}"),
            )
        })
        .collect();
    let mut body = String::new();
    for t in &tweets {
        body.push_str(t);
        body.push_str("\r\n\r\n");
    }
    // The same tweets again (a backfill after reconnect) and a delete.
    let delete = r#"{"data":{"delete":{"tweet":{"id":"1001","author_id":"7"},"event_at":"2024-05-01T10:05:00.000Z"}}}"#;
    let script = vec![
        Reply::Stream {
            gzip: true,
            steps: vec![Step::split(&body, 37), Step::End],
        },
        Reply::Stream {
            gzip: true,
            steps: vec![
                Step::split(&body, 11),
                Step::send(&format!("{delete}\r\n")),
                Step::keep_alive(),
                Step::Sleep(Duration::from_secs(3600)),
            ],
        },
    ];
    let fake = XFake::start(TOKEN, script).await.unwrap();
    let dir = tmpdir("stream");
    let child = Command::new(env!("CARGO_BIN_EXE_tweet-capture"))
        .args(["stream", "--to", &format!("dir://{}", dir.display())])
        .env("X_API_URL", fake.url())
        .env("X_BEARER_TOKEN", TOKEN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the second connection has sent everything (its keep-alive came after the
    // delete), then give the reader a moment to take it in.
    for _ in 0..200 {
        if fake.connections() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fake.connections(), 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains(TOKEN), "token in logs");
    assert!(
        stderr.contains("\"CloudWatchMetrics\""),
        "no EMF line: {stderr}"
    );

    let (docs, deletes) = documents_in(&dir);
    assert_eq!(docs.len(), tweets.len());
    assert!(docs.values().all(|&n| n == 1), "{docs:?}");
    assert_eq!(deletes, vec!["1001".to_owned()]);
    std::fs::remove_dir_all(&dir).unwrap();
}
