//! The compliance streams against the X fake: in memory on a paused clock (the reader with
//! the compliance classifier: partitions, backfill on reconnect, events deduplicated by kind,
//! subject and `event_at`, the reconnect policy), and the binary over loopback TCP
//! (`tweet-capture compliance-stream --type ... --partition N --to dir://` and
//! `--to kinesis://` on moto: every event once, as X sent it, keyed by its user).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use capture::backoff::Disconnect;
use capture::message::classify_compliance;
use capture::metrics::Stats;
use capture::queue::{QueueConfig, queue};
use capture::stream::{self, ComplianceStream, StreamConfig, StreamError};
use serde_json::json;
use testkit::xfake::{OPERATIONAL_DISCONNECT, Reply, Step, XFake, compliance_line};

mod common;
use common::{MemoryX, Running, dir_lines, kinesis_client, shard_records};

const TOKEN: &str = "compliance-bearer-token-never-logged";

fn crlf(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\r\n")).collect()
}

fn delete(id: &str, author: &str, at: &str) -> String {
    compliance_line(
        "delete",
        json!({"tweet": {"id": id, "author_id": author}}),
        at,
    )
}

fn user(kind: &str, id: &str, at: &str) -> String {
    compliance_line(kind, json!({"user": {"id": id}}), at)
}

struct Run {
    lines: Vec<String>,
    keys: Vec<(Option<String>, Option<String>)>,
    stats: Arc<Stats>,
    result: Result<(), StreamError>,
}

/// Reads one partition in memory until the fake's script is used up (its 401).
async fn run(fake: &XFake, stream: ComplianceStream, partition: u8, backfill: Option<u8>) -> Run {
    let config = StreamConfig {
        jitter: false,
        classify: classify_compliance,
        ..StreamConfig::default()
    };
    let stats = Arc::new(Stats::default());
    let (tx, mut rx) = queue(&QueueConfig {
        memory_bytes: 1 << 20,
        spool_root: None,
        spool_bytes: 0,
    })
    .unwrap();
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let connect = MemoryX::compliance(fake, TOKEN, stream, partition, backfill);
    let result = stream::run(&connect, &config, &tx, &stats, shutdown).await;
    drop(tx);
    let mut lines = Vec::new();
    let mut keys = Vec::new();
    while let Some(batch) = rx.next_batch(&stats).await {
        for record in batch {
            lines.push(String::from_utf8(record.line.to_vec()).unwrap());
            keys.push((record.tweet_id.clone(), record.author_id.clone()));
        }
    }
    Run {
        lines,
        keys,
        stats,
        result,
    }
}

/// A partition's events are forwarded once each, byte for byte, across a drop and a
/// reconnect with backfill (the fake sends the last minutes again) and X's own
/// redelivery; a user protected, unprotected and protected again is three events.
#[tokio::test(start_paused = true)]
async fn a_partition_forwards_each_event_once_across_reconnects_and_backfill() {
    let e1 = delete("1001", "9", "2024-05-01T10:00:00.000Z");
    let e2 = compliance_line(
        "tweet_edit",
        json!({"tweet": {"id": "1003"}, "initial_tweet_id": "1002", "edit_tweet_ids": ["1002", "1003"]}),
        "2024-05-01T10:00:01.000Z",
    );
    let e3 = compliance_line(
        "withheld",
        json!({"tweet": {"id": "1004", "author_id": "8"}, "withheld_in_countries": ["DE", "FR"]}),
        "2024-05-01T10:00:02.000Z",
    );
    let e4 = compliance_line(
        "drop",
        json!({"tweet": {"id": "1005", "author_id": "8"}}),
        "2024-05-01T10:00:03.000Z",
    );
    let e5 = delete("1006", "9", "2024-05-01T10:00:04.000Z");
    let script = vec![
        // 1: gzip cut anywhere, a keep-alive, then the socket drops mid-event.
        Reply::Stream {
            gzip: true,
            steps: vec![
                Step::keep_alive(),
                Step::split(&crlf(&[&e1, &e2, &e3]), 7),
                Step::split(&e4[..20], 1),
                Step::Drop,
            ],
        },
        // 2 (asked with backfill): the fake first sends e1-e3 again, then e4, e5, e3 once
        //    more (at-least-once), an operational disconnect.
        Reply::Stream {
            gzip: false,
            steps: vec![
                Step::send(&crlf(&[&e4, &e5, &e3])),
                Step::send(&crlf(&[OPERATIONAL_DISCONNECT])),
                Step::Sleep(Duration::from_secs(3600)),
            ],
        },
    ];
    let fake = XFake::in_memory(TOKEN, vec![]);
    fake.script_compliance("tweets", 2, script);
    let run = run(&fake, ComplianceStream::Tweets, 2, Some(2)).await;

    assert!(
        matches!(run.result, Err(StreamError::Fatal { status: 401, .. })),
        "{:?}",
        run.result
    );
    assert_eq!(run.lines, vec![e1, e2, e3, e4, e5]);
    assert_eq!(
        run.keys,
        vec![
            (Some("1001".into()), Some("9".into())),
            (Some("1003".into()), None),
            (Some("1004".into()), Some("8".into())),
            (Some("1005".into()), Some("8".into())),
            (Some("1006".into()), Some("9".into())),
        ],
        "tweet events are keyed by tweet and author"
    );
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let s = &run.stats;
    assert_eq!(get(&s.compliance), 5);
    assert_eq!(get(&s.deletes), 2);
    assert_eq!(get(&s.duplicates), 4, "three backfilled, one redelivered");
    assert_eq!(get(&s.tweets), 0);
    assert_eq!(get(&s.problems), 1);
    // Both connections delivered events: each drop is reconnected at once.
    let delays = s.delays();
    assert_eq!(
        delays,
        vec![
            (Disconnect::Disconnected, Duration::ZERO),
            (Disconnect::Disconnected, Duration::ZERO),
        ]
    );
    let targets: Vec<String> = fake.seen().into_iter().map(|s| s.target).collect();
    assert_eq!(targets.len(), 3);
    for target in &targets {
        assert_eq!(
            target,
            "/2/tweets/compliance/stream?partition=2&backfill_minutes=2"
        );
    }
    assert_eq!(fake.compliance_connections("tweets", 2), 2);
    assert_eq!(fake.compliance_connections("tweets", 1), 0);
}

/// Without `--backfill-minutes` nothing is sent again; user events are keyed by user, and
/// a user's protect, unprotect and protect again are three events (dedup is by kind,
/// subject and time, never by subject alone). A partition out of range is X's 400: fatal.
#[tokio::test(start_paused = true)]
async fn user_events_are_keyed_by_user_and_only_true_duplicates_are_dropped() {
    let protect = user("user_protect", "77", "2024-05-01T10:00:00.000Z");
    let unprotect = user("user_unprotect", "77", "2024-05-01T11:00:00.000Z");
    let protect_again = user("user_protect", "77", "2024-05-01T12:00:00.000Z");
    let scrub = compliance_line(
        "scrub_geo",
        json!({"user": {"id": "78"}, "up_to_tweet_id": "1200"}),
        "2024-05-01T12:00:01.000Z",
    );
    let script = vec![
        Reply::Stream {
            gzip: true,
            steps: vec![Step::send(&crlf(&[&protect, &unprotect])), Step::End],
        },
        Reply::Stream {
            gzip: true,
            steps: vec![
                Step::send(&crlf(&[&protect_again, &protect, &scrub])),
                Step::End,
            ],
        },
    ];
    let fake = XFake::in_memory(TOKEN, vec![]);
    fake.script_compliance("users", 4, script);
    let run = run(&fake, ComplianceStream::Users, 4, None).await;
    assert_eq!(
        run.lines,
        vec![protect.clone(), unprotect, protect_again, scrub]
    );
    assert_eq!(run.keys[0], (None, Some("77".into())));
    assert_eq!(run.keys[3], (None, Some("78".into())));
    assert_eq!(run.stats.duplicates.load(Ordering::Relaxed), 1);
    for seen in fake.seen() {
        assert_eq!(seen.target, "/2/users/compliance/stream?partition=4");
    }

    let fake = XFake::in_memory(TOKEN, vec![]);
    let run = self::run(&fake, ComplianceStream::Users, 5, None).await;
    assert!(
        matches!(run.result, Err(StreamError::Fatal { status: 400, .. })),
        "{:?}",
        run.result
    );
}

// ---- the binary ----

fn tmpdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capture-cstream-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `compliance-stream --type users --partition 3 --backfill-minutes 2 --to dir://`: the
/// events of partition 3, each once, as X sent them; SIGTERM ends it with exit 0; the token
/// is never logged; the EMF line counts the events under the partition's own dimension.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_writes_one_partition_to_a_directory() {
    let events = [
        user("user_suspend", "501", "2024-05-01T10:00:00.000Z"),
        user("user_delete", "502", "2024-05-01T10:00:01.000Z"),
        compliance_line(
            "user_withheld",
            json!({"user": {"id": "503"}, "withheld_in_countries": ["IN"]}),
            "2024-05-01T10:00:02.000Z",
        ),
    ];
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    let fake = XFake::start(TOKEN, vec![]).await.unwrap();
    fake.script_compliance(
        "users",
        3,
        vec![
            Reply::Stream {
                gzip: true,
                steps: vec![Step::split(&crlf(&refs[..2]), 5), Step::Drop],
            },
            Reply::Stream {
                gzip: true,
                steps: vec![
                    Step::send(&crlf(&refs[2..])),
                    Step::keep_alive(),
                    Step::Sleep(Duration::from_secs(3600)),
                ],
            },
        ],
    );
    let dir = tmpdir("dir");
    let to = format!("dir://{}", dir.join("out").display());
    let url = fake.url();
    let running = Running::spawn(
        &[
            "compliance-stream",
            "--type",
            "users",
            "--partition",
            "3",
            "--backfill-minutes",
            "2",
            "--to",
            &to,
        ],
        &[("X_BEARER_TOKEN", TOKEN), ("X_API_URL", &url)],
    );
    wait_until("the second connection", || {
        fake.compliance_connections("users", 3) == 2
    })
    .await;
    // The second connection's lines are sent at once, then a long sleep.
    tokio::time::sleep(Duration::from_secs(2)).await;
    running.signal("TERM");
    let (code, stderr) = running.wait();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains(TOKEN), "the token was logged");
    assert_eq!(dir_lines(&dir.join("out")), events.to_vec());
    let emf: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.contains("\"CloudWatchMetrics\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events_counted: u64 = emf
        .iter()
        .map(|l| l["ComplianceEvents"].as_u64().unwrap())
        .sum();
    assert_eq!(events_counted, 3);
    assert_eq!(
        emf[0]["Stream"],
        format!("{to} compliance/users/3"),
        "a dimension per partition"
    );
    for seen in fake.seen() {
        assert_eq!(
            seen.target,
            "/2/users/compliance/stream?partition=3&backfill_minutes=2"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The flags are checked by name before X is read: a partition out of 1-4, a type that is
/// neither tweets nor users, a missing one (exit 2); X refusing the stream (the access level
/// has no compliance streams: 403) exits 4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_are_checked_and_a_refusal_exits_4() {
    let fake = XFake::start(TOKEN, vec![]).await.unwrap();
    let url = fake.url();
    let env = [("X_BEARER_TOKEN", TOKEN), ("X_API_URL", url.as_str())];
    for (args, code, says) in [
        (
            vec!["--type", "tweets", "--partition", "5", "--to", "-"],
            2,
            "--partition",
        ),
        (
            vec!["--type", "likes", "--partition", "1", "--to", "-"],
            2,
            "--type",
        ),
        (vec!["--partition", "1", "--to", "-"], 2, "--type"),
        (
            vec![
                "--type",
                "tweets",
                "--partition",
                "1",
                "--to",
                "-",
                "--backfill-minutes",
                "6",
            ],
            2,
            "--backfill-minutes",
        ),
    ] {
        let mut all = vec!["compliance-stream"];
        all.extend(args.iter().copied());
        let running = Running::spawn(&all, &env);
        let (got, stderr) = running.wait();
        assert_eq!(got, Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    assert_eq!(fake.seen().len(), 0, "X was never asked");
    fake.script_compliance(
        "tweets",
        1,
        vec![Reply::Status {
            status: 403,
            headers: vec![],
            body: r#"{"title":"Forbidden","detail":"When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter developer App that is attached to a Project with Enterprise access.","type":"https://api.twitter.com/2/problems/client-forbidden"}"#.into(),
        }],
    );
    let running = Running::spawn(
        &[
            "compliance-stream",
            "--type",
            "tweets",
            "--partition",
            "1",
            "--to",
            "-",
        ],
        &env,
    );
    let (code, stderr) = running.wait();
    assert_eq!(code, Some(4), "{stderr}");
    assert!(stderr.contains("Enterprise access"), "{stderr}");
}

/// `--to kinesis://` on moto: each event once, keyed by its user (one user's events stay in
/// order on one shard).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_writes_user_events_to_kinesis_keyed_by_user() {
    let Some(moto) = testkit::peer("S3_ENDPOINT_URL") else {
        return;
    };
    let client = kinesis_client(&moto);
    let name = format!("capture-cstream-{}", std::process::id());
    client
        .create_stream()
        .stream_name(&name)
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let events: Vec<String> = (0..6)
        .map(|i| {
            let kind = if i % 2 == 0 {
                "user_protect"
            } else {
                "user_unprotect"
            };
            user(
                kind,
                &format!("60{}", i % 3),
                &format!("2024-05-01T10:00:0{i}.000Z"),
            )
        })
        .collect();
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    let fake = XFake::start(TOKEN, vec![]).await.unwrap();
    fake.script_compliance(
        "users",
        1,
        vec![Reply::Stream {
            gzip: true,
            steps: vec![
                Step::send(&crlf(&refs)),
                Step::Sleep(Duration::from_secs(3600)),
            ],
        }],
    );
    let url = fake.url();
    let to = format!("kinesis://{name}");
    let running = Running::spawn(
        &[
            "compliance-stream",
            "--type",
            "users",
            "--partition",
            "1",
            "--to",
            &to,
        ],
        &[
            ("X_BEARER_TOKEN", TOKEN),
            ("X_API_URL", &url),
            ("AWS_ENDPOINT_URL", &moto),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
    );
    let shard = client
        .list_shards()
        .stream_name(&name)
        .send()
        .await
        .unwrap()
        .shards()[0]
        .shard_id()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut records = Vec::new();
    while records.len() < events.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        records = shard_records(&client, &name, &shard).await;
    }
    running.signal("TERM");
    let (code, stderr) = running.wait();
    assert_eq!(code, Some(0), "{stderr}");
    let mut per_user: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, data) in &records {
        let line = String::from_utf8(data.clone()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let (_, event) = v["data"].as_object().unwrap().iter().next().unwrap();
        assert_eq!(event["user"]["id"].as_str(), Some(key.as_str()));
        per_user.entry(key.clone()).or_default().push(line);
    }
    assert_eq!(records.len(), events.len(), "{stderr}");
    for (user, lines) in per_user {
        let expected: Vec<String> = events
            .iter()
            .filter(|e| e.contains(&format!("\"id\":\"{user}\"")))
            .cloned()
            .collect();
        assert_eq!(lines, expected, "user {user}'s events in order");
    }
}
