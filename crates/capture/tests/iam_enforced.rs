//! `tweet-capture stream` with the producer policies and nothing else: moto with IAM enforced
//! (`testkit::iam_moto`), the binary given the keys of a user whose only policy is
//! `policies/capture-task.json` (the template's capture task role) or
//! `policies/kinesis-producer.json` (the policy the template offers producers of the created
//! stream), rendered for the stack. The start-up sink check (`DescribeDeliveryStream` /
//! `DescribeStreamSummary`) and the puts (`PutRecordBatch` / `PutRecords`) must be allowed;
//! a stream outside the policy must be refused before X is read.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use testkit::iam_moto::{BUCKET, DELIVERY_STREAM, IamMoto, KINESIS_STREAM, Keys, stack_values};
use testkit::xfake::{Reply, Step, XFake, tweet_line};

mod common;
use common::{Running, shard_records};

const TOKEN: &str = "iam-enforced-token";
const TWEETS: std::ops::Range<u64> = 9000..9012;

fn start_moto() -> Option<IamMoto> {
    IamMoto::start(&serde_json::json!({
        "values": stack_values(),
        "buckets": [{"name": BUCKET}],
        "delivery_streams": [
            {"name": DELIVERY_STREAM, "bucket": BUCKET, "prefix": "tweets/"},
            {"name": "another-stream", "bucket": BUCKET, "prefix": "another/"},
        ],
        "kinesis_streams": [KINESIS_STREAM, "another-stream"],
        "principals": {
            "capture": ["capture-task.json"],
            "producer": ["kinesis-producer.json"],
        },
    }))
}

fn script() -> Vec<Reply> {
    let body: String = TWEETS
        .map(|i| format!("{}\r\n", tweet_line(&i.to_string(), "7", "iam")))
        .collect();
    vec![Reply::Stream {
        gzip: true,
        steps: vec![Step::send(&body), Step::Sleep(Duration::from_secs(3600))],
    }]
}

fn want() -> BTreeSet<String> {
    TWEETS.map(|i| i.to_string()).collect()
}

fn aws_env<'a>(keys: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    keys.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn spawn(fake: &XFake, to: &str, keys: &Keys, endpoint: &str) -> Running {
    let url = fake.url();
    let aws = keys.env(endpoint);
    let mut envs = aws_env(&aws);
    envs.extend([("X_API_URL", url.as_str()), ("X_BEARER_TOKEN", TOKEN)]);
    Running::spawn(&["stream", "--to", to], &envs)
}

/// Waits (bounded) until `read` finds every tweet, then stops the capture: it must exit 0.
async fn deliver_all<F, Fut>(capture: Running, read: F) -> BTreeSet<String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<String>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut ids = Vec::new();
    while Instant::now() < deadline {
        ids = read().await;
        if ids.len() >= TWEETS.count() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    capture.signal("TERM");
    let (code, stderr) = tokio::task::block_in_place(|| capture.wait());
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(ids.len(), TWEETS.count(), "each tweet once: {ids:?}");
    ids.into_iter().collect()
}

fn tweet_id(line: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(line).expect("a tweet line");
    value["data"]["id"].as_str().expect("data.id").to_owned()
}

fn admin_s3(moto: &IamMoto) -> aws_sdk_s3::Client {
    let keys = moto.keys("admin");
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .http_client(search_sink::https::aws_http_client())
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                &keys.access_key_id,
                &keys.secret_access_key,
                None,
                None,
                "iam-moto",
            ))
            .endpoint_url(moto.endpoint())
            .force_path_style(true)
            .build(),
    )
}

fn admin_kinesis(moto: &IamMoto) -> aws_sdk_kinesis::Client {
    let keys = moto.keys("admin");
    aws_sdk_kinesis::Client::from_conf(
        aws_sdk_kinesis::Config::builder()
            .http_client(search_sink::https::aws_http_client())
            .behavior_version(aws_sdk_kinesis::config::BehaviorVersion::latest())
            .region(aws_sdk_kinesis::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_kinesis::config::Credentials::new(
                &keys.access_key_id,
                &keys.secret_access_key,
                None,
                None,
                "iam-moto",
            ))
            .endpoint_url(moto.endpoint())
            .build(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capture_task_role_checks_and_puts_into_its_delivery_stream() {
    let Some(moto) = start_moto() else {
        return;
    };
    let fake = XFake::start(TOKEN, script()).await.expect("X fake");
    let capture = spawn(
        &fake,
        &format!("firehose://{DELIVERY_STREAM}"),
        moto.keys("capture"),
        moto.endpoint(),
    );
    let s3 = admin_s3(&moto);
    let read = || async {
        let listed = s3
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix("tweets/")
            .send()
            .await
            .expect("list");
        let mut ids = Vec::new();
        for key in listed.contents().iter().filter_map(|o| o.key()) {
            let body = s3
                .get_object()
                .bucket(BUCKET)
                .key(key)
                .send()
                .await
                .expect("get")
                .body
                .collect()
                .await
                .expect("body")
                .into_bytes();
            ids.extend(
                body.split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(tweet_id),
            );
        }
        ids
    };
    assert_eq!(deliver_all(capture, read).await, want());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kinesis_producer_checks_and_puts_into_the_created_stream() {
    let Some(moto) = start_moto() else {
        return;
    };
    let fake = XFake::start(TOKEN, script()).await.expect("X fake");
    let capture = spawn(
        &fake,
        &format!("kinesis://{KINESIS_STREAM}"),
        moto.keys("producer"),
        moto.endpoint(),
    );
    let kinesis = admin_kinesis(&moto);
    let shard = kinesis
        .list_shards()
        .stream_name(KINESIS_STREAM)
        .send()
        .await
        .expect("list shards")
        .shards()[0]
        .shard_id()
        .to_owned();
    let read = || async {
        shard_records(&kinesis, KINESIS_STREAM, &shard)
            .await
            .into_iter()
            .map(|(_, data)| tweet_id(&data))
            .collect()
    };
    assert_eq!(deliver_all(capture, read).await, want());
}

/// The enforcement is real: another stream of the same account, and the other service, are
/// refused at the start-up check, before X is read (exit 4: a permanent refusal, named).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_outside_the_policy_are_refused_before_x_is_read() {
    let Some(moto) = start_moto() else {
        return;
    };
    let fake = XFake::start(TOKEN, script()).await.expect("X fake");
    for (principal, to) in [
        ("capture", "firehose://another-stream"),
        ("capture", "kinesis://tweet-indexer-tweets"),
        ("producer", "kinesis://another-stream"),
        ("producer", "firehose://tweet-indexer-tweets"),
    ] {
        let capture = spawn(&fake, to, moto.keys(principal), moto.endpoint());
        let (code, stderr) = tokio::task::block_in_place(|| capture.wait());
        assert_eq!(code, Some(4), "{principal} {to}: {stderr}");
        assert!(
            stderr.contains("AccessDenied"),
            "{principal} {to}: {stderr}"
        );
    }
    assert_eq!(fake.connections(), 0, "X was never read");
}
