//! The reads (`reads.rs`) against osmem-server and a peer that answers what a test needs: pages
//! that neither skip nor repeat a document, real-time `_mget`, a missing index as an answer,
//! and an incomplete search as an error.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::{FaultPeer, Reply, fast_config, origin, unique_index};
use search_sink::{
    BulkSink, Config, ErrorClass, Operation, Pages, SearchClient, SearchRequest, SinkError,
    SourceFilter,
};
use serde_json::{Value, json};
use tokio::time::Instant;

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

async fn osmem(index: &str) -> Option<Arc<SearchClient>> {
    let url = testkit::peer("OSMEM_URL")?;
    let mut config = Config::new(url);
    config.index = index.into();
    Some(Arc::new(SearchClient::connect(config).await.unwrap()))
}

/// `n` documents `{"key": "k007", "group": n % 3, "n": n}` at version 7, through a sink.
async fn load(client: &Arc<SearchClient>, index: &str, n: usize) {
    let mapping =
        r#"{"mappings":{"properties":{"key":{"type":"keyword"},"group":{"type":"long"}}}}"#;
    client.ensure_index_now(index, mapping).await.unwrap();
    let mut sink = BulkSink::new(client.clone(), soon(), None);
    for i in 0..n {
        let op = Operation::Index {
            id: format!("d{i}"),
            source: json!({"key": format!("k{i:03}"), "group": i % 3, "n": i})
                .to_string()
                .into_bytes(),
            version: 7,
        };
        sink.push(op, origin(i as u64)).await.unwrap();
    }
    sink.finish().await.unwrap();
}

#[tokio::test]
async fn pages_read_every_document_once_in_order_with_its_version_and_index() {
    let index = unique_index("reads-pages");
    let Some(client) = osmem(&index).await else {
        return;
    };
    load(&client, &index, 23).await;
    let request = SearchRequest {
        query: json!({"range": {"n": {"gte": 2}}}),
        sort: vec!["key".into()],
        size: 5,
        source: SourceFilter::Fields(vec!["n".into()]),
        version: true,
    };
    let mut pages = Pages::new(index.clone(), request);
    let mut keys = Vec::new();
    let mut sizes = Vec::new();
    while let Some(hits) = pages.next(&client, soon()).await.unwrap() {
        sizes.push(hits.len());
        for hit in hits {
            assert_eq!(hit.index, index);
            assert_eq!(hit.version, Some(7));
            let source = hit.source.expect("the fields asked for");
            assert_eq!(source.keys().collect::<Vec<_>>(), ["n"]);
            keys.push(hit.sort[0].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(sizes, [5, 5, 5, 5, 1]);
    let want: Vec<String> = (2..23).map(|i| format!("k{i:03}")).collect();
    assert_eq!(keys, want, "each once, in order");
    // After the last page: none, and no request.
    assert!(pages.next(&client, soon()).await.unwrap().is_none());

    // A search of an index that does not exist: no page, not an error.
    let mut none = Pages::new(
        "reads-no-such-index",
        SearchRequest {
            query: json!({"match_all": {}}),
            sort: vec!["key".into()],
            size: 5,
            source: SourceFilter::None,
            version: false,
        },
    );
    assert!(none.next(&client, soon()).await.unwrap().is_none());
}

#[tokio::test]
async fn mget_is_real_time_and_a_missing_index_is_an_answer() {
    let index = unique_index("reads-mget");
    let Some(client) = osmem(&index).await else {
        return;
    };
    assert!(!client.index_exists(&index, soon()).await.unwrap());
    let ids: Vec<String> = ["d1", "d4", "nope"].map(String::from).to_vec();
    assert_eq!(
        client.mget_sources(&index, &ids, soon()).await.unwrap(),
        None
    );
    load(&client, &index, 5).await;
    assert!(client.index_exists(&index, soon()).await.unwrap());
    // No refresh in between: `_mget` sees what was acknowledged.
    let sources = client
        .mget_sources(&index, &ids, soon())
        .await
        .unwrap()
        .expect("the index exists");
    let found: BTreeSet<u64> = sources.iter().map(|s| s["n"].as_u64().unwrap()).collect();
    assert_eq!(found, BTreeSet::from([1, 4]), "only the documents there");
    assert!(client.refresh(&index, soon()).await.unwrap());
}

/// Answers every search with `body` (status 200).
async fn answering(body: Value) -> (FaultPeer, SearchClient) {
    let text = body.to_string();
    let peer = FaultPeer::start(move |_| Reply::Status(200, text.clone())).await;
    let client = SearchClient::connect(fast_config(&peer.url)).await.unwrap();
    (peer, client)
}

#[tokio::test]
async fn an_incomplete_search_is_a_transient_error_not_a_short_page() {
    let request = SearchRequest {
        query: json!({"match_all": {}}),
        sort: vec!["key".into()],
        size: 5,
        source: SourceFilter::All,
        version: true,
    };
    let hits = json!({"hits": [{"_index": "i", "_id": "1", "_source": {}, "sort": ["a"]}]});
    for (body, says) in [
        (
            json!({"timed_out": false, "_shards": {"total": 2, "failed": 1}, "hits": hits}),
            "1 shards failed",
        ),
        (
            json!({"timed_out": true, "_shards": {"total": 2, "failed": 0}, "hits": hits}),
            "timed out",
        ),
    ] {
        let (_peer, client) = answering(body).await;
        let mut pages = Pages::new("i", request.clone());
        let error = pages.next(&client, soon()).await.unwrap_err();
        assert!(error.to_string().contains(says), "{error}");
        assert_eq!(error.class(), ErrorClass::Transient, "{error}");
    }
    // A hit without sort values cannot be paged after.
    let (_peer, client) = answering(json!({"hits": {"hits": [{"_index": "i", "_id": "1"}]}})).await;
    let mut pages = Pages::new("i", request.clone());
    let error = pages.next(&client, soon()).await.unwrap_err();
    assert!(matches!(error, SinkError::BadResponse { .. }), "{error}");
}

#[tokio::test]
async fn a_document_mget_could_not_read_fails_the_call() {
    let body = json!({"docs": [{"error": {"type": "no_shard_available_action_exception",
        "reason": "no shard"}}]});
    let (peer, client) = answering(body).await;
    let ids = vec!["a".to_owned()];
    let error = client.mget_sources("i", &ids, soon()).await.unwrap_err();
    assert!(error.to_string().contains("could not be read"), "{error}");
    let request = &peer.requests()[0];
    assert_eq!(request.method, "POST");
    assert!(
        request.target.starts_with("/i/_mget?filter_path="),
        "{}",
        request.target
    );
    let sent: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(sent, json!({"ids": ["a"]}));
    // The refresh a server does not offer is a `false`, not an error.
    let missing =
        FaultPeer::start(|_| Reply::Status(405, r#"{"error":"no refresh here"}"#.into())).await;
    let client = SearchClient::connect(fast_config(&missing.url))
        .await
        .unwrap();
    assert!(!client.refresh("i", soon()).await.unwrap());
}
