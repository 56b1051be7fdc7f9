//! The README's "Capturing tweets" commands, word for word, run by the built binary: the
//! `rules add` line against the X fake (the rule and tag arrive), the `stream` and
//! `compliance-stream` lines against the X fake and moto Firehose (the tweets and events land
//! in S3; SIGTERM exits 0), the `comply` line against the fake's jobs and moto Firehose (the
//! results land in S3; it exits 0 by itself). A README edit that breaks a command fails here.

use std::process::Command;
use std::time::{Duration, Instant};

use testkit::xfake::jobs::JobsConfig;
use testkit::xfake::{Reply, Step, XFake, compliance_line, tweet_line};

mod common;
use common::{Running, create_delivery_stream_to_s3, s3_texts};

const TOKEN: &str = "readme-token";
const PREFIX: &str = "cargo run -p capture --bin tweet-capture -- ";

/// The argument lists of the `tweet-capture` commands in the README's capture section.
fn readme_commands() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(testkit::repo_root().join("README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Capturing tweets"))
        .expect("README has a \"Capturing tweets\" section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the section starts with a sh block");
    block
        .lines()
        .filter_map(|l| l.strip_prefix(PREFIX))
        .map(shell_words)
        .collect()
}

/// Splits a command line as sh would for what the README uses: plain words, '...' quoting,
/// and a trailing `# comment`.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    w.push(q);
                }
            }
            '#' if word.is_none() => break,
            c if c.is_whitespace() => words.extend(word.take()),
            '"' | '\\' | '$' | '`' => panic!("not handled by this splitter: {line}"),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

fn the_command(verb: &str) -> Vec<String> {
    let commands = readme_commands();
    assert_eq!(
        commands.len(),
        4,
        "four commands: rules, stream, compliance-stream, comply"
    );
    commands
        .into_iter()
        .find(|c| c.first().map(String::as_str) == Some(verb))
        .unwrap_or_else(|| panic!("no `{verb}` command in the README"))
}

#[test]
fn shell_words_table() {
    let table: &[(&str, &[&str])] = &[
        ("a b  c", &["a", "b", "c"]),
        (
            "add 'x y:z' --tag t   # also: more",
            &["add", "x y:z", "--tag", "t"],
        ),
        ("a'b c'd", &["ab cd"]),
        ("dir://x#y", &["dir://x#y"]),
    ];
    for (line, expected) in table {
        assert_eq!(shell_words(line), *expected, "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_rules_command_adds_its_rule() {
    let args = the_command("rules");
    let fake = XFake::start(TOKEN, vec![]).await.unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tweet-capture"))
        .args(&args)
        .env("X_API_URL", fake.url())
        .env("X_BEARER_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(args[1], "add");
    let tag = args
        .iter()
        .position(|a| a == "--tag")
        .map(|i| args[i + 1].clone());
    let rules = fake.rules();
    assert_eq!(rules.len(), 1);
    assert_eq!((&rules[0].1, &rules[0].2), (&args[2], &tag));
}

/// The README's commands that write to Firehose name one delivery stream: it is made once
/// (on moto, into `bucket`) and each command adds its lines to what landed before.
struct Firehose {
    moto: String,
    s3: aws_sdk_s3::Client,
    bucket: &'static str,
}

impl Firehose {
    async fn new(moto: String) -> Firehose {
        let args = the_command("stream");
        let to = args
            .iter()
            .position(|a| a == "--to")
            .map(|i| args[i + 1].clone())
            .unwrap();
        let stream_name = to
            .strip_prefix("firehose://")
            .expect("the README writes to Firehose");
        let bucket = "capture-readme";
        let (s3, _) = create_delivery_stream_to_s3(&moto, stream_name, bucket, "readme/").await;
        Firehose { moto, s3, bucket }
    }

    async fn lines(&self) -> usize {
        s3_texts(&self.s3, self.bucket, "readme/")
            .await
            .iter()
            .map(|text| text.matches('\n').count())
            .sum()
    }

    /// Runs the README command `verb` with `dir` as its working directory until `lines` more
    /// lines landed (then SIGTERM, unless it ended by itself): exit 0 either way.
    async fn run(&self, verb: &str, fake: &XFake, dir: &std::path::Path, lines: usize) {
        let args = the_command(verb);
        assert!(
            args.contains(&"firehose://tweet-indexer-stream".to_owned()),
            "{args:?}"
        );
        let before = self.lines().await;
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let url = fake.url();
        let mut running = Running::spawn_in(
            dir,
            &argv,
            &[
                ("X_API_URL", url.as_str()),
                ("X_BEARER_TOKEN", TOKEN),
                ("AWS_ENDPOINT_URL_FIREHOSE", &self.moto),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("AWS_REGION", "us-east-1"),
            ],
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut landed = 0;
        while landed < lines && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            landed = self.lines().await - before;
        }
        if !running.exited() {
            running.signal("TERM");
        }
        let (code, stderr) = running.wait();
        assert_eq!(code, Some(0), "{verb}: {stderr}");
        assert_eq!(landed, lines, "{verb}: the lines in S3");
    }
}

/// `stream` delivers the streamed tweets, `compliance-stream` the events of its partition,
/// `comply` the job's results (it ends by itself once they are delivered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_commands_deliver_to_firehose() {
    let Some(moto) = testkit::peer("S3_ENDPOINT_URL") else {
        return;
    };
    let firehose = Firehose::new(moto).await;
    let dir = std::env::temp_dir().join(format!("capture-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let body: String = (1..=5)
        .map(|i| format!("{}\r\n", tweet_line(&i.to_string(), "7", "readme")))
        .collect();
    let fake = XFake::start(
        TOKEN,
        vec![Reply::Stream {
            gzip: true,
            steps: vec![Step::send(&body), Step::Sleep(Duration::from_secs(3600))],
        }],
    )
    .await
    .unwrap();
    firehose.run("stream", &fake, &dir, 5).await;

    let args = the_command("compliance-stream");
    let at = |flag: &str| {
        let i = args.iter().position(|a| a == flag).unwrap();
        args[i + 1].clone()
    };
    let body: String = (1..=3)
        .map(|i| {
            let tweet = serde_json::json!({"tweet": {"id": i.to_string(), "author_id": "7"}});
            format!(
                "{}\r\n",
                compliance_line("delete", tweet, "2024-05-01T10:00:00.000Z")
            )
        })
        .collect();
    fake.script_compliance(
        &at("--type"),
        at("--partition").parse().unwrap(),
        vec![Reply::Stream {
            gzip: true,
            steps: vec![Step::send(&body), Step::Sleep(Duration::from_secs(3600))],
        }],
    );
    firehose.run("compliance-stream", &fake, &dir, 3).await;

    let args = the_command("comply");
    let ids = args
        .iter()
        .position(|a| a == "--ids")
        .map(|i| args[i + 1].clone())
        .unwrap();
    std::fs::write(dir.join(&ids), "11\n12\n13\n").unwrap();
    fake.configure_jobs(JobsConfig {
        results: [("12", "deleted"), ("13", "protected")]
            .into_iter()
            .map(|(id, reason)| {
                let line = serde_json::json!({"action": "delete", "reason": reason});
                (id.to_owned(), line)
            })
            .collect(),
        // Complete at the first poll: the README's command keeps its 30 s poll interval.
        polls_to_complete: 1,
        ..JobsConfig::default()
    });
    firehose.run("comply", &fake, &dir, 2).await;
    std::fs::remove_dir_all(&dir).unwrap();
}
