//! OpenSearch Serverless time series and vector search collections take no custom document
//! ids: every item of a bulk that names `_id` is refused with `illegal_argument_exception`
//! ("Document ID is not supported in create/index operation request"). That is the
//! collection's refusal, not the documents': the delivery must fail loudly, saying so, with
//! nothing dead-lettered, rather than dead-letter every tweet and acknowledge the input. A
//! loopback peer answers bulks as such a collection does.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{FaultPeer, Reply, doc, fast_config, origin, temp_file};
use search_sink::{BulkSink, DeadLetterStore, FileDeadLetters, SearchClient, SinkError};
use serde_json::json;
use tokio::time::Instant;

/// The bulk answer of a time series or vector search collection: every item refused.
fn refuse_every_id(captured: &common::Captured) -> Reply {
    let items: Vec<_> = captured
        .ops()
        .into_iter()
        .map(|(action, id)| {
            json!({ action: {
                "_index": "faults", "_id": id, "status": 400,
                "error": {"type": "illegal_argument_exception",
                          "reason": "Document ID is not supported in create/index operation request"}
            }})
        })
        .collect();
    Reply::Status(
        200,
        json!({"took": 0, "errors": true, "items": items}).to_string(),
    )
}

#[tokio::test]
async fn a_collection_that_takes_no_ids_fails_the_delivery_with_nothing_dead_lettered() {
    let peer = FaultPeer::start(refuse_every_id).await;
    let path = temp_file("serverless-no-ids");
    let store: Arc<dyn DeadLetterStore> = Arc::new(FileDeadLetters::new(&path));
    let client = Arc::new(SearchClient::connect(fast_config(&peer.url)).await.unwrap());
    let mut sink = BulkSink::new(
        client,
        Instant::now() + Duration::from_secs(10),
        Some(store),
    );
    let mut pushed = Ok(());
    for i in 0..4 {
        pushed = pushed.and(sink.push(doc(&format!("t{i}"), 1), origin(i * 100)).await);
    }
    let error = match pushed {
        Err(e) => e,
        Ok(()) => sink.finish().await.expect_err("the delivery fails"),
    };
    match &error {
        SinkError::Refused {
            status,
            error_type,
            reason,
            unconfirmed,
            ..
        } => {
            assert_eq!(
                (*status, error_type.as_str()),
                (400, "illegal_argument_exception")
            );
            assert_eq!(*unconfirmed, 4);
            assert!(
                reason.contains("this collection does not take document ids or versions"),
                "{reason}"
            );
        }
        other => panic!("expected Refused, got {other}"),
    }
    assert!(
        error.to_string().contains("use a search collection"),
        "the message says what to do: {error}"
    );
    assert_eq!(peer.requests().len(), 1, "not retried in this invocation");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap_or_default(),
        "",
        "nothing dead-lettered"
    );
    let _ = std::fs::remove_file(path);
}
