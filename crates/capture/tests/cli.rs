//! The `tweet-capture` binary against the loopback X fake: the rules commands (every page
//! listed, sync that adds first and loses no rule), `stream --to dir://` stopped by SIGTERM
//! (whose files the indexer's extractor, the `tweets` crate `tweet-indexer` runs, turns into
//! one document per streamed tweet) or killed (the next run recovers the file), a second
//! signal, the exit code of each failure as the README's table gives it, the help, and the
//! messages (cause first, text or JSON).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use testkit::aws_faults::{Fault, FaultPlan, FaultProxy, Upstream, WholeFailure};
use testkit::xfake::{Reply, Step, XFake, tweet_line};

mod common;
use common::Running;

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

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the binary with only these variables (and PATH), stderr and stdout captured.
fn run_with(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tweet-capture"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

/// The final error of a run: the "tweet-capture failed" JSON line's `error` field.
fn error_of(out: &Output) -> String {
    let stderr = text(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("tweet-capture failed"))
        .unwrap_or_else(|| panic!("no final error line in: {stderr}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["fields"]["error"].as_str().unwrap().to_owned()
}

fn spawn_stream(args: &[&str], envs: &[(&str, &str)]) -> Running {
    let mut all = vec!["stream"];
    all.extend_from_slice(args);
    let mut envs = envs.to_vec();
    envs.push(("X_BEARER_TOKEN", TOKEN));
    Running::spawn(&all, &envs)
}

/// Polls `done` (a test-side observation, not a sleep standing in for one) for up to 60 s.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn tweets_script(ids: std::ops::Range<u64>) -> Vec<Reply> {
    let body: String = ids
        .map(|i| format!("{}\r\n", tweet_line(&i.to_string(), "7", "cli")))
        .collect();
    vec![Reply::Stream {
        gzip: true,
        steps: vec![Step::send(&body), Step::Sleep(Duration::from_secs(3600))],
    }]
}

#[test]
fn help_names_every_variable_and_describes_every_argument() {
    for command in [
        &["--help"][..],
        &["stream", "--help"],
        &["compliance-stream", "--help"],
        &["comply", "--help"],
        &["rules", "--help"],
        &["rules", "list", "--help"],
        &["rules", "add", "--help"],
        &["rules", "delete", "--help"],
        &["rules", "sync", "--help"],
    ] {
        let out = run_with(command, &[]);
        assert_eq!(out.status.code(), Some(0), "{command:?}");
        let help = text(&out.stdout);
        for variable in [
            "X_BEARER_TOKEN",
            "X_BEARER_TOKEN_FILE",
            "X_API_URL",
            "RUST_LOG",
            "SSL_CERT_FILE",
        ] {
            assert!(
                help.contains(variable),
                "{command:?} --help lacks {variable}:\n{help}"
            );
        }
        assert!(help.contains("Exit codes:"), "{command:?}");
        // --api-url has a default: it must not look required in the usage line.
        let usage = help.lines().find(|l| l.starts_with("Usage:")).unwrap();
        assert!(!usage.contains("--api-url"), "{usage}");
        // Every argument and option has a description.
        for line in help.lines() {
            let item = line.trim_start();
            if item.starts_with("--") || item.starts_with('<') || item.starts_with("-h") {
                let description = item.split_once("  ").map(|(_, d)| d.trim());
                let next_line_describes = help
                    .lines()
                    .skip_while(|l| *l != line)
                    .nth(1)
                    .is_some_and(|l| l.starts_with("          ") && !l.trim().is_empty());
                assert!(
                    description.is_some_and(|d| !d.is_empty()) || next_line_describes,
                    "{command:?}: no description for {item:?}"
                );
            }
        }
    }
    for command in ["stream", "compliance-stream", "comply"] {
        let help = text(&run_with(&[command, "--help"], &[]).stdout);
        for variable in [
            "AWS_REGION",
            "AWS_ENDPOINT_URL_FIREHOSE",
            "AWS_ENDPOINT_URL_KINESIS",
            "AWS_ENDPOINT_URL_S3",
            "TMPDIR",
        ] {
            assert!(help.contains(variable), "{command} --help lacks {variable}");
        }
    }
    for (command, argument) in [
        (&["rules", "add", "--help"][..], "<RULE>"),
        (&["rules", "add", "--help"], "--tag"),
        (&["rules", "sync", "--help"], "<FILE>"),
    ] {
        let help = text(&run_with(command, &[]).stdout);
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(argument))
            .unwrap();
        assert!(
            line.trim().len() > argument.len() + 10,
            "{argument}: {line}"
        );
    }
}

/// Each failure of the README's table lands on its code (those that need no peer; the
/// Firehose ones are in `a_missing_delivery_stream_stops_before_x_is_read`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_follow_the_readme_table() {
    let fake = XFake::start(TOKEN, vec![]).await.unwrap();
    fake.set_rules([("kept".to_owned(), None)]);
    let url = fake.url();
    let closed = format!("http://127.0.0.1:{}", closed_port());
    let dir = tmpdir("codes");
    let dir_to = format!("dir://{}", dir.join("out").display());
    let rules_file = dir.join("rules.json");
    std::fs::write(
        &rules_file,
        r#"[{"value": "kept"}, {"value": "new"}, {"value": "refused"}]"#,
    )
    .unwrap();
    let rules_arg = rules_file.to_str().unwrap();
    let missing = dir.join("missing.json");
    let token_only = || vec![("X_BEARER_TOKEN", TOKEN.to_owned())];
    let at =
        |u: &str| [("X_BEARER_TOKEN", TOKEN), ("X_API_URL", u)].map(|(k, v)| (k, v.to_owned()));
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, String)>, i32);
    let cases: Vec<Case> = vec![
        ("help", vec!["--help"], vec![], 0),
        ("rules list", vec!["rules", "list"], at(&url).to_vec(), 0),
        (
            "no token",
            vec!["rules", "list"],
            vec![("X_API_URL", url.clone())],
            2,
        ),
        (
            "empty token file",
            vec!["rules", "list"],
            vec![
                ("X_API_URL", url.clone()),
                ("X_BEARER_TOKEN_FILE", "/dev/null".into()),
            ],
            2,
        ),
        (
            "unknown flag",
            vec!["stream", "--to", "-", "--no-such-flag"],
            token_only(),
            2,
        ),
        (
            "flag out of range",
            vec!["stream", "--to", "-", "--stall-timeout", "1000000000y"],
            token_only(),
            2,
        ),
        (
            "backfill out of range",
            vec!["stream", "--to", "-", "--backfill-minutes", "6"],
            token_only(),
            2,
        ),
        (
            "bad destination",
            vec!["stream", "--to", "s3://x"],
            token_only(),
            2,
        ),
        (
            "malformed X_API_URL",
            vec!["rules", "list"],
            at("not a url").to_vec(),
            2,
        ),
        (
            "X unreachable",
            vec!["rules", "list"],
            at(&closed).to_vec(),
            3,
        ),
        (
            "wrong token",
            vec!["rules", "list"],
            vec![
                ("X_API_URL", url.clone()),
                ("X_BEARER_TOKEN", "wrong".into()),
            ],
            4,
        ),
        (
            "a refused rule",
            vec!["rules", "add", "kept"],
            at(&url).to_vec(),
            4,
        ),
        (
            "missing rules file",
            vec!["rules", "sync", missing.to_str().unwrap()],
            at(&url).to_vec(),
            2,
        ),
        (
            "some rules refused",
            vec!["rules", "sync", rules_arg],
            at(&url).to_vec(),
            1,
        ),
        (
            "X refuses the stream",
            vec!["stream", "--to", &dir_to],
            at(&url).to_vec(),
            4,
        ),
        (
            "spool dir unusable",
            vec!["stream", "--to", "-", "--spool-dir", "/proc/no-such-dir"],
            at(&url).to_vec(),
            2,
        ),
        (
            "Kinesis unreachable",
            vec!["stream", "--to", "kinesis://x"],
            vec![
                ("X_BEARER_TOKEN", TOKEN.into()),
                ("X_API_URL", url.clone()),
                ("AWS_ENDPOINT_URL", closed.clone()),
                ("AWS_REGION", "us-east-1".into()),
                ("AWS_ACCESS_KEY_ID", "x".into()),
                ("AWS_SECRET_ACCESS_KEY", "y".into()),
            ],
            3,
        ),
        (
            "no AWS credentials",
            vec!["stream", "--to", "firehose://x"],
            vec![
                ("X_BEARER_TOKEN", TOKEN.into()),
                ("X_API_URL", url.clone()),
                ("AWS_REGION", "us-east-1".into()),
                ("HOME", dir.to_str().unwrap().to_owned()),
            ],
            2,
        ),
    ];
    fake.refuse_values(&["refused"]);
    for (case, args, envs, code) in &cases {
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = tokio::task::block_in_place(|| run_with(args, &envs));
        assert_eq!(
            out.status.code(),
            Some(*code),
            "{case}: {}",
            text(&out.stderr)
        );
        assert!(
            !text(&out.stderr).contains(TOKEN),
            "{case}: the token was logged"
        );
    }
    // No stream connection was made by the runs that stopped before reading X, and the one
    // that did met the 401 once (not retried).
    let streams = fake
        .seen()
        .iter()
        .filter(|s| s.target.starts_with("/2/tweets/search/stream?"))
        .count();
    assert_eq!(streams, 1, "only `X refuses the stream` opened the stream");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The cause of a connection error is in its first 200 characters, and a bad X_API_URL is
/// named as the user gave it; on request (`--log-format text`, as on a terminal) errors are
/// plain lines, otherwise JSON.
#[test]
fn errors_say_their_cause_first_as_text_or_json() {
    let closed = format!("http://127.0.0.1:{}", closed_port());
    let out = run_with(
        &["rules", "list"],
        &[("X_BEARER_TOKEN", TOKEN), ("X_API_URL", &closed)],
    );
    let error = error_of(&out);
    let first: String = error.chars().take(200).collect();
    assert!(first.contains("Connection refused"), "{error}");
    assert!(!error.contains("error sending request"), "{error}");

    for (envs, args, name) in [
        (
            vec![("X_API_URL", "127.0.0.1:9")],
            vec!["rules", "list"],
            "X_API_URL",
        ),
        (
            vec![("X_API_URL", "ftp://x")],
            vec!["rules", "list"],
            "X_API_URL",
        ),
        (
            vec![],
            vec!["--api-url", "not a url", "rules", "list"],
            "--api-url",
        ),
    ] {
        let mut envs = envs;
        envs.push(("X_BEARER_TOKEN", TOKEN));
        let out = run_with(&args, &envs);
        assert_eq!(out.status.code(), Some(2));
        let error = error_of(&out);
        assert!(error.starts_with(name), "{error}");
        assert!(!error.contains("builder error"), "{error}");
    }

    let out = run_with(
        &["rules", "list", "--log-format", "text"],
        &[("X_BEARER_TOKEN", TOKEN), ("X_API_URL", &closed)],
    );
    let stderr = text(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: rules list: cannot connect: Connection refused"),
        "{stderr}"
    );
    assert!(!stderr.contains('{'), "no JSON in text mode: {stderr}");
}

/// `rules list` follows `meta.next_token`: 2,345 rules come in three pages of X's 1,000.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn rules_list_follows_next_token_through_every_page() {
    let fake = XFake::start(TOKEN, vec![]).await.unwrap();
    fake.set_rules((0..2345).map(|i| (format!("rule {i}"), Some(format!("t{i}")))));
    let out = capture(&fake, &["rules", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let values: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["value"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        values,
        (0..2345).map(|i| format!("rule {i}")).collect::<Vec<_>>()
    );
    let pages: Vec<String> = fake
        .seen()
        .into_iter()
        .filter(|s| s.method == "GET")
        .map(|s| s.target)
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages[1].contains("pagination_token=p1000"), "{pages:?}");
    assert!(pages[2].contains("pagination_token=p2000"), "{pages:?}");
}

/// `rules sync` adds first; when X refuses an addition nothing is deleted (the stream keeps
/// its old rules beside the new) and the exit code says "partly done"; a rule whose tag
/// changes is replaced last, and put back when X refuses its replacement.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn rules_sync_adds_first_and_never_loses_a_rule() {
    let fake = XFake::start(TOKEN, vec![]).await.unwrap();
    fake.set_rules([
        ("kept".to_owned(), None),
        ("old".to_owned(), None),
        ("cats".to_owned(), Some("a".to_owned())),
    ]);
    let dir = tmpdir("sync");
    let file = dir.join("rules.json");
    std::fs::write(
        &file,
        r#"[{"value": "kept"}, {"value": "new"}, {"value": "invalid"}, {"value": "cats", "tag": "b"}]"#,
    )
    .unwrap();
    fake.refuse_values(&["invalid"]);
    let out = capture(&fake, &["rules", "sync", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("held back"), "{stderr}");
    let values = |fake: &XFake| {
        let mut v: Vec<(String, Option<String>)> =
            fake.rules().into_iter().map(|(_, v, t)| (v, t)).collect();
        v.sort();
        v
    };
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        values(&fake),
        [
            ("cats".into(), some("a")),
            ("kept".into(), None),
            ("new".into(), None),
            ("old".into(), None),
        ],
        "the addition that passed is there, nothing was deleted"
    );
    let first_post = fake
        .seen()
        .into_iter()
        .find(|s| s.method == "POST")
        .unwrap();
    assert!(first_post.body.contains("\"add\""), "{first_post:?}");

    // The replacement of "cats" is refused once: the old rule comes back.
    std::fs::write(
        &file,
        r#"[{"value": "kept"}, {"value": "new"}, {"value": "cats", "tag": "b"}]"#,
    )
    .unwrap();
    fake.refuse_values(&["cats"]);
    let out = capture(&fake, &["rules", "sync", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        values(&fake),
        [
            ("cats".into(), some("a")),
            ("kept".into(), None),
            ("new".into(), None),
        ],
        "\"old\" deleted, \"cats\" kept with its old tag"
    );
    // And with nothing refused, the file's rules exactly.
    let out = capture(&fake, &["rules", "sync", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        values(&fake),
        [
            ("cats".into(), some("b")),
            ("kept".into(), None),
            ("new".into(), None),
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// SIGKILL loses seconds, not the file: records are in complete gzip members on disk within
/// seconds, and the next run recovers the unfinished file from `.tmp/` (before, the kill
/// left a 0-byte `.tmp` file and the next run ignored it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_dir_capture_is_recovered_by_the_next_run() {
    let fake = XFake::start(TOKEN, tweets_script(5000..5015))
        .await
        .unwrap();
    let dir = tmpdir("killed");
    let out = dir.join("out");
    let to = format!("dir://{}", out.display());
    let url = fake.url();
    let first = spawn_stream(&["--to", &to], &[("X_API_URL", &url)]);
    let tmp = out.join(".tmp");
    let lines_in_tmp = || -> usize {
        std::fs::read_dir(&tmp)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with("capture-"))
                    .map(|e| {
                        let mut text = String::new();
                        // A member being written is cut: read what decodes.
                        let _ = flate2::read::MultiGzDecoder::new(
                            std::fs::File::open(e.path()).unwrap(),
                        )
                        .read_to_string(&mut text);
                        text.lines().count()
                    })
                    .sum()
            })
            .unwrap_or(0)
    };
    wait_until("15 tweets on disk in .tmp", || lines_in_tmp() == 15).await;
    first.signal("KILL");
    let (code, _) = first.wait();
    assert_eq!(code, None, "killed");
    let top_files = |dir: &Path| -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        files
    };
    assert!(top_files(&out).is_empty(), "nothing complete yet");

    // The next run (X now refuses: script used up) recovers the file before reading X.
    let second = spawn_stream(&["--to", &to], &[("X_API_URL", &url)]);
    let (code, stderr) = second.wait();
    assert_eq!(code, Some(4), "{stderr}");
    assert!(stderr.contains("recovered a capture file"), "{stderr}");
    let (docs, _) = documents_in(&out);
    assert_eq!(docs.len(), 15, "{docs:?}");
    assert!(docs.values().all(|&n| n == 1));
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The X fake streaming these tweets, an AWS endpoint (Firehose and Kinesis) whose every
/// batch put fails whole this way (the start-up check passes), and the variables pointing
/// the binary at both.
async fn failing_sink(
    ids: std::ops::Range<u64>,
    failure: WholeFailure,
) -> (XFake, FaultProxy, Vec<(&'static str, String)>) {
    let fake = XFake::start(TOKEN, tweets_script(ids)).await.unwrap();
    let plan = FaultPlan::Scripted(vec![Fault::Whole(failure); 10_000]);
    let proxy = FaultProxy::start(Upstream::Accept, plan).await.unwrap();
    let env = vec![
        ("X_API_URL", fake.url()),
        ("AWS_ENDPOINT_URL", proxy.url()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
    ];
    (fake, proxy, env)
}

/// The first signal stops reading and lets the sink deliver; while it cannot (every
/// PutRecords fails), a second signal exits at once, exit 1, the undelivered records counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once_and_counts_what_was_not_delivered() {
    let (_fake, proxy, env) = failing_sink(6000..6005, WholeFailure::Internal).await;
    let aws: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // A shutdown timeout longer than the test: only the second signal can end it.
    let running = spawn_stream(
        &["--to", "kinesis://tweets", "--shutdown-timeout", "1h"],
        &aws,
    );
    wait_until("a failed PutRecords", || proxy.log().whole_failures >= 1).await;
    running.signal("TERM");
    let after_first = proxy.log().whole_failures;
    wait_until("a retry after the first signal", || {
        proxy.log().whole_failures > after_first
    })
    .await;
    running.signal("INT");
    let (code, stderr) = running.wait();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("second signal"), "{stderr}");
    assert!(
        stderr.contains("5 record(s) read were not delivered"),
        "{stderr}"
    );
    assert_eq!(proxy.log().passed_entries, 0);
}

/// The first signal with a sink that cannot deliver: after --shutdown-timeout the capture
/// exits 1 and says how many records it could not deliver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shutdown_timeout_bounds_the_last_delivery() {
    let (_fake, proxy, env) = failing_sink(7000..7003, WholeFailure::Throttled).await;
    let aws: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let running = spawn_stream(
        &["--to", "firehose://tweets", "--shutdown-timeout", "1s"],
        &aws,
    );
    wait_until("a failed PutRecordBatch", || {
        proxy.log().whole_failures >= 1
    })
    .await;
    running.signal("TERM");
    let (code, stderr) = running.wait();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("shutdown timeout"), "{stderr}");
    assert!(
        stderr.contains("3 record(s) read were not delivered"),
        "{stderr}"
    );
}

/// Against a real socket and clock: an endpoint that answers 200, sends a keep-alive and
/// closes at once gets two connections in four seconds (at once, then 5 s later), not
/// thousands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_closes_at_once_is_not_reconnected_in_a_loop() {
    let script = (0..1000)
        .map(|_| Reply::Stream {
            gzip: false,
            steps: vec![Step::keep_alive(), Step::End],
        })
        .collect();
    let fake = XFake::start(TOKEN, script).await.unwrap();
    let url = fake.url();
    let running = spawn_stream(&["--to", "-"], &[("X_API_URL", &url)]);
    wait_until("the first connection", || fake.connections() >= 1).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let connections = fake.connections();
    running.signal("TERM");
    let (code, stderr) = running.wait();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        (1..=3).contains(&connections),
        "{connections} connections in 4 s"
    );
}

/// `--to firehose://nostream` (a misspelled stream) stops before X is read, at once, exit 4,
/// saying why (before: it read X, failed every call, took 157 s to exit and exited 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_delivery_stream_stops_before_x_is_read() {
    let Some(moto) = testkit::peer("S3_ENDPOINT_URL") else {
        return;
    };
    let fake = XFake::start(TOKEN, tweets_script(8000..8015))
        .await
        .unwrap();
    let url = fake.url();
    for (to, code) in [
        ("firehose://nostream", "ResourceNotFoundException"),
        ("kinesis://nostream", "ResourceNotFoundException"),
    ] {
        let envs = [
            ("X_BEARER_TOKEN", TOKEN),
            ("X_API_URL", url.as_str()),
            ("AWS_ENDPOINT_URL", moto.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ];
        let out = tokio::task::block_in_place(|| run_with(&["stream", "--to", to], &envs));
        assert_eq!(out.status.code(), Some(4), "{to}: {}", text(&out.stderr));
        let error = error_of(&out);
        let first: String = error.chars().take(200).collect();
        assert!(first.starts_with(to), "{error}");
        assert!(first.contains(code), "{error}");
    }
    assert_eq!(fake.connections(), 0, "X was never read");
}
