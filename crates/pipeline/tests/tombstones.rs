//! Tombstones are queryable: the `{"deleted":true}` documents deletes write (README,
//! "Delivery") are mapped by `mappings/twitter.json`, so `deleted:true` finds them and
//! `NOT deleted:true` (what the dashboards query) leaves only tweets. An index created before
//! the field existed gets it from ensure (`PUT _mapping`).

use std::collections::BTreeMap;
use std::time::Duration;

use pipeline::{Indexer, Object};
use search_sink::{Config, EnsureOutcome, Method, SearchClient, TOMBSTONE_SOURCE};
use serde_json::{Value, json};
use tokio::time::Instant;
use tweets::{Extractor, ExtractorOptions, Item, MAPPING_JSON};

#[test]
fn every_tombstone_field_is_mapped_with_its_type() {
    let mapping: Value = serde_json::from_str(MAPPING_JSON).unwrap();
    let tombstone: BTreeMap<String, Value> = serde_json::from_slice(TOMBSTONE_SOURCE).unwrap();
    assert!(!tombstone.is_empty());
    for (field, value) in &tombstone {
        let ty = &mapping["mappings"]["properties"][field]["type"];
        let fits = match ty.as_str() {
            Some("boolean") => value.is_boolean(),
            Some("keyword") => value.is_string(),
            _ => false,
        };
        assert!(fits, "tombstone field {field} = {value} is mapped as {ty}");
    }
}

async fn count(client: &SearchClient, index: &str, query: Value) -> u64 {
    let body = json!({ "query": query }).to_string();
    let r = client
        .request(
            Method::Post,
            &format!("{index}/_count"),
            Some(body.as_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    v["count"].as_u64().unwrap()
}

#[tokio::test]
async fn an_index_without_the_field_gets_it_and_tombstones_can_be_filtered() {
    let Some(url) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let index = testkit::unique_name("tombstones");
    let mut config = Config::new(&url);
    config.index = index.clone();
    let direct = SearchClient::connect(config.clone()).await.unwrap();
    // The index as an older release created it: the mapping without `deleted`.
    let mut old: Value = serde_json::from_str(MAPPING_JSON).unwrap();
    old["mappings"]["properties"]
        .as_object_mut()
        .unwrap()
        .remove("deleted")
        .expect("the mapping has the tombstone field");
    let created = direct
        .request(Method::Put, &index, Some(old.to_string().as_bytes()))
        .await
        .unwrap();
    assert_eq!(created.status, 200);

    let indexer = Indexer::connect(config).await.unwrap();
    let outcome = indexer.ensure_index().await.unwrap();
    assert_eq!(
        outcome,
        EnsureOutcome::Existing {
            added_fields: vec!["deleted".into()]
        }
    );
    let r = direct
        .request(Method::Get, &format!("{index}/_mapping"), None)
        .await
        .unwrap();
    let mapping: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        mapping[&index]["mappings"]["properties"]["deleted"]["type"],
        "boolean"
    );

    // Three tweets, one of them deleted in the same object.
    let fixtures = testkit::repo_root().join("crates/tweets/tests/fixtures/v1.ndjson");
    let text = std::fs::read_to_string(fixtures).unwrap();
    let extractor = Extractor::new(ExtractorOptions::default());
    let mut lines = Vec::new();
    let mut ids = Vec::new();
    for line in text.lines() {
        let mut items = Vec::new();
        extractor.bytes_items(line.as_bytes(), 0, &mut items);
        if let [Item::Document { id, .. }] = items.as_slice()
            && !ids.contains(id)
        {
            ids.push(id.clone());
            lines.push(line.to_owned());
        }
        if ids.len() == 3 {
            break;
        }
    }
    assert_eq!(ids.len(), 3);
    lines.push(format!(
        r#"{{"delete":{{"status":{{"id":{0},"id_str":"{0}","user_id":1,"user_id_str":"1"}}}}}}"#,
        ids[1]
    ));
    let object = Object::in_memory("tombstones.ndjson", lines.join("\n").into_bytes());
    let summary = indexer
        .index(object, Instant::now() + Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!((summary.documents, summary.deletes), (3, 1));
    direct
        .request(Method::Post, &format!("{index}/_refresh"), None)
        .await
        .unwrap();

    let tombstones = json!({ "term": { "deleted": true } });
    let tweets_only = json!({ "bool": { "must_not": [{ "term": { "deleted": true } }] } });
    assert_eq!(count(&direct, &index, tombstones).await, 1);
    assert_eq!(count(&direct, &index, tweets_only).await, 2);
    assert_eq!(count(&direct, &index, json!({ "match_all": {} })).await, 3);
}
