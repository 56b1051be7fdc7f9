//! A Kinesis batch that inflates to 1 GiB goes through the real Lambda binary in bounded memory
//! (issue 22, finding 2): eight gzip records of a few hundred KiB each, every one inflating to
//! 128 MiB of tweets and blank lines, in one event well under Lambda's 6 MB payload. The binary
//! runs as Lambda runs it, under `scripts/bench/fake_runtime.py` (a local runtime API), against
//! `scripts/bench/ack_server.py` (a search server that acknowledges every bulk item without
//! storing documents, so the server is not what is measured). The figure is the kernel's peak
//! resident set of the binary's process (`VmHWM`), read when it asks for the next event;
//! fake_runtime kills it as soon as its resident set passes the limit, so a regression fails
//! here without taking the machine's memory with it. Peak memory does not depend on the
//! machine's load: the bounded channel and the bulks in flight are the bound, not timing.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

mod common;

/// The batch's records and what each inflates to.
const RECORDS: usize = 8;
const RECORD_INFLATED: usize = 128 << 20;
/// Tweets per block; each block is followed by blank lines, and repeated.
const TWEETS_PER_BLOCK: usize = 8;
const BLANK_PER_BLOCK: usize = 18 << 10;
/// The bound: the Lambda's smallest useful memory size.
const LIMIT_MIB: u64 = 128;

/// A v1.1 tweet of about 1.2 KiB.
fn tweet(n: usize) -> String {
    let id = 1_900_000_000_000_000_000u64 + n as u64;
    let text = format!(
        "Tweet {n} of a batch that inflates to a gibibyte: plenty of words here so that \
         sentiment scoring and entity extraction have something to chew on, good and bad, \
         happy and sad, with a #hashtag{n} and a mention of @someone{n} and a link."
    );
    json!({
        "created_at": "Sun Nov 30 12:00:00 +0000 2026",
        "id": id, "id_str": id.to_string(),
        "text": text,
        "source": "<a href=\"https://example.com\" rel=\"nofollow\">example client</a>",
        "truncated": false, "lang": "en",
        "timestamp_ms": (1_764_504_000_000u64 + n as u64).to_string(),
        "user": {"id": 12_345 + n, "id_str": (12_345 + n).to_string(), "name": "Somebody",
                 "screen_name": format!("somebody{n}"), "followers_count": 42, "verified": false,
                 "location": "Somewhere", "description": "Writes tweets for tests."},
        "entities": {"hashtags": [{"text": format!("hashtag{n}"), "indices": [0, 1]}],
                     "user_mentions": [{"screen_name": format!("someone{n}"), "id_str": "7",
                                        "indices": [0, 1]}],
                     "urls": [{"url": "https://t.co/x", "expanded_url": "https://example.com/a",
                               "indices": [0, 1]}],
                     "symbols": []},
        "coordinates": null, "place": null, "is_quote_status": false,
        "retweet_count": 0, "favorite_count": 0, "filter_level": "low"
    })
    .to_string()
}

/// One record's inflated content (blocks of tweets and blank lines) and its tweet count.
fn record_content() -> (Vec<u8>, usize) {
    let mut block = Vec::new();
    for n in 0..TWEETS_PER_BLOCK {
        block.extend_from_slice(tweet(n).as_bytes());
        block.push(b'\n');
    }
    block.resize(block.len() + BLANK_PER_BLOCK, b'\n');
    let blocks = RECORD_INFLATED / block.len();
    let mut content = Vec::with_capacity(blocks * block.len());
    for _ in 0..blocks {
        content.extend_from_slice(&block);
    }
    (content, blocks * TWEETS_PER_BLOCK)
}

/// `scripts/bench/ack_server.py`, stopped when dropped.
struct AckServer {
    child: Child,
    url: String,
}

impl AckServer {
    fn start(python: &Path) -> AckServer {
        let mut child = Command::new(python)
            .arg(testkit::repo_root().join("scripts/bench/ack_server.py"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ack_server.py");
        let stdout = child.stdout.take().expect("ack server stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("ack server prints its URL");
        let started: Value = serde_json::from_str(&line).expect("ack server's first line");
        let url = started["url"].as_str().expect("url").to_owned();
        AckServer { child, url }
    }

    /// Documents received by the server, per its own count.
    async fn documents(&self) -> u64 {
        let client = search_sink::SearchClient::connect(search_sink::Config::new(&self.url))
            .await
            .expect("client");
        let response = client
            .request(search_sink::Method::Get, "_ack/stats", None)
            .await
            .expect("ack stats");
        let stats: Value = serde_json::from_slice(&response.body).expect("ack stats JSON");
        stats["documents"].as_u64().expect("documents")
    }
}

impl Drop for AckServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_inflating_to_a_gibibyte_stays_under_128_mib() {
    let Some(python) = testkit::python() else {
        return;
    };
    let (content, tweets_per_record) = record_content();
    let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
    gzip.write_all(&content).expect("gzip");
    let gzip = gzip.finish().expect("gzip");
    drop(content);
    let records = vec![gzip; RECORDS];
    let event = serde_json::to_vec(&common::kinesis_event(&records, 0)).expect("event");
    assert!(
        event.len() < 6_000_000,
        "the event ({} bytes) must fit Lambda's 6 MB payload",
        event.len()
    );
    let dir = std::env::temp_dir().join(format!("kinesis-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let event_path = dir.join("event.json");
    std::fs::write(&event_path, &event).expect("write event");
    let log = dir.join("lambda.log");

    let ack = AckServer::start(&python);
    let output = Command::new(&python)
        .arg(testkit::repo_root().join("scripts/bench/fake_runtime.py"))
        .args([
            "invoke",
            "--binary",
            env!("CARGO_BIN_EXE_tweet-indexer-lambda"),
        ])
        .arg("--event")
        .arg(&event_path)
        .arg("--log")
        .arg(&log)
        .args(["--max-rss-mib", &LIMIT_MIB.to_string()])
        .env("ES_ENDPOINT", &ack.url)
        .env("ES_INDEX", "kinesis-memory")
        .env("AWS_REGION", "us-east-1")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run fake_runtime.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "fake_runtime.py printed no result ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    println!(
        "event {} bytes, {} records inflating to {} MiB, {} documents: {result}",
        event.len(),
        RECORDS,
        (RECORDS * RECORD_INFLATED) >> 20,
        RECORDS * tweets_per_record
    );
    let peak_kib = result["vm_hwm_kib"].as_u64().unwrap_or(0);
    assert!(
        result["killed_over_rss_mib"].is_null() && result["exited"].is_null(),
        "the binary went over {LIMIT_MIB} MiB or died (log: {}): {result}",
        log.display()
    );
    assert!(peak_kib > 0 && peak_kib < LIMIT_MIB * 1024, "{result}");
    assert_eq!(
        result["response"],
        json!({"batchItemFailures": []}),
        "{result}"
    );
    assert_eq!(ack.documents().await, (RECORDS * tweets_per_record) as u64);
    let _ = std::fs::remove_dir_all(&dir);
}
