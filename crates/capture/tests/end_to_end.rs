//! End to end, both real binaries: the X fake streams a few hundred corpus tweets on the
//! filtered stream (gzip cut anywhere, keep-alives, out of order, a drop mid-record, a
//! reconnect with redelivered tweets) and, on the tweets compliance stream (where X sends
//! deletes: never on the filtered stream), the delete of one of them, redelivered by a
//! backfill -> `tweet-capture stream` and `tweet-capture compliance-stream --type tweets
//! --partition 1`, both `--to firehose://NAME` (moto Firehose with an S3 destination) ->
//! SIGTERM -> the S3 objects -> `tweet-indexer index s3://bucket/prefix` -> osmem-server:
//! every streamed tweet is one document, the deleted one a tombstone. The same through
//! `--to dir://PATH` -> `tweet-indexer index PATH`. And a batch compliance job over indexed
//! corpus tweets: `tweet-capture comply --to dir://PATH` (the fake's documented job flow) ->
//! `tweet-indexer index PATH`: the job's results reach the index.
//!
//! `tweet-indexer` is the workspace's other binary: it is found beside this test's own
//! executable (`cargo test --workspace` builds it); without it the test is skipped, like a
//! missing peer (and fails under `REQUIRE_PEERS=1`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::xfake::jobs::JobsConfig;
use testkit::xfake::{Reply, Step, XFake, compliance_line};

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
    /// Partition 1 of the tweets compliance stream.
    compliance: Vec<Reply>,
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
    let delete = compliance_line(
        "delete",
        serde_json::json!({"tweet": {"id": deleted, "author_id": author["data"]["author_id"]}}),
        "2024-05-01T10:05:00.000Z",
    );
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
        // 2: a backfill redelivers 25 tweets already sent, then the rest, a keep-alive, and
        //    the stream stays open until SIGTERM.
        Reply::Stream {
            gzip: true,
            steps: vec![
                Step::split(&crlf(&first[first.len() - 25..]), 7),
                Step::split(&crlf(second), 53),
                Step::keep_alive(),
                Step::Sleep(Duration::from_secs(3600)),
            ],
        },
    ];
    // The compliance stream: the delete, the socket drops; the reconnect asks for backfill
    // and gets the delete again (dropped by the dedup window), then keep-alives.
    let compliance = vec![
        Reply::Stream {
            gzip: true,
            steps: vec![Step::split(&format!("{delete}\r\n"), 3), Step::Drop],
        },
        Reply::Stream {
            gzip: true,
            steps: vec![Step::keep_alive(), Step::Sleep(Duration::from_secs(3600))],
        },
    ];
    Scenario {
        script,
        compliance,
        ids: tweets.iter().map(|(id, _)| id.clone()).collect(),
        deleted,
        lines: TWEETS + 1,
    }
}

/// The fake playing the scenario on both streams.
async fn start_fake(scenario: &Scenario) -> XFake {
    let fake = XFake::start(TOKEN, scenario.script.clone()).await.unwrap();
    fake.script_compliance("tweets", 1, scenario.compliance.clone());
    fake
}

/// The filtered stream's capture into `to[0]` and partition 1 of the tweets compliance
/// stream's into `to[1]` (with backfill, as the README recommends).
fn spawn_captures(fake: &XFake, to: [&str; 2], envs: &[(&str, &str)]) -> [Running; 2] {
    let url = fake.url();
    let mut all = vec![
        ("X_API_URL", url.as_str()),
        ("X_BEARER_TOKEN", TOKEN),
        ("RUST_LOG", "debug"),
    ];
    all.extend_from_slice(envs);
    [
        Running::spawn(&["stream", "--to", to[0]], &all),
        Running::spawn(
            &[
                "compliance-stream",
                "--type",
                "tweets",
                "--partition",
                "1",
                "--backfill-minutes",
                "5",
                "--to",
                to[1],
            ],
            &all,
        ),
    ]
}

/// SIGTERM, then the capture must flush and exit 0 without ever logging the token.
fn stop_capture(capture: Running) -> String {
    capture.signal("TERM");
    let (code, stderr) = capture.wait();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains(TOKEN), "the token is in the logs");
    stderr
}

/// Both captures made their two connections.
async fn wait_for_connections(fake: &XFake) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let both = || fake.connections() == 2 && fake.compliance_connections("tweets", 1) == 2;
    while !both() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        both(),
        "{} and {}",
        fake.connections(),
        fake.compliance_connections("tweets", 1)
    );
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

/// Runs `tweet-indexer index INPUT`; what it printed (its summary lines are on stderr).
fn run_indexer(
    indexer: &Path,
    osmem: &str,
    index: &str,
    input: &str,
    envs: &[(&str, &str)],
) -> String {
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
    stderr.into_owned()
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

    let fake = start_fake(&scenario).await;
    let to = format!("firehose://{stream_name}");
    let children = spawn_captures(&fake, [&to, &to], &aws_env);
    wait_for_connections(&fake).await;
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
    for child in children {
        let stderr = stop_capture(child);
        assert!(stderr.contains("\"CloudWatchMetrics\""), "no EMF line");
    }
    let (counts, deletes, objects) = read_all().await;
    assert!(objects >= 2, "one S3 object per PutRecordBatch call");
    assert_eq!(
        counts.keys().cloned().collect::<BTreeSet<_>>(),
        scenario.ids
    );
    assert!(counts.values().all(|&n| n == 1), "a tweet sent twice");
    assert_eq!(deletes, vec![scenario.deleted.clone()]);

    let index = "capture-e2e-firehose";
    let _ = run_indexer(
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
    let fake = start_fake(&scenario).await;
    // One directory per capture (a dir:// capture recovers the leftovers of its directory
    // at start); the indexer reads both, recursively.
    let to = [
        format!("dir://{}", dir.join("stream").display()),
        format!("dir://{}", dir.join("compliance").display()),
    ];
    let children = spawn_captures(&fake, [&to[0], &to[1]], &[]);
    wait_for_connections(&fake).await;
    // Files are completed on close, so there is nothing to poll: give the readers a moment
    // to take in the second connections' bytes (all sent at once, then a long sleep).
    tokio::time::sleep(Duration::from_secs(2)).await;
    for child in children {
        stop_capture(child);
    }
    let mut counts = BTreeMap::new();
    let mut deletes = Vec::new();
    let entries = ["stream", "compliance"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(dir.join(sub)).unwrap());
    for entry in entries {
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
    let _ = run_indexer(&indexer, &osmem, index, dir.to_str().unwrap(), &[]);
    assert_index(&osmem, index, &scenario).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The documents of `index` by id: `(deleted, the source)`.
async fn documents(osmem: &str, index: &str) -> BTreeMap<String, serde_json::Value> {
    let http = search_sink::https::reqwest_client_builder()
        .unwrap()
        .build()
        .unwrap();
    http.post(format!("{osmem}/{index}/_refresh"))
        .send()
        .await
        .unwrap();
    let found: serde_json::Value = http
        .post(format!("{osmem}/{index}/_search"))
        .json(&serde_json::json!({"size": 10_000, "query": {"match_all": {}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    found["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["_id"].as_str().unwrap().to_owned(), h["_source"].clone()))
        .collect()
}

/// `tweet-capture comply` (a tweets job and a users job over indexed corpus tweets, the fake
/// following X's documented job flow) writing to `dir://`, then `tweet-indexer index` of
/// those directories: every result line is read (none invalid) and applied: the tweets X
/// reports deleted become tombstones, the geo-scrubbed one loses its location, the edited one
/// and the suspended user's tweets are `suppressed` (with their reasons), and every other
/// document (the clean users' tweets) stays as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comply_to_dir_then_index_the_results_into_osmem() {
    let Some(osmem) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let (Some(shared), Some(indexer)) = (testkit::shared_dir(), indexer_binary()) else {
        return;
    };
    let tweets = corpus_lines(&shared, 40);
    let dir = std::env::temp_dir().join(format!("capture-e2e-comply-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let captured = dir.join("captured.ndjson");
    std::fs::write(
        &captured,
        tweets
            .iter()
            .map(|(_, l)| format!("{l}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let index = "capture-e2e-comply";
    let _ = run_indexer(&indexer, &osmem, index, captured.to_str().unwrap(), &[]);
    let before = documents(&osmem, index).await;
    assert_eq!(before.len(), tweets.len());

    // X's view: five deleted (new and older result formats), one geo-scrubbed, one edited;
    // one author suspended.
    let ids: Vec<&str> = tweets.iter().map(|(id, _)| id.as_str()).collect();
    let deleted = &ids[..5];
    let redacted = "2024-05-02T08:30:00.000Z";
    let mut results = BTreeMap::new();
    for (n, id) in deleted.iter().enumerate() {
        let line = if n % 2 == 0 {
            serde_json::json!({"action": "delete", "reason": "deleted", "redacted_at": redacted})
        } else {
            serde_json::json!({"reason": "protected"})
        };
        results.insert((*id).to_owned(), line);
    }
    results.insert(
        ids[5].to_owned(),
        serde_json::json!({"action": "scrub_geo", "reason": "geo_scrubbed"}),
    );
    results.insert(
        ids[6].to_owned(),
        serde_json::json!({"action": "rehydrate", "reason": "tweet_edited"}),
    );
    let authors: BTreeSet<String> = tweets
        .iter()
        .map(|(_, line)| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            v["data"]["author_id"].as_str().unwrap().to_owned()
        })
        .collect();
    let suspended = authors.iter().next().unwrap().clone();
    results.insert(
        suspended.clone(),
        serde_json::json!({"action": "delete", "reason": "suspended", "redacted_at": redacted}),
    );
    let fake = XFake::start(TOKEN, vec![]).await.unwrap();
    fake.configure_jobs(JobsConfig {
        results,
        polls_to_complete: 2,
        ..JobsConfig::default()
    });
    let url = fake.url();
    let env = [("X_API_URL", url.as_str()), ("X_BEARER_TOKEN", TOKEN)];
    for (kind, list) in [
        ("tweets", ids.clone()),
        ("users", authors.iter().map(String::as_str).collect()),
    ] {
        let file = dir.join(format!("{kind}-ids.txt"));
        std::fs::write(
            &file,
            list.iter().map(|i| format!("{i}\n")).collect::<String>(),
        )
        .unwrap();
        let to = format!("dir://{}", dir.join(kind).display());
        let running = Running::spawn(
            &[
                "comply",
                "--type",
                kind,
                "--ids",
                file.to_str().unwrap(),
                "--poll-interval",
                "1s",
                "--to",
                &to,
            ],
            &env,
        );
        let (code, stderr) = running.wait();
        assert_eq!(code, Some(0), "comply --type {kind}: {stderr}");
    }

    // What the indexer says of each directory: records -> documents, deletes, control
    // messages, invalid; and what it deleted.
    let users = authors.len();
    for (kind, summary) in [
        (
            "tweets",
            "7 records -> 0 documents, 5 deletes, 0 control messages, 0 invalid, 0 warnings, 2 compliance events".to_owned(),
        ),
        (
            "users",
            format!(
                "{users} records -> 0 documents, 0 deletes, 0 control messages, 0 invalid, 0 warnings, {users} compliance events"
            ),
        ),
    ] {
        let said = run_indexer(
            &indexer,
            &osmem,
            index,
            dir.join(kind).to_str().unwrap(),
            &[],
        );
        assert!(said.contains(&summary), "{kind}: {said}");
        let deleted = if kind == "tweets" { 5 } else { 0 };
        assert!(
            said.contains(&format!("deleted {deleted} (0 not found)")),
            "{said}"
        );
    }

    let after = documents(&osmem, index).await;
    assert_eq!(after.len(), before.len(), "no document lost or added");
    for (id, source) in &after {
        if deleted.contains(&id.as_str()) {
            assert_eq!(
                source,
                &serde_json::json!({"deleted": true}),
                "{id} is a tombstone"
            );
            continue;
        }
        let mut want = before[id].clone();
        let doc = want.as_object_mut().unwrap();
        if id == ids[5] {
            for field in ["coordinates", "place", "geo_source"] {
                doc.remove(field);
            }
        }
        // In the order documents list them: user_protect, user_suspend, user_delete, drop,
        // edited.
        let mut reasons = Vec::new();
        if doc["user"]["id"].as_u64().map(|a| a.to_string()).as_ref() == Some(&suspended) {
            reasons.push("user_suspend");
        }
        if id == ids[6] {
            reasons.push("edited");
        }
        if !reasons.is_empty() {
            doc.insert("suppressed".into(), serde_json::json!(true));
            doc.insert("suppressed_reasons".into(), serde_json::json!(reasons));
        }
        assert_eq!(source, &want, "{id}");
    }
    assert!(
        after
            .values()
            .any(|d| d["suppressed_reasons"] == serde_json::json!(["user_suspend"])),
        "the suspended user's tweets are suppressed"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
