//! The DynamoDB archive (`ARCHIVE_TABLE`, issue 27): after indexing tweets with deletes,
//! duplicates, a late copy after its delete and compliance events into osmem-server, the
//! table (moto) holds exactly the tweets the index keeps, with their keys and raw records;
//! unprocessed items and throttling (`testkit::aws_faults` between the writer and moto) are
//! retried until every item lands, a throttle that outlasts the deadline fails the input, a
//! table that does not exist is refused by name, and `compliance sweep` removes the items of
//! the tweets it makes tombstones.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use pipeline::archive::{Archive, ArchiveCounts, ArchiveError, ArchiveSettings};
use pipeline::{Indexer, Object, ObjectSummary, PipelineError};
use search_sink::{Config, Method};
use testkit::aws_faults::{Fault, FaultPlan, FaultProxy, Upstream, WholeFailure};
use testkit::compliance::{DAY_MS, now_ms, v2_tweet, v2_user};
use tokio::time::Instant;
use tweets::compliance::{Register, RegisterKind, Source, Subject};
use tweets::{Extractor, ExtractorOptions, Item};

fn dynamodb(endpoint: &str) -> aws_sdk_dynamodb::Client {
    dynamodb_with(
        endpoint,
        Credentials::new("testing", "testing", None, None, "archive"),
    )
}

fn dynamodb_with(endpoint: &str, credentials: Credentials) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .http_client(search_sink::https::aws_http_client())
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A tweet of the fixtures: its record (one line), id and author.
#[derive(Clone)]
struct Tweet {
    line: String,
    id: u64,
    author: u64,
}

/// Fixture tweets that give one document each, distinct ids, `n` of them.
fn tweets(n: usize) -> Vec<Tweet> {
    let path = testkit::repo_root().join("tests/samples/captured.ndjson");
    let text = std::fs::read_to_string(path).unwrap();
    let extractor = Extractor::new(ExtractorOptions::default());
    let mut out: Vec<Tweet> = Vec::new();
    for line in text.lines() {
        let mut items = Vec::new();
        extractor.bytes_items(line.as_bytes(), 0, &mut items);
        if let [Item::Document { id, doc, .. }] = items.as_slice() {
            let id: u64 = id.parse().unwrap();
            if out.iter().all(|t| t.id != id) {
                out.push(Tweet {
                    line: line.to_owned(),
                    id,
                    author: doc.user.id.unwrap(),
                });
            }
        }
        if out.len() == n {
            break;
        }
    }
    assert_eq!(out.len(), n, "fixture tweets");
    out
}

/// Fixture tweets by `n` different authors.
fn by_distinct_authors(n: usize) -> Vec<Tweet> {
    let mut picked: Vec<Tweet> = Vec::new();
    for tweet in tweets(40) {
        if picked.iter().all(|p| p.author != tweet.author) {
            picked.push(tweet);
        }
        if picked.len() == n {
            break;
        }
    }
    assert_eq!(picked.len(), n, "{n} authors in the fixtures");
    picked
}

/// Indexes `lines` as one object named `name`.
async fn index_lines(
    indexer: &Indexer,
    name: &str,
    lines: &[String],
    within: Duration,
) -> (Result<(), PipelineError>, ObjectSummary) {
    let object = Object::in_memory(name, lines.join("\n").into_bytes());
    let mut summary = ObjectSummary::new(name);
    let result = indexer
        .index_into(object, Instant::now() + within, &mut summary)
        .await;
    (result, summary)
}

fn v1_delete(id: u64) -> String {
    format!(
        r#"{{"delete":{{"status":{{"id":{id},"id_str":"{id}","user_id":1,"user_id_str":"1"}}}}}}"#
    )
}

/// An archived item: its range key, raw record and other attributes.
#[derive(Debug, Clone, PartialEq)]
struct Archived {
    timestamp: i64,
    raw: Option<String>,
    attributes: BTreeMap<String, AttributeValue>,
}

struct Env {
    direct: aws_sdk_dynamodb::Client,
    moto: String,
    table: String,
    osmem: String,
    index: String,
}

impl Env {
    async fn new(name: &str) -> Option<Env> {
        let osmem = testkit::peer("OSMEM_URL")?;
        let moto = testkit::peer("S3_ENDPOINT_URL")?;
        let table = testkit::unique_name(name);
        let direct = dynamodb(&moto);
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::N)
                .build()
                .unwrap()
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .unwrap()
        };
        direct
            .create_table()
            .table_name(&table)
            .attribute_definitions(attribute("id"))
            .attribute_definitions(attribute("timestamp"))
            .key_schema(key("id", KeyType::Hash))
            .key_schema(key("timestamp", KeyType::Range))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .unwrap();
        Some(Env {
            direct,
            moto,
            index: table.clone(),
            table,
            osmem,
        })
    }

    /// The fault proxy in front of moto.
    async fn proxy(&self, plan: FaultPlan) -> FaultProxy {
        FaultProxy::start(Upstream::Forward(self.moto.clone()), plan)
            .await
            .unwrap()
    }

    /// An indexer writing to the index and, through `endpoint`, to `table`.
    async fn indexer(&self, endpoint: &str, table: &str) -> Indexer {
        let mut config = Config::new(&self.osmem);
        config.index = self.index.clone();
        config.retry_initial_delay = Duration::from_millis(10);
        config.retry_max_delay = Duration::from_millis(200);
        let indexer = Indexer::connect(config).await.unwrap();
        indexer.ensure_index().await.unwrap();
        let settings = ArchiveSettings {
            table: table.to_owned(),
            retention: None,
        };
        indexer.with_archive(Archive::new(dynamodb(endpoint), settings))
    }

    async fn index(
        &self,
        indexer: &Indexer,
        name: &str,
        lines: &[String],
        within: Duration,
    ) -> (Result<(), PipelineError>, ObjectSummary) {
        index_lines(indexer, name, lines, within).await
    }

    /// Every item of the table, by id (a scan, page after page).
    async fn scan(&self) -> BTreeMap<u64, Archived> {
        let mut items = BTreeMap::new();
        let mut pages = self
            .direct
            .scan()
            .table_name(&self.table)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let mut item = item.unwrap();
            let number = |v: Option<AttributeValue>| -> String {
                v.and_then(|v| v.as_n().ok().cloned()).unwrap()
            };
            let id: u64 = number(item.remove("id")).parse().unwrap();
            let timestamp: i64 = number(item.remove("timestamp")).parse().unwrap();
            let raw = item.remove("raw").map(|v| v.as_s().unwrap().to_owned());
            let attributes = item.into_iter().collect();
            let previous = items.insert(
                id,
                Archived {
                    timestamp,
                    raw,
                    attributes,
                },
            );
            assert!(previous.is_none(), "one item per tweet: {id}");
        }
        items
    }
}

/// A record's fingerprint: failures compare records without printing them.
fn fingerprint(raw: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    raw.hash(&mut hasher);
    hasher.finish()
}

/// What the table must hold for `tweets`: each with the Snowflake time and (the fingerprint
/// of) its record.
fn expected(tweets: &[&Tweet]) -> BTreeMap<u64, (i64, Option<u64>)> {
    tweets
        .iter()
        .map(|t| {
            let timestamp = ((t.id >> 22) as i64) + 1_288_834_974_657;
            (t.id, (timestamp, Some(fingerprint(&t.line))))
        })
        .collect()
}

fn keys_and_raw(items: &BTreeMap<u64, Archived>) -> BTreeMap<u64, (i64, Option<u64>)> {
    items
        .iter()
        .map(|(id, a)| (*id, (a.timestamp, a.raw.as_deref().map(fingerprint))))
        .collect()
}

#[tokio::test]
async fn the_archive_holds_exactly_the_tweets_not_deleted() {
    let Some(env) = Env::new("archive-deletes").await else {
        return;
    };
    let t = tweets(8);
    // Through the fault proxy, which faults nothing here but refuses a call naming a tweet
    // twice, as DynamoDB does (moto does not).
    let proxy = env.proxy(FaultPlan::Scripted(vec![])).await;
    let indexer = env.indexer(&proxy.url(), &env.table).await;
    // One object: every tweet, a duplicate, two deletes (one before its tweet's copy below).
    let mut first: Vec<String> = t.iter().map(|t| t.line.clone()).collect();
    first.push(t[0].line.clone());
    first.push(v1_delete(t[1].id));
    first.push(v1_delete(t[2].id));
    let (result, summary) = env
        .index(&indexer, "first", &first, Duration::from_secs(60))
        .await;
    result.unwrap();
    assert_eq!(summary.archive_deletes, 2, "{summary:?}");
    // A later input: late copies of both deleted tweets, a delete of another, a duplicate.
    let second = vec![
        t[1].line.clone(),
        v1_delete(t[3].id),
        t[2].line.clone(),
        t[4].line.clone(),
    ];
    let (result, summary) = env
        .index(&indexer, "second", &second, Duration::from_secs(60))
        .await;
    result.unwrap();
    assert_eq!(summary.superseded, 2, "late copies: {summary:?}");
    let live: Vec<&Tweet> = [0, 4, 5, 6, 7].iter().map(|&i| &t[i]).collect();
    let items = env.scan().await;
    assert_eq!(keys_and_raw(&items), expected(&live));
    assert_eq!(summary.archive_puts, 1, "only the duplicate: {summary:?}");
    for (id, item) in &items {
        let author = t.iter().find(|t| t.id == *id).unwrap().author;
        assert_eq!(
            item.attributes.get("user_id"),
            Some(&AttributeValue::N(author.to_string())),
            "{id}"
        );
    }
    // The first object again (an invocation retried): the same table.
    let (result, _) = env
        .index(&indexer, "first", &first, Duration::from_secs(60))
        .await;
    result.unwrap();
    assert_eq!(keys_and_raw(&env.scan().await), expected(&live));
}

#[tokio::test]
async fn compliance_events_delete_or_update_archived_tweets() {
    let Some(env) = Env::new("archive-compliance").await else {
        return;
    };
    let picked = by_distinct_authors(4);
    let indexer = env.indexer(&env.moto, &env.table).await;
    let lines: Vec<String> = picked.iter().map(|t| t.line.clone()).collect();
    let (result, _) = env
        .index(&indexer, "tweets", &lines, Duration::from_secs(60))
        .await;
    result.unwrap();
    assert_eq!(env.scan().await.len(), 4);
    let now = now_ms();
    let events = vec![
        // A tweet_delete (v2 compliance stream), a user_delete past X's 30 days, a
        // user_protect (suppressed) on tweets already archived.
        v2_tweet("delete", picked[0].id, picked[0].author, now - 1000),
        v2_user("user_delete", picked[1].author, now - 31 * DAY_MS),
        v2_user("user_protect", picked[2].author, now - 1000),
    ];
    let (result, summary) = env
        .index(&indexer, "events", &events, Duration::from_secs(60))
        .await;
    result.unwrap();
    assert_eq!(summary.archive_deletes, 2, "{summary:?}");
    assert_eq!(summary.archive_updates, 1, "{summary:?}");
    let items = env.scan().await;
    let ids: Vec<u64> = items.keys().copied().collect();
    let mut want = vec![picked[2].id, picked[3].id];
    want.sort_unstable();
    assert_eq!(ids, want, "the deleted tweets are gone");
    let protected = &items[&picked[2].id];
    assert_eq!(
        protected.attributes.get("suppressed"),
        Some(&AttributeValue::Bool(true))
    );
    assert_eq!(
        protected.attributes.get("suppressed_reasons"),
        Some(&AttributeValue::Ss(vec!["user_protect".into()]))
    );
    assert!(
        protected.raw.as_deref() == Some(picked[2].line.as_str()),
        "its raw record"
    );
    let untouched = &items[&picked[3].id];
    assert_eq!(untouched.attributes.get("suppressed"), None);
}

#[tokio::test]
async fn unprocessed_items_and_throttles_are_retried_until_every_item_lands() {
    let Some(env) = Env::new("archive-unprocessed").await else {
        return;
    };
    let t = tweets(30);
    let plan = FaultPlan::Scripted(vec![
        Fault::Refuse(vec![0, 3, 7, 24]),
        Fault::Whole(WholeFailure::Throttled),
        Fault::Refuse(vec![1]),
        Fault::Whole(WholeFailure::Internal),
        Fault::Refuse(vec![0, 1, 2]),
    ]);
    let proxy = env.proxy(plan).await;
    let indexer = env.indexer(&proxy.url(), &env.table).await;
    let lines: Vec<String> = t.iter().map(|t| t.line.clone()).collect();
    let (result, summary) = env
        .index(&indexer, "tweets", &lines, Duration::from_secs(120))
        .await;
    result.unwrap();
    let log = proxy.log();
    assert_eq!(log.partial_failures, 3, "{log:?}");
    assert_eq!(log.whole_failures, 2, "{log:?}");
    assert!(summary.archive_retried >= 8, "{summary:?}");
    assert_eq!(summary.archive_puts, 30, "{summary:?}");
    let all: Vec<&Tweet> = t.iter().collect();
    assert_eq!(keys_and_raw(&env.scan().await), expected(&all));
}

#[tokio::test]
async fn a_throttle_past_the_deadline_fails_the_input() {
    let Some(env) = Env::new("archive-throttled").await else {
        return;
    };
    let t = tweets(3);
    let proxy = env.proxy(FaultPlan::Scripted(vec![])).await;
    proxy.set_outage(Some(WholeFailure::Throttled));
    let indexer = env.indexer(&proxy.url(), &env.table).await;
    let lines: Vec<String> = t.iter().map(|t| t.line.clone()).collect();
    let (result, summary) = env
        .index(&indexer, "tweets", &lines, Duration::from_secs(4))
        .await;
    let error = result.expect_err("the archive was never written");
    match &error {
        PipelineError::Archive {
            source: ArchiveError::DeadlineExceeded { unwritten, .. },
            ..
        } => assert_eq!(*unwritten, 3),
        other => panic!("{other}"),
    }
    assert!(error.to_string().contains(&env.table), "{error}");
    assert!(
        error
            .to_string()
            .contains("ProvisionedThroughputExceededException"),
        "{error}"
    );
    assert_eq!(summary.indexed, 3, "the index has them: {summary:?}");
    assert_eq!(summary.archive_puts, 0);
    assert!(
        proxy.log().whole_failures >= 2,
        "retried: {:?}",
        proxy.log()
    );
    assert!(env.scan().await.is_empty());
}

#[tokio::test]
async fn a_table_that_does_not_exist_is_refused_by_name() {
    let Some(env) = Env::new("archive-missing").await else {
        return;
    };
    let t = tweets(2);
    let missing = format!("{}-missing", env.table);
    let indexer = env.indexer(&env.moto, &missing).await;
    let lines: Vec<String> = t.iter().map(|t| t.line.clone()).collect();
    let (result, _) = env
        .index(&indexer, "tweets", &lines, Duration::from_secs(60))
        .await;
    let error = result.expect_err("no such table");
    assert!(
        matches!(
            &error,
            PipelineError::Archive {
                source: ArchiveError::Refused { .. },
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains(&missing), "{error}");
    assert!(
        error.to_string().contains("ResourceNotFoundException"),
        "{error}"
    );
}

#[tokio::test]
async fn a_kinesis_batch_is_acknowledged_only_up_to_what_the_archive_holds() {
    let Some(env) = Env::new("archive-kinesis").await else {
        return;
    };
    let t = tweets(30);
    // The first BatchWriteItem (25 items) lands, every later one is throttled.
    let mut script = vec![Fault::Pass];
    script.extend(std::iter::repeat_n(
        Fault::Whole(WholeFailure::Throttled),
        10_000,
    ));
    let proxy = env.proxy(FaultPlan::Scripted(script)).await;
    let indexer = env.indexer(&proxy.url(), &env.table).await;
    let records: Vec<pipeline::BatchRecord> = t
        .iter()
        .enumerate()
        .map(|(i, t)| pipeline::BatchRecord {
            name: format!("shard-0/{i}"),
            payloads: Ok(vec![t.line.clone().into_bytes()]),
            received_at: None,
        })
        .collect();
    let outcome = indexer
        .index_batch("batch", records, Instant::now() + Duration::from_secs(4))
        .await;
    let error = outcome.error.expect("the archive was not all written");
    assert!(matches!(error, PipelineError::Archive { .. }), "{error}");
    assert_eq!(outcome.summary.indexed, 30, "the index has them all");
    assert_eq!(
        outcome.first_unconfirmed,
        Some(25),
        "the records whose archive write failed are retried"
    );
    assert_eq!(env.scan().await.len(), 25);
}

/// A DynamoDB client signing with `keys` (moto with IAM enforced).
fn dynamodb_as(endpoint: &str, keys: &testkit::iam_moto::Keys) -> aws_sdk_dynamodb::Client {
    let (id, secret) = (&keys.access_key_id, &keys.secret_access_key);
    dynamodb_with(
        endpoint,
        Credentials::new(id, secret, None, None, "iam-moto"),
    )
}

/// The archive written with the Lambda role's archive policy alone
/// (`policies/lambda-archive-write.json`, as the template gives `IndexerRole`): puts, deletes
/// and compliance updates of the stack's table are allowed; another table is refused, and the
/// refusal fails the input naming it.
#[tokio::test]
async fn the_role_policy_allows_the_archive_table_and_nothing_else() {
    use testkit::iam_moto::{ARCHIVE_TABLE, IamMoto, stack_values};
    let Some(osmem) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let other = "not-the-archive";
    let Some(moto) = IamMoto::start(&serde_json::json!({
        "values": stack_values(),
        "dynamodb_tables": [ARCHIVE_TABLE, other],
        "principals": {"lambda": ["lambda-archive-write.json"]},
    })) else {
        return;
    };
    let picked = by_distinct_authors(3);
    let mut config = Config::new(&osmem);
    config.index = testkit::unique_name("archive-iam");
    let indexer = Indexer::connect(config).await.unwrap();
    indexer.ensure_index().await.unwrap();
    let lambda = moto.keys("lambda");
    let archive = |table: &str| {
        Archive::new(
            dynamodb_as(moto.endpoint(), lambda),
            ArchiveSettings {
                table: table.into(),
                retention: None,
            },
        )
    };
    let allowed = indexer.clone().with_archive(archive(ARCHIVE_TABLE));
    let index = |indexer: Indexer, lines: Vec<String>| async move {
        let (result, summary) = index_lines(&indexer, "iam", &lines, Duration::from_secs(60)).await;
        result.map(|()| summary)
    };
    let mut lines: Vec<String> = picked.iter().map(|t| t.line.clone()).collect();
    lines.push(v1_delete(picked[0].id));
    let summary = index(allowed.clone(), lines).await.unwrap();
    // The deleted tweet's put may be written before its delete or give way to it.
    assert!((2..=3).contains(&summary.archive_puts), "{summary:?}");
    assert_eq!(summary.archive_deletes, 1, "{summary:?}");
    // A compliance event on an archived tweet: UpdateItem.
    let event = v2_user("user_protect", picked[1].author, now_ms() - 1000);
    let summary = index(allowed, vec![event]).await.unwrap();
    assert_eq!(summary.archive_updates, 1, "{summary:?}");
    let admin = dynamodb_as(moto.endpoint(), moto.keys("admin"));
    let scanned = admin.scan().table_name(ARCHIVE_TABLE).send().await.unwrap();
    let mut ids: Vec<String> = scanned
        .items()
        .iter()
        .map(|i| i["id"].as_n().unwrap().clone())
        .collect();
    ids.sort_unstable();
    let mut want = vec![picked[1].id.to_string(), picked[2].id.to_string()];
    want.sort_unstable();
    assert_eq!(ids, want);

    let refused = indexer.with_archive(archive(other));
    let error = index(refused, vec![picked[2].line.clone()])
        .await
        .expect_err("a table outside the policy");
    assert!(
        matches!(
            &error,
            PipelineError::Archive {
                source: ArchiveError::Refused { .. },
                ..
            }
        ),
        "{error}"
    );
    let text = error.to_string();
    assert!(
        text.contains(other) && text.contains("AccessDenied"),
        "{text}"
    );
}

/// An event in a later group of the same input than its tweets: the tweets are archived
/// before the event's fix-up updates their items (else the update finds no item, and the
/// item is put later without the compliance state).
#[tokio::test]
async fn an_event_after_its_tweets_in_one_input_updates_their_items() {
    let Some(env) = Env::new("archive-groups").await else {
        return;
    };
    let picked = by_distinct_authors(2);
    let indexer = env.indexer(&env.moto, &env.table).await;
    // A full group of documents (500: GROUP_DOCUMENTS), then the event, in a group of its own.
    let mut lines: Vec<String> = (0..500).map(|i| picked[i % 2].line.clone()).collect();
    lines.push(v2_user("user_protect", picked[1].author, now_ms() - 1000));
    let (result, summary) = env
        .index(&indexer, "one", &lines, Duration::from_secs(60))
        .await;
    result.unwrap();
    assert_eq!(summary.archive_updates, 1, "{summary:?}");
    let items = env.scan().await;
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[&picked[1].id].attributes.get("suppressed"),
        Some(&AttributeValue::Bool(true))
    );
    assert_eq!(items[&picked[0].id].attributes.get("suppressed"), None);
}

/// Writes `r` into `{index}_compliance` as another indexer would, after this one indexed the
/// tweets it concerns: what `compliance sweep` applies.
async fn write_register(client: &search_sink::SearchClient, index: &str, r: &Register) {
    let compliance = format!("{index}_compliance");
    client
        .ensure_index(&compliance, tweets::compliance::register::MAPPING_JSON)
        .await
        .unwrap();
    let put = client
        .request(
            Method::Put,
            &format!(
                "{compliance}/_doc/{}?version={}&version_type=external_gte",
                r.doc_id().replace(':', "%3A"),
                r.version()
            ),
            Some(&r.to_json()),
        )
        .await
        .unwrap();
    assert!(put.status < 300, "{}", String::from_utf8_lossy(&put.body));
}

/// `compliance sweep` applies to the archive too: a `user_delete` past X's 30 days, written
/// behind the indexer's back, makes the author's tweets tombstones in the index and removes
/// their items from the table; a second sweep changes nothing.
#[tokio::test]
async fn the_sweep_removes_the_items_of_the_tweets_it_makes_tombstones() {
    let Some(env) = Env::new("archive-sweep").await else {
        return;
    };
    let t = tweets(12);
    // The author with the most tweets among them is the one deleted.
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for tweet in &t {
        *counts.entry(tweet.author).or_default() += 1;
    }
    let deleted = counts
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(author, _)| *author)
        .unwrap();
    let (gone, kept): (Vec<&Tweet>, Vec<&Tweet>) = t.iter().partition(|t| t.author == deleted);
    assert!(!kept.is_empty());
    let indexer = env.indexer(&env.moto, &env.table).await;
    let lines: Vec<String> = t.iter().map(|t| t.line.clone()).collect();
    let (result, _) = env
        .index(&indexer, "tweets", &lines, Duration::from_secs(60))
        .await;
    result.unwrap();
    assert_eq!(env.scan().await.len(), t.len());
    let register = Register {
        subject: Subject::User,
        subject_id: deleted,
        kind: RegisterKind::Delete,
        active: true,
        countries: Vec::new(),
        up_to_id: None,
        event_at: now_ms() - 40 * DAY_MS,
        source: Source::Stream,
    };
    write_register(indexer.client(), &env.index, &register).await;

    // The sweep runs in a process of its own (`tweet-indexer compliance sweep`): this one
    // believed, for `ABSENT_FOR`, that there was no compliance index.
    let indexer = env.indexer(&env.moto, &env.table).await;
    let report = indexer
        .compliance_sweep(Instant::now() + Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(report.fixed.tombstones, gone.len() as u64, "{report:?}");
    assert_eq!(keys_and_raw(&env.scan().await), expected(&kept));
    let archived = report.archive.expect("an archive");
    assert_eq!(archived.deletes, gone.len() as u64, "{report:?}");
    for tweet in &gone {
        let got = indexer
            .client()
            .request(
                Method::Get,
                &format!("{}/_doc/{}", env.index, tweet.id),
                None,
            )
            .await
            .unwrap();
        let got: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
        assert_eq!(
            got["_source"],
            serde_json::json!({"deleted": true}),
            "{}",
            tweet.id
        );
    }

    let again = indexer
        .compliance_sweep(Instant::now() + Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        (again.fixed.changed, again.fixed.tombstones),
        (0, 0),
        "{again:?}"
    );
    assert_eq!(again.archive, Some(ArchiveCounts::default()), "{again:?}");
    assert_eq!(keys_and_raw(&env.scan().await), expected(&kept));
}
