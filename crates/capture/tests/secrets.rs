//! No credential in anything `tweet-capture` prints, at TRACE: `stream --to firehose://NAME`
//! and `--to kinesis://NAME` against moto with session credentials (the AWS SDK signs every
//! PutRecordBatch / PutRecords), reading the loopback X fake with a bearer token, under
//! `RUST_LOG=trace` and under a span filter that would enable every event inside the SDK's
//! request spans; stopped by SIGTERM once moto holds every tweet.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::secrets::{self, AWS_SESSION_ENV};
use testkit::xfake::{Reply, Step, XFake, tweet_line};

mod common;
use common::{create_delivery_stream_to_s3, kinesis_client, s3_texts, shard_records};

const X_TOKEN: &str = "x-bearer-B1-never-in-any-log";
const TWEETS: usize = 5;

/// Where the run's records land in moto, to wait for them: every tweet must be there before
/// the capture is stopped (a shard that showed only some of them came from this test not
/// reading the binary's stderr while it ran: at TRACE the pipe filled, every write to stderr
/// blocked and the capture stood still until the test read the pipe after SIGTERM).
enum Landing {
    Firehose {
        s3: aws_sdk_s3::Client,
        bucket: String,
        prefix: String,
    },
    Kinesis {
        client: aws_sdk_kinesis::Client,
        stream: String,
    },
}

impl Landing {
    /// How many streamed tweets moto holds so far.
    async fn tweets(&self) -> usize {
        let texts: Vec<String> = match self {
            Landing::Firehose { s3, bucket, prefix } => s3_texts(s3, bucket, prefix).await,
            Landing::Kinesis { client, stream } => {
                let shards = client.list_shards().stream_name(stream).send().await;
                let shard = shards.expect("list shards").shards()[0]
                    .shard_id()
                    .to_owned();
                shard_records(client, stream, &shard)
                    .await
                    .into_iter()
                    .map(|(_, data)| String::from_utf8_lossy(&data).into_owned())
                    .collect()
            }
        };
        texts
            .iter()
            .map(|t| t.matches("\"edit_history_tweet_ids\"").count())
            .sum()
    }
}

/// Streams [`TWEETS`] tweets to `to` with session credentials and `RUST_LOG`, waits until moto
/// holds them, stops the binary with SIGTERM and returns what it printed (read while it runs:
/// a pipe nobody reads stops a process that logs at TRACE).
async fn stream(moto: &str, to: &str, rust_log: &str, landing: &Landing) -> String {
    let body: String = (1..=TWEETS)
        .map(|i| format!("{}\r\n", tweet_line(&i.to_string(), "7", "secrets")))
        .collect();
    let fake = XFake::start(
        X_TOKEN,
        vec![Reply::Stream {
            gzip: true,
            steps: vec![Step::send(&body), Step::Sleep(Duration::from_secs(3600))],
        }],
    )
    .await
    .expect("X fake");
    let child = Command::new(env!("CARGO_BIN_EXE_tweet-capture"))
        .args(["stream", "--to", to])
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .envs(AWS_SESSION_ENV)
        .env("X_API_URL", fake.url())
        .env("X_BEARER_TOKEN", X_TOKEN)
        .env("AWS_ENDPOINT_URL_FIREHOSE", moto)
        .env("AWS_ENDPOINT_URL_KINESIS", moto)
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tweet-capture");
    let pid = child.id().to_string();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut landed = 0;
    while landed < TWEETS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        landed = landing.tweets().await;
    }
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = output.await.expect("join").expect("tweet-capture output");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(landed, TWEETS, "{to}: tweets in moto\n{printed}");
    printed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_to_firehose_and_kinesis_at_trace_prints_no_credential() {
    let Some(moto) = testkit::peer("S3_ENDPOINT_URL") else {
        return;
    };
    let kinesis = kinesis_client(&moto);
    let mut runs = Vec::new();
    for (n, rust_log) in ["trace", "warn,[try_attempt]=trace"]
        .into_iter()
        .enumerate()
    {
        let name = format!("capture-secrets-{}-{n}", std::process::id());
        let (s3, _) = create_delivery_stream_to_s3(&moto, &name, &name, "in/").await;
        let landing = Landing::Firehose {
            s3,
            bucket: name.clone(),
            prefix: "in/".into(),
        };
        runs.push((format!("firehose://{name}"), rust_log, landing));
        kinesis
            .create_stream()
            .stream_name(&name)
            .shard_count(1)
            .send()
            .await
            .expect("create the Kinesis stream");
        let landing = Landing::Kinesis {
            client: kinesis.clone(),
            stream: name.clone(),
        };
        runs.push((format!("kinesis://{name}"), rust_log, landing));
    }
    for (to, rust_log, landing) in runs {
        let printed = stream(&moto, &to, rust_log, &landing).await;
        // The SDK's traces of its requests are there, only not the credentials.
        assert!(printed.contains("try_attempt"), "{to}: no SDK traces");
        if rust_log == "trace" {
            assert!(printed.contains("\"TRACE\""), "{to}: not at TRACE");
        }
        let what = format!("tweet-capture --to {to} with RUST_LOG={rust_log}");
        secrets::assert_no_leak(&what, &printed);
        assert!(!printed.contains(X_TOKEN), "{what}: the X bearer token");
    }
}
