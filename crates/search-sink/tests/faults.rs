//! The sink against a fault-injecting peer: every case asserts exact counts and that no
//! operation is sent again after the peer settled it.

mod common;

use common::{FaultPeer, Reply, doc, fast_config, origin, temp_file};
use search_sink::{
    BulkSink, DeadLetter, DeadLetterStore, FileDeadLetters, Operation, SearchClient, SinkError,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

fn all(status: u16) -> impl Fn(&common::Captured) -> Reply {
    move |c| Reply::Items(vec![status; c.ops().len()])
}

async fn run(
    config: search_sink::Config,
    ops: Vec<Operation>,
    store: Option<Arc<dyn DeadLetterStore>>,
    budget: Duration,
) -> Result<search_sink::Report, SinkError> {
    let client = Arc::new(SearchClient::connect(config).await.unwrap());
    let mut sink = BulkSink::new(client, Instant::now() + budget, store);
    for (i, op) in ops.into_iter().enumerate() {
        sink.push(op, origin(i as u64 * 100)).await?;
    }
    sink.finish().await
}

fn docs(n: usize) -> Vec<Operation> {
    (0..n).map(|i| doc(&format!("d{i}"), i)).collect()
}

fn read_letters(path: &std::path::Path) -> Vec<DeadLetter> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn retries_a_503_then_succeeds() {
    let peer = FaultPeer::start(|c| {
        if c.number == 0 {
            Reply::Status(503, r#"{"error":"unavailable"}"#.into())
        } else {
            all(201)(c)
        }
    })
    .await;
    let report = run(
        fast_config(&peer.url),
        docs(10),
        None,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(
        (report.created, report.retried, report.requests),
        (10, 10, 2)
    );
    assert_eq!(report.operations, 10);
    let requests = peer.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].ids(), requests[1].ids());
    assert!(peer.resent_after_settled().is_empty());
    // gzip is on by default and the report counts the wire bytes exactly.
    assert_eq!(requests[1].header("content-encoding"), Some("gzip"));
    let wire: usize = requests.iter().map(|r| r.raw_body.len()).sum();
    let plain: usize = requests.iter().map(|r| r.body.len()).sum();
    assert_eq!(report.bytes_sent, wire as u64);
    assert_eq!(report.bytes_uncompressed, plain as u64);
    assert!(report.backoff_wait > Duration::ZERO || report.retried > 0);
}

#[tokio::test]
async fn retries_after_a_connection_reset_mid_request() {
    let peer = FaultPeer::start(|c| {
        if c.number == 0 {
            Reply::ResetMidBody
        } else {
            all(201)(c)
        }
    })
    .await;
    let mut config = fast_config(&peer.url);
    config.gzip = false; // a bigger body, so the reset lands mid-upload
    let big: Vec<Operation> = (0..20)
        .map(|i| Operation::Index {
            id: format!("r{i}"),
            source: format!(r#"{{"text":"{}"}}"#, "x".repeat(4000)).into_bytes(),
            version: 1,
        })
        .collect();
    let report = run(config, big, None, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        (report.created, report.retried, report.requests),
        (20, 20, 2)
    );
    let requests = peer.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].ids().len(), 20);
    assert!(peer.resent_after_settled().is_empty());
}

#[tokio::test]
async fn retries_after_a_response_slower_than_the_timeout() {
    let peer = FaultPeer::start(|c| {
        if c.number == 0 {
            Reply::Slow(Duration::from_secs(3), Box::new(all(201)(c)))
        } else {
            all(201)(c)
        }
    })
    .await;
    let mut config = fast_config(&peer.url);
    config.request_timeout = Duration::from_millis(500);
    let started = std::time::Instant::now();
    let report = run(config, docs(5), None, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "did not time out: {:?}",
        started.elapsed()
    );
    assert_eq!((report.created, report.retried, report.requests), (5, 5, 2));
    assert!(report.request_wait >= Duration::from_millis(500));
    assert!(peer.resent_after_settled().is_empty());
}

#[tokio::test]
async fn splits_batches_on_413() {
    let peer = FaultPeer::start(|c| {
        if c.ops().len() > 2 {
            Reply::Status(413, "request entity too large".into())
        } else {
            all(201)(c)
        }
    })
    .await;
    let report = run(
        fast_config(&peer.url),
        docs(8),
        None,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    // 8 -> 413, 4 + 4 -> 413 each, 2 + 2 + 2 + 2 -> ok.
    assert_eq!(report.requests, 7);
    assert_eq!(report.created, 8);
    assert_eq!(report.retried, 16);
    let sizes: Vec<usize> = peer.requests().iter().map(|r| r.ops().len()).collect();
    assert_eq!(sizes, [8, 4, 2, 2, 4, 2, 2]);
    let mut accepted: Vec<String> = peer
        .requests()
        .iter()
        .filter(|r| r.ops().len() <= 2)
        .flat_map(|r| r.ids())
        .collect();
    accepted.sort();
    let mut expected: Vec<String> = (0..8).map(|i| format!("d{i}")).collect();
    expected.sort();
    assert_eq!(accepted, expected);
    assert!(peer.resent_after_settled().is_empty());
}

#[tokio::test]
async fn dead_letters_a_lone_document_that_is_still_too_large() {
    let peer = FaultPeer::start(|c| {
        if c.ids().iter().any(|id| id == "huge") {
            Reply::Status(413, "too large".into())
        } else {
            all(201)(c)
        }
    })
    .await;
    let path = temp_file("huge");
    let store: Arc<dyn DeadLetterStore> = Arc::new(FileDeadLetters::new(&path));
    let mut ops = docs(3);
    ops.push(doc("huge", 9));
    let report = run(
        fast_config(&peer.url),
        ops,
        Some(store),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    // [d0 d1 d2 huge] 413 -> [d0 d1] ok, [d2 huge] 413 -> [d2] ok, [huge] 413 -> dead letter.
    assert_eq!(
        (report.requests, report.created, report.dead_lettered),
        (5, 3, 1)
    );
    let letters = read_letters(&path);
    assert_eq!(letters.len(), 1);
    assert_eq!((letters[0].id.as_str(), letters[0].status), ("huge", 413));
    assert_eq!(letters[0].error_type, "request_entity_too_large");
    assert_eq!(letters[0].offset, 300);
    let _ = std::fs::remove_file(path);
}

fn mixed_ops() -> Vec<Operation> {
    vec![
        doc("i1", 1),
        doc("i2", 2),
        doc("i3", 3),
        doc("i4", 4),
        Operation::Delete { id: "d5".into() },
        Operation::Delete { id: "d6".into() },
    ]
}

fn mixed_peer_reply(c: &common::Captured) -> Reply {
    if c.number == 0 {
        // created, rejected, mapping error, updated, rejected delete, delete of a missing id
        Reply::Items(vec![201, 429, 400, 200, 429, 404])
    } else {
        Reply::Items(
            c.ops()
                .iter()
                .map(|(a, _)| if a == "delete" { 200 } else { 201 })
                .collect(),
        )
    }
}

#[tokio::test]
async fn retries_only_the_rejected_items_of_a_partial_response() {
    let peer = FaultPeer::start(mixed_peer_reply).await;
    let path = temp_file("mixed");
    let store: Arc<dyn DeadLetterStore> = Arc::new(FileDeadLetters::new(&path));
    let report = run(
        fast_config(&peer.url),
        mixed_ops(),
        Some(store),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(report.operations, 6);
    assert_eq!(
        (
            report.created,
            report.updated,
            report.deleted,
            report.not_found
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(
        (report.dead_lettered, report.retried, report.requests),
        (1, 2, 2)
    );
    let requests = peer.requests();
    assert_eq!(requests[1].ids(), ["i2", "d5"]);
    assert!(peer.resent_after_settled().is_empty());
    let letters = read_letters(&path);
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(
        (
            letter.id.as_str(),
            letter.status,
            letter.error_type.as_str()
        ),
        ("i3", 400, "mapper_parsing_exception")
    );
    assert!(
        letter.reason.contains("failed to parse field [n]"),
        "{}",
        letter.reason
    );
    assert_eq!(
        (letter.source_object.as_str(), letter.offset),
        ("s3://in/captures/2026/11/23/part-0001.gz", 200)
    );
    let document: serde_json::Value =
        serde_json::from_str(letter.document.as_ref().unwrap().get()).unwrap();
    assert_eq!(document["n"], 3);
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn a_permanent_failure_without_a_store_fails_the_call() {
    let peer = FaultPeer::start(mixed_peer_reply).await;
    let err = run(
        fast_config(&peer.url),
        mixed_ops(),
        None,
        Duration::from_secs(10),
    )
    .await
    .unwrap_err();
    match err {
        SinkError::PermanentFailures {
            count,
            first_id,
            first_offset,
            ..
        } => {
            assert_eq!((count, first_id.as_str(), first_offset), (1, "i3", 200));
        }
        other => panic!("expected PermanentFailures, got {other}"),
    }
    // The retryable items were still retried before failing, and nothing was resent twice.
    assert_eq!(peer.requests().len(), 2);
    assert!(peer.resent_after_settled().is_empty());
}

#[tokio::test]
async fn gives_up_at_the_deadline_naming_the_unconfirmed_count() {
    let peer = FaultPeer::start(|_| Reply::Status(503, "unavailable".into())).await;
    let mut config = fast_config(&peer.url);
    config.bulk_max_operations = 4;
    // One batch in flight while the next one fills (the concurrent case is tested below).
    config.bulk_concurrency = 1;
    let client = Arc::new(SearchClient::connect(config).await.unwrap());
    let started = Instant::now();
    let mut sink = BulkSink::new(client, started + Duration::from_millis(500), None);
    let mut outcome = Ok(());
    let mut pushed = 0;
    for (i, op) in docs(10).into_iter().enumerate() {
        pushed += 1;
        outcome = sink.push(op, origin(i as u64)).await;
        if outcome.is_err() {
            break;
        }
    }
    // The first batch (4 operations) can never succeed; the push that fills the second batch
    // waits for it and fails at the deadline, counting both batches.
    assert_eq!(pushed, 8);
    match outcome.unwrap_err() {
        SinkError::DeadlineExceeded {
            unconfirmed,
            last_problem,
            ..
        } => {
            assert_eq!(unconfirmed, 8);
            // Usually the 503; a last attempt cut short by the deadline reports its timeout.
            assert_ne!(last_problem, "none");
        }
        other => panic!("expected DeadlineExceeded, got {other}"),
    }
    let elapsed = started.elapsed();
    // Backoff never sleeps past the deadline and requests time out at it; the slack is for a
    // loaded CI machine.
    assert!(
        elapsed < Duration::from_millis(1500),
        "overran the deadline: {elapsed:?}"
    );
    let requests = peer.requests();
    assert!(requests.len() >= 2, "retried only {} times", requests.len());
    assert!(requests.iter().all(|r| r.ops().len() == 4));
}

#[tokio::test]
async fn a_deadline_already_past_counts_every_buffered_operation() {
    let peer = FaultPeer::start(all(201)).await;
    let client = Arc::new(SearchClient::connect(fast_config(&peer.url)).await.unwrap());
    let mut sink = BulkSink::new(client, Instant::now(), None);
    for (i, op) in docs(3).into_iter().enumerate() {
        sink.push(op, origin(i as u64)).await.unwrap();
    }
    match sink.finish().await.unwrap_err() {
        SinkError::DeadlineExceeded { unconfirmed, .. } => assert_eq!(unconfirmed, 3),
        other => panic!("expected DeadlineExceeded, got {other}"),
    }
    assert!(peer.requests().is_empty());
}

#[tokio::test]
async fn flushes_at_the_byte_limit_without_exceeding_it() {
    let peer = FaultPeer::start(all(201)).await;
    let mut config = fast_config(&peer.url);
    config.gzip = false;
    config.bulk_max_bytes = 1000;
    let report = run(config, docs(50), None, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(report.created, 50);
    let requests = peer.requests();
    assert_eq!(report.requests as usize, requests.len());
    assert!(requests.len() > 1);
    for r in &requests {
        assert!(r.body.len() <= 1000, "bulk of {} bytes", r.body.len());
    }
    let total: usize = requests.iter().map(|r| r.ids().len()).sum();
    assert_eq!(total, 50);
}

#[tokio::test]
async fn unencodable_operations_are_dead_lettered_not_sent() {
    let peer = FaultPeer::start(all(201)).await;
    let path = temp_file("encode");
    let store: Arc<dyn DeadLetterStore> = Arc::new(FileDeadLetters::new(&path));
    let ops = vec![
        doc("ok", 1),
        Operation::Index {
            id: "arr".into(),
            source: b"[1,2]".to_vec(),
            version: 1,
        },
        Operation::Delete { id: String::new() },
    ];
    let report = run(
        fast_config(&peer.url),
        ops,
        Some(store),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(
        (report.operations, report.created, report.dead_lettered),
        (3, 1, 2)
    );
    assert_eq!(peer.requests()[0].ids(), ["ok"]);
    let letters = read_letters(&path);
    assert_eq!(
        letters
            .iter()
            .map(|l| l.error_type.as_str())
            .collect::<Vec<_>>(),
        ["encode_error", "encode_error"]
    );
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn auth_failures_fail_the_call_without_retrying() {
    let peer = FaultPeer::start(|_| Reply::Status(403, r#"{"message":"forbidden"}"#.into())).await;
    let mut config = fast_config(&peer.url);
    config.auth = search_sink::Auth::Basic {
        username: "u".into(),
        password: "p".into(),
    };
    let err = run(config, docs(2), None, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SinkError::Rejected {
                status: 403,
                unconfirmed: 2,
                ..
            }
        ),
        "{err}"
    );
    let requests = peer.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("authorization"), Some("Basic dTpw"));
    assert_eq!(
        requests[0].header("content-type"),
        Some("application/x-ndjson")
    );
}

#[tokio::test]
async fn an_operation_waiting_behind_a_failed_flush_is_counted_unconfirmed() {
    let peer = FaultPeer::start(|_| Reply::Status(503, "unavailable".into())).await;
    let mut config = fast_config(&peer.url);
    config.gzip = false;
    // Each operation is ~94 bytes: the third overflows 250 bytes and sends the first two.
    config.bulk_max_bytes = 250;
    config.bulk_concurrency = 1;
    let client = Arc::new(SearchClient::connect(config).await.unwrap());
    let mut sink = BulkSink::new(client, Instant::now() + Duration::from_millis(300), None);
    for i in 0..4 {
        sink.push(doc(&format!("w{i}"), i), origin(i as u64))
            .await
            .unwrap();
    }
    // w4 overflows [w2, w3] and waits for the slot that [w0, w1] holds until the deadline:
    // all five are unconfirmed (in flight, buffered, and the one waiting).
    match sink.push(doc("w4", 4), origin(4)).await.unwrap_err() {
        SinkError::DeadlineExceeded { unconfirmed, .. } => assert_eq!(unconfirmed, 5),
        other => panic!("expected DeadlineExceeded, got {other}"),
    }
    assert_eq!(sink.report().operations, 5);
    assert!(peer.requests().iter().all(|r| r.ids() == ["w0", "w1"]));
}

#[tokio::test]
async fn keeps_two_batches_in_flight_and_never_more() {
    // Every reply waits, so batches pile up at the peer unless the sink holds them back.
    let peer =
        FaultPeer::start(|c| Reply::Slow(Duration::from_millis(150), Box::new(all(201)(c)))).await;
    let mut config = fast_config(&peer.url);
    config.bulk_max_operations = 3;
    assert_eq!(config.bulk_concurrency, 2, "the default");
    let report = run(config, docs(12), None, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!((report.created, report.requests), (12, 4));
    assert_eq!(peer.max_concurrent(), 2);
    // Each batch went out once, in push order of its operations.
    let mut ids: Vec<String> = peer.requests().iter().flat_map(|r| r.ids()).collect();
    ids.sort();
    let mut want: Vec<String> = (0..12).map(|i| format!("d{i}")).collect();
    want.sort();
    assert_eq!(ids, want);
    assert!(peer.resent_after_settled().is_empty());
}

#[tokio::test]
async fn a_batch_touching_an_id_in_flight_waits_for_it() {
    // Batch 0 indexes t1 (slowly); batch 1 deletes t1 and must not reach the server before
    // batch 0 is answered, or the delete could land first and the tweet come back.
    let peer = FaultPeer::start(|c| {
        let items = c
            .ops()
            .iter()
            .map(|(action, _)| if action == "delete" { 200 } else { 201 })
            .collect();
        let delay = if c.number == 0 { 300 } else { 200 };
        Reply::Slow(Duration::from_millis(delay), Box::new(Reply::Items(items)))
    })
    .await;
    let mut config = fast_config(&peer.url);
    config.bulk_max_operations = 2;
    let ops = vec![
        doc("t0", 0),
        doc("t1", 1),
        Operation::Delete { id: "t1".into() },
        doc("t2", 2),
        doc("t3", 3),
        doc("t4", 4),
    ];
    let report = run(config, ops, None, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!((report.created, report.deleted), (5, 1));
    let requests = peer.requests();
    let with_delete = requests
        .iter()
        .find(|r| r.ops().iter().any(|(a, _)| a == "delete"))
        .unwrap();
    assert_eq!(with_delete.number, 1);
    assert_eq!(
        peer.answered_before(1),
        Some(1),
        "the delete overtook the index"
    );
    // Batches without a shared id do overlap: the third went out while the second was open.
    assert_eq!(peer.max_concurrent(), 2);
}

#[tokio::test]
async fn a_failure_counts_the_batches_still_in_flight_as_unconfirmed() {
    // Batch 0 is refused for good (HTTP 400); batch 1 is still waiting for its answer then.
    let peer = FaultPeer::start(|c| {
        if c.number == 0 {
            Reply::Status(400, r#"{"error":"bad"}"#.into())
        } else {
            Reply::Slow(Duration::from_millis(500), Box::new(all(201)(c)))
        }
    })
    .await;
    let mut config = fast_config(&peer.url);
    config.bulk_max_operations = 3;
    let client = Arc::new(SearchClient::connect(config).await.unwrap());
    let mut sink = BulkSink::new(client, Instant::now() + Duration::from_secs(10), None);
    let mut result = Ok(());
    for (i, op) in docs(7).into_iter().enumerate() {
        result = sink.push(op, origin(i as u64)).await;
        if result.is_err() {
            break;
        }
    }
    let err = match result {
        Err(e) => e,
        Ok(()) => sink.finish().await.unwrap_err(),
    };
    match err {
        // Nothing was confirmed: batch 0 (3), batch 1 in flight (3), the 7th buffered (1).
        SinkError::Rejected {
            status,
            unconfirmed,
            ..
        } => assert_eq!((status, unconfirmed), (400, 7)),
        other => panic!("expected Rejected, got {other}"),
    }
}

#[tokio::test]
async fn a_retried_item_takes_the_later_operations_on_its_id_with_it() {
    // The index of x is rejected (429) but the delete of x after it succeeds: re-sending the
    // index alone would bring the tweet back. Both go again, in order, and count once.
    let peer = FaultPeer::start(|c| {
        if c.number == 0 {
            Reply::Items(vec![429, 200, 201])
        } else {
            Reply::Items(vec![201, 200])
        }
    })
    .await;
    let ops = vec![
        doc("x", 0),
        Operation::Delete { id: "x".into() },
        doc("y", 1),
    ];
    let report = run(fast_config(&peer.url), ops, None, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        (
            report.created,
            report.deleted,
            report.retried,
            report.requests
        ),
        (2, 1, 2, 2)
    );
    let requests = peer.requests();
    let op = |a: &str, id: &str| (a.to_owned(), id.to_owned());
    assert_eq!(requests[1].ops(), [op("index", "x"), op("delete", "x")]);
}

#[tokio::test]
async fn item_500s_are_retried_not_dead_lettered() {
    let peer = FaultPeer::start(|c| {
        if c.number == 0 {
            Reply::Items(vec![201, 500, 201])
        } else {
            Reply::Items(vec![201; c.ops().len()])
        }
    })
    .await;
    let path = temp_file("item-500");
    let store: Arc<dyn DeadLetterStore> = Arc::new(FileDeadLetters::new(&path));
    let report = run(
        fast_config(&peer.url),
        docs(3),
        Some(store),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(
        (report.created, report.retried, report.dead_lettered),
        (3, 1, 0)
    );
    assert_eq!(peer.requests()[1].ids(), ["d1"]);
    assert!(read_letters(&path).is_empty());
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn index_wide_item_errors_fail_the_delivery_with_nothing_dead_lettered() {
    // 403 (a write block or a security error) or an unknown error on every item: the
    // documents are fine, so none is dead-lettered and the call fails for a later retry.
    for status in [403, 401, 418] {
        let peer = FaultPeer::start(all(status)).await;
        let path = temp_file(&format!("refused-{status}"));
        let store: Arc<dyn DeadLetterStore> = Arc::new(FileDeadLetters::new(&path));
        let started = Instant::now();
        let err = run(
            fast_config(&peer.url),
            docs(5),
            Some(store),
            Duration::from_secs(10),
        )
        .await
        .unwrap_err();
        match err {
            SinkError::Refused {
                status: got,
                unconfirmed,
                ..
            } => assert_eq!((got, unconfirmed), (status, 5)),
            other => panic!("expected Refused, got {other}"),
        }
        assert_eq!(peer.requests().len(), 1, "not retried in this invocation");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(read_letters(&path).is_empty(), "status {status}");
        let _ = std::fs::remove_file(path);
    }
}

#[tokio::test]
async fn a_409_on_a_versioned_write_counts_as_superseded() {
    let peer = FaultPeer::start(|_| Reply::Items(vec![409, 201])).await;
    let report = run(
        fast_config(&peer.url),
        docs(2),
        None,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(
        (report.superseded, report.created, report.retried),
        (1, 1, 0)
    );
    assert_eq!(peer.requests().len(), 1);
}

/// Answers for `ensure_index` requests: `head` decides each HEAD (given the request number;
/// 0 is the template PUT); everything else succeeds.
fn ensure_peer(
    head: impl Fn(usize) -> Reply + Send + Sync + 'static,
) -> impl Fn(&common::Captured) -> Reply + Send + Sync + 'static {
    move |c| {
        if c.method == "HEAD" {
            head(c.number)
        } else {
            Reply::Status(200, r#"{"acknowledged":true}"#.into())
        }
    }
}

#[tokio::test]
async fn a_429_on_head_is_retried() {
    let peer = FaultPeer::start(ensure_peer(|n| {
        if n == 1 {
            Reply::Status(429, r#"{"error":{"type":"too_many_requests"}}"#.into())
        } else {
            Reply::Status(200, String::new())
        }
    }))
    .await;
    let client = SearchClient::connect(fast_config(&peer.url)).await.unwrap();
    let outcome = client
        .ensure_index_now("faults", r#"{"settings":{}}"#)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        search_sink::EnsureOutcome::Existing {
            added_fields: vec![]
        }
    );
    let methods: Vec<(String, String)> = peer
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.target.clone()))
        .collect();
    let head = ("HEAD".to_owned(), "/faults".to_owned());
    assert_eq!(
        methods,
        [
            ("PUT".to_owned(), "/_index_template/faults".to_owned()),
            head.clone(),
            head
        ]
    );
}

#[tokio::test]
async fn a_hung_head_ends_at_the_deadline_with_a_clear_error() {
    let peer = FaultPeer::start(ensure_peer(|_| {
        Reply::Slow(
            Duration::from_secs(30),
            Box::new(Reply::Status(200, String::new())),
        )
    }))
    .await;
    let mut config = fast_config(&peer.url);
    config.request_timeout = Duration::from_secs(60);
    let client = SearchClient::connect(config).await.unwrap();
    let started = Instant::now();
    let err = client
        .ensure_index_now_before(
            "faults",
            r#"{"settings":{}}"#,
            Instant::now() + Duration::from_millis(700),
        )
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(650) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with("HEAD faults:") && text.contains("no answer before the deadline"),
        "{text}"
    );
}

#[tokio::test]
async fn after_a_failure_the_sink_names_the_first_unconfirmed_operation() {
    // Batches of two, one in flight: [d0 d1] succeeds, [d2 d3] is refused; d0 and d1 are
    // settled, so a caller resuming a stream starts again at d2 (the third operation).
    let peer = FaultPeer::start(|c| {
        if c.number == 0 {
            Reply::Items(vec![201, 201])
        } else {
            Reply::Status(400, r#"{"error":"bad"}"#.into())
        }
    })
    .await;
    let mut config = fast_config(&peer.url);
    config.bulk_max_operations = 2;
    config.bulk_concurrency = 1;
    let client = Arc::new(SearchClient::connect(config).await.unwrap());
    let mut sink = BulkSink::new(client, Instant::now() + Duration::from_secs(10), None);
    assert_eq!(sink.first_unconfirmed(), None);
    let mut failed = false;
    for (i, op) in docs(6).into_iter().enumerate() {
        if sink.push(op, origin(i as u64 * 100)).await.is_err() {
            failed = true;
            break;
        }
    }
    if !failed {
        assert!(sink.flush().await.is_err());
    }
    assert_eq!(sink.first_unconfirmed(), Some(2));
    assert_eq!(sink.report().created, 2);
}

#[tokio::test]
async fn a_missing_index_is_ensured_again_once_then_the_items_are_retried() {
    // The index was ensured by this process, then deleted (and auto-creation is off): the
    // bulk answers index_not_found_exception, the sink ensures the index again and re-sends.
    let peer = FaultPeer::start(|c| match (c.method.as_str(), c.number) {
        ("POST", 2) => Reply::Items(vec![404; c.ops().len()]),
        ("POST", _) => Reply::Items(vec![201; c.ops().len()]),
        ("HEAD", 4) => Reply::Status(404, String::new()),
        _ => Reply::Status(200, r#"{"acknowledged":true}"#.into()),
    })
    .await;
    let client = Arc::new(SearchClient::connect(fast_config(&peer.url)).await.unwrap());
    let body = r#"{"settings":{"number_of_shards":1}}"#;
    client.ensure_index("faults", body).await.unwrap();
    let mut sink = BulkSink::new(client, Instant::now() + Duration::from_secs(10), None);
    for (i, op) in docs(3).into_iter().enumerate() {
        sink.push(op, origin(i as u64)).await.unwrap();
    }
    let report = sink.finish().await.unwrap();
    assert_eq!((report.created, report.retried, report.refused), (3, 3, 0));
    let requests: Vec<(String, String)> = peer
        .requests()
        .iter()
        .map(|r| {
            (
                r.method.clone(),
                r.target.split('?').next().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let step = |m: &str, t: &str| (m.to_owned(), t.to_owned());
    assert_eq!(
        requests,
        [
            step("PUT", "/_index_template/faults"),
            step("HEAD", "/faults"),
            step("POST", "/faults/_bulk"),
            step("PUT", "/_index_template/faults"),
            step("HEAD", "/faults"),
            step("PUT", "/faults"),
            step("POST", "/faults/_bulk"),
        ]
    );
    assert_eq!(peer.requests()[5].body, body.as_bytes());
}

/// A dead-letter store that never answers.
#[derive(Debug)]
struct HungStore;

#[async_trait::async_trait]
impl DeadLetterStore for HungStore {
    async fn store(
        &self,
        _source_object: &str,
        _part: u32,
        _entries: &[DeadLetter],
    ) -> Result<(), search_sink::DeadLetterError> {
        std::future::pending().await
    }
}

/// [d0 d1]: d0 is refused for good (400 mapper_parsing_exception), d1 created; every later
/// bulk hangs past the deadline.
fn letter_then_hang(c: &common::Captured) -> Reply {
    if c.number == 0 {
        Reply::Items(vec![400, 201])
    } else {
        Reply::Slow(
            Duration::from_secs(60),
            Box::new(Reply::Items(vec![201; 2])),
        )
    }
}

/// Pushes d0..d3 in batches of two, one in flight, and returns the sink after its error.
async fn letter_then_deadline(
    peer: &FaultPeer,
    store: Arc<dyn DeadLetterStore>,
) -> (BulkSink, SinkError) {
    let mut config = fast_config(&peer.url);
    config.bulk_max_operations = 2;
    config.bulk_concurrency = 1;
    let client = Arc::new(SearchClient::connect(config).await.unwrap());
    let mut sink = BulkSink::new(client, Instant::now() + Duration::from_secs(3), Some(store));
    for (i, op) in docs(4).into_iter().enumerate() {
        if let Err(e) = sink.push(op, origin(i as u64 * 100)).await {
            return (sink, e);
        }
    }
    let error = sink.flush().await.unwrap_err();
    (sink, error)
}

#[tokio::test]
async fn a_dead_letter_still_in_memory_is_unconfirmed_so_a_resume_starts_at_it() {
    // d0's letter cannot be stored (the store hangs), so d0 is not settled: resuming at the
    // failed batch [d2 d3] would lose it.
    let peer = FaultPeer::start(letter_then_hang).await;
    let (sink, error) = letter_then_deadline(&peer, Arc::new(HungStore)).await;
    match error {
        SinkError::DeadlineExceeded { unconfirmed, .. } => assert_eq!(unconfirmed, 3),
        other => panic!("expected DeadlineExceeded, got {other}"),
    }
    assert_eq!(sink.first_unconfirmed(), Some(0));
    assert_eq!((sink.report().created, sink.report().dead_lettered), (1, 0));
}

#[tokio::test]
async fn dead_letters_are_written_in_time_kept_for_them_when_a_later_bulk_runs_out() {
    // The hung bulk stops before the deadline, leaving time to store d0's letter: the resume
    // then starts at d2, after everything settled.
    let peer = FaultPeer::start(letter_then_hang).await;
    let path = temp_file("reserve");
    let store: Arc<dyn DeadLetterStore> = Arc::new(FileDeadLetters::new(&path));
    let (sink, error) = letter_then_deadline(&peer, store).await;
    match error {
        SinkError::DeadlineExceeded { unconfirmed, .. } => assert_eq!(unconfirmed, 2),
        other => panic!("expected DeadlineExceeded, got {other}"),
    }
    let letters = read_letters(&path);
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!((letters[0].id.as_str(), letters[0].offset), ("d0", 0));
    assert_eq!(sink.first_unconfirmed(), Some(2));
    assert_eq!((sink.report().created, sink.report().dead_lettered), (1, 1));
}

/// Each request goes to its index's path and names no `_index` in its lines (issue 26 item 3:
/// with `rest.action.multi.allow_explicit_index: false` and IAM on index paths, a line naming
/// another index would be refused or escape the policy); with more indices than
/// [`search_sink::MAX_OPEN_BATCHES`], the batch whose first operation is oldest goes first.
#[tokio::test]
async fn each_bulk_goes_to_its_index_path_and_no_line_names_an_index() {
    let peer = FaultPeer::start(all(201)).await;
    let mut config = fast_config(&peer.url);
    config.bulk_concurrency = 1;
    let client = Arc::new(SearchClient::connect(config).await.unwrap());
    let mut sink = BulkSink::new(client, Instant::now() + Duration::from_secs(10), None);
    let indices: Vec<String> = (0..=search_sink::MAX_OPEN_BATCHES)
        .map(|i| format!("p-{i:02}"))
        .collect();
    // Index 0 first, then one operation each for the others, then index 0 again: opening
    // the last index sends index 0's batch (the oldest) before any other.
    sink.push_to(&indices[0], doc("a0", 1), origin(0))
        .await
        .unwrap();
    for (i, index) in indices.iter().enumerate().skip(1) {
        sink.push_to(index, doc(&format!("a{i}"), 1), origin(i as u64))
            .await
            .unwrap();
    }
    let report = sink.finish().await.unwrap();
    assert_eq!(report.created, indices.len() as u64);
    let requests = peer.requests();
    assert_eq!(requests.len(), indices.len(), "one request per index");
    assert!(
        requests[0].target.starts_with("/p-00/_bulk?"),
        "the oldest batch went first: {}",
        requests[0].target
    );
    for request in &requests {
        let index = request.target[1..].split('/').next().unwrap().to_owned();
        let body = String::from_utf8(request.body.clone()).unwrap();
        for line in body.lines().step_by(2) {
            let action: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(action["index"].get("_index").is_none(), "{line}");
        }
        let id = request.ids()[0].clone();
        assert_eq!(format!("p-{:02}", id[1..].parse::<usize>().unwrap()), index);
    }
}
