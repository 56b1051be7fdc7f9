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
    assert_eq!(count(&client, &index).await, 10);
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

#[tokio::test]
async fn retries_read_only_429s_until_the_block_is_lifted() {
    let index = unique_index("readonly");
    let Some(client) = client(&index).await else {
        return;
    };
    client.ensure_index_now(&index, MAPPING).await.unwrap();
    let settings = format!("{index}/_settings");
    let block = client
        .request(
            Method::Put,
            &settings,
            Some(br#"{"index.blocks.read_only_allow_delete": true}"#),
        )
        .await
        .unwrap();
    assert_eq!(
        block.status,
        200,
        "{}",
        String::from_utf8_lossy(&block.body)
    );
    let lifter = {
        let (client, settings) = (client.clone(), settings.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(800)).await;
            let r = client
                .request(
                    Method::Put,
                    &settings,
                    Some(br#"{"index.blocks.read_only_allow_delete": null}"#),
                )
                .await
                .unwrap();
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        })
    };
    let started = Instant::now();
    let report = load(
        &client,
        (0..20).map(|i| doc(&format!("r{i}"), i)).collect(),
        None,
    )
    .await;
    lifter.await.unwrap();
    assert_eq!((report.created, report.dead_lettered), (20, 0));
    assert!(report.requests >= 2 && report.retried >= 20, "{report:?}");
    assert_eq!(
        report.retried,
        20 * (report.requests - 1),
        "only whole rejected batches were re-sent"
    );
    assert!(started.elapsed() >= Duration::from_millis(700));
    assert_eq!(count(&client, &index).await, 20);
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
