//! Copies and replays against a real server (osmem-server): two copies of one tweet with the
//! same time leave the same document whatever order they arrive in (the version breaks the
//! tie on the record's fingerprint), and a delete notice replayed is counted once (the
//! tombstone's `version_type=external` answers the replay with 409, `superseded`).

use std::time::Duration;

use pipeline::{Indexer, Object, ObjectSummary};
use search_sink::{Config, Method};
use serde_json::Value;
use tokio::time::Instant;

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("copies-{name}-{}-{nanos}", std::process::id())
}

async fn indexer(url: &str, index: &str) -> Indexer {
    let mut config = Config::new(url);
    config.index = index.to_owned();
    let indexer = Indexer::connect(config).await.unwrap();
    indexer.ensure_index().await.unwrap();
    indexer
}

async fn load(indexer: &Indexer, name: &str, bytes: &[u8]) -> ObjectSummary {
    let object = Object::in_memory(name, bytes.to_vec());
    indexer
        .index(object, Instant::now() + Duration::from_secs(60))
        .await
        .unwrap()
}

async fn source(indexer: &Indexer, index: &str, id: &str) -> Value {
    let response = indexer
        .client()
        .request(Method::Get, &format!("{index}/_doc/{id}"), None)
        .await
        .unwrap();
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let doc: Value = serde_json::from_slice(&response.body).unwrap();
    doc["_source"].clone()
}

/// The first fixture tweet and a copy of it captured later: same tweet, same time, another
/// follower count.
fn two_copies() -> (String, Vec<u8>, Vec<u8>) {
    let fixtures = testkit::repo_root().join("crates/tweets/tests/fixtures/v1.ndjson");
    let text = std::fs::read_to_string(fixtures).unwrap();
    let first = text.lines().next().unwrap().to_owned();
    let tweet: Value = serde_json::from_str(&first).unwrap();
    let id = tweet["id_str"].as_str().unwrap().to_owned();
    let followers = tweet["user"]["followers_count"].as_u64().unwrap();
    let before = format!("\"followers_count\":{followers}");
    let after = format!("\"followers_count\":{}", followers + 1);
    assert!(first.contains(&before));
    let second = first.replacen(&before, &after, 1);
    (id, first.into_bytes(), second.into_bytes())
}

#[tokio::test]
async fn two_copies_of_one_tweet_leave_the_same_document_whatever_their_order() {
    let Some(url) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let (id, a, b) = two_copies();
    let mut kept = Vec::new();
    for (name, order) in [("ab", [&a, &b]), ("ba", [&b, &a])] {
        let index = unique(name);
        let indexer = indexer(&url, &index).await;
        for (i, copy) in order.into_iter().enumerate() {
            let summary = load(&indexer, &format!("copy-{i}.ndjson"), copy).await;
            assert_eq!(summary.documents, 1);
        }
        kept.push(source(&indexer, &index, &id).await);
    }
    assert_ne!(
        kept[0]["user"]["followers_count"],
        Value::Null,
        "{:?}",
        kept[0]
    );
    assert_eq!(
        kept[0], kept[1],
        "the document depends on the arrival order"
    );
}

#[tokio::test]
async fn a_replayed_delete_is_counted_once() {
    let Some(url) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let (id, tweet, _) = two_copies();
    let index = unique("replay");
    let indexer = indexer(&url, &index).await;
    let delete = format!(
        r#"{{"delete":{{"status":{{"id":{id},"id_str":"{id}","user_id":1,"user_id_str":"1"}}}}}}"#
    );
    let tweet_then_delete = [tweet.as_slice(), b"\n", delete.as_bytes()].concat();
    let first = load(&indexer, "a.ndjson", &tweet_then_delete).await;
    assert_eq!((first.deleted, first.superseded), (1, 0), "{first:?}");
    // Lambda retries the object: the tweet is refused (deleted), and so is the delete.
    let again = load(&indexer, "a.ndjson", &tweet_then_delete).await;
    assert_eq!(
        (again.deleted, again.not_found, again.superseded),
        (0, 0, 2),
        "{again:?}"
    );
    // The delete alone, replayed: still done, not counted.
    let replayed = load(&indexer, "b.ndjson", delete.as_bytes()).await;
    assert_eq!(
        (replayed.deleted, replayed.not_found, replayed.superseded),
        (0, 0, 1),
        "{replayed:?}"
    );
}
