//! The sink against osmem-server (OpenSearch-compatible, started by scripts/test; skipped when
//! OSMEM_URL is unset unless REQUIRE_PEERS=1). Each test uses its own index.

mod common;

use common::{doc, origin, temp_file, unique_index};
use search_sink::{
    BulkSink, Config, DeadLetter, DeadLetterStore, EnsureOutcome, FileDeadLetters, Method,
    Operation, SearchClient, SinkError,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

const MAPPING: &str = include_str!("fixtures/mapping.json");

async fn client(index: &str) -> Option<Arc<SearchClient>> {
    let url = testkit::peer("OSMEM_URL")?;
    let mut config = Config::new(url);
    config.index = index.into();
    config.retry_initial_delay = Duration::from_millis(50);
    config.retry_max_delay = Duration::from_millis(400);
    Some(Arc::new(SearchClient::connect(config).await.unwrap()))
}

async fn count(client: &SearchClient, index: &str) -> u64 {
    let refresh = client
        .request(Method::Post, &format!("{index}/_refresh"), None)
        .await
        .unwrap();
    assert_eq!(refresh.status, 200);
    let r = client
        .request(Method::Get, &format!("{index}/_count"), None)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["count"].as_u64().unwrap()
}

/// Documents that are not tombstones (every test document has `n`).
async fn live_count(client: &SearchClient, index: &str) -> u64 {
    let refresh = client
        .request(Method::Post, &format!("{index}/_refresh"), None)
        .await
        .unwrap();
    assert_eq!(refresh.status, 200);
    let r = client
        .request(
            Method::Post,
            &format!("{index}/_count"),
            Some(br#"{"query":{"exists":{"field":"n"}}}"#),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["count"].as_u64().unwrap()
}

/// `_source` of a document, `None` when it does not exist.
async fn source(client: &SearchClient, index: &str, id: &str) -> Option<serde_json::Value> {
    let r = client
        .request(Method::Get, &format!("{index}/_doc/{id}"), None)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    (v["found"] == true).then(|| v["_source"].clone())
}

async fn try_load(
    client: &Arc<SearchClient>,
    ops: Vec<Operation>,
    store: Option<Arc<dyn DeadLetterStore>>,
) -> Result<search_sink::Report, SinkError> {
    let mut sink = BulkSink::new(
        client.clone(),
        Instant::now() + Duration::from_secs(30),
        store,
    );
    for (i, op) in ops.into_iter().enumerate() {
        sink.push(op, origin(i as u64)).await?;
    }
    sink.finish().await
}

async fn load(
    client: &Arc<SearchClient>,
    ops: Vec<Operation>,
    store: Option<Arc<dyn DeadLetterStore>>,
) -> search_sink::Report {
    let mut sink = BulkSink::new(
        client.clone(),
        Instant::now() + Duration::from_secs(30),
        store,
    );
    for (i, op) in ops.into_iter().enumerate() {
        sink.push(op, origin(i as u64)).await.unwrap();
    }
    sink.finish().await.unwrap()
}

#[tokio::test]
async fn ensures_a_fresh_index_then_finds_it() {
    let index = unique_index("fresh");
    let Some(client) = client(&index).await else {
        return;
    };
    assert_eq!(
        client.ensure_index_now(&index, MAPPING).await.unwrap(),
        EnsureOutcome::Created
    );
    assert_eq!(
        client.ensure_index_now(&index, MAPPING).await.unwrap(),
        EnsureOutcome::Existing {
            added_fields: vec![]
        }
    );
    // The process guard: the first call does the work, later ones send nothing.
    let guarded = unique_index("guarded");
    assert_eq!(
        client.ensure_index(&guarded, MAPPING).await.unwrap(),
        EnsureOutcome::Created
    );
    assert_eq!(
        client.ensure_index(&guarded, MAPPING).await.unwrap(),
        EnsureOutcome::AlreadyEnsured
    );
    let head = client.request(Method::Head, &guarded, None).await.unwrap();
    assert_eq!(head.status, 200);
}

#[tokio::test]
async fn ensure_raced_from_several_tasks_creates_once() {
    let index = unique_index("raced");
    let Some(client) = client(&index).await else {
        return;
    };
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, index) = (client.clone(), index.clone());
            tokio::spawn(async move { client.ensure_index_now(&index, MAPPING).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            EnsureOutcome::Created => created += 1,
            EnsureOutcome::Existing { added_fields } => assert!(added_fields.is_empty()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created, 1);
}

#[tokio::test]
async fn adds_missing_fields_and_fails_clearly_on_a_conflict() {
    let index = unique_index("conflict");
    let Some(client) = client(&index).await else {
        return;
    };
    client.ensure_index_now(&index, MAPPING).await.unwrap();
    let wider = MAPPING.replace(
        r#""n": { "type": "long" },"#,
        r#""n": { "type": "long" }, "extra": { "type": "keyword" },"#,
    );
    assert_ne!(wider, MAPPING);
    assert_eq!(
        client.ensure_index_now(&index, &wider).await.unwrap(),
        EnsureOutcome::Existing {
            added_fields: vec!["extra".into()]
        }
    );
    let mapping = client
        .request(Method::Get, &format!("{index}/_mapping"), None)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&mapping.body).unwrap();
    assert_eq!(
        v[&index]["mappings"]["properties"]["extra"]["type"],
        "keyword"
    );

    let conflicting = MAPPING.replace(
        r#""n": { "type": "long" }"#,
        r#""n": { "type": "keyword" }"#,
    );
    match client
        .ensure_index_now(&index, &conflicting)
        .await
        .unwrap_err()
    {
        SinkError::MappingConflict {
            field,
            existing,
            wanted,
            ..
        } => {
            assert_eq!(
                (field.as_str(), existing.as_str(), wanted.as_str()),
                ("n", "long", "keyword")
            );
        }
        other => panic!("expected MappingConflict, got {other}"),
    }
    // Never deleted, still holding its original mapping.
    let head = client.request(Method::Head, &index, None).await.unwrap();
    assert_eq!(head.status, 200);
}

#[tokio::test]
async fn bulk_loads_counts_and_updates_idempotently() {
    let index = unique_index("bulk");
    let Some(client) = client(&index).await else {
        return;
    };
    client.ensure_index_now(&index, MAPPING).await.unwrap();
    let ops = || {
        (0..300)
            .map(|i| doc(&format!("b{i}"), i))
            .collect::<Vec<_>>()
    };
    let mut config = client.config().clone();
    config.bulk_max_operations = 100;
    let client = Arc::new(SearchClient::connect(config).await.unwrap());
    let report = load(&client, ops(), None).await;
    assert_eq!(
        (report.created, report.updated, report.requests),
        (300, 0, 3)
    );
    assert!(
        report.bytes_sent < report.bytes_uncompressed,
        "gzip did not shrink: {report:?}"
    );
    assert_eq!(count(&client, &index).await, 300);
    let again = load(&client, ops(), None).await;
    assert_eq!((again.created, again.updated), (0, 300));
    assert_eq!(count(&client, &index).await, 300);
}

#[tokio::test]
async fn deletes_and_counts_missing_ids_as_not_found() {
    let index = unique_index("delete");
    let Some(client) = client(&index).await else {
        return;
    };
    client.ensure_index_now(&index, MAPPING).await.unwrap();
    load(
        &client,
        (0..20).map(|i| doc(&format!("x{i}"), i)).collect(),
        None,
    )
    .await;
    let mut deletes: Vec<Operation> = (0..10)
        .map(|i| Operation::Delete {
            id: format!("x{i}"),
        })
        .collect();
    deletes.extend((0..3).map(|i| Operation::Delete {
        id: format!("never{i}"),
    }));
    let report = load(&client, deletes, None).await;
    assert_eq!(
        (report.deleted, report.not_found, report.dead_lettered),
        (10, 3, 0)
    );
    assert_eq!(live_count(&client, &index).await, 10);
    // Tombstones stand in for the 10 deleted and the 3 never seen.
    assert_eq!(count(&client, &index).await, 23);
}

#[tokio::test]
async fn deleted_tweets_stay_deleted_when_an_older_object_is_replayed() {
    // Object A indexes x0..x19, object B deletes x0..x9, then A is retried (Lambda retry,
    // SQS redelivery, ...): the deletes must win.
    let index = unique_index("replay");
    let Some(client) = client(&index).await else {
        return;
    };
    client.ensure_index_now(&index, MAPPING).await.unwrap();
    let object_a =
        || -> Vec<Operation> { (0..20).map(|i| doc(&format!("x{i}"), 1000 + i)).collect() };
    let object_b: Vec<Operation> = (0..10)
        .map(|i| Operation::Delete {
            id: format!("x{i}"),
        })
        .collect();
    assert_eq!(load(&client, object_a(), None).await.created, 20);
    assert_eq!(load(&client, object_b, None).await.deleted, 10);
    let again = load(&client, object_a(), None).await;
    assert_eq!(
        (
            again.superseded,
            again.updated,
            again.created,
            again.dead_lettered
        ),
        (10, 10, 0, 0),
        "{again:?}"
    );
    assert_eq!(live_count(&client, &index).await, 10);
    assert_eq!(
        source(&client, &index, "x3").await,
        Some(serde_json::json!({"deleted": true}))
    );
    assert_eq!(source(&client, &index, "x13").await.unwrap()["n"], 1013);
}

#[tokio::test]
async fn a_delete_that_arrives_before_its_tweet_wins() {
    let index = unique_index("early-delete");
    let Some(client) = client(&index).await else {
        return;
    };
    client.ensure_index_now(&index, MAPPING).await.unwrap();
    let deletes: Vec<Operation> = (0..5)
        .map(|i| Operation::Delete {
            id: format!("e{i}"),
        })
        .collect();
    assert_eq!(load(&client, deletes, None).await.not_found, 5);
    // The tweets arrive later, in one batch with two that were never deleted.
    let tweets: Vec<Operation> = (0..7).map(|i| doc(&format!("e{i}"), 2000 + i)).collect();
    let report = load(&client, tweets, None).await;
    assert_eq!((report.superseded, report.created), (5, 2), "{report:?}");
    assert_eq!(live_count(&client, &index).await, 2);
    // A newer copy of a live tweet still replaces an older one, and not the reverse.
    let newer = load(&client, vec![doc("e5", 3000)], None).await;
    assert_eq!(newer.updated, 1);
    let older = load(&client, vec![doc("e5", 2500)], None).await;
    assert_eq!(older.superseded, 1);
    assert_eq!(source(&client, &index, "e5").await.unwrap()["n"], 3000);
}

#[tokio::test]
async fn dead_letters_a_document_that_violates_the_mapping() {
    let index = unique_index("violation");
    let Some(client) = client(&index).await else {
        return;
    };
    client.ensure_index_now(&index, MAPPING).await.unwrap();
    let mut ops: Vec<Operation> = (0..10).map(|i| doc(&format!("v{i}"), i)).collect();
    ops[5] = Operation::Index {
        id: "v5".into(),
        source: br#"{"n":"not a number","text":"bad"}"#.to_vec(),
        version: 5,
    };
    let path = temp_file("violation");
    let store: Arc<dyn DeadLetterStore> = Arc::new(FileDeadLetters::new(&path));
    let report = load(&client, ops, Some(store)).await;
    assert_eq!(
        (report.created, report.dead_lettered, report.retried),
        (9, 1, 0)
    );
    assert_eq!(count(&client, &index).await, 9);
    let text = std::fs::read_to_string(&path).unwrap();
    let letters: Vec<DeadLetter> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        (letters[0].id.as_str(), letters[0].status, letters[0].offset),
        ("v5", 400, 5)
    );
    assert_eq!(letters[0].error_type, "mapper_parsing_exception");
    assert!(letters[0].reason.contains("[n]"), "{}", letters[0].reason);
    let _ = std::fs::remove_file(path);
}

async fn set_block(client: &SearchClient, index: &str, setting: &str, value: &str) {
    let body = format!(r#"{{"{setting}": {value}}}"#);
    let r = client
        .request(
            Method::Put,
            &format!("{index}/_settings"),
            Some(body.as_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// A block on the index (what AWS sets on low storage) fails the delivery with nothing
/// dead-lettered; once the block is lifted, running the same input again indexes everything.
async fn a_block_fails_then_a_rerun_succeeds(setting: &str) {
    let index = unique_index("blocked");
    let Some(client) = client(&index).await else {
        return;
    };
    client.ensure_index_now(&index, MAPPING).await.unwrap();
    set_block(&client, &index, setting, "true").await;
    let ops = || -> Vec<Operation> { (0..20).map(|i| doc(&format!("b{i}"), i)).collect() };
    let path = temp_file(&format!("blocked-{setting}"));
    let store: Arc<dyn DeadLetterStore> = Arc::new(FileDeadLetters::new(&path));
    let started = Instant::now();
    let err = try_load(&client, ops(), Some(store.clone()))
        .await
        .unwrap_err();
    match &err {
        SinkError::Refused {
            error_type,
            unconfirmed,
            ..
        } => {
            assert_eq!(error_type, "cluster_block_exception", "{err}");
            assert_eq!(*unconfirmed, 20, "{err}");
        }
        other => panic!("expected Refused, got {other}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a block is not retried until the deadline"
    );
    assert!(
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .is_empty(),
        "nothing may be dead-lettered"
    );
    set_block(&client, &index, setting, "null").await;
    let report = try_load(&client, ops(), Some(store)).await.unwrap();
    assert_eq!((report.created, report.dead_lettered), (20, 0));
    assert_eq!(live_count(&client, &index).await, 20);
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn a_write_block_fails_the_delivery_and_a_rerun_indexes_everything() {
    a_block_fails_then_a_rerun_succeeds("index.blocks.write").await;
}

#[tokio::test]
async fn a_flood_stage_block_answered_429_is_a_block_too() {
    a_block_fails_then_a_rerun_succeeds("index.blocks.read_only_allow_delete").await;
}

#[tokio::test]
async fn an_index_deleted_under_a_warm_client_is_recreated_with_its_mapping() {
    let index = unique_index("warm");
    let Some(client) = client(&index).await else {
        return;
    };
    assert_eq!(
        client.ensure_index(&index, MAPPING).await.unwrap(),
        EnsureOutcome::Created
    );
    load(&client, vec![doc("w1", 1)], None).await;
    let deleted = client.request(Method::Delete, &index, None).await.unwrap();
    assert_eq!(deleted.status, 200);
    // The warm process does not ensure again: the guard says it is done.
    assert_eq!(
        client.ensure_index(&index, MAPPING).await.unwrap(),
        EnsureOutcome::AlreadyEnsured
    );
    let report = load(&client, vec![doc("w2", 2), doc("w3", 3)], None).await;
    assert_eq!(report.created, 2);
    let r = client
        .request(Method::Get, &format!("{index}/_mapping"), None)
        .await
        .unwrap();
    let mapping: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let properties = &mapping[&index]["mappings"]["properties"];
    assert_eq!(properties["n"]["type"], "long", "{mapping}");
    assert_eq!(
        properties["user"]["properties"]["name"]["type"], "keyword",
        "{mapping}"
    );
    assert_eq!(live_count(&client, &index).await, 2);
}

#[tokio::test]
async fn ensures_the_project_mapping_and_finds_it_compatible() {
    // mappings/twitter.json is owned by the tweets crate; this checks the two fit together.
    let path = testkit::repo_root().join("mappings/twitter.json");
    let Ok(body) = std::fs::read_to_string(&path) else {
        eprintln!("skipped: {} not found", path.display());
        return;
    };
    let index = unique_index("project");
    let Some(client) = client(&index).await else {
        return;
    };
    assert_eq!(
        client.ensure_index_now(&index, &body).await.unwrap(),
        EnsureOutcome::Created
    );
    // The server's view of our own mapping must compare as compatible with nothing to add.
    assert_eq!(
        client.ensure_index_now(&index, &body).await.unwrap(),
        EnsureOutcome::Existing {
            added_fields: vec![]
        }
    );
}

/// A forwarding proxy in front of osmem-server that holds the first `_bulk` for `hold` before
/// forwarding it (the client has timed out by then, as with a slow cluster that still applies
/// the request), and records each forwarded bulk's answer.
struct HoldingProxy {
    url: String,
    answers: Arc<std::sync::Mutex<Vec<String>>>,
}

impl HoldingProxy {
    async fn start(upstream: String, hold: Duration) -> Self {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let answers = Arc::new(std::sync::Mutex::new(Vec::new()));
        let bulks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let recorded = answers.clone();
        tokio::spawn(async move {
            while let Ok((mut downstream, _)) = listener.accept().await {
                let (upstream, recorded, bulks) =
                    (upstream.clone(), recorded.clone(), bulks.clone());
                tokio::spawn(async move {
                    let Some((head, body)) = testkit::faults::read_request(&mut downstream).await
                    else {
                        return;
                    };
                    let is_bulk = head.lines().next().is_some_and(|l| l.contains("_bulk"));
                    if is_bulk && bulks.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                        tokio::time::sleep(hold).await;
                    }
                    let Some(answer) = testkit::faults::forward(&upstream, &head, &body).await
                    else {
                        return;
                    };
                    if is_bulk {
                        recorded
                            .lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&answer).into_owned());
                    }
                    // The client may have given up on this connection: that is the point.
                    if downstream.write_all(&answer).await.is_err() {
                        return;
                    }
                    let _ = downstream.shutdown().await;
                });
            }
        });
        Self { url, answers }
    }
}

#[tokio::test]
async fn a_timed_out_bulk_applied_late_never_undoes_a_newer_delete() {
    let index = unique_index("late-bulk");
    let Some(direct) = client(&index).await else {
        return;
    };
    direct.ensure_index_now(&index, MAPPING).await.unwrap();
    let proxy = HoldingProxy::start(
        direct.config().endpoint.clone(),
        Duration::from_millis(2000),
    )
    .await;
    let mut config = Config::new(&proxy.url);
    config.index = index.clone();
    config.request_timeout = Duration::from_millis(700);
    config.retry_initial_delay = Duration::from_millis(300);
    config.retry_max_delay = Duration::from_millis(300);
    let slow = Arc::new(SearchClient::connect(config).await.unwrap());
    // Object A (through the slow path) indexes x; its first bulk times out but is applied
    // later. Object B deletes x meanwhile.
    let object_a = tokio::spawn({
        let slow = slow.clone();
        async move { try_load(&slow, vec![doc("x", 100), doc("y", 101)], None).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let b = load(&direct, vec![Operation::Delete { id: "x".into() }], None).await;
    assert_eq!(b.not_found, 1, "the delete arrived first: {b:?}");
    let a = object_a.await.unwrap().unwrap();
    assert_eq!((a.superseded, a.created, a.retried), (1, 1, 2), "{a:?}");
    // Let the held first attempt reach the server.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let answers = proxy.answers.lock().unwrap().clone();
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(
        answers.iter().all(|a| a.contains("\"status\":409")),
        "both copies of the index of x were refused: {answers:?}"
    );
    assert_eq!(
        source(&direct, &index, "x").await,
        Some(serde_json::json!({"deleted": true}))
    );
    assert_eq!(live_count(&direct, &index).await, 1);
}

/// Operations for many indices, interleaved: each lands in its own index (requests are
/// `POST /{index}/_bulk`, action lines name no `_index`), operations on one id apply in push
/// order within its index, more indices than [`search_sink::MAX_OPEN_BATCHES`] are served by
/// sending the oldest batch early, and nothing is left unconfirmed.
#[tokio::test]
async fn operations_for_many_indices_land_each_in_its_own() {
    let base = unique_index("many");
    let Some(client) = client(&base).await else {
        return;
    };
    let indices: Vec<String> = (0..search_sink::MAX_OPEN_BATCHES + 4)
        .map(|i| format!("{base}-{i:02}"))
        .collect();
    for index in &indices {
        client.ensure_index(index, MAPPING).await.unwrap();
    }
    let mut sink = BulkSink::new(
        client.clone(),
        Instant::now() + Duration::from_secs(60),
        None,
    );
    let rounds = 30;
    for round in 0..rounds {
        for (i, index) in indices.iter().enumerate() {
            let id = format!("{i}-{}", round % 10);
            // The same ids again in later rounds, at higher versions: the last push wins.
            sink.push_to(index, doc(&id, round + 1), origin((round * 100 + i) as u64))
                .await
                .unwrap();
        }
        // A delete on one index only: the same id elsewhere is another document.
        sink.push_to(
            &indices[0],
            Operation::Delete { id: "0-0".into() },
            origin(0),
        )
        .await
        .unwrap();
    }
    // The oldest batches went early (more indices than open batches); the rest wait.
    assert!(sink.first_unconfirmed().is_some());
    let report = sink.finish().await.unwrap();
    assert_eq!(report.operations, (rounds * (indices.len() + 1)) as u64);
    assert_eq!(
        report.operations,
        report.indexed() + report.deleted + report.not_found + report.superseded
    );
    assert!(
        report.requests >= indices.len() as u64,
        "one request per index at least: {report:?}"
    );
    for (i, index) in indices.iter().enumerate() {
        assert_eq!(count(&client, index).await, 10, "{index}");
        let last = source(&client, index, &format!("{i}-9")).await.unwrap();
        assert_eq!(last["n"], rounds, "{index}: the last version pushed");
    }
    assert_eq!(
        source(&client, &indices[0], "0-0").await,
        Some(serde_json::json!({"deleted": true}))
    );
    assert_eq!(source(&client, &indices[1], "1-0").await.unwrap()["n"], 21);
}

/// A family: the template gives each partition the mapping and the alias, partitions are
/// created on demand (concurrently: created once), the alias counts them all, and a name's
/// state says index, alias or missing.
#[tokio::test]
async fn a_family_template_puts_every_partition_behind_the_alias() {
    let alias = unique_index("family");
    let Some(client) = client(&alias).await else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let body: serde_json::Value = serde_json::from_str(MAPPING).unwrap();
    client
        .put_family_template(
            &format!("{alias}-partitions"),
            &format!("{alias}-*"),
            &alias,
            &body,
            deadline,
        )
        .await
        .unwrap();
    assert_eq!(
        client.name_state(&alias, deadline).await.unwrap(),
        search_sink::NameState::Missing
    );
    let partitions = [format!("{alias}-2024.01"), format!("{alias}-2024.02")];
    let mut body_with_alias = body.clone();
    body_with_alias["aliases"] = serde_json::json!({ alias.clone(): {} });
    let body_with_alias = body_with_alias.to_string();
    let racing = (0..4).map(|_| {
        let client = client.clone();
        let partition = partitions[0].clone();
        let body = body_with_alias.clone();
        tokio::spawn(async move {
            client
                .ensure_partition_before(&partition, &body, deadline)
                .await
        })
    });
    let outcomes: Vec<EnsureOutcome> = futures_join(racing).await;
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == EnsureOutcome::Created)
            .count(),
        1,
        "{outcomes:?}"
    );
    let mut sink = BulkSink::new(client.clone(), deadline, None);
    for (i, partition) in partitions.iter().enumerate() {
        // The second partition is created by the bulk itself, from the template.
        sink.push_to(partition, doc(&i.to_string(), 1), origin(0))
            .await
            .unwrap();
    }
    sink.finish().await.unwrap();
    assert_eq!(
        client.name_state(&alias, deadline).await.unwrap(),
        search_sink::NameState::Alias(partitions.to_vec())
    );
    assert_eq!(client.count(&alias, deadline).await.unwrap(), 2);
    assert_eq!(
        client
            .list_indices(&format!("{alias}-*"), deadline)
            .await
            .unwrap(),
        partitions.to_vec()
    );
    assert_eq!(
        client.name_state(&partitions[0], deadline).await.unwrap(),
        search_sink::NameState::Index
    );
    // The engine here has no ISM nor ILM: retention is left to the caller.
    assert_eq!(
        client
            .put_retention_policy(
                &format!("{alias}-retention"),
                &format!("{alias}-*"),
                30,
                deadline
            )
            .await
            .unwrap(),
        None
    );
}

async fn futures_join(
    handles: impl Iterator<Item = tokio::task::JoinHandle<Result<EnsureOutcome, SinkError>>>,
) -> Vec<EnsureOutcome> {
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap().unwrap());
    }
    out
}
