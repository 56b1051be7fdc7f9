//! Time partitions behind the alias, against osmem-server (issue 25): tweets of several months
//! land each in its partition and the alias counts them; a delete of an old tweet, then a late
//! retry of its object, leaves it deleted in its partition; `migrate` of a populated single
//! index, interrupted and run again, keeps every document once and the alias answers as the
//! index did; `retention apply` removes exactly the partitions past retention.

use std::collections::BTreeMap;
use std::time::Duration;

use pipeline::lifecycle::{self, MigrateOutcome, Settings};
use pipeline::{Indexer, Object};
use search_sink::{Config, Method, NameState, SearchClient};
use serde_json::{Value, json};
use tokio::time::Instant;
use tweets::partition::{Partition, Retention, SNOWFLAKE_EPOCH_MS};

fn unique(name: &str) -> String {
    format!(
        "lc-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

fn ms(iso: &str) -> i64 {
    // A fixed ISO date in UTC, to epoch ms (days * 86400000 + time of day).
    let date: Vec<i64> = iso[..10].split('-').map(|p| p.parse().unwrap()).collect();
    let (y, m, d) = (date[0], date[1], date[2]);
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    days * 86_400_000 + 12 * 3_600_000
}

/// A tweet id created at `at` (epoch ms), distinct per `n`.
fn id_at(at: i64, n: u64) -> String {
    ((((at - SNOWFLAKE_EPOCH_MS) as u64) << 22) + n).to_string()
}

fn tweet(id: &str, at: i64) -> String {
    json!({"id_str": id, "text": format!("tweet {id}"), "timestamp_ms": at.to_string(),
           "user": {"id": 7, "id_str": "7", "screen_name": "u"}})
    .to_string()
}

fn delete(id: &str) -> String {
    json!({"delete": {"status": {"id_str": id, "user_id_str": "7"}}}).to_string()
}

fn object(name: &str, lines: &[String]) -> Object {
    Object::in_memory(name, lines.join("\n").into_bytes())
}

/// Twelve tweets, three in each month from 2023-11 to 2024-02.
fn months() -> Vec<(String, i64, &'static str)> {
    let mut tweets = Vec::new();
    for (n, (day, month)) in [
        ("2023-11-15", "2023.11"),
        ("2023-12-31", "2023.12"),
        ("2024-01-01", "2024.01"),
        ("2024-02-29", "2024.02"),
    ]
    .into_iter()
    .enumerate()
    {
        for k in 0..3u64 {
            let at = ms(day) + k as i64;
            tweets.push((id_at(at, n as u64 * 10 + k), at, month));
        }
    }
    tweets
}

async fn indexer(url: &str, index: &str, vars: &[(&str, &str)]) -> Indexer {
    let mut config = Config::new(url);
    config.index = index.to_owned();
    let map: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let settings = Settings::from_lookup(|name| map.get(name).cloned()).unwrap();
    Indexer::connect(config)
        .await
        .unwrap()
        .with_lifecycle(settings)
}

fn later() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

async fn doc(client: &SearchClient, index: &str, id: &str) -> Option<Value> {
    let r = client
        .request(Method::Get, &format!("{index}/_doc/{id}"), None)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    (v["found"] == true).then(|| v["_source"].clone())
}

/// Every document behind `name`, by id (a search of the alias or the index).
async fn all_docs(client: &SearchClient, name: &str) -> BTreeMap<String, Value> {
    client.count(name, later()).await.unwrap();
    let r = client
        .request(
            Method::Post,
            &format!("{name}/_search"),
            Some(br#"{"size":1000,"query":{"match_all":{}}}"#),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    v["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["_id"].as_str().unwrap().to_owned(), h["_source"].clone()))
        .collect()
}

#[tokio::test]
async fn tweets_of_several_months_land_each_in_its_partition_and_deletes_stay() {
    let Some(url) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let base = unique("months");
    let indexer = indexer(&url, &base, &[("INDEX_PARTITION", "month")]).await;
    indexer.ensure_index().await.unwrap();
    let tweets = months();
    let lines: Vec<String> = tweets.iter().map(|(id, at, _)| tweet(id, *at)).collect();
    let oldest = tweets[0].0.clone();
    let mut with_delete = lines.clone();
    with_delete.push(delete(&oldest));
    let summary = indexer
        .index(object("months.ndjson", &with_delete), later())
        .await
        .unwrap();
    assert_eq!((summary.documents, summary.deletes), (12, 1));

    let client = indexer.client();
    let partitions: Vec<String> = ["2023.11", "2023.12", "2024.01", "2024.02"]
        .iter()
        .map(|m| format!("{base}-{m}"))
        .collect();
    assert_eq!(
        client
            .list_indices(&format!("{base}-*"), later())
            .await
            .unwrap(),
        partitions
    );
    assert_eq!(
        client.name_state(&base, later()).await.unwrap(),
        NameState::Alias(partitions.clone())
    );
    for (id, _, month) in &tweets {
        let partition = format!("{base}-{month}");
        let source = doc(client, &partition, id).await;
        assert!(source.is_some(), "{id} is in {partition}");
    }
    // Through the alias: every tweet, once (the deleted one as its tombstone).
    assert_eq!(client.count(&base, later()).await.unwrap(), 12);
    let old = format!("{base}-2023.11");
    assert_eq!(
        doc(client, &old, &oldest).await,
        Some(json!({"deleted": true}))
    );

    // A late retry of the tweets' object: the delete still wins, in its partition.
    let retry = indexer
        .index(object("months.ndjson", &lines), later())
        .await
        .unwrap();
    assert_eq!(retry.superseded, 1, "{retry:?}");
    assert_eq!(
        doc(client, &old, &oldest).await,
        Some(json!({"deleted": true}))
    );
    assert_eq!(client.count(&base, later()).await.unwrap(), 12);
    // Nothing went to an index of the base name: it is still the alias alone.
    assert_eq!(
        client.name_state(&base, later()).await.unwrap(),
        NameState::Alias(partitions)
    );
}

#[tokio::test]
async fn migrate_interrupted_then_rerun_keeps_every_document_once() {
    let Some(url) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let base = unique("migrate");
    let single = indexer(&url, &base, &[]).await;
    single.ensure_index().await.unwrap();
    let tweets = months();
    let mut lines: Vec<String> = tweets.iter().map(|(id, at, _)| tweet(id, *at)).collect();
    lines.push(delete(&tweets[4].0));
    single
        .index(object("single.ndjson", &lines), later())
        .await
        .unwrap();
    let client = single.client();
    let before = all_docs(client, &base).await;
    assert_eq!(before.len(), 12);

    let partitioned = indexer(&url, &base, &[("INDEX_PARTITION", "month")]).await;
    // Writers set to partitions before the migration are refused, not misrouted.
    let refused = partitioned.ensure_index().await.unwrap_err();
    assert!(
        refused.to_string().contains("migrate --to month"),
        "{refused}"
    );

    // Interrupted after the first page of 5 copies: nothing is swapped.
    let mut pages = 0;
    let stopped = lifecycle::migrate(
        partitioned.client_arc(),
        partitioned.lifecycle(),
        later(),
        5,
        |p| {
            if p.copied > 0 {
                pages += 1;
            }
            pages < 1
        },
    )
    .await
    .unwrap();
    assert_eq!(stopped, MigrateOutcome::Stopped { copied: 5 });
    assert_eq!(
        client.name_state(&base, later()).await.unwrap(),
        NameState::Index
    );
    assert_eq!(
        all_docs(client, &base).await,
        before,
        "the index is untouched"
    );

    // Run again: done, every document once, the alias answers as the index did.
    let mut reported = Vec::new();
    let outcome = lifecycle::migrate(
        partitioned.client_arc(),
        partitioned.lifecycle(),
        later(),
        5,
        |p| {
            reported.push(p.copied);
            true
        },
    )
    .await
    .unwrap();
    assert_eq!(reported, [0, 5, 10, 12], "progress per page");
    let MigrateOutcome::Migrated { partitions } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(partitions.values().sum::<u64>(), 12);
    assert_eq!(partitions.len(), 4);
    assert!(matches!(
        client.name_state(&base, later()).await.unwrap(),
        NameState::Alias(p) if p.len() == 4
    ));
    assert_eq!(all_docs(client, &base).await, before);
    // The deleted tweet is still a tombstone, in its partition, and still wins.
    let partition = format!("{base}-{}", tweets[4].2);
    assert_eq!(
        doc(client, &partition, &tweets[4].0).await,
        Some(json!({"deleted": true}))
    );
    partitioned.ensure_index().await.unwrap();
    let retry = partitioned
        .index(object("single.ndjson", &lines[..12]), later())
        .await
        .unwrap();
    assert_eq!(retry.superseded, 1);
    assert_eq!(all_docs(client, &base).await, before);
    // A third run finds the alias and changes nothing.
    let again = lifecycle::migrate(
        partitioned.client_arc(),
        partitioned.lifecycle(),
        later(),
        5,
        |_| true,
    )
    .await
    .unwrap();
    assert!(
        matches!(again, MigrateOutcome::AlreadyMigrated { .. }),
        "{again:?}"
    );
    // Writers left unpartitioned are refused now.
    let stale = indexer(&url, &base, &[]).await;
    let refused = stale.ensure_index().await.unwrap_err();
    assert!(refused.to_string().contains("INDEX_PARTITION"), "{refused}");
}

#[tokio::test]
async fn retention_apply_removes_exactly_the_partitions_past_retention() {
    let Some(url) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let base = unique("retention");
    let day = 86_400_000;
    let now = lifecycle::now_ms();
    // 30 days' retention: a day goes once it ends 30 days before now. Far from the boundary,
    // so that the moments between indexing and applying do not matter.
    let days = [(90, true), (40, true), (20, false), (1, false)];
    let tweets: Vec<(String, i64)> = days
        .iter()
        .enumerate()
        .map(|(n, (ago, _))| {
            let at = now - ago * day;
            (id_at(at, n as u64), at)
        })
        .collect();
    let lines: Vec<String> = tweets.iter().map(|(id, at)| tweet(id, *at)).collect();
    let name = |at: i64| Partition::Day.period_at(at).unwrap().index_name(&base);
    let expired: Vec<String> = tweets
        .iter()
        .zip(days)
        .filter(|(_, (_, gone))| *gone)
        .map(|((_, at), _)| name(*at))
        .collect();
    let kept: Vec<String> = tweets
        .iter()
        .zip(days)
        .filter(|(_, (_, gone))| !*gone)
        .map(|((_, at), _)| name(*at))
        .collect();

    // With RETENTION set, tweets of partitions past it are counted, not written.
    let keeping = indexer(
        &url,
        &base,
        &[("INDEX_PARTITION", "day"), ("RETENTION", "30d")],
    )
    .await;
    keeping.ensure_index().await.unwrap();
    let summary = keeping
        .index(object("days.ndjson", &lines), later())
        .await
        .unwrap();
    assert_eq!(
        (summary.past_retention, summary.indexed),
        (2, 2),
        "{summary:?}"
    );
    let client = keeping.client();
    assert_eq!(
        client
            .list_indices(&format!("{base}-*"), later())
            .await
            .unwrap(),
        kept
    );

    // Partitions written before RETENTION was set (or by a writer without it).
    let before = indexer(&url, &base, &[("INDEX_PARTITION", "day")]).await;
    before
        .index(object("days.ndjson", &lines), later())
        .await
        .unwrap();
    // A user's own index of the pattern is never touched.
    let own = format!("{base}-backup");
    client.request(Method::Put, &own, None).await.unwrap();
    let retention = Retention::Days(30);

    let dry = lifecycle::apply_retention(client, &base, retention, now, true, later())
        .await
        .unwrap();
    assert_eq!((&dry.expired, &dry.kept), (&expired, &kept));
    assert_eq!(
        client
            .list_indices(&format!("{base}-*"), later())
            .await
            .unwrap()
            .len(),
        5,
        "a dry run deletes nothing"
    );

    let done = lifecycle::apply_retention(client, &base, retention, now, false, later())
        .await
        .unwrap();
    assert_eq!(done, dry);
    let mut left = kept.clone();
    left.push(own);
    left.sort();
    assert_eq!(
        client
            .list_indices(&format!("{base}-*"), later())
            .await
            .unwrap(),
        left
    );
    assert_eq!(client.count(&base, later()).await.unwrap(), 2);
}

/// OpenSearch Serverless has no aliases: partitions are refused there before any request,
/// with what to set instead.
#[tokio::test]
async fn partitions_are_refused_on_serverless_before_any_request() {
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    // Nothing listens there: a request would fail otherwise than with the refusal.
    let mut config = Config::new("http://127.0.0.1:9");
    config.index = "twitter".into();
    config.auth = search_sink::Auth::SigV4(search_sink::SigV4 {
        service: search_sink::SigV4Service::Aoss,
        region: Some("eu-west-1".into()),
        credentials: Some(SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        ))),
    });
    let indexer = Indexer::connect(config)
        .await
        .unwrap()
        .with_lifecycle(Settings {
            partition: Partition::Month,
            ..Settings::default()
        });
    let refused = indexer.ensure_index().await.unwrap_err();
    assert!(
        matches!(refused, search_sink::SinkError::Layout { .. }),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("INDEX_PARTITION=none"),
        "{refused}"
    );
}
