//! The DynamoDB archive (`ARCHIVE_TABLE`, optional): every tweet the index accepted is also
//! an item of a table with the classic key schema, `id` (N, hash) and `timestamp` (N, range),
//! holding its raw record; deletes and compliance events apply to it as they do to the index.
//!
//! - **What is archived**: only what the index confirmed. The feed keeps each operation's
//!   change until the sink says what the server did with it ([`BulkSink::take_outcomes`]): a
//!   document created or updated is put, one superseded (a tombstone or a newer copy is there:
//!   a late copy after its delete) is not; a delete is applied whatever its outcome. So the
//!   archive follows the index: retries rewrite the same item, order does not matter, and a
//!   deleted tweet never comes back.
//! - **Keys** ([`key`]): `id` is the tweet id, `timestamp` the time its Snowflake id carries
//!   (epoch ms, [`tweets::partition::snowflake_ms`]): a delete or compliance event knows only
//!   the id, and finds the item with no query. Tweets from before Snowflake ids (2010) get the
//!   Snowflake epoch's first seconds, as their partitions do (see `tweets::partition`).
//! - **Items** ([`item`]): `id`, `timestamp`, `raw` (the record the tweet was read from, as
//!   framed: every tweet of a v2 payload holds the whole payload), `user_id`, and the
//!   compliance state the index document has (`suppressed`, `suppressed_reasons`,
//!   `withheld_in_countries`). A record that is not UTF-8 or would make the item larger than
//!   DynamoDB's 400 KB is stored gzip-compressed as `raw_gz` (B); one still too large keeps
//!   its keys with `raw_omitted` saying why (logged). A tweet whose location must be scrubbed
//!   (`scrub_geo`) keeps no raw record (the record carries the location): `geo_scrubbed` says
//!   so. With `ARCHIVE_RETENTION` (`RETENTION`'s syntax: `400d`, `13mo`, `2y`), `expires_at`
//!   (epoch seconds: the tweet's time plus the retention in whole days, months counted 31, so
//!   never before) is DynamoDB's TTL attribute.
//! - **Compliance**: a document that becomes a tombstone (`user_delete`, `tweet_delete`) is a
//!   delete here too; one whose compliance fields change (suppress, withhold, `scrub_geo`) is
//!   an `UpdateItem` of those attributes on the item if it exists (never creating one).
//! - **Writes** ([`ArchiveWriter`]): `BatchWriteItem` of at most 25 requests, one per key
//!   (the last change of a key wins), `UnprocessedItems` and throttling retried with the
//!   sink's backoff ([`search_sink::Backoff`]) within the caller's deadline; what is still
//!   unwritten then fails the input ([`ArchiveError::DeadlineExceeded`]), so it is retried (every
//!   write is idempotent). Refusals (access denied, no such table, a malformed request) fail
//!   at once, naming the table.
//!
//! The client's endpoint comes from the standard AWS variables (`AWS_ENDPOINT_URL_DYNAMODB`,
//! `AWS_ENDPOINT_URL`); the SDK's own retries are off, this module's are the only ones.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};
use search_sink::Backoff;
use tokio::time::Instant;
use tweets::compliance::Verdict;
use tweets::partition::{LifecycleError, Retention, snowflake_ms};

/// Environment variables of the archive.
pub const ARCHIVE_TABLE: &str = "ARCHIVE_TABLE";
pub const ARCHIVE_RETENTION: &str = "ARCHIVE_RETENTION";

/// Requests per `BatchWriteItem` (DynamoDB's limit).
pub const BATCH_LIMIT: usize = 25;

/// DynamoDB's item size limit (names and values), less room for the other attributes.
pub const RAW_LIMIT: usize = 400 * 1024 - 2048;

/// Error codes DynamoDB answers when it wants the caller to slow down or try again.
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
];

/// Where the archive is and how long its items live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSettings {
    pub table: String,
    pub retention: Option<Retention>,
}

impl ArchiveSettings {
    /// From the variables as `lookup` gives them: `None` when `ARCHIVE_TABLE` is unset or
    /// empty.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, crate::lifecycle::SettingError> {
        let table = lookup(ARCHIVE_TABLE).map(|t| t.trim().to_owned());
        let retention = Retention::parse_setting(lookup(ARCHIVE_RETENTION).as_deref()).map_err(
            |e: LifecycleError| crate::lifecycle::SettingError {
                variable: ARCHIVE_RETENTION,
                problem: e.to_string(),
            },
        )?;
        match table {
            Some(table) if !table.is_empty() => Ok(Some(ArchiveSettings { table, retention })),
            _ if retention.is_some() => Err(crate::lifecycle::SettingError {
                variable: ARCHIVE_RETENTION,
                problem: "needs ARCHIVE_TABLE".into(),
            }),
            _ => Ok(None),
        }
    }

    /// From the environment.
    pub fn from_env() -> Result<Option<Self>, crate::lifecycle::SettingError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

/// The archive's key of tweet `id`: the id and the time its Snowflake id carries.
pub fn key(id: u64) -> (u64, i64) {
    (id, snowflake_ms(id))
}

/// The TTL of an item: the tweet's time (epoch ms) plus `retention` in whole days (months
/// counted 31 days: never before the retention), in epoch seconds.
pub fn expires_at(time_ms: i64, retention: Retention) -> i64 {
    let days = i64::try_from(retention.max_days()).unwrap_or(i64::MAX / 86_400_000);
    time_ms.div_euclid(1000) + days * 86_400
}

/// The compliance state of an archived tweet: the index document's compliance fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub suppressed_reasons: Vec<String>,
    pub withheld_in_countries: Vec<String>,
    /// The location must go: the raw record is not kept.
    pub geo_scrubbed: bool,
}

impl State {
    /// What `verdict` requires of the item.
    pub fn of(verdict: &Verdict) -> Self {
        State {
            suppressed_reasons: verdict
                .suppressed_reasons
                .iter()
                .map(|r| {
                    serde_json::to_value(r)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_else(|| format!("{r:?}"))
                })
                .collect(),
            withheld_in_countries: verdict.withheld_in_countries.clone(),
            geo_scrubbed: verdict.scrub_geo,
        }
    }
}

/// A tweet to archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: u64,
    /// The tweet's own time (epoch ms), for the TTL; the Snowflake time when unknown.
    pub time_ms: Option<i64>,
    pub user_id: Option<u64>,
    /// The record it was read from (shared by the tweets of one record).
    pub raw: std::sync::Arc<[u8]>,
    pub state: State,
}

/// What one confirmed operation (or compliance fix) does to the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Put(Entry),
    Delete {
        id: u64,
    },
    /// The item's compliance attributes, if the item exists.
    Update {
        id: u64,
        state: State,
    },
}

impl Change {
    pub fn id(&self) -> u64 {
        match self {
            Change::Put(e) => e.id,
            Change::Delete { id } | Change::Update { id, .. } => *id,
        }
    }
}

/// How the raw record is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raw {
    Text(String),
    Gzip(Vec<u8>),
    /// Not stored, and why.
    Omitted(String),
}

/// How `raw` fits an item: as text when it is UTF-8 and fits, else gzip-compressed, else not
/// at all (the reason says why); none when the location must be scrubbed.
pub fn raw_form(raw: &[u8], geo_scrubbed: bool) -> Option<Raw> {
    if geo_scrubbed {
        return None;
    }
    if raw.len() <= RAW_LIMIT
        && let Ok(text) = std::str::from_utf8(raw)
    {
        return Some(Raw::Text(text.to_owned()));
    }
    let gz = search_sink::gzip_bytes(raw);
    if gz.len() <= RAW_LIMIT {
        Some(Raw::Gzip(gz))
    } else {
        Some(Raw::Omitted(format!(
            "record of {} bytes is {} bytes gzip-compressed, over the item size limit",
            raw.len(),
            gz.len()
        )))
    }
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The item's key attributes.
pub fn key_attributes(id: u64) -> HashMap<String, AttributeValue> {
    let (id, timestamp) = key(id);
    HashMap::from([("id".into(), n(id)), ("timestamp".into(), n(timestamp))])
}

/// The item of `entry`.
pub fn item(entry: &Entry, retention: Option<Retention>) -> HashMap<String, AttributeValue> {
    let mut item = key_attributes(entry.id);
    match raw_form(&entry.raw, entry.state.geo_scrubbed) {
        Some(Raw::Text(text)) => {
            item.insert("raw".into(), AttributeValue::S(text));
        }
        Some(Raw::Gzip(gz)) => {
            item.insert("raw_gz".into(), AttributeValue::B(Blob::new(gz)));
        }
        Some(Raw::Omitted(reason)) => {
            tracing::warn!(id = entry.id, reason, "archive: raw record not stored");
            item.insert("raw_omitted".into(), AttributeValue::S(reason));
        }
        None => {
            item.insert("geo_scrubbed".into(), AttributeValue::Bool(true));
        }
    }
    if let Some(user) = entry.user_id {
        item.insert("user_id".into(), n(user));
    }
    if let Some(retention) = retention {
        let time = entry.time_ms.unwrap_or_else(|| key(entry.id).1);
        item.insert("expires_at".into(), n(expires_at(time, retention)));
    }
    let state = &entry.state;
    if !state.suppressed_reasons.is_empty() {
        item.insert("suppressed".into(), AttributeValue::Bool(true));
        item.insert(
            "suppressed_reasons".into(),
            AttributeValue::Ss(state.suppressed_reasons.clone()),
        );
    }
    if !state.withheld_in_countries.is_empty() {
        item.insert(
            "withheld_in_countries".into(),
            AttributeValue::Ss(state.withheld_in_countries.clone()),
        );
    }
    item
}

/// The `UpdateItem` expression and values that give an existing item `state` (attributes
/// of an empty state are removed, like the document's fields).
pub fn update_expression(state: &State) -> (String, HashMap<String, AttributeValue>) {
    let mut set = Vec::new();
    let mut remove = Vec::new();
    let mut values = HashMap::new();
    if state.suppressed_reasons.is_empty() {
        remove.extend(["suppressed", "suppressed_reasons"]);
    } else {
        set.push("suppressed = :t");
        set.push("suppressed_reasons = :reasons");
        values.insert(
            ":reasons".into(),
            AttributeValue::Ss(state.suppressed_reasons.clone()),
        );
    }
    if state.withheld_in_countries.is_empty() {
        remove.push("withheld_in_countries");
    } else {
        set.push("withheld_in_countries = :countries");
        values.insert(
            ":countries".into(),
            AttributeValue::Ss(state.withheld_in_countries.clone()),
        );
    }
    if state.geo_scrubbed {
        set.push("geo_scrubbed = :t");
        remove.extend(["raw", "raw_gz"]);
    }
    if set.contains(&"suppressed = :t") || state.geo_scrubbed {
        values.insert(":t".into(), AttributeValue::Bool(true));
    }
    let mut expression = String::new();
    if !set.is_empty() {
        expression.push_str("SET ");
        expression.push_str(&set.join(", "));
    }
    if !remove.is_empty() {
        if !expression.is_empty() {
            expression.push(' ');
        }
        expression.push_str("REMOVE ");
        expression.push_str(&remove.join(", "));
    }
    (expression, values)
}

/// An archive write that failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Throttled or failing until the deadline: retry the input later.
    #[error(
        "archive table {table}: {unwritten} changes not written before the deadline (last problem: {detail})"
    )]
    DeadlineExceeded {
        table: String,
        unwritten: usize,
        detail: String,
    },
    /// Refused for a reason a retry does not change (access denied, no such table, a
    /// malformed request).
    #[error("archive table {table}: {operation} refused: {detail}")]
    Refused {
        table: String,
        operation: &'static str,
        detail: String,
    },
}

impl ArchiveError {
    /// Whether the same input may succeed later as it is.
    pub fn is_transient(&self) -> bool {
        matches!(self, ArchiveError::DeadlineExceeded { .. })
    }
}

/// How an SDK error is answered: retried (throttling, server errors, the network) or not.
fn sdk_problem<E: ProvideErrorMetadata + std::error::Error + 'static>(
    error: &SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> (bool, String) {
    match error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("unknown");
            let status = service.raw().status().as_u16();
            let detail = format!("{code}: {}", e.message().unwrap_or_default());
            (RETRYABLE_CODES.contains(&code) || status >= 500, detail)
        }
        SdkError::ConstructionFailure(_) => (false, search_sink::https::error_chain(error)),
        _ => (true, search_sink::https::error_chain(error)),
    }
}

/// The problem to report when a request is cut at the deadline: the one before it, if any.
fn timed_out(last: &str) -> String {
    if last.is_empty() {
        "a request timed out at the deadline".into()
    } else {
        format!("{last}, then a request timed out at the deadline")
    }
}

/// Counts of what the archive wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ArchiveCounts {
    pub puts: u64,
    pub deletes: u64,
    pub updates: u64,
    /// `BatchWriteItem` requests and the changes retried (unprocessed or throttled).
    pub requests: u64,
    pub retried: u64,
}

/// A DynamoDB client for the archive, shared by every input of the process.
#[derive(Debug, Clone)]
pub struct Archive {
    client: aws_sdk_dynamodb::Client,
    settings: ArchiveSettings,
}

impl Archive {
    pub fn new(client: aws_sdk_dynamodb::Client, settings: ArchiveSettings) -> Self {
        Archive { client, settings }
    }

    /// A client from the AWS default chain (endpoint: `AWS_ENDPOINT_URL_DYNAMODB` /
    /// `AWS_ENDPOINT_URL`), the SDK's retries off (the writer retries within the deadline).
    pub async fn from_env(settings: ArchiveSettings) -> Self {
        let sdk = search_sink::https::aws_config_loader().load().await;
        let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
            .build();
        Archive::new(aws_sdk_dynamodb::Client::from_conf(conf), settings)
    }

    pub fn settings(&self) -> &ArchiveSettings {
        &self.settings
    }
}

/// Adds a put or delete to `queue`, replacing the change queued for the same tweet (the later
/// one wins; a `BatchWriteItem` must not name a key twice). Changes of distinct tweets keep
/// their order.
pub fn enqueue(queue: &mut Vec<(Option<u64>, Change)>, seq: Option<u64>, change: Change) {
    let id = change.id();
    queue.retain(|(_, c)| c.id() != id);
    queue.push((seq, change));
}

/// Queues changes and writes them in batches (module docs). One per input.
pub struct ArchiveWriter {
    archive: Archive,
    backoff: Backoff,
    /// Puts and deletes not yet written, one per key, in the order they came; each with the
    /// operation number it came from (none for compliance fixes).
    queue: Vec<(Option<u64>, Change)>,
    counts: ArchiveCounts,
}

impl ArchiveWriter {
    pub fn new(archive: Archive, retry_initial: Duration, retry_max: Duration) -> Self {
        ArchiveWriter {
            archive,
            backoff: Backoff::new(retry_initial, retry_max),
            queue: Vec::new(),
            counts: ArchiveCounts::default(),
        }
    }

    pub fn counts(&self) -> ArchiveCounts {
        self.counts
    }

    /// The first operation number whose change is not written yet.
    pub fn first_unwritten(&self) -> Option<u64> {
        self.queue.iter().filter_map(|(seq, _)| *seq).min()
    }

    /// Adds a change (of operation `seq`); writes a batch when one is full. An update first
    /// writes what is queued (a put of the same tweet must land before it).
    pub async fn add(
        &mut self,
        seq: Option<u64>,
        change: Change,
        deadline: Instant,
    ) -> Result<(), ArchiveError> {
        if let Change::Update { id, state } = &change {
            self.flush(deadline).await?;
            return self.update(*id, state, deadline).await;
        }
        enqueue(&mut self.queue, seq, change);
        if self.queue.len() >= BATCH_LIMIT {
            self.flush(deadline).await?;
        }
        Ok(())
    }

    /// Writes everything queued.
    pub async fn flush(&mut self, deadline: Instant) -> Result<(), ArchiveError> {
        while !self.queue.is_empty() {
            let take = self.queue.len().min(BATCH_LIMIT);
            let batch: Vec<(Option<u64>, Change)> = self.queue.drain(..take).collect();
            if let Err(e) = self.write_batch(&batch, deadline).await {
                // Unwritten: they keep holding the line.
                let rest = std::mem::take(&mut self.queue);
                self.queue = batch;
                self.queue.extend(rest);
                return Err(e);
            }
        }
        Ok(())
    }

    fn request(&self, change: &Change) -> Option<WriteRequest> {
        let retention = self.archive.settings.retention;
        match change {
            Change::Put(entry) => PutRequest::builder()
                .set_item(Some(item(entry, retention)))
                .build()
                .ok()
                .map(|put| WriteRequest::builder().put_request(put).build()),
            Change::Delete { id } => DeleteRequest::builder()
                .set_key(Some(key_attributes(*id)))
                .build()
                .ok()
                .map(|delete| WriteRequest::builder().delete_request(delete).build()),
            Change::Update { .. } => None,
        }
    }

    /// One batch of at most 25 changes of distinct keys, unprocessed items retried.
    async fn write_batch(
        &mut self,
        batch: &[(Option<u64>, Change)],
        deadline: Instant,
    ) -> Result<(), ArchiveError> {
        let table = self.archive.settings.table.clone();
        let mut pending: Vec<WriteRequest> = batch
            .iter()
            .filter_map(|(_, change)| self.request(change))
            .collect();
        let mut detail = String::new();
        while !pending.is_empty() {
            let unwritten = pending.len();
            let deadline_error = |detail: &str| ArchiveError::DeadlineExceeded {
                table: table.clone(),
                unwritten,
                detail: detail.to_owned(),
            };
            if Instant::now() >= deadline {
                return Err(deadline_error(&detail));
            }
            self.counts.requests += 1;
            let call = self
                .archive
                .client
                .batch_write_item()
                .request_items(table.clone(), pending.clone())
                .send();
            let retry = match tokio::time::timeout_at(deadline, call).await {
                Err(_) => return Err(deadline_error(&timed_out(&detail))),
                Ok(Ok(out)) => {
                    let unprocessed = out
                        .unprocessed_items
                        .and_then(|mut m| m.remove(&table))
                        .unwrap_or_default();
                    if unprocessed.is_empty() {
                        self.backoff.reset();
                        pending.clear();
                        break;
                    }
                    detail = format!("{} unprocessed items", unprocessed.len());
                    pending = unprocessed;
                    true
                }
                Ok(Err(e)) => {
                    let (retryable, what) = sdk_problem(&e);
                    if !retryable {
                        return Err(ArchiveError::Refused {
                            table,
                            operation: "BatchWriteItem",
                            detail: what,
                        });
                    }
                    detail = what;
                    true
                }
            };
            if retry {
                self.counts.retried += pending.len() as u64;
                let left = deadline.saturating_duration_since(Instant::now());
                let delay = self.backoff.next_delay().min(left);
                tracing::debug!(
                    table,
                    unwritten = pending.len(),
                    ?delay,
                    detail,
                    "archive: retrying"
                );
                tokio::time::sleep(delay).await;
            }
        }
        for (_, change) in batch {
            match change {
                Change::Put(_) => self.counts.puts += 1,
                Change::Delete { .. } => self.counts.deletes += 1,
                Change::Update { .. } => {}
            }
        }
        Ok(())
    }

    /// Gives the item of `id` (if there is one) the compliance `state`.
    async fn update(
        &mut self,
        id: u64,
        state: &State,
        deadline: Instant,
    ) -> Result<(), ArchiveError> {
        let table = self.archive.settings.table.clone();
        let (expression, values) = update_expression(state);
        let mut detail = String::new();
        loop {
            if Instant::now() >= deadline {
                return Err(ArchiveError::DeadlineExceeded {
                    table,
                    unwritten: 1,
                    detail,
                });
            }
            let call = self
                .archive
                .client
                .update_item()
                .table_name(table.clone())
                .set_key(Some(key_attributes(id)))
                .update_expression(expression.clone())
                .set_expression_attribute_values((!values.is_empty()).then(|| values.clone()))
                .condition_expression("attribute_exists(id)")
                .send();
            match tokio::time::timeout_at(deadline, call).await {
                Err(_) => detail = timed_out(&detail),
                Ok(Ok(_)) => {
                    self.counts.updates += 1;
                    self.backoff.reset();
                    return Ok(());
                }
                Ok(Err(e)) => {
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception())
                    {
                        // Not archived (indexed before the archive existed): nothing to do.
                        return Ok(());
                    }
                    let (retryable, what) = sdk_problem(&e);
                    if !retryable {
                        return Err(ArchiveError::Refused {
                            table,
                            operation: "UpdateItem",
                            detail: what,
                        });
                    }
                    detail = what;
                }
            }
            self.counts.retried += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(self.backoff.next_delay().min(left)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_key_is_the_snowflake_time() {
        // (id, timestamp): a tweet of 2019-12-31, an early Snowflake id, a pre-Snowflake id.
        let cases = [
            (1_212_092_628_029_698_048_u64, 1_577_820_376_771_i64),
            (1 << 22, 1_288_834_974_658),
            (20, 1_288_834_974_657),
        ];
        for (id, want) in cases {
            assert_eq!(key(id), (id, want), "{id}");
        }
    }

    #[test]
    fn items_expire_after_the_retention_in_whole_days() {
        let t = 1_700_000_000_123;
        assert_eq!(expires_at(t, Retention::Days(1)), 1_700_000_000 + 86_400);
        assert_eq!(
            expires_at(t, Retention::Months(2)),
            1_700_000_000 + 62 * 86_400
        );
    }

    #[test]
    fn settings_need_a_table() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(ArchiveSettings::from_lookup(env(&[])).unwrap(), None);
        assert_eq!(
            ArchiveSettings::from_lookup(env(&[(ARCHIVE_TABLE, " ")])).unwrap(),
            None
        );
        assert_eq!(
            ArchiveSettings::from_lookup(env(&[
                (ARCHIVE_TABLE, "tweets"),
                (ARCHIVE_RETENTION, "2y")
            ]))
            .unwrap(),
            Some(ArchiveSettings {
                table: "tweets".into(),
                retention: Some(Retention::Months(24))
            })
        );
        let e = ArchiveSettings::from_lookup(env(&[(ARCHIVE_RETENTION, "2y")])).unwrap_err();
        assert_eq!(e.variable, ARCHIVE_RETENTION);
        let e =
            ArchiveSettings::from_lookup(env(&[(ARCHIVE_TABLE, "t"), (ARCHIVE_RETENTION, "2")]))
                .unwrap_err();
        assert_eq!(e.variable, ARCHIVE_RETENTION);
    }

    #[test]
    fn raw_records_are_text_gzip_or_omitted_never_dropped_silently() {
        let small = br#"{"id_str":"1"}"#;
        assert_eq!(
            raw_form(small, false),
            Some(Raw::Text(r#"{"id_str":"1"}"#.into()))
        );
        assert_eq!(raw_form(small, true), None, "scrub_geo keeps no raw record");
        // Not UTF-8: gzip.
        assert!(matches!(raw_form(b"\xff\xfe", false), Some(Raw::Gzip(_))));
        // Too large as text, compressible: gzip.
        let big = vec![b'a'; RAW_LIMIT + 1];
        assert!(matches!(raw_form(&big, false), Some(Raw::Gzip(_))));
        // Incompressible and too large: omitted, saying why.
        let mut noise = vec![0u8; RAW_LIMIT + 4096];
        let mut x: u32 = 1;
        for b in &mut noise {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        match raw_form(&noise, false) {
            Some(Raw::Omitted(reason)) => assert!(reason.contains("over the item size limit")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn items_carry_keys_raw_and_compliance_state() {
        let entry = Entry {
            id: 1_212_092_628_029_698_048,
            time_ms: Some(1_576_592_240_000),
            user_id: Some(7),
            raw: std::sync::Arc::from(&b"{}"[..]),
            state: State {
                suppressed_reasons: vec!["user_protect".into()],
                withheld_in_countries: vec!["DE".into()],
                geo_scrubbed: false,
            },
        };
        let item = item(&entry, Some(Retention::Days(10)));
        let s = |k: &str| item.get(k).cloned();
        assert_eq!(s("id"), Some(n(1_212_092_628_029_698_048_u64)));
        assert_eq!(s("timestamp"), Some(n(1_577_820_376_771_i64)));
        assert_eq!(s("raw"), Some(AttributeValue::S("{}".into())));
        assert_eq!(s("user_id"), Some(n(7)));
        assert_eq!(s("expires_at"), Some(n(1_576_592_240 + 10 * 86_400)));
        assert_eq!(s("suppressed"), Some(AttributeValue::Bool(true)));
        assert_eq!(
            s("withheld_in_countries"),
            Some(AttributeValue::Ss(vec!["DE".into()]))
        );
        let plain = super::item(
            &Entry {
                state: State::default(),
                ..entry
            },
            None,
        );
        let mut names: Vec<&str> = plain.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["id", "raw", "timestamp", "user_id"]);
    }

    #[test]
    fn a_queue_holds_one_change_per_tweet_the_last() {
        let put = |id: u64| {
            Change::Put(Entry {
                id,
                time_ms: None,
                user_id: None,
                raw: std::sync::Arc::from(&b"{}"[..]),
                state: State::default(),
            })
        };
        let mut queue = Vec::new();
        enqueue(&mut queue, Some(0), put(1));
        enqueue(&mut queue, Some(1), put(2));
        enqueue(&mut queue, Some(2), put(1));
        enqueue(&mut queue, Some(3), Change::Delete { id: 2 });
        enqueue(&mut queue, None, Change::Delete { id: 3 });
        assert_eq!(
            queue,
            vec![
                (Some(2), put(1)),
                (Some(3), Change::Delete { id: 2 }),
                (None, Change::Delete { id: 3 }),
            ]
        );
    }

    #[test]
    fn updates_set_or_remove_the_compliance_attributes() {
        let cases = [
            (
                State::default(),
                "REMOVE suppressed, suppressed_reasons, withheld_in_countries",
                vec![],
            ),
            (
                State {
                    suppressed_reasons: vec!["user_suspend".into()],
                    ..State::default()
                },
                "SET suppressed = :t, suppressed_reasons = :reasons REMOVE withheld_in_countries",
                vec![":reasons", ":t"],
            ),
            (
                State {
                    withheld_in_countries: vec!["FR".into()],
                    geo_scrubbed: true,
                    ..State::default()
                },
                "SET withheld_in_countries = :countries, geo_scrubbed = :t REMOVE suppressed, suppressed_reasons, raw, raw_gz",
                vec![":countries", ":t"],
            ),
        ];
        for (state, want, want_values) in cases {
            let (expression, values) = update_expression(&state);
            assert_eq!(expression, want);
            let mut names: Vec<&str> = values.keys().map(String::as_str).collect();
            names.sort_unstable();
            assert_eq!(names, want_values, "{want}");
        }
    }
}
