//! The index's lifecycle (issue 25): time partitions behind the `ES_INDEX` alias
//! (`INDEX_PARTITION`), their sizing (`INDEX_SHARDS`, `INDEX_REPLICAS`,
//! `INDEX_REFRESH_INTERVAL`), retention (`RETENTION`), and the migration of a single index
//! into partitions. Routing is pure ([`tweets::partition`]); this module does the I/O with
//! the generic calls of [`search_sink::lifecycle`].
//!
//! - Ensure (partitioned): the retention policy when `RETENTION` is set (ISM, else ILM, else
//!   none: `retention apply` does it), the composable template `{index}-*` with the mapping,
//!   the sizing and the alias `{index}`; each partition is created before its first write,
//!   once per process (a concurrent creation is success). `{index}` must not be a concrete
//!   index then (run `migrate` first); unpartitioned, `{index}` must not be an alias over
//!   partitions (set `INDEX_PARTITION`).
//! - Retention apply: deletes the partitions whose whole period ends before now - retention,
//!   judged by name (so a backfilled old partition goes on time, never early).
//! - Migrate: copies every document of the single index into its partition (a scroll over
//!   the index, each hit routed by its `_id` like every write, written at its own version:
//!   tombstones included), verifies that the partitions hold as many documents as the index,
//!   then replaces the index by the alias in one atomic `_aliases` call.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use search_sink::lifecycle::{LifecycleEngine, NameState};
use search_sink::{
    BulkSink, Method, Operation, Origin, SearchClient, SinkError, TOMBSTONE_SOURCE,
    TOMBSTONE_VERSION,
};
use serde_json::{Value, json};
use tokio::time::Instant;
use tweets::partition::{LifecycleError, Partition, Period, Retention};

/// Environment variables of the lifecycle settings.
pub const INDEX_PARTITION: &str = "INDEX_PARTITION";
pub const RETENTION: &str = "RETENTION";
pub const INDEX_SHARDS: &str = "INDEX_SHARDS";
pub const INDEX_REPLICAS: &str = "INDEX_REPLICAS";
pub const INDEX_REFRESH_INTERVAL: &str = "INDEX_REFRESH_INTERVAL";

/// A lifecycle setting that cannot be used, naming its variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct SettingError {
    pub variable: &'static str,
    pub problem: String,
}

/// How documents are spread over indices and how long they are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub partition: Partition,
    pub retention: Option<Retention>,
    /// Primary shards per index (default: the server's).
    pub shards: Option<u32>,
    /// Replicas per index (default: the server's).
    pub replicas: Option<u32>,
    /// `refresh_interval` (e.g. `30s`; default: the server's).
    pub refresh_interval: Option<String>,
}

impl Settings {
    /// From the environment (the Lambda's variables), checked for writing
    /// ([`Settings::check_for_writes`]).
    pub fn from_env() -> Result<Self, SettingError> {
        let settings = Self::from_lookup(|name| std::env::var(name).ok())?;
        settings.check_for_writes()?;
        Ok(settings)
    }

    /// Whether writers can work with these settings: `RETENTION` needs a partitioning (a
    /// single index is never deleted, so it would be ignored without a word).
    pub fn check_for_writes(&self) -> Result<(), SettingError> {
        if self.retention.is_some() && self.partition == Partition::None {
            return Err(SettingError {
                variable: RETENTION,
                problem: "needs INDEX_PARTITION month or day: a single index is never deleted, only partitions are".into(),
            });
        }
        Ok(())
    }

    /// From the variables as `lookup` gives them (the CLI passes its flags), each checked
    /// alone.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingError> {
        let bad = |variable: &'static str, e: LifecycleError| SettingError {
            variable,
            problem: e.to_string(),
        };
        let partition = match lookup(INDEX_PARTITION) {
            Some(v) => v.parse().map_err(|e| bad(INDEX_PARTITION, e))?,
            None => Partition::None,
        };
        let retention = Retention::parse_setting(lookup(RETENTION).as_deref())
            .map_err(|e| bad(RETENTION, e))?;
        let count = |variable: &'static str, min: u32| -> Result<Option<u32>, SettingError> {
            match lookup(variable).as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(v) => match v.parse::<u32>() {
                    Ok(n) if n >= min && n <= 1024 => Ok(Some(n)),
                    _ => Err(SettingError {
                        variable,
                        problem: format!("{v:?} is not a whole number from {min} to 1024"),
                    }),
                },
            }
        };
        let refresh_interval = match lookup(INDEX_REFRESH_INTERVAL).as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) if is_time_value(v) => Some(v.to_owned()),
            Some(v) => {
                return Err(SettingError {
                    variable: INDEX_REFRESH_INTERVAL,
                    problem: format!("{v:?} is not a time value (e.g. 1s, 30s, 1m, or -1)"),
                });
            }
        };
        Ok(Settings {
            partition,
            retention,
            shards: count(INDEX_SHARDS, 1)?,
            replicas: count(INDEX_REPLICAS, 0)?,
            refresh_interval,
        })
    }

    /// The settings every index (or partition) of ours is created with.
    fn index_settings(&self) -> serde_json::Map<String, Value> {
        let mut settings = serde_json::Map::new();
        if let Some(n) = self.shards {
            settings.insert("number_of_shards".into(), json!(n));
        }
        if let Some(n) = self.replicas {
            settings.insert("number_of_replicas".into(), json!(n));
        }
        if let Some(r) = &self.refresh_interval {
            settings.insert("refresh_interval".into(), json!(r));
        }
        settings
    }
}

/// `1s`, `500ms`, `1m`, `-1` (refresh off).
fn is_time_value(v: &str) -> bool {
    if v == "-1" {
        return true;
    }
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && matches!(&v[digits..], "ms" | "s" | "m" | "h" | "d")
}

/// The retention policy's name for the family of `base`.
pub fn policy_id(base: &str) -> String {
    format!("{base}-retention")
}

/// The partition template's name for the family of `base`.
pub fn template_name(base: &str) -> String {
    format!("{base}-partitions")
}

/// Why a lifecycle step cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The copy does not add up: nothing was swapped.
    #[error("{0}")]
    Mismatch(String),
}

fn layout(index: &str, detail: String) -> SinkError {
    SinkError::Layout {
        index: index.to_owned(),
        detail,
    }
}

/// The routing and index bodies of one deployment: what the [`crate::Indexer`] holds.
#[derive(Debug)]
pub struct Lifecycle {
    pub settings: Settings,
    base: String,
    /// The mapping with the sizing (and for partitions the alias).
    body: Value,
    /// ILM names the policy in each partition (set once ensure found the engine).
    engine: OnceLock<Option<LifecycleEngine>>,
    /// Partitions this process ensured (or found), by period.
    ensured: Mutex<HashMap<Period, Arc<str>>>,
    /// Set once [`Lifecycle::ensure`] succeeded: a warm Lambda skips its requests.
    prepared: tokio::sync::OnceCell<()>,
}

impl Lifecycle {
    pub fn new(base: &str, settings: Settings) -> Self {
        let mut body: Value = serde_json::from_str(tweets::MAPPING_JSON).unwrap_or_default();
        let extra = settings.index_settings();
        if let Some(existing) = body.get_mut("settings").and_then(Value::as_object_mut) {
            existing.extend(extra);
        } else {
            body["settings"] = Value::Object(extra);
        }
        Lifecycle {
            settings,
            base: base.to_owned(),
            body,
            engine: OnceLock::new(),
            ensured: Mutex::new(HashMap::new()),
            prepared: tokio::sync::OnceCell::new(),
        }
    }

    pub fn partition(&self) -> Partition {
        self.settings.partition
    }

    /// The index body for the single index (`none`).
    pub fn single_index_body(&self) -> String {
        self.body.to_string()
    }

    /// The body of a partition: the mapping, the sizing, the alias, and with ILM the policy
    /// and the period's end as origination date (so the policy ages a partition by its data,
    /// not by when it was created).
    pub fn partition_body(&self, period: Option<&Period>) -> Value {
        let mut body = self.body.clone();
        body["aliases"] = json!({ self.base.clone(): {} });
        if let (Some(Some(LifecycleEngine::Ilm)), Some(_)) =
            (self.engine.get(), self.settings.retention)
        {
            body["settings"]["index.lifecycle.name"] = json!(policy_id(&self.base));
            if let Some(period) = period {
                body["settings"]["index.lifecycle.origination_date"] = json!(period.end_ms());
            }
        }
        body
    }

    /// Prepares the server for writes: the single index (as before), or the partition
    /// template and retention policy. Refuses a layout that writes would break. Once per
    /// process: later calls return [`search_sink::EnsureOutcome::AlreadyEnsured`] at once;
    /// after a failure the next call tries again.
    pub async fn ensure(
        &self,
        client: &SearchClient,
        deadline: Instant,
    ) -> Result<search_sink::EnsureOutcome, SinkError> {
        let mut outcome = None;
        self.prepared
            .get_or_try_init(|| async {
                outcome = Some(self.prepare(client, deadline).await?);
                Ok::<(), SinkError>(())
            })
            .await?;
        Ok(outcome.unwrap_or(search_sink::EnsureOutcome::AlreadyEnsured))
    }

    async fn prepare(
        &self,
        client: &SearchClient,
        deadline: Instant,
    ) -> Result<search_sink::EnsureOutcome, SinkError> {
        if self.partition() == Partition::None {
            // Only a clear "alias" stops it; an answer not understood is for the ensure below
            // to judge (and report) as it always did. A failure to reach the server (a
            // certificate, no connection) is reported now: the ensure would meet it again.
            let state = match client.name_state(&self.base, deadline).await {
                Ok(state) => Some(state),
                Err(SinkError::Rejected { .. } | SinkError::BadResponse { .. }) => None,
                Err(e) => return Err(e),
            };
            if let Some(NameState::Alias(indices)) = state {
                return Err(layout(
                    &self.base,
                    format!(
                        "an alias over {} partitions ({}, ...): set INDEX_PARTITION (--index-partition) to month or day to write into them",
                        indices.len(),
                        indices.first().map(String::as_str).unwrap_or_default()
                    ),
                ));
            }
            return client
                .ensure_index_before(&self.base, &self.single_index_body(), deadline)
                .await;
        }
        if let search_sink::Auth::SigV4(sigv4) = &client.config().auth
            && sigv4.service == search_sink::SigV4Service::Aoss
        {
            return Err(layout(
                &self.base,
                "OpenSearch Serverless has no aliases nor index templates with aliases: use INDEX_PARTITION=none (one index; the collection scales its storage itself)".into(),
            ));
        }
        if client.name_state(&self.base, deadline).await? == NameState::Index {
            return Err(layout(
                &self.base,
                format!(
                    "a single index: run `tweet-indexer migrate --to {p}` to move it into partitions behind the alias {base} before indexing with INDEX_PARTITION={p}",
                    base = self.base,
                    p = self.partition()
                ),
            ));
        }
        self.install_policy(client, deadline).await?;
        self.install_template(client, deadline).await?;
        Ok(search_sink::EnsureOutcome::Existing {
            added_fields: vec![],
        })
    }

    /// The retention policy, when `RETENTION` is set: partitions created after it are
    /// managed by the engine's lifecycle management (where there is one).
    async fn install_policy(
        &self,
        client: &SearchClient,
        deadline: Instant,
    ) -> Result<(), SinkError> {
        let pattern = Partition::pattern(&self.base);
        let engine = match self.settings.retention {
            Some(retention) => {
                // Partitions are created when their period begins (or later, for a
                // backfill): aged from creation, a partition must wait its own period on top
                // of the retention, so that its last day is past retention too.
                let period_days = match self.partition() {
                    Partition::Month => 31,
                    _ => 1,
                };
                let days = retention.max_days() + period_days;
                client
                    .put_retention_policy(&policy_id(&self.base), &pattern, days, deadline)
                    .await?
            }
            None => None,
        };
        let _ = self.engine.set(engine);
        Ok(())
    }

    /// The partition template: the mapping, the sizing and the alias for `{index}-*`.
    async fn install_template(
        &self,
        client: &SearchClient,
        deadline: Instant,
    ) -> Result<(), SinkError> {
        let pattern = Partition::pattern(&self.base);
        let body = self.partition_body(None);
        client
            .put_family_template(
                &template_name(&self.base),
                &pattern,
                &self.base,
                &body,
                deadline,
            )
            .await
    }

    /// The index the operation on tweet `id` goes to; a partition is created (or checked)
    /// before its first write in this process.
    pub async fn index_for(
        &self,
        client: &SearchClient,
        id: &str,
        deadline: Instant,
    ) -> Result<Route, SinkError> {
        let period = match self.partition().period_of_id(id) {
            Ok(Some(period)) => period,
            Ok(None) => return Ok(Route::Default),
            Err(e) => return Ok(Route::Invalid(e.to_string())),
        };
        if self.past_retention(&period, now_ms()) {
            return Ok(Route::PastRetention);
        }
        if let Some(name) = self.known(&period) {
            return Ok(Route::Index(name));
        }
        let name = period.index_name(&self.base);
        let body = self.partition_body(Some(&period)).to_string();
        client
            .ensure_partition_before(&name, &body, deadline)
            .await?;
        let name: Arc<str> = Arc::from(name);
        self.ensured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(period, Arc::clone(&name));
        Ok(Route::Index(name))
    }

    /// Whether `period`'s partition is past `RETENTION` at `now_ms`.
    pub fn past_retention(&self, period: &Period, now_ms: i64) -> bool {
        self.settings
            .retention
            .is_some_and(|r| r.expired(period, now_ms))
    }

    fn known(&self, period: &Period) -> Option<Arc<str>> {
        self.ensured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(period)
            .cloned()
    }
}

/// Where one operation goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The sink's index (`none`).
    Default,
    /// This partition.
    Index(Arc<str>),
    /// The id names no partition (not a number): an invalid record with this reason.
    Invalid(String),
    /// The partition is past `RETENTION`: not written (counted as `past_retention`).
    PastRetention,
}

/// The wall clock in epoch milliseconds (retention is judged against it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// What `retention apply` found: the partitions it removed (or would remove) and kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub expired: Vec<String>,
    pub kept: Vec<String>,
}

/// Deletes (unless `dry_run`) the partitions of `base` whose whole period ends before
/// `now_ms - retention`, judged by their names; indices of the pattern that name no period
/// are never touched.
pub async fn apply_retention(
    client: &SearchClient,
    base: &str,
    retention: Retention,
    now_ms: i64,
    dry_run: bool,
    deadline: Instant,
) -> Result<RetentionReport, SinkError> {
    let mut report = RetentionReport::default();
    for name in client
        .list_indices(&Partition::pattern(base), deadline)
        .await?
    {
        match Period::from_index_name(base, &name) {
            Some(period) if retention.expired(&period, now_ms) => report.expired.push(name),
            Some(_) => report.kept.push(name),
            None => {}
        }
    }
    if !dry_run {
        for name in &report.expired {
            client.delete_index(name, deadline).await?;
            tracing::info!(index = %name, %retention, "partition past retention deleted");
        }
    }
    Ok(report)
}

/// Progress of a migration, reported as it goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrateProgress {
    /// Documents in the single index (tombstones included).
    pub total: u64,
    /// Documents copied so far.
    pub copied: u64,
}

/// What a migration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrateOutcome {
    /// The index was copied into these partitions (documents each) and replaced by the alias.
    Migrated { partitions: BTreeMap<String, u64> },
    /// `base` was already an alias over these partitions: nothing to do (the template was
    /// installed again).
    AlreadyMigrated { partitions: Vec<String> },
    /// The progress callback asked to stop after this many copies: nothing was swapped, a
    /// rerun copies again and finishes.
    Stopped { copied: u64 },
}

/// Hits per scroll page (each page is confirmed before progress is reported).
pub const SCROLL_PAGE: usize = 1000;
/// How long the server keeps a scroll between pages.
const SCROLL_KEEP: &str = "10m";

/// Moves the single index `base` into `lifecycle`'s partitions: copy, verify, swap. `page`
/// documents are copied per scroll page; after each page `progress` says how far the copy is
/// and whether to go on (`false` stops before the swap).
///
/// Resumable and safe to interrupt at any point: until the one `_aliases` call, the index is
/// untouched and the partitions only hold copies, which a rerun writes again at the same
/// versions (the same id always goes to the same partition: nothing doubles); the swap is
/// atomic; a rerun after it finds the alias and only reinstalls the template. Writers must be
/// paused during the copy: a document written to the index after its scroll passed would make
/// the counts differ, and then nothing is swapped.
pub async fn migrate(
    client: &Arc<SearchClient>,
    lifecycle: &Lifecycle,
    deadline: Instant,
    page_size: usize,
    mut progress: impl FnMut(&MigrateProgress) -> bool,
) -> Result<MigrateOutcome, StepError> {
    let base = lifecycle.base.as_str();
    if lifecycle.partition() == Partition::None {
        return Err(layout(
            base,
            "migrate needs a partitioning (--to month or day)".into(),
        )
        .into());
    }
    match client.name_state(base, deadline).await? {
        NameState::Alias(partitions) => {
            lifecycle.install_policy(client, deadline).await?;
            lifecycle.install_template(client, deadline).await?;
            return Ok(MigrateOutcome::AlreadyMigrated { partitions });
        }
        NameState::Missing => {
            return Err(layout(
                base,
                "there is no such index to migrate (a new deployment needs no migration: set INDEX_PARTITION and index)".into(),
            )
            .into());
        }
        NameState::Index => {}
    }
    // The policy first: ISM attaches itself to partitions created after it.
    lifecycle.install_policy(client, deadline).await?;
    // The template is installed only after the swap: its alias cannot exist while the index
    // of the same name does, so partitions are created with the body and no alias for now.
    let total = client.count(base, deadline).await?;
    let mut state = MigrateProgress { total, copied: 0 };
    if !progress(&state) {
        return Ok(MigrateOutcome::Stopped { copied: 0 });
    }
    let mut sink = BulkSink::with_index(Arc::clone(client), base, deadline, None);
    let mut created: HashMap<Period, String> = HashMap::new();
    let object: Arc<str> = Arc::from(format!("migrate:{base}"));
    let mut page = scroll_start(client, base, page_size, deadline).await?;
    loop {
        let hits = page.hits;
        if hits.is_empty() {
            break;
        }
        for hit in hits {
            let Some(period) = lifecycle
                .partition()
                .period_of_id(&hit.id)
                .map_err(|e| layout(base, e.to_string()))?
            else {
                continue;
            };
            let name = match created.get(&period) {
                Some(name) => name.clone(),
                None => {
                    let name = period.index_name(base);
                    let mut body = lifecycle.partition_body(Some(&period));
                    if let Some(map) = body.as_object_mut() {
                        map.remove("aliases");
                    }
                    client
                        .ensure_partition_before(&name, &body.to_string(), deadline)
                        .await?;
                    created.insert(period, name.clone());
                    name
                }
            };
            let op = Operation::Index {
                id: hit.id,
                source: hit.source,
                version: hit.version,
            };
            sink.push_to(&name, op, Origin::new(object.clone(), state.copied))
                .await?;
            state.copied += 1;
        }
        sink.flush().await?;
        if !progress(&state) {
            scroll_clear(client, &page.scroll_id, deadline).await;
            sink.finish().await?;
            return Ok(MigrateOutcome::Stopped {
                copied: state.copied,
            });
        }
        page = scroll_next(client, &page.scroll_id, deadline).await?;
    }
    scroll_clear(client, &page.scroll_id, deadline).await;
    sink.finish().await?;
    // Verify: every document of the index is in its partition, once.
    let mut partitions = BTreeMap::new();
    let mut in_partitions = 0;
    for name in client
        .list_indices(&Partition::pattern(base), deadline)
        .await?
    {
        if Period::from_index_name(base, &name).is_some() {
            let n = client.count(&name, deadline).await?;
            in_partitions += n;
            partitions.insert(name, n);
        }
    }
    let now = client.count(base, deadline).await?;
    if now != total || in_partitions != total {
        return Err(StepError::Mismatch(format!(
            "{base} held {total} documents when the copy began and {now} now; its partitions hold {in_partitions}: nothing was swapped (pause the writers and run migrate again: the copy is idempotent)"
        )));
    }
    let mut actions = vec![json!({ "remove_index": { "index": base } })];
    for name in partitions.keys() {
        actions.push(json!({ "add": { "index": name, "alias": base } }));
    }
    client
        .update_aliases(Value::Array(actions), deadline)
        .await?;
    lifecycle.install_template(client, deadline).await?;
    Ok(MigrateOutcome::Migrated { partitions })
}

/// A document read back from the index.
struct Hit {
    id: String,
    source: Vec<u8>,
    version: u64,
}

struct Page {
    scroll_id: String,
    hits: Vec<Hit>,
}

async fn scroll_start(
    client: &SearchClient,
    index: &str,
    page_size: usize,
    deadline: Instant,
) -> Result<Page, StepError> {
    let path = format!("{index}/_search?scroll={SCROLL_KEEP}");
    let body = json!({ "size": page_size.max(1), "sort": ["_doc"], "version": true }).to_string();
    let response = client
        .request_ok(Method::Post, &path, Some(body.as_bytes()), deadline)
        .await?;
    parse_page(&response.body, &path)
}

async fn scroll_next(
    client: &SearchClient,
    scroll_id: &str,
    deadline: Instant,
) -> Result<Page, StepError> {
    let path = "_search/scroll";
    let body = json!({ "scroll": SCROLL_KEEP, "scroll_id": scroll_id }).to_string();
    let response = client
        .request_ok(Method::Post, path, Some(body.as_bytes()), deadline)
        .await?;
    parse_page(&response.body, path)
}

async fn scroll_clear(client: &SearchClient, scroll_id: &str, deadline: Instant) {
    let body = json!({ "scroll_id": scroll_id }).to_string();
    // The server drops it after SCROLL_KEEP anyway.
    let _ = client
        .request_retrying(
            Method::Delete,
            "_search/scroll",
            Some(body.as_bytes()),
            deadline,
        )
        .await;
}

fn parse_page(body: &[u8], path: &str) -> Result<Page, StepError> {
    let bad = |detail: String| {
        StepError::Sink(SinkError::BadResponse {
            method: "POST".into(),
            path: path.into(),
            detail,
        })
    };
    let value: Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let scroll_id = value
        .get("_scroll_id")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no _scroll_id".into()))?
        .to_owned();
    let mut hits = Vec::new();
    for hit in value
        .pointer("/hits/hits")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no hits".into()))?
    {
        let id = hit
            .get("_id")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a hit without _id".into()))?;
        let source = hit
            .get("_source")
            .ok_or_else(|| bad(format!("hit {id} without _source")))?;
        let is_tombstone = serde_json::to_vec(source).ok().as_deref() == Some(TOMBSTONE_SOURCE);
        let version = match hit.get("_version").and_then(Value::as_u64) {
            Some(v) => v,
            None if is_tombstone => TOMBSTONE_VERSION,
            None => return Err(bad(format!("hit {id} without _version"))),
        };
        hits.push(Hit {
            id: id.to_owned(),
            source: serde_json::to_vec(source).map_err(|e| bad(e.to_string()))?,
            version,
        });
    }
    Ok(Page { scroll_id, hits })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn settings_default_to_one_index_kept_forever() {
        assert_eq!(settings(&[]).unwrap(), Settings::default());
        let s = settings(&[
            ("INDEX_PARTITION", "month"),
            ("RETENTION", "13mo"),
            ("INDEX_SHARDS", "2"),
            ("INDEX_REPLICAS", "0"),
            ("INDEX_REFRESH_INTERVAL", "30s"),
        ])
        .unwrap();
        assert_eq!(s.partition, Partition::Month);
        assert_eq!(s.retention, Some(Retention::Months(13)));
        assert_eq!((s.shards, s.replicas), (Some(2), Some(0)));
        assert_eq!(s.refresh_interval.as_deref(), Some("30s"));
        let alone = settings(&[("RETENTION", "13mo")]).unwrap();
        assert_eq!(
            alone.check_for_writes().unwrap_err().variable,
            "RETENTION",
            "retention without partitions"
        );
        assert!(s.check_for_writes().is_ok());
        for (variable, value) in [
            ("INDEX_PARTITION", "week"),
            ("RETENTION", "13"),
            ("INDEX_SHARDS", "0"),
            ("INDEX_REPLICAS", "x"),
            ("INDEX_REFRESH_INTERVAL", "soon"),
        ] {
            assert_eq!(
                settings(&[(variable, value)]).unwrap_err().variable,
                variable
            );
        }
    }

    #[test]
    fn partition_bodies_carry_the_alias_the_sizing_and_with_ilm_the_data_age() {
        let s = settings(&[
            ("INDEX_PARTITION", "month"),
            ("RETENTION", "13mo"),
            ("INDEX_SHARDS", "3"),
        ])
        .unwrap();
        let lifecycle = Lifecycle::new("twitter", s);
        let may = Period::from_index_name("twitter", "twitter-2024.05").unwrap();
        let body = lifecycle.partition_body(Some(&may));
        assert_eq!(body["aliases"], json!({"twitter": {}}));
        assert_eq!(body["settings"]["number_of_shards"], 3);
        assert!(body["mappings"]["properties"]["id_str"].is_object());
        assert!(body["settings"].get("index.lifecycle.name").is_none());
        lifecycle.engine.set(Some(LifecycleEngine::Ilm)).unwrap();
        let body = lifecycle.partition_body(Some(&may));
        assert_eq!(
            body["settings"]["index.lifecycle.name"],
            "twitter-retention"
        );
        assert_eq!(
            body["settings"]["index.lifecycle.origination_date"],
            may.end_ms()
        );
        let single = Lifecycle::new("twitter", Settings::default()).single_index_body();
        assert!(!single.contains("aliases"));
    }

    #[test]
    fn pages_keep_versions_and_tombstones() {
        let page = br#"{"_scroll_id":"s","hits":{"hits":[
            {"_id":"1","_version":7,"_source":{"text":"a"}},
            {"_id":"2","_source":{"deleted":true}}]}}"#;
        let page = parse_page(page, "p").unwrap();
        assert_eq!(page.scroll_id, "s");
        assert_eq!(page.hits[0].version, 7);
        assert_eq!(page.hits[1].version, TOMBSTONE_VERSION);
        assert_eq!(page.hits[1].source, TOMBSTONE_SOURCE);
        assert!(
            parse_page(
                br#"{"_scroll_id":"s","hits":{"hits":[{"_id":"1","_source":{}}]}}"#,
                "p"
            )
            .is_err()
        );
    }
}
