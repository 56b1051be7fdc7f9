//! What X requires, against osmem-server: the repository's real sample tweets are indexed
//! with compliance records of every kind (v1.1 messages, v2 compliance-stream payloads,
//! batch job results), some before the tweets they concern (in an earlier object, earlier in
//! the same object, earlier in the same Kinesis batch), some after (in a later object, later
//! in the same object), then the reverse events. After each stage every document of the index
//! is compared with what the records require, field by field: the documents no event
//! concerns, and every field no event names, are exactly what indexing the samples alone
//! writes (its bulk lines, `dry_run::write_bulk`), at the same version.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use pipeline::{BatchRecord, Indexer, Object, ObjectSummary};
use search_sink::{Config, Method, SearchClient};
use serde_json::{Map, Value, json};
use testkit::compliance::{self as records, DAY_MS, batch, batch_result, batch_user_clean};
use tokio::time::Instant;
use tweets::partition::Partition;
use tweets::{Extractor, ExtractorOptions, Item};

/// A sample record and the one document it gives.
#[derive(Debug, Clone)]
struct Sample {
    line: String,
    id: u64,
    author: u64,
    located: bool,
}

/// The documents indexing the samples alone writes: `_id` -> (`_source`, version).
type Docs = BTreeMap<String, (Map<String, Value>, u64)>;

const LOCATION: [&str; 3] = ["coordinates", "place", "geo_source"];

fn samples_text() -> String {
    std::fs::read_to_string(testkit::repo_root().join("tests/samples/captured.ndjson"))
        .expect("tests/samples/captured.ndjson")
}

/// The samples' records that give one document each; the other records (a delete, control
/// messages, a v1.1 `scrub_geo`) are returned apart.
fn samples() -> (Vec<Sample>, Vec<String>) {
    let extractor = Extractor::new(ExtractorOptions::default());
    let mut tweets = Vec::new();
    let mut others = Vec::new();
    for line in samples_text().lines() {
        let mut items = Vec::new();
        extractor.bytes_items(line.as_bytes(), 0, &mut items);
        match items.as_slice() {
            [Item::Document { id, doc, .. }] => tweets.push(Sample {
                line: line.to_owned(),
                id: id.parse().expect("decimal id"),
                author: doc.user.id.expect("an author"),
                located: doc.coordinates.is_some() || doc.place.is_some(),
            }),
            _ => others.push(line.to_owned()),
        }
    }
    (tweets, others)
}

/// What the sink writes for `text` with no register anywhere: the dry run's bulk lines.
fn written_alone(text: &str) -> Docs {
    let extractor = Extractor::new(ExtractorOptions::default());
    let mut out = Vec::new();
    pipeline::dry_run::write_bulk(
        &extractor,
        ExtractorOptions::default().framer,
        &pipeline::AuthorFilter::default(),
        pipeline::dry_run::Routing {
            index: "x",
            partition: Partition::None,
            retention: None,
        },
        "samples",
        text.as_bytes(),
        &mut out,
    )
    .expect("dry run");
    let text = String::from_utf8(out).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    let mut docs = Docs::new();
    for pair in lines.chunks(2) {
        let action: Value = serde_json::from_str(pair[0]).expect("action");
        let source: Value = serde_json::from_str(pair[1]).expect("source");
        let id = action["index"]["_id"].as_str().expect("_id").to_owned();
        let version = action["index"]["version"].as_u64().expect("version");
        docs.insert(id, (source.as_object().cloned().expect("object"), version));
    }
    docs
}

struct Env {
    index: String,
    client: SearchClient,
    indexer: Indexer,
}

impl Env {
    /// A fresh index (`partition`: time partitions behind the alias of that name).
    async fn new(name: &str, partition: Partition) -> Option<Env> {
        let url = testkit::peer("OSMEM_URL")?;
        let index = testkit::unique_name(name);
        let mut config = Config::new(&url);
        config.index = index.clone();
        let client = SearchClient::connect(config.clone()).await.unwrap();
        let settings = pipeline::lifecycle::Settings {
            partition,
            ..Default::default()
        };
        let indexer = Indexer::connect(config)
            .await
            .unwrap()
            .with_lifecycle(settings);
        indexer.ensure_index().await.unwrap();
        Some(Env {
            index,
            client,
            indexer,
        })
    }

    /// Indexes `lines` as one object; its summary.
    async fn object(&self, name: &str, lines: &[String]) -> ObjectSummary {
        let object = Object::in_memory(name, lines.join("\n").into_bytes());
        self.indexer
            .index(object, Instant::now() + Duration::from_secs(120))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// The hits of `body` (a search) on the index.
    async fn search(&self, body: Value) -> Vec<testkit::compliance::Hit> {
        let r = self
            .client
            .request(
                Method::Post,
                &format!("{}/_search", self.index),
                Some(body.to_string().as_bytes()),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        testkit::compliance::search_hits(&r.body)
    }

    /// Every document of the index: `_id` -> (`_source`, `_version`).
    async fn documents(&self) -> Docs {
        let body = json!({"size": 1000, "version": true, "query": {"match_all": {}}});
        self.search(body)
            .await
            .into_iter()
            .map(|h| {
                let source = h.source.as_object().cloned().unwrap();
                (h.id, (source, h.version.unwrap()))
            })
            .collect()
    }

    /// Ids matched by `query` among the index's tweets.
    async fn ids_matching(&self, query: Value) -> BTreeSet<String> {
        let body = json!({"size": 1000, "_source": false, "query": query});
        self.search(body).await.into_iter().map(|h| h.id).collect()
    }
}

/// The state the records require, built up from the samples alone.
struct Expected {
    docs: Docs,
}

impl Expected {
    fn doc(&mut self, id: u64) -> &mut Map<String, Value> {
        &mut self
            .docs
            .get_mut(&id.to_string())
            .unwrap_or_else(|| panic!("{id} is a sample"))
            .0
    }

    fn suppressed(&mut self, id: u64, reasons: &[&str]) {
        let doc = self.doc(id);
        if reasons.is_empty() {
            doc.remove("suppressed");
            doc.remove("suppressed_reasons");
        } else {
            doc.insert("suppressed".into(), json!(true));
            doc.insert("suppressed_reasons".into(), json!(reasons));
        }
    }

    fn withheld(&mut self, id: u64, countries: &[&str]) {
        let doc = self.doc(id);
        if countries.is_empty() {
            doc.remove("withheld_in_countries");
        } else {
            doc.insert("withheld_in_countries".into(), json!(countries));
        }
    }

    fn scrubbed(&mut self, id: u64) {
        let doc = self.doc(id);
        for field in LOCATION {
            doc.remove(field);
        }
    }

    fn tombstone(&mut self, id: u64) {
        self.docs.insert(
            id.to_string(),
            (
                json!({"deleted": true}).as_object().cloned().unwrap(),
                search_sink::TOMBSTONE_VERSION,
            ),
        );
    }

    /// Every document of `got` is the expected one, at the expected version (a fix-up
    /// writes a document back at the version it was read at).
    fn check(&self, got: &Docs, stage: &str) {
        let want_ids: BTreeSet<&String> = self.docs.keys().collect();
        let got_ids: BTreeSet<&String> = got.keys().collect();
        assert_eq!(got_ids, want_ids, "{stage}: the index holds other ids");
        let mut wrong = Vec::new();
        for (id, (want, version)) in &self.docs {
            let (have, have_version) = &got[id];
            if have != want {
                let fields: BTreeSet<&String> = want
                    .keys()
                    .chain(have.keys())
                    .filter(|k| want.get(*k) != have.get(*k))
                    .collect();
                wrong.push(format!("{id}: fields {fields:?} differ"));
            } else if have_version != version {
                wrong.push(format!("{id}: version {have_version}, want {version}"));
            }
        }
        assert!(wrong.is_empty(), "{stage}:\n{}", wrong.join("\n"));
    }
}

/// The KQL queries of every saved object in `infra/dashboards/` (searches, visualizations,
/// maps and their layers, the dashboard), wherever they are nested in JSON strings.
fn saved_object_queries() -> BTreeSet<String> {
    fn walk(value: &Value, found: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                if map.get("language") == Some(&json!("kuery"))
                    && let Some(Value::String(query)) = map.get("query")
                {
                    found.insert(query.clone());
                }
                map.values().for_each(|v| walk(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            Value::String(text) => {
                if let Ok(inner) = serde_json::from_str::<Value>(text)
                    && (inner.is_object() || inner.is_array())
                {
                    walk(&inner, found);
                }
            }
            _ => {}
        }
    }
    let mut found = BTreeSet::new();
    for file in ["kibana.ndjson", "opensearch-dashboards.ndjson"] {
        let path = testkit::repo_root().join("infra/dashboards").join(file);
        let text = std::fs::read_to_string(&path).expect("saved objects");
        for line in text.lines() {
            walk(
                &serde_json::from_str(line).expect("an object per line"),
                &mut found,
            );
        }
    }
    found
}

/// Who each record is about, picked from the samples (distinct authors, so the effects stay
/// apart unless a case combines them on purpose).
struct Cast {
    /// Authors with several tweets.
    protected: (u64, Vec<u64>),
    scrubbed: (u64, Vec<Sample>),
    deleted_recently: (u64, Vec<u64>),
    /// Authors with one tweet.
    deleted_long_ago: Sample,
    suspended: Sample,
    protected_by_batch: Sample,
    withheld_user: Sample,
    late: Sample,
    dropped_in_object: Sample,
    /// Tweets.
    withheld: Sample,
    stream_delete: Sample,
    dropped_early: Sample,
    edit_earlier: Sample,
    edit_latest: Sample,
    status_withheld: Sample,
    batch_scrub: Sample,
    batch_delete: Sample,
    rehydrate: Sample,
}

fn cast(tweets: &[Sample], exclude_author: u64) -> Cast {
    let mut by_author: BTreeMap<u64, Vec<Sample>> = BTreeMap::new();
    for t in tweets {
        by_author.entry(t.author).or_default().push(t.clone());
    }
    by_author.remove(&exclude_author);
    let mut several: Vec<(u64, Vec<Sample>)> = by_author
        .iter()
        .filter(|(_, ts)| ts.len() >= 2)
        .map(|(a, ts)| (*a, ts.clone()))
        .collect();
    let scrub_at = several
        .iter()
        .position(|(_, ts)| ts.iter().filter(|t| t.located).count() >= 2)
        .expect("an author with two located tweets");
    let scrubbed = several.remove(scrub_at);
    assert!(several.len() >= 2, "authors with several tweets");
    let ids = |ts: &[Sample]| ts.iter().map(|t| t.id).collect::<Vec<_>>();
    let protected = (several[0].0, ids(&several[0].1));
    let deleted_recently = (several[1].0, ids(&several[1].1));
    let mut singles = by_author
        .values()
        .filter(|ts| ts.len() == 1)
        .map(|ts| ts[0].clone());
    let mut next = || {
        singles
            .by_ref()
            .find(|t| !t.located)
            .expect("enough authors with one tweet")
    };
    let deleted_long_ago = next();
    let suspended = next();
    let protected_by_batch = next();
    let withheld_user = next();
    let late = next();
    let dropped_in_object = next();
    let withheld = next();
    let stream_delete = next();
    let dropped_early = next();
    let edit_earlier = next();
    let edit_latest = next();
    let status_withheld = next();
    let batch_delete = next();
    let rehydrate = next();
    let batch_scrub = singles
        .find(|t| t.located)
        .expect("a located tweet of its own author");
    Cast {
        protected,
        scrubbed,
        deleted_recently,
        deleted_long_ago,
        suspended,
        protected_by_batch,
        withheld_user,
        late,
        dropped_in_object,
        withheld,
        stream_delete,
        dropped_early,
        edit_earlier,
        edit_latest,
        status_withheld,
        batch_scrub,
        batch_delete,
        rehydrate,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_compliance_record_before_and_after_its_tweets_and_its_reversal() {
    every_kind_of_compliance_record(Partition::None).await;
}

/// The same with monthly partitions behind the alias: fixes are written into the partition
/// each document was read from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_compliance_record_in_monthly_partitions() {
    every_kind_of_compliance_record(Partition::Month).await;
}

async fn every_kind_of_compliance_record(partition: Partition) {
    let Some(env) = Env::new("compliance", partition).await else {
        return;
    };
    let (tweets, others) = samples();
    // The samples hold a v1.1 scrub_geo of their own: its user stays out of the cast.
    let sample_scrub: Value = others
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("scrub_geo").is_some())
        .expect("the samples' scrub_geo");
    let scrub_user: u64 = sample_scrub["scrub_geo"]["user_id_str"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let scrub_up_to: u64 = sample_scrub["scrub_geo"]["up_to_status_id_str"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let c = cast(&tweets, scrub_user);
    let now = records::now_ms();
    let hour = 3_600_000;

    // 1. An earlier object, before every tweet it concerns.
    let (scrub_author, scrub_tweets) = &c.scrubbed;
    let mut located: Vec<u64> = scrub_tweets
        .iter()
        .filter(|t| t.located)
        .map(|t| t.id)
        .collect();
    located.sort();
    let up_to = located[0];
    let t_drop = c.protected.1[0];
    let early = vec![
        records::v2_user("user_protect", c.protected.0, now - 10 * hour),
        records::v2_scrub_geo(*scrub_author, up_to, now - 10 * hour),
        batch(
            "users",
            now - 40 * DAY_MS,
            batch_result(
                c.deleted_long_ago.author,
                "delete",
                "deactivated",
                now - 40 * DAY_MS,
            ),
        ),
        batch(
            "users",
            now - 9 * hour,
            batch_result(
                c.protected_by_batch.author,
                "delete",
                "protected",
                now - 9 * hour,
            ),
        ),
        records::v2_withheld(
            c.withheld.id,
            c.withheld.author,
            &["FR", "DE"],
            now - 10 * hour,
        ),
        records::v2_tweet(
            "delete",
            c.stream_delete.id,
            c.stream_delete.author,
            now - 8 * hour,
        ),
    ];
    let s = env.object("early.ndjson", &early).await;
    assert_eq!((s.compliance_events, s.deletes), (5, 1), "{s:?}");
    assert!(s.registers_written >= 4, "{s:?}");

    // 2. The samples, but for the tweets held back for the next two objects.
    let held = [
        c.suspended.id,
        c.dropped_early.id,
        c.late.id,
        c.dropped_in_object.id,
    ];
    let mut lines: Vec<String> = tweets
        .iter()
        .filter(|t| !held.contains(&t.id))
        .map(|t| t.line.clone())
        .collect();
    lines.extend(others.iter().cloned());
    let s = env.object("samples.ndjson", &lines).await;
    assert!(s.compliance_on_arrival >= 6, "{s:?}");

    // 3. A Kinesis batch where each event comes before its tweet: one record each.
    let batch_lines = [
        records::v2_user("user_suspend", c.suspended.author, now - 7 * hour),
        c.suspended.line.clone(),
        records::v2_tweet(
            "drop",
            c.dropped_early.id,
            c.dropped_early.author,
            now - 7 * hour,
        ),
        c.dropped_early.line.clone(),
    ];
    let batch_records: Vec<BatchRecord> = batch_lines
        .iter()
        .enumerate()
        .map(|(i, line)| BatchRecord {
            name: format!("kinesis://s/shard/{i}"),
            payloads: Ok(vec![line.clone().into_bytes()]),
            received_at: Some(now),
        })
        .collect();
    let outcome = env
        .indexer
        .index_batch(
            "kinesis://s/shard",
            batch_records,
            Instant::now() + Duration::from_secs(120),
        )
        .await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(
        outcome.summary.compliance_on_arrival, 2,
        "{:?}",
        outcome.summary
    );

    // 4. One object where an event comes before its tweet, and one after its tweet in a later
    // group of the object (the other tweets again, ten times, in between): that tweet is
    // already sent, and found.
    let d = &c.dropped_in_object;
    let mut late = vec![
        records::v2_tweet("drop", d.id, d.author, now - 6 * hour),
        d.line.clone(),
        c.late.line.clone(),
    ];
    for _ in 0..10 {
        late.extend(
            tweets
                .iter()
                .filter(|t| !held.contains(&t.id))
                .map(|t| t.line.clone()),
        );
    }
    assert!(late.len() > 500, "more than one group of documents");
    late.push(records::v2_user_withheld(
        c.late.author,
        &["IT"],
        now - 6 * hour,
    ));
    let s = env.object("late.ndjson", &late).await;
    assert_eq!(s.compliance_changed, 1, "{s:?}");
    assert!(s.compliance_on_arrival >= 1, "{s:?}");

    // 5. A later object: events after their tweets, of every other kind.
    let after = vec![
        records::v2_tweet_edit(
            c.edit_latest.id,
            c.edit_latest.author,
            &[c.edit_earlier.id],
            now - 5 * hour,
        ),
        records::v1_status_withheld(c.status_withheld.id, c.status_withheld.author, &["AR"]),
        batch(
            "tweets",
            now - 5 * hour,
            batch_result(c.batch_scrub.id, "scrub_geo", "scrub_geo", now - 5 * hour),
        ),
        batch(
            "tweets",
            now - 5 * hour,
            batch_result(c.batch_delete.id, "delete", "deleted", now - 5 * hour),
        ),
        batch(
            "tweets",
            now - 5 * hour,
            batch_result(c.rehydrate.id, "rehydrate", "edited", now - 5 * hour),
        ),
        records::v2_user("user_delete", c.deleted_recently.0, now - 5 * hour),
        records::v1_user_withheld(c.withheld_user.author, &["DE"]),
        records::v2_tweet("drop", t_drop, c.protected.0, now - 5 * hour),
    ];
    let s = env.object("after.ndjson", &after).await;
    assert_eq!(s.compliance_events, 7, "{s:?}");
    assert!(s.compliance_changed >= 6, "{s:?}");
    assert!(
        s.compliance_lag_ms
            .is_some_and(|lag| lag >= 5 * hour as u64),
        "{s:?}"
    );

    let mut want = Expected {
        docs: written_alone(&samples_text()),
    };
    // The samples' own scrub_geo, and the tombstones.
    for t in tweets
        .iter()
        .filter(|t| t.author == scrub_user && t.id <= scrub_up_to)
    {
        want.scrubbed(t.id);
    }
    for t in scrub_tweets.iter().filter(|t| t.id <= up_to) {
        want.scrubbed(t.id);
    }
    want.scrubbed(c.batch_scrub.id);
    for id in [c.stream_delete.id, c.batch_delete.id, c.deleted_long_ago.id] {
        want.tombstone(id);
    }
    // Permanent: edits, withholdings not lifted.
    want.suppressed(c.edit_earlier.id, &["edited"]);
    want.suppressed(c.rehydrate.id, &["edited"]);
    want.withheld(c.status_withheld.id, &["AR"]);
    want.withheld(c.withheld_user.id, &["DE"]);
    want.withheld(c.late.id, &["IT"]);
    let permanent = want.docs.clone();
    // Lifted in stage 6.
    for &id in &c.protected.1 {
        want.suppressed(id, &["user_protect"]);
    }
    want.suppressed(t_drop, &["user_protect", "drop"]);
    for &id in &c.deleted_recently.1 {
        want.suppressed(id, &["user_delete"]);
    }
    want.suppressed(c.suspended.id, &["user_suspend"]);
    want.suppressed(c.dropped_early.id, &["drop"]);
    want.suppressed(c.dropped_in_object.id, &["drop"]);
    want.suppressed(c.protected_by_batch.id, &["user_protect"]);
    want.withheld(c.withheld.id, &["DE", "FR"]);
    want.check(&env.documents().await, "every event applied");

    // What searches see: deleted tweets are not searchable by id; the fields are queryable.
    let by_id = |id: u64| json!({"bool": {"filter": [{"term": {"id_str": id.to_string()}}]}});
    for id in [c.stream_delete.id, c.batch_delete.id, c.deleted_long_ago.id] {
        assert!(
            env.ids_matching(by_id(id)).await.is_empty(),
            "{id} is searchable"
        );
    }
    let suppressed = env
        .ids_matching(json!({"term": {"suppressed": true}}))
        .await;
    assert_eq!(
        suppressed.len(),
        c.protected.1.len() + c.deleted_recently.1.len() + 6,
        "{suppressed:?}"
    );
    let withheld = env
        .ids_matching(json!({"exists": {"field": "withheld_in_countries"}}))
        .await;
    assert_eq!(withheld.len(), 4, "{withheld:?}");
    // Every saved object's query (KQL `NOT f:v AND ...`, which query_string reads alike) sees
    // exactly the tweets that are neither deleted, suppressed nor withheld.
    let visible: BTreeSet<String> = want
        .docs
        .iter()
        .filter(|(_, (doc, _))| {
            doc.get("deleted").is_none()
                && doc.get("suppressed").is_none()
                && doc.get("withheld_in_countries").is_none()
        })
        .map(|(id, _)| id.clone())
        .collect();
    assert!(visible.len() < want.docs.len() - 10, "some are hidden");
    let queries = saved_object_queries();
    assert!(!queries.is_empty());
    for query in queries {
        let seen = env
            .ids_matching(json!({"query_string": {"query": query}}))
            .await;
        assert_eq!(seen, visible, "{query}");
    }

    // 6. The reverse events: each lifts exactly what it set.
    let reversals = vec![
        records::v2_user("user_unprotect", c.protected.0, now - 4 * hour),
        records::v2_tweet("undrop", t_drop, c.protected.0, now - 4 * hour),
        records::v2_tweet(
            "undrop",
            c.dropped_early.id,
            c.dropped_early.author,
            now - 4 * hour,
        ),
        records::v2_user("user_undelete", c.deleted_recently.0, now - 4 * hour),
        records::v2_user("user_unsuspend", c.suspended.author, now - 4 * hour),
        records::v2_tweet("undrop", d.id, d.author, now - 4 * hour),
        records::v2_withheld(c.withheld.id, c.withheld.author, &[], now - 4 * hour),
        batch(
            "users",
            now - 4 * hour,
            batch_user_clean(c.protected_by_batch.author),
        ),
    ];
    let s = env.object("reversals.ndjson", &reversals).await;
    assert_eq!(s.compliance_events, 8, "{s:?}");
    Expected {
        docs: permanent.clone(),
    }
    .check(&env.documents().await, "reversed");

    // Replaying every object, in another order, changes nothing.
    for (name, lines) in [
        ("reversals again", &reversals),
        ("after again", &after),
        ("early again", &early),
        ("late again", &late),
    ] {
        let s = env.object(name, lines).await;
        assert_eq!(
            s.compliance_changed + s.compliance_tombstones,
            0,
            "{name}: {s:?}"
        );
    }
    let s = env.object("samples again", &lines).await;
    assert_eq!(s.compliance_changed, 0, "{s:?}");
    // What was permanent stays, what was lifted stays lifted: the replayed older events are
    // superseded by the newer reverse ones.
    Expected { docs: permanent }.check(&env.documents().await, "replayed");
}
