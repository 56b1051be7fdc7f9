//! End to end, both real binaries: the X fake streams a few hundred corpus tweets (gzip cut
//! anywhere, keep-alives, out of order, a drop mid-record, a reconnect with redelivered
//! tweets, a delete) -> `tweet-capture stream --to firehose://NAME` (moto Firehose with an S3
//! destination) -> SIGTERM -> the S3 objects -> `tweet-indexer index s3://bucket/prefix` ->
//! osmem-server: every streamed tweet is one document, the deleted one a tombstone. The same
//! through `--to dir://PATH` -> `tweet-indexer index PATH`.
//!
//! `tweet-indexer` is the workspace's other binary: it is found beside this test's own
//! executable (`cargo test --workspace` builds it); without it the test is skipped, like a
//! missing peer (and fails under `REQUIRE_PEERS=1`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::xfake::{Reply, Step, XFake};

mod common;
use common::{Running, create_delivery_stream_to_s3, s3_texts};

const TOKEN: &str = "e2e-token-never-in-the-logs";
const TWEETS: usize = 300;

/// The `tweet-indexer` binary next to this test (target/<profile>/tweet-indexer).
fn indexer_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe
        .parent()?
        .parent()?
        .join(format!("tweet-indexer{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("REQUIRE_PEERS").is_ok_and(|v| v == "1") {
        panic!(
            "{} is missing but REQUIRE_PEERS=1: build the workspace (cargo test --workspace)",
            path.display()
        );
    }
    eprintln!(
        "skipped: {} not built (cargo build -p tweet-indexer)",
        path.display()
    );
    None
}

/// What the fake streams and what must come out of the index.
struct Scenario {
    script: Vec<Reply>,
    /// Every tweet id streamed (each at least once, some twice).
    ids: BTreeSet<String>,
    deleted: String,
    /// Lines a sink must hold: one per tweet id, plus the delete.
    lines: usize,
}

/// Corpus v2 tweet objects the indexer turns into a document, as filtered-stream lines.
fn corpus_lines(shared: &Path, n: usize) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(shared.join("corpus/tweets_v2_objects.ndjson")).unwrap();
    let extractor = tweets::Extractor::new(tweets::ExtractorOptions::default());
    let mut out = Vec::new();
    for raw in text.lines() {
        let v: serde_json::Value = serde_json::from_str(raw).unwrap();
        if v["created_at"].as_str().is_none() || v["author_id"].as_str().is_none() {
            continue;
        }
        let id = v["id"].as_str().unwrap().to_owned();
        // The bytes exactly as the corpus has them, wrapped as the stream sends them.
        let line = format!(r#"{{"data":{raw},"matching_rules":[{{"id":"1","tag":"e2e"}}]}}"#);
        let documents: Vec<String> = extractor
            .items(line.as_bytes())
            .filter_map(|item| match item {
                tweets::Item::Document { id, .. } => Some(id),
                _ => None,
            })
            .collect();
        if documents == [id.clone()] {
            out.push((id, line));
        }
        if out.len() == n {
            break;
        }
    }
    assert_eq!(out.len(), n, "the corpus has {n} usable v2 tweets");
    out
}

fn scenario(shared: &Path) -> Scenario {
    let mut tweets = corpus_lines(shared, TWEETS);
    // Out of order: the stream does not promise id or time order.
    fastrand::Rng::with_seed(13).shuffle(&mut tweets);
    let crlf = |lines: &[(String, String)]| {
        let mut body = String::new();
        for (i, (_, line)) in lines.iter().enumerate() {
            if i % 25 == 0 {
                body.push_str("\r\n"); // a keep-alive between records
            }
            body.push_str(line);
            body.push_str("\r\n");
        }
        body
    };
    let split = TWEETS / 2;
    let (first, second) = tweets.split_at(split);
    let cut = &second[0].1;
    let deleted = first[10].0.clone();
    let author = first[10].1.clone();
    let author: serde_json::Value = serde_json::from_str(&author).unwrap();
    let delete = serde_json::json!({"data": {"delete": {
        "tweet": {"id": deleted, "author_id": author["data"]["author_id"]},
        "event_at": "2024-05-01T10:05:00.000Z"}}})
    .to_string();
    let script = vec![
        // 1: gzip cut into many pieces (mid-record, mid-UTF-8, mid-block), then the socket
        //    drops in the middle of the next record.
        Reply::Stream {
            gzip: true,
            steps: vec![
                Step::split(&crlf(first), 97),
                Step::split(&cut[..cut.len() / 2], 1),
                Step::Drop,
            ],
        },
        // 2: a backfill redelivers 25 tweets already sent, then the rest, the delete, a
        //    keep-alive, and the stream stays open until SIGTERM.
        Reply::Stream {
            gzip: true,
            steps: vec![
                Step::split(&crlf(&first[first.len() - 25..]), 7),
                Step::split(&crlf(second), 53),
                Step::send(&format!("{delete}\r\n")),
                Step::keep_alive(),
                Step::Sleep(Duration::from_secs(3600)),
            ],
        },
    ];
    Scenario {
        script,
        ids: tweets.iter().map(|(id, _)| id.clone()).collect(),
        deleted,
        lines: TWEETS + 1,
    }
}

fn spawn_capture(fake: &XFake, to: &str, envs: &[(&str, &str)]) -> Running {
    let url = fake.url();
    let mut all = vec![
        ("X_API_URL", url.as_str()),
        ("X_BEARER_TOKEN", TOKEN),
        ("RUST_LOG", "debug"),
    ];
    all.extend_from_slice(envs);
    Running::spawn(&["stream", "--to", to], &all)
}

/// SIGTERM, then the capture must flush and exit 0 without ever logging the token.
fn stop_capture(capture: Running) -> String {
    capture.signal("TERM");
    let (code, stderr) = capture.wait();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains(TOKEN), "the token is in the logs");
    stderr
}

async fn wait_for_connections(fake: &XFake, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while fake.connections() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fake.connections(), n);
}

/// Per tweet id, how many lines of `text` carry it; and the delete notices' ids.
fn tally(text: &str, counts: &mut BTreeMap<String, usize>, deletes: &mut Vec<String>) {
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(id) = v["data"]["delete"]["tweet"]["id"].as_str() {
            deletes.push(id.to_owned());
        } else {
            *counts
                .entry(v["data"]["id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
}

fn run_indexer(indexer: &Path, osmem: &str, index: &str, input: &str, envs: &[(&str, &str)]) {
    let out = Command::new(indexer)
        .args([
            "index",
            "--endpoint",
            osmem,
            "--index",
            index,
            "--auth",
            "none",
        ])
        .arg(input)
        .env_remove("ES_ENDPOINT")
        .env_remove("ES_INDEX")
        .env_remove("DEAD_LETTER_BUCKET")
        .env_remove("DEAD_LETTER_FILE")
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tweet-indexer failed: {stderr}");
}

/// The index holds every streamed tweet exactly once, the deleted one as a tombstone.
async fn assert_index(osmem: &str, index: &str, scenario: &Scenario) {
    let http = search_sink::https::reqwest_client_builder()
        .unwrap()
        .build()
        .unwrap();
    let refresh = http
        .post(format!("{osmem}/{index}/_refresh"))
        .send()
        .await
        .unwrap();
    assert!(refresh.status().is_success());
    let count: serde_json::Value = http
        .post(format!("{osmem}/{index}/_count"))
        .json(&serde_json::json!({"query": {"match_all": {}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count["count"].as_u64(), Some(scenario.ids.len() as u64));
    let found: serde_json::Value = http
        .post(format!("{osmem}/{index}/_search"))
        .json(&serde_json::json!({
            "size": 10_000, "_source": ["deleted", "id_str"], "query": {"match_all": {}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hits = found["hits"]["hits"].as_array().unwrap();
    let mut ids = BTreeMap::new();
    let mut tombstones = Vec::new();
    for hit in hits {
        let id = hit["_id"].as_str().unwrap().to_owned();
        if hit["_source"]["deleted"] == serde_json::json!(true) {
            tombstones.push(id.clone());
        } else {
            assert_eq!(hit["_source"]["id_str"].as_str(), Some(id.as_str()));
        }
        *ids.entry(id).or_insert(0) += 1;
    }
    assert!(ids.values().all(|&n| n == 1), "an id twice in {index}");
    assert_eq!(
        ids.keys().cloned().collect::<BTreeSet<_>>(),
        scenario.ids,
        "{index} holds exactly the streamed tweets"
    );
    assert_eq!(tombstones, vec![scenario.deleted.clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_to_moto_firehose_then_index_the_s3_objects_into_osmem() {
    let (Some(osmem), Some(moto)) = (testkit::peer("OSMEM_URL"), testkit::peer("S3_ENDPOINT_URL"))
    else {
        return;
    };
    let (Some(shared), Some(indexer)) = (testkit::shared_dir(), indexer_binary()) else {
        return;
    };
    let scenario = scenario(&shared);
    let aws_env = [
        ("AWS_ENDPOINT_URL_FIREHOSE", moto.as_str()),
        ("AWS_ENDPOINT_URL_S3", moto.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ];
    let bucket = "capture-e2e";
    let prefix = "firehose/";
    let stream_name = "capture-e2e";
    let (s3, _) = create_delivery_stream_to_s3(&moto, stream_name, bucket, prefix).await;

    let fake = XFake::start(TOKEN, scenario.script.clone()).await.unwrap();
    let child = spawn_capture(&fake, &format!("firehose://{stream_name}"), &aws_env);
    wait_for_connections(&fake, 2).await;
    // moto writes one S3 object per PutRecordBatch: wait until every line has landed.
    let read_all = || async {
        let mut counts = BTreeMap::new();
        let mut deletes = Vec::new();
        let texts = s3_texts(&s3, bucket, prefix).await;
        for text in &texts {
            assert!(
                text.ends_with('\n'),
                "a Firehose record without its newline"
            );
            tally(text, &mut counts, &mut deletes);
        }
        (counts, deletes, texts.len())
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (counts, deletes, _) = read_all().await;
        if counts.values().sum::<usize>() + deletes.len() >= scenario.lines
            || Instant::now() > deadline
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stderr = stop_capture(child);
    assert!(stderr.contains("\"CloudWatchMetrics\""), "no EMF line");
    let (counts, deletes, objects) = read_all().await;
    assert!(objects >= 2, "one S3 object per PutRecordBatch call");
    assert_eq!(
        counts.keys().cloned().collect::<BTreeSet<_>>(),
        scenario.ids
    );
    assert!(counts.values().all(|&n| n == 1), "a tweet sent twice");
    assert_eq!(deletes, vec![scenario.deleted.clone()]);

    let index = "capture-e2e-firehose";
    run_indexer(
        &indexer,
        &osmem,
        index,
        &format!("s3://{bucket}/{prefix}"),
        &aws_env,
    );
    assert_index(&osmem, index, &scenario).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_to_dir_then_index_the_directory_into_osmem() {
    let Some(osmem) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let (Some(shared), Some(indexer)) = (testkit::shared_dir(), indexer_binary()) else {
        return;
    };
    let scenario = scenario(&shared);
    let dir = std::env::temp_dir().join(format!("capture-e2e-dir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let fake = XFake::start(TOKEN, scenario.script.clone()).await.unwrap();
    let child = spawn_capture(&fake, &format!("dir://{}", dir.display()), &[]);
    wait_for_connections(&fake, 2).await;
    // Files are completed on close, so there is nothing to poll: give the reader a moment
    // to take in the second connection's bytes (all sent at once, then a long sleep).
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_capture(child);
    let mut counts = BTreeMap::new();
    let mut deletes = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let mut text = String::new();
            std::io::Read::read_to_string(
                &mut flate2::read::MultiGzDecoder::new(std::fs::File::open(&path).unwrap()),
                &mut text,
            )
            .unwrap();
            tally(&text, &mut counts, &mut deletes);
        }
    }
    assert_eq!(
        counts.keys().cloned().collect::<BTreeSet<_>>(),
        scenario.ids
    );
    assert!(counts.values().all(|&n| n == 1), "a tweet written twice");
    assert_eq!(deletes, vec![scenario.deleted.clone()]);

    let index = "capture-e2e-dir";
    run_indexer(&indexer, &osmem, index, dir.to_str().unwrap(), &[]);
    assert_index(&osmem, index, &scenario).await;
    std::fs::remove_dir_all(&dir).unwrap();
}
