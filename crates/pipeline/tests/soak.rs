//! Pipeline-level fault soak (issue #11): objects of real tweets in mixed Firehose layouts
//! (NDJSON LF and CRLF, `}{`, the legacy array, gzip in one member and in many) with delete
//! notices, control messages, invalid records and the same tweet in several objects (newer
//! copies too) are put into moto S3 and read back through the Lambda's path (`S3Store` ->
//! `Indexer::index`) into osmem-server behind the seeded fault proxy of `testkit::faults`
//! (503, 429, resets before and after the server applied a bulk, answers slower than the
//! request timeout, 413, a write block that comes and goes); one GetObject body in five is cut
//! half-way (`testkit::faults::BodyCutter`) and must resume with a ranged GET. A failed object is retried the
//! way Lambda / SQS retry: later, in random order, with other objects in between; a third of
//! the objects are also redelivered after they succeeded.
//!
//! The final index must hold every tweet at its newest copy, a tombstone for every deleted
//! tweet (a delete wins whatever the order), one document per `_id`, and the counters must add
//! up; and every kind of fault must have been injected (the proxy's and the cutter's own
//! records, and the blocks set), or the run proved nothing. The expected set comes from the pure extractor run on each record alone.
//!
//! Tweets come from `../shared/corpus/tweets_v1.ndjson` when present, else the repository's
//! fixtures. `SOAK_OBJECTS` (default 8) and `SOAK_SEED` (default 1) size it; `scripts/soak`
//! runs it for several seeds with 200 objects.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use flate2::Compression;
use flate2::write::GzEncoder;
use pipeline::{Indexer, ObjectStore, ObjectSummary, S3Store};
use search_sink::{Config, Method, SearchClient};
use serde_json::Value;
use testkit::faults::{BodyCutter, CutRule, Fault, FaultProxy, WriteBlocker};
use tokio::time::Instant;
use tweets::{Extractor, ExtractorOptions, Item};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Layout {
    Lf,
    Crlf,
    Concatenated,
    Array,
    Gzip,
    GzipMembers,
}

const LAYOUTS: [Layout; 6] = [
    Layout::Lf,
    Layout::Crlf,
    Layout::Concatenated,
    Layout::Array,
    Layout::Gzip,
    Layout::GzipMembers,
];

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// The bytes of an object holding `records` (single-line JSON each) in `layout`.
fn encode(layout: Layout, records: &[String]) -> Vec<u8> {
    let joined = |sep: &str, end: &str| {
        let mut out = records.join(sep);
        if !records.is_empty() {
            out.push_str(end);
        }
        out.into_bytes()
    };
    match layout {
        Layout::Lf => joined("\n", "\n"),
        Layout::Crlf => joined("\r\n", "\r\n"),
        Layout::Concatenated => joined("", ""),
        Layout::Array => format!("[{}]", records.join(",\n")).into_bytes(),
        Layout::Gzip => gzip(&joined("\n", "\n")),
        Layout::GzipMembers => records
            .iter()
            .flat_map(|r| gzip(format!("{r}\n").as_bytes()))
            .collect(),
    }
}

/// Candidate tweet lines: the shared corpus's v1 tweets, else the repository's fixtures.
fn tweet_lines(wanted: usize) -> (Vec<String>, &'static str) {
    if let Some(shared) = testkit::shared_dir() {
        let text = std::fs::read_to_string(shared.join("corpus/tweets_v1.ndjson")).unwrap();
        let lines = text.lines().take(wanted * 2).map(str::to_owned).collect();
        return (lines, "shared corpus");
    }
    let root = testkit::repo_root();
    let mut lines = Vec::new();
    for path in [
        "crates/tweets/tests/fixtures/v1.ndjson",
        "tests/samples/captured.ndjson",
    ] {
        let text = std::fs::read_to_string(root.join(path)).unwrap();
        lines.extend(text.lines().map(str::to_owned));
    }
    (lines, "repository fixtures")
}

/// What one record turns into, by the pure extractor: `(id, version)` of its one document,
/// the id of its delete, or neither.
fn oracle(extractor: &Extractor, record: &str) -> (Option<(String, i64)>, Option<String>) {
    let mut items = Vec::new();
    extractor.bytes_items(record.as_bytes(), 0, &mut items);
    match items.as_slice() {
        [Item::Document { id, doc, .. }] => {
            (Some((id.clone(), doc.timestamp_ms.unwrap_or(0))), None)
        }
        [Item::Delete { id, .. }] => (None, Some(id.clone())),
        _ => (None, None),
    }
}

struct Workload {
    /// Records per object, and each object's layout.
    objects: Vec<(Layout, Vec<String>)>,
    /// Per id: `None` deleted, `Some(timestamp_ms)` live at its newest copy.
    expected: HashMap<String, Option<i64>>,
    tweets: usize,
    source: &'static str,
}

fn workload(objects: usize, seed: u64, extractor: &Extractor) -> Workload {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
    let (lines, source) = tweet_lines(objects * 6);
    let mut seen = HashSet::new();
    let mut tweets: Vec<(String, String)> = Vec::new();
    for line in lines {
        if tweets.len() >= objects * 6 {
            break;
        }
        if let (Some((id, _)), None) = oracle(extractor, &line)
            && seen.insert(id.clone())
        {
            // One line each, re-serialised (a fixture may be pretty-printed).
            let value: Value = serde_json::from_str(&line).unwrap();
            tweets.push((id, value.to_string()));
        }
    }
    assert!(!tweets.is_empty(), "no single-tweet records in {source}");
    let mut out: Vec<Vec<String>> = vec![Vec::new(); objects];
    let mut expected = HashMap::new();
    for (id, line) in &tweets {
        let mut newest = i64::MIN;
        for copy in 0..rng.usize(1..=3) {
            // Later copies are newer (a re-captured, edited or re-sent tweet): the newest wins.
            let mut value: Value = serde_json::from_str(line).unwrap();
            if copy > 0
                && let Some(ms) = value["timestamp_ms"]
                    .as_str()
                    .and_then(|t| t.parse::<i64>().ok())
            {
                value["timestamp_ms"] = Value::String((ms + copy as i64 * 1000).to_string());
            }
            let record = value.to_string();
            let (document, _) = oracle(extractor, &record);
            let (_, version) = document.expect("a copy of a tweet is still a tweet");
            newest = newest.max(version);
            out[rng.usize(0..objects)].push(record);
        }
        // One tweet in five is deleted, the notice in any object (before or after its tweet).
        if rng.u32(0..5) == 0 {
            let number: u64 = id.parse().unwrap();
            let notice = format!(
                r#"{{"delete":{{"status":{{"id":{number},"id_str":"{id}","user_id":1,"user_id_str":"1"}},"timestamp_ms":"1700000000000"}}}}"#
            );
            assert_eq!(oracle(extractor, &notice).1.as_deref(), Some(id.as_str()));
            out[rng.usize(0..objects)].push(notice);
            expected.insert(id.clone(), None);
        } else {
            expected.insert(id.clone(), Some(newest));
        }
    }
    // Control messages and invalid records ride along; they must never become documents.
    for object in &mut out {
        if rng.u32(0..4) == 0 {
            object.push(r#"{"limit":{"track":42,"timestamp_ms":"1700000000000"}}"#.to_owned());
        }
        if rng.u32(0..6) == 0 {
            object.push(r#"{"not_a_tweet":true}"#.to_owned());
        }
        rng.shuffle(object);
    }
    let objects = out
        .into_iter()
        .map(|records| (LAYOUTS[rng.usize(0..LAYOUTS.len())], records))
        .collect();
    Workload {
        objects,
        expected,
        tweets: tweets.len(),
        source,
    }
}

fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .http_client(search_sink::https::aws_http_client())
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .force_path_style(true)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "soak"))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_fault_soak_loses_nothing_and_resurrects_no_delete() {
    let Some(osmem) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let Some(s3_url) = testkit::peer("S3_ENDPOINT_URL") else {
        return;
    };
    let objects = env_number("SOAK_OBJECTS", 8) as usize;
    let seed = env_number("SOAK_SEED", 1);
    let extractor = Extractor::new(ExtractorOptions::default());
    let work = workload(objects, seed, &extractor);

    let run = format!(
        "soak-{seed}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let s3 = s3_client(&s3_url);
    s3.create_bucket().bucket(&run).send().await.unwrap();
    let mut layouts: BTreeMap<Layout, u64> = BTreeMap::new();
    for (n, (layout, records)) in work.objects.iter().enumerate() {
        *layouts.entry(*layout).or_default() += 1;
        s3.put_object()
            .bucket(&run)
            .key(format!("firehose/object-{n:04}"))
            .body(ByteStream::from(encode(*layout, records)))
            .send()
            .await
            .unwrap();
    }
    // One GetObject body in five is cut half-way: the read resumes with a ranged GET.
    let cutter = BodyCutter::start(&s3_url, CutRule::Seeded { seed, percent: 20 }, false).await;
    let store = S3Store::new(s3_client(&cutter.url));

    let index = run.clone();
    let proxy = FaultProxy::start(&osmem, seed, Duration::from_millis(700)).await;
    let mut config = Config::new(&proxy.url);
    config.index = index.clone();
    config.bulk_max_operations = 5;
    config.request_timeout = Duration::from_millis(400);
    config.retry_initial_delay = Duration::from_millis(20);
    config.retry_max_delay = Duration::from_millis(200);
    let indexer = Indexer::connect_with_s3(config, s3.clone()).await.unwrap();
    indexer.ensure_index().await.unwrap();
    let blocker = WriteBlocker::start(
        &osmem,
        &index,
        Duration::from_millis(900),
        Duration::from_millis(150),
    );

    let mut rng = fastrand::Rng::with_seed(seed);
    // Every object once plus a third redelivered, in random order; a failed delivery goes
    // back into the queue at a random later place, as an async retry or SQS redelivery does.
    let mut queue: Vec<usize> = (0..objects)
        .chain((0..objects / 3).map(|_| rng.usize(0..objects)))
        .collect();
    rng.shuffle(&mut queue);
    let mut attempts: HashMap<usize, u32> = HashMap::new();
    let (mut delivered, mut all_attempts) =
        (ObjectSummary::new("delivered"), ObjectSummary::new("all"));
    let (mut deliveries, mut failures) = (0u64, 0u64);
    let started = std::time::Instant::now();
    while !queue.is_empty() {
        let n = queue.remove(0);
        let tries = attempts.entry(n).or_default();
        *tries += 1;
        assert!(*tries < 40, "object {n} never went through");
        let deadline = Instant::now() + Duration::from_secs(4);
        let mut summary = ObjectSummary::new(format!("object-{n}"));
        let outcome = match store.get(&run, &format!("firehose/object-{n:04}")).await {
            Ok(object) => indexer
                .index_into(object, deadline, &mut summary)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        all_attempts.add(&summary);
        match outcome {
            Ok(()) => {
                deliveries += 1;
                let s = &summary;
                assert_eq!(
                    s.documents
                        + s.deletes
                        + s.control_messages
                        + s.compliance_events
                        + s.invalid_records
                        + s.filtered,
                    s.records,
                    "object-{n}: records split into outcomes: {s:?}"
                );
                assert_eq!(
                    s.records,
                    work.objects[n].1.len() as u64,
                    "object-{n} ({:?}): every record framed once",
                    work.objects[n].0
                );
                assert_eq!(
                    s.documents + s.deletes,
                    s.created
                        + s.updated
                        + s.deleted
                        + s.not_found
                        + s.superseded
                        + s.dead_lettered,
                    "object-{n}: every operation has one outcome: {s:?}"
                );
                delivered.add(s);
            }
            Err(_) => {
                failures += 1;
                let at = rng.usize(0..=queue.len().min(objects / 4 + 1));
                queue.insert(at, n);
            }
        }
    }
    let elapsed = started.elapsed();
    let blocks = blocker.stop().await;
    // Late bulks still in the proxy land before we look.
    tokio::time::sleep(Duration::from_millis(1000)).await;

    let mut direct_config = Config::new(&osmem);
    direct_config.index = index.clone();
    let direct = SearchClient::connect(direct_config).await.unwrap();
    direct
        .request(Method::Post, &format!("{index}/_refresh"), None)
        .await
        .unwrap();
    let search = br#"{"size":10000,"query":{"match_all":{}},"_source":["timestamp_ms","deleted"]}"#;
    let r = direct
        .request(Method::Post, &format!("{index}/_search"), Some(search))
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    let mut found: HashMap<String, Value> = HashMap::new();
    let mut duplicated = 0;
    for hit in body["hits"]["hits"].as_array().unwrap() {
        let id = hit["_id"].as_str().unwrap().to_owned();
        if found.insert(id, hit["_source"].clone()).is_some() {
            duplicated += 1;
        }
    }
    let time_of = |source: &Value| match &source["timestamp_ms"] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    let (mut lost, mut resurrected, mut stale) = (0, 0, 0);
    for (id, want) in &work.expected {
        match (want, found.get(id)) {
            (None, Some(source)) if source["deleted"] == true => {}
            (None, _) => resurrected += 1,
            (Some(_), Some(source)) if source["deleted"] == true => lost += 1,
            (Some(version), Some(source)) if time_of(source).unwrap_or(0) == *version => {}
            (Some(_), Some(_)) => stale += 1,
            (Some(_), None) => lost += 1,
        }
    }
    let deleted_ids = work.expected.values().filter(|v| v.is_none()).count() as u64;
    let strangers = found
        .keys()
        .filter(|id| !work.expected.contains_key(*id))
        .count();
    let t = &all_attempts;
    println!(
        "soak seed {seed}: {objects} objects from the {} ({} tweets, {deleted_ids} deleted), layouts {layouts:?}; \
         {deliveries} deliveries, {failures} failed and retried, {blocks} write blocks, {:.1} s; \
         lost {lost}, resurrected {resurrected}, stale {stale}, duplicated ids {duplicated}, unexpected ids {strangers}; \
         delivered: records {} = documents {} + deletes {} + control {} + compliance {} + invalid {} + filtered {}; reads resumed {}; \
         all attempts: created {} updated {} deleted {} not_found {} superseded {} refused {} dead_lettered {} retried {} requests {}; faults {:?}",
        work.source,
        work.tweets,
        elapsed.as_secs_f64(),
        delivered.records,
        delivered.documents,
        delivered.deletes,
        delivered.control_messages,
        delivered.compliance_events,
        delivered.invalid_records,
        delivered.filtered,
        t.resumed_reads,
        t.created,
        t.updated,
        t.deleted,
        t.not_found,
        t.superseded,
        t.refused,
        t.dead_lettered,
        t.retried,
        t.requests,
        proxy.counts()
    );
    assert_eq!((lost, resurrected, stale, duplicated), (0, 0, 0, 0));
    assert_eq!(strangers, 0, "only the workload's ids are in the index");
    assert_eq!(found.len(), work.expected.len(), "one document per id");
    assert_eq!(t.dead_lettered, 0, "nothing here is a per-document error");
    // The index's counters against the index: a tweet is created once at most whatever the
    // retries (later writes of its id are updates or superseded), and a tombstone is created
    // (`not_found`) once at most per deleted id. Answers lost to resets and late replies make
    // these at most, not equal.
    assert!(t.created <= work.expected.len() as u64, "{t:?}");
    assert!(t.not_found <= deleted_ids, "{t:?}");
    assert!(t.created + t.not_found > 0);
    let ranged = cutter.seen().iter().filter(|r| r.range.is_some()).count() as u64;
    // A resume whose object failed meanwhile (its ranged GET dropped) is not counted.
    assert!(t.resumed_reads <= ranged, "one ranged GET per resume");
    assert!(ranged == 0 || t.resumed_reads > 0, "cut reads resume");
    let faults = proxy.counts();
    assert_eq!(
        proxy.not_injected(),
        [],
        "faults never injected: {faults:?}"
    );
    assert!(faults.get(&Fault::Pass) > Some(&0), "{faults:?}");
    assert!(blocks > 0, "the write block was never set");
    let cut = cutter.seen().iter().filter(|r| r.cut).count();
    assert!(cut > 0, "no GetObject body was cut");
    assert!(t.retried > 0, "the faults made the sink retry nothing");
}
