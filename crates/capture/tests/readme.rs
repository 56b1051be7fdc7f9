//! The README's "Capturing tweets" commands, word for word, run by the built binary: the
//! `rules add` line against the X fake (the rule and tag arrive), the `stream` line against
//! the X fake and moto Firehose (the tweets land in S3; SIGTERM exits 0). A README edit that
//! breaks either command fails here.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::xfake::{Reply, Step, XFake, tweet_line};

mod common;
use common::{create_delivery_stream_to_s3, s3_texts};

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
    assert_eq!(commands.len(), 2, "two commands: rules and stream");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_stream_command_delivers_to_firehose() {
    let Some(moto) = testkit::peer("S3_ENDPOINT_URL") else {
        return;
    };
    let args = the_command("stream");
    let to = args
        .iter()
        .position(|a| a == "--to")
        .map(|i| args[i + 1].clone())
        .unwrap();
    let stream_name = to
        .strip_prefix("firehose://")
        .expect("the README streams to Firehose");
    let bucket = "capture-readme";
    let (s3, _) = create_delivery_stream_to_s3(&moto, stream_name, bucket, "readme/").await;
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
    let child = Command::new(env!("CARGO_BIN_EXE_tweet-capture"))
        .args(&args)
        .env("X_API_URL", fake.url())
        .env("X_BEARER_TOKEN", TOKEN)
        .env("AWS_ENDPOINT_URL_FIREHOSE", &moto)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = 0;
    while lines < 5 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        lines = s3_texts(&s3, bucket, "readme/")
            .await
            .iter()
            .map(|text| text.matches('\n').count())
            .sum();
    }
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines, 5, "the five streamed tweets in S3");
}
