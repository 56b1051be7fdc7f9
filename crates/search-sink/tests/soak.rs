//! Fault soak: objects of index and delete operations (duplicates across objects, deletes
//! before and after their tweets, whole objects replayed as triggers do) go through the sink
//! to osmem-server behind a proxy that injects a seeded schedule of faults: 503 and 429
//! answers, connection resets before and after the server applied the bulk, answers slower
//! than the timeout (applied late), 413, and a write block that lifts. A failed object is
//! retried like a trigger would. The final index must hold every live tweet at its newest
//! version, no deleted tweet, and the counters must add up; and every kind of fault must have
//! been injected (the proxy's own counts, and the blocks set), or the run proved nothing.
//!
//! `SOAK_OBJECTS` (default 12) and `SOAK_SEED` (default 1) size it. This is the sink alone;
//! `scripts/soak` runs the pipeline-level soak (`crates/pipeline/tests/soak.rs`), which reads
//! real objects from S3 through the same fault proxy (`testkit::faults`).

mod common;

use search_sink::{BulkSink, Config, Method, Operation, Origin, Report, SearchClient};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use testkit::faults::{Fault, FaultProxy, WriteBlocker};
use tokio::time::Instant;

const MAPPING: &str = include_str!("fixtures/mapping.json");

/// What the soak sends: objects of operations, and the expected final state per id
/// (`None`: deleted; `Some(v)`: live at version `v`).
fn workload(objects: usize, seed: u64) -> (Vec<Vec<Operation>>, HashMap<String, Option<u64>>) {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
    let tweets = objects * 12;
    let mut out = vec![Vec::new(); objects];
    let mut expected = HashMap::new();
    for t in 0..tweets {
        let id = format!("t{t}");
        let copies = rng.usize(1..=3);
        let mut newest = 0;
        for _ in 0..copies {
            let version = 1_700_000_000_000 + rng.u64(0..1000);
            newest = newest.max(version);
            out[rng.usize(0..objects)].push(Operation::Index {
                id: id.clone(),
                source: format!(r#"{{"n":{version},"text":"tweet {t}"}}"#).into_bytes(),
                version,
            });
        }
        // One tweet in five is deleted, the notice in any object (before or after).
        if rng.u32(0..5) == 0 {
            out[rng.usize(0..objects)].push(Operation::Delete { id: id.clone() });
            expected.insert(id, None);
        } else {
            expected.insert(id, Some(newest));
        }
    }
    for object in &mut out {
        rng.shuffle(object);
    }
    (out, expected)
}

async fn deliver(
    client: &Arc<SearchClient>,
    name: &str,
    ops: &[Operation],
) -> Result<Report, String> {
    let mut sink = BulkSink::new(
        client.clone(),
        Instant::now() + Duration::from_secs(4),
        None,
    );
    for (i, op) in ops.iter().enumerate() {
        sink.push(op.clone(), Origin::new(name, i as u64))
            .await
            .map_err(|e| e.to_string())?;
    }
    sink.finish().await.map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_soak_loses_nothing_and_resurrects_no_delete() {
    let Some(url) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let objects: usize = std::env::var("SOAK_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let seed: u64 = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let index = common::unique_index(&format!("soak-{seed}"));
    let mut direct_config = Config::new(&url);
    direct_config.index = index.clone();
    let direct = Arc::new(SearchClient::connect(direct_config).await.unwrap());
    direct.ensure_index_now(&index, MAPPING).await.unwrap();

    let proxy = FaultProxy::start(&url, seed, Duration::from_millis(700)).await;
    let mut config = Config::new(&proxy.url);
    config.index = index.clone();
    config.bulk_max_operations = 25;
    config.request_timeout = Duration::from_millis(400);
    config.retry_initial_delay = Duration::from_millis(20);
    config.retry_max_delay = Duration::from_millis(200);
    let client = Arc::new(SearchClient::connect(config).await.unwrap());

    // A write block that comes and goes while objects are delivered.
    let blocker = WriteBlocker::start(
        &url,
        &index,
        Duration::from_millis(900),
        Duration::from_millis(150),
    );

    let (work, expected) = workload(objects, seed);
    let mut rng = fastrand::Rng::with_seed(seed);
    // Every object once, plus a third of them replayed (redeliveries), in random order.
    let mut queue: Vec<usize> = (0..objects)
        .chain((0..objects / 3).map(|_| rng.usize(0..objects)))
        .collect();
    rng.shuffle(&mut queue);
    let (mut total, mut failures, mut operations) = (Report::default(), 0u64, 0u64);
    for object in queue {
        let name = format!("s3://soak/object-{object}");
        let mut attempts = 0;
        loop {
            attempts += 1;
            match deliver(&client, &name, &work[object]).await {
                Ok(report) => {
                    operations += work[object].len() as u64;
                    assert_eq!(
                        report.operations,
                        report.created
                            + report.updated
                            + report.deleted
                            + report.not_found
                            + report.superseded
                            + report.dead_lettered,
                        "{name}: {report:?}"
                    );
                    total.created += report.created;
                    total.updated += report.updated;
                    total.deleted += report.deleted;
                    total.not_found += report.not_found;
                    total.superseded += report.superseded;
                    total.dead_lettered += report.dead_lettered;
                    total.retried += report.retried;
                    total.requests += report.requests;
                    break;
                }
                Err(e) => {
                    failures += 1;
                    assert!(attempts < 30, "{name} never went through: {e}");
                    // A trigger retries later, not at once (a write block lasts 150 ms).
                    tokio::time::sleep(Duration::from_millis(20) * attempts).await;
                }
            }
        }
    }
    let blocks = blocker.stop().await;
    // Late bulks still in the proxy land before we look.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    direct
        .request(Method::Post, &format!("{index}/_refresh"), None)
        .await
        .unwrap();
    let search = br#"{"size":10000,"query":{"match_all":{}},"_source":["n","deleted"]}"#;
    let r = direct
        .request(Method::Post, &format!("{index}/_search"), Some(search))
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let mut found: HashMap<String, serde_json::Value> = HashMap::new();
    for hit in body["hits"]["hits"].as_array().unwrap() {
        let id = hit["_id"].as_str().unwrap().to_owned();
        assert!(
            found.insert(id.clone(), hit["_source"].clone()).is_none(),
            "duplicate _id {id}"
        );
    }
    let (mut lost, mut resurrected, mut stale) = (0, 0, 0);
    for (id, want) in &expected {
        match (want, found.get(id)) {
            (None, Some(source)) if source["deleted"] == true => {}
            (None, _) => resurrected += 1,
            (Some(version), Some(source)) if source["n"].as_u64() == Some(*version) => {}
            (Some(_), Some(source)) if source["n"].is_u64() => stale += 1,
            (Some(_), _) => lost += 1,
        }
    }
    let faults = proxy.counts();
    println!(
        "soak seed {seed}: {objects} objects, {operations} operations delivered, {failures} failed deliveries retried, {blocks} write blocks; \
         lost {lost}, resurrected {resurrected}, stale {stale}, ids {}; created {} updated {} deleted {} not_found {} superseded {} dead_lettered {} retried {} requests {}; faults {faults:?}",
        expected.len(),
        total.created,
        total.updated,
        total.deleted,
        total.not_found,
        total.superseded,
        total.dead_lettered,
        total.retried,
        total.requests
    );
    assert_eq!((lost, resurrected, stale), (0, 0, 0));
    assert_eq!(
        found.len(),
        expected.len(),
        "every id is a live tweet or a tombstone"
    );
    assert_eq!(total.dead_lettered, 0);
    assert_eq!(
        proxy.not_injected(),
        [],
        "faults never injected: {faults:?}"
    );
    assert!(faults.get(&Fault::Pass) > Some(&0), "{faults:?}");
    assert!(blocks > 0, "the write block was never set");
    assert!(total.retried > 0, "the faults made the sink retry nothing");
}
