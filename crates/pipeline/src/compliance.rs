//! What X requires of stored copies, applied to the index (issue 24). The pure model is
//! [`tweets::compliance`] (events -> registers -> documents); the generic reads are
//! `search_sink`'s ([`SearchClient::mget_sources`], [`Pages`]). Here:
//!
//! - **Registers** are kept in `{index}_compliance` ([`ComplianceIndex`]), one small document
//!   per (user or tweet, kind), written at the register's external version so the server
//!   keeps the newest whatever order events arrive in (a 409 means a newer one is there:
//!   done). The index is created with [`tweets::compliance::register::MAPPING_JSON`] when the
//!   first register is written.
//! - **Look-ups** (`Registers::of`): the registers of a group of documents (their authors'
//!   and their own), by `_id` with one real-time `_mget`, through a small cache per input;
//!   skipped while the compliance index does not exist (that fact is kept for
//!   [`ABSENT_FOR`]).
//! - **Fix-ups** (`Registers::fix_documents`): documents already indexed that an event
//!   concerns are read through the alias (bounded pages sorted on `id_str`, `search_after`,
//!   with `_version`), the registers applied to their `_source`, and each one that changed
//!   written back into its hit's index at the version it was read at (`external_gte`: a newer
//!   copy that arrived meanwhile wins, 409); a `user_delete` past its grace period writes a
//!   tombstone. No scripted update-by-query (OpenSearch Serverless and osmem-server support
//!   less).
//! - **The sweep** ([`Indexer::compliance_sweep`]) and **the id export** ([`IdPages`]).
//!
//! Register writes and fix-ups go through sinks of their own, which have no dead-letter
//! store: a compliance change the server refuses for a document's sake fails the input (it is
//! retried, then lands where failed inputs land) rather than being skipped.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use search_sink::{
    BulkSink, Hit, Operation, Origin, Pages, Report, SearchClient, SearchRequest, SinkError,
    SourceFilter,
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::time::Instant;
use tweets::compliance::register::{self, doc_ids_for};
use tweets::compliance::{Outcome, Register, RegisterSet, Subject};

use crate::archive::{self, ArchiveCounts, ArchiveError, ArchiveWriter, Change};
use crate::compliance_index::State;
pub use crate::compliance_index::{ABSENT_FOR, ComplianceIndex, compliance_index_name};
use crate::indexer::Indexer;
use crate::work::decimal_id;

/// Register `_id`s a look-up cache holds per input (about 100 bytes each); when full, it is
/// emptied.
const CACHE_ENTRIES: usize = 50_000;

/// Users or tweets named in one fix-up search (`terms`).
const SUBJECTS_PER_SEARCH: usize = 1_000;

/// Documents read per fix-up page (their `_source`s, a few KiB each).
const FIX_PAGE: usize = 500;

/// Ids per page of the id export.
const EXPORT_PAGE: usize = 5_000;

/// The wall clock in epoch milliseconds (the time compliance events are applied at).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What writing registers did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Written {
    /// Registers the server took.
    pub written: u64,
    /// Registers it already held a newer state of (409: done).
    pub superseded: u64,
}

/// What a fix-up did to documents already in the index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Fixed {
    /// Documents read and checked against their registers.
    pub checked: u64,
    /// Documents written back changed (the server confirmed).
    pub changed: u64,
    /// Documents replaced by a tombstone (a `user_delete` past its grace period).
    pub tombstones: u64,
    /// Writes a newer copy of the document had overtaken (409: that copy had the registers
    /// applied when it was indexed).
    pub superseded: u64,
}

impl Fixed {
    fn add(&mut self, other: &Fixed) {
        self.checked += other.checked;
        self.changed += other.changed;
        self.tombstones += other.tombstones;
        self.superseded += other.superseded;
    }

    fn absorb(&mut self, report: &Report) {
        self.changed += report.created + report.updated;
        self.tombstones += report.deleted + report.not_found;
        self.superseded += report.superseded;
    }
}

/// The register state one input (an object, a Kinesis batch, a sweep) works with: the
/// compliance index, and a bounded cache of the registers read or written so far.
pub(crate) struct Registers {
    client: Arc<SearchClient>,
    index: Arc<ComplianceIndex>,
    /// The main index (or alias) that fix-ups search.
    alias: String,
    /// By register `_id`: what the server holds (`None`: nothing), as last read or written.
    cache: HashMap<String, Option<Register>>,
    /// What the confirmed fix-ups mean for the archive, until taken (only when asked for:
    /// [`Registers::collect_archive_changes`]).
    archive_changes: Option<Vec<Change>>,
}

impl Registers {
    pub(crate) fn new(indexer: &Indexer) -> Self {
        Registers {
            client: indexer.client.clone(),
            index: indexer.compliance.clone(),
            alias: indexer.client.config().index.clone(),
            cache: HashMap::new(),
            archive_changes: None,
        }
    }

    /// Keeps, from now on, what each confirmed fix-up means for the archive.
    pub(crate) fn collect_archive_changes(&mut self) {
        self.archive_changes.get_or_insert_with(Vec::new);
    }

    /// The archive's changes of the fix-ups confirmed since the last call.
    pub(crate) fn take_archive_changes(&mut self) -> Vec<Change> {
        self.archive_changes
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Every register of these documents (tweet id, author id): their own and their
    /// authors', as the server holds them (one real-time `_mget` for those not cached). Empty
    /// while the compliance index does not exist.
    pub(crate) async fn of(
        &mut self,
        docs: &[(Option<u64>, Option<u64>)],
        deadline: Instant,
    ) -> Result<RegisterSet, SinkError> {
        let mut wanted: Vec<String> = docs
            .iter()
            .flat_map(|&(tweet, author)| doc_ids_for(tweet, author))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let missing: Vec<String> = wanted
            .iter()
            .filter(|id| !self.cache.contains_key(*id))
            .cloned()
            .collect();
        if !missing.is_empty() && self.index.may_exist(&self.client, deadline).await? {
            match self
                .client
                .mget_sources(self.index.name(), &missing, deadline)
                .await?
            {
                Some(sources) => {
                    self.make_room(missing.len());
                    for id in &missing {
                        self.cache.insert(id.clone(), None);
                    }
                    for source in sources {
                        if let Some(r) = read_register(source) {
                            self.cache.insert(r.doc_id(), Some(r));
                        }
                    }
                }
                None => self.index.set(State::Absent(Instant::now() + ABSENT_FOR)),
            }
        }
        Ok(wanted
            .iter()
            .filter_map(|id| self.cache.get(id).cloned().flatten())
            .collect())
    }

    /// Empties the cache when `more` entries would not fit.
    fn make_room(&mut self, more: usize) {
        if self.cache.len() + more > CACHE_ENTRIES {
            self.cache.clear();
        }
    }

    /// Writes `registers` (at most one per `_id`) to the compliance index, creating it first
    /// when this process has not yet. Every write is confirmed (or found superseded) when this
    /// returns Ok.
    pub(crate) async fn write(
        &mut self,
        registers: &RegisterSet,
        origin: &Origin,
        deadline: Instant,
    ) -> Result<Written, SinkError> {
        if registers.is_empty() {
            return Ok(Written::default());
        }
        let name = self.index.name().to_owned();
        self.client
            .ensure_index_before(&name, register::MAPPING_JSON, deadline)
            .await?;
        self.index.set(State::Exists);
        let mut sink = BulkSink::with_index(self.client.clone(), name, deadline, None);
        for r in registers.iter() {
            let op = Operation::Index {
                id: r.doc_id(),
                source: r.to_json(),
                version: r.version(),
            };
            sink.push(op, origin.clone()).await?;
        }
        let report = sink.finish().await?;
        self.make_room(registers.len());
        for r in registers.iter() {
            // A superseded write means the server holds a newer state than ours: read it
            // again when it is needed.
            if report.superseded > 0 {
                self.cache.remove(&r.doc_id());
            } else {
                let cached = self.cache.entry(r.doc_id()).or_insert(None);
                if cached.as_ref().is_none_or(|c| r.precedes(c)) {
                    *cached = Some(r.clone());
                }
            }
        }
        Ok(Written {
            written: report.created + report.updated,
            superseded: report.superseded,
        })
    }

    /// Applies the registers to every indexed document of these subjects (users: their
    /// tweets; tweets: themselves).
    pub(crate) async fn fix_subjects(
        &mut self,
        registers: &RegisterSet,
        origin: &Origin,
        now_ms: i64,
        deadline: Instant,
    ) -> Result<Fixed, SinkError> {
        let mut users = BTreeSet::new();
        let mut tweets = BTreeSet::new();
        for r in registers.iter() {
            match r.subject {
                Subject::User => users.insert(r.subject_id),
                Subject::Tweet => tweets.insert(r.subject_id),
            };
        }
        let users: Vec<u64> = users.into_iter().collect();
        let tweets: Vec<u64> = tweets.into_iter().collect();
        let mut fixed = Fixed::default();
        for chunk in users.chunks(SUBJECTS_PER_SEARCH) {
            let query = json!({ "terms": { "user.id": chunk } });
            fixed.add(&self.fix_documents(query, origin, now_ms, deadline).await?);
        }
        for chunk in tweets.chunks(SUBJECTS_PER_SEARCH) {
            let ids: Vec<String> = chunk.iter().map(u64::to_string).collect();
            let query = json!({ "terms": { "id_str": ids } });
            fixed.add(&self.fix_documents(query, origin, now_ms, deadline).await?);
        }
        Ok(fixed)
    }

    /// Reads every document `query` matches through the alias, page after page, applies its
    /// registers to its `_source` and writes back the ones that changed, into the index each
    /// was read from, at the version it was read at. Tombstones (no `id_str`) never match a
    /// fix-up's queries; were one read, it would stay as it is.
    pub(crate) async fn fix_documents(
        &mut self,
        query: Value,
        origin: &Origin,
        now_ms: i64,
        deadline: Instant,
    ) -> Result<Fixed, SinkError> {
        let request = SearchRequest {
            query,
            sort: vec!["id_str".into()],
            size: FIX_PAGE,
            source: SourceFilter::All,
            version: true,
        };
        let mut pages = Pages::new(self.alias.clone(), request);
        let mut fixed = Fixed::default();
        while let Some(hits) = pages.next(&self.client, deadline).await? {
            let docs: Vec<(Option<u64>, Option<u64>)> = hits.iter().map(hit_ids).collect();
            let set = self.of(&docs, deadline).await?;
            // One sink per index the page's documents are in, finished before the next page
            // is read: memory holds one page, whatever the number of documents.
            let mut sinks: HashMap<String, BulkSink> = HashMap::new();
            let mut changes = Vec::new();
            for hit in hits {
                fixed.checked += 1;
                let index = hit.index.clone();
                let ids = hit_ids(&hit);
                let Some(op) = fix_up(hit, &set, now_ms, &self.alias)? else {
                    continue;
                };
                if self.archive_changes.is_some()
                    && let Some(id) = ids.0
                {
                    changes.push(match op {
                        Operation::Delete { .. } => Change::Delete { id },
                        Operation::Index { .. } => Change::Update {
                            id,
                            state: archive::State::of(&set.verdict(ids.0, ids.1, now_ms)),
                        },
                    });
                }
                let sink = sinks.entry(index).or_insert_with_key(|index| {
                    BulkSink::with_index(self.client.clone(), index.clone(), deadline, None)
                });
                sink.push(op, origin.clone()).await?;
            }
            for (_, sink) in sinks {
                fixed.absorb(&sink.finish().await?);
            }
            if let Some(all) = &mut self.archive_changes {
                all.extend(changes);
            }
        }
        Ok(fixed)
    }
}

/// The operation that brings one indexed document in line with its registers, if any.
fn fix_up(
    hit: Hit,
    set: &RegisterSet,
    now_ms: i64,
    alias: &str,
) -> Result<Option<Operation>, SinkError> {
    let bad = |detail: String| SinkError::BadResponse {
        method: "POST".into(),
        path: format!("{alias}/_search"),
        detail,
    };
    let Some(source) = hit.source else {
        return Err(bad(format!("hit {} without its _source", hit.id)));
    };
    let Some(version) = hit.version else {
        return Err(bad(format!("hit {} without its _version", hit.id)));
    };
    Ok(applied(hit.id, source, version, set, now_ms))
}

/// The operation that writes document `id` (its `_source`, at `version`) as its registers
/// require: `None` when it already is; a tombstone for a `user_delete` past its grace period.
pub(crate) fn applied(
    id: String,
    mut source: Map<String, Value>,
    version: u64,
    set: &RegisterSet,
    now_ms: i64,
) -> Option<Operation> {
    match set.apply_source(&mut source, now_ms) {
        Outcome::Unchanged => None,
        Outcome::Changed => Some(Operation::Index {
            id,
            // A map of JSON values always serializes.
            source: serde_json::to_vec(&source).unwrap_or_default(),
            version,
        }),
        Outcome::Delete => Some(Operation::Delete { id }),
    }
}

/// A hit's tweet id (its `id_str`, else its `_id`) and author id (`user.id`).
fn hit_ids(hit: &Hit) -> (Option<u64>, Option<u64>) {
    let source = hit.source.as_ref();
    let tweet = source
        .and_then(|s| s.get("id_str"))
        .and_then(Value::as_str)
        .or(Some(hit.id.as_str()))
        .and_then(decimal_id);
    let author = source
        .and_then(|s| s.get("user"))
        .and_then(|u| u.get("id"))
        .and_then(|id| match id {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => decimal_id(s),
            _ => None,
        });
    (tweet, author)
}

/// A register document read back; one that cannot be read is logged and left out (it cannot
/// be applied, and failing every input over it would stop indexing).
fn read_register(source: Map<String, Value>) -> Option<Register> {
    let bytes = serde_json::to_vec(&source).unwrap_or_default();
    match Register::from_json(&bytes) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(error = %e, "a register document of the compliance index cannot be read: left out");
            None
        }
    }
}

/// What `tweet-indexer compliance sweep` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Active registers read from the compliance index.
    pub registers: u64,
    /// Documents checked, changed, made tombstones, overtaken by a newer copy.
    #[serde(flatten)]
    pub fixed: Fixed,
    /// What the archive wrote (`None`: no archive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveCounts>,
}

/// Why a sweep stopped: the index (or the compliance index) failed, or the archive did.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

/// Writes the archive's changes of the fix-ups confirmed since the last call (all of them: a
/// document made a tombstone is not found by the next sweep, so its item's delete is not left
/// queued while more pages are fixed).
async fn archive_fixes(
    registers: &mut Registers,
    writer: Option<&mut ArchiveWriter>,
    deadline: Instant,
) -> Result<(), ArchiveError> {
    if let Some(writer) = writer {
        for change in registers.take_archive_changes() {
            writer.add(None, change, deadline).await?;
        }
        writer.flush(deadline).await?;
    }
    Ok(())
}

/// Active registers read per sweep page (their subjects' documents are fixed per page).
const SWEEP_PAGE: usize = SUBJECTS_PER_SEARCH;

impl Indexer {
    /// The name of the compliance index (`{index}_compliance`).
    pub fn compliance_index(&self) -> &str {
        self.compliance.name()
    }

    /// Re-applies every active register of the compliance index to the documents it concerns
    /// (which turns the tweets of a `user_delete` active for longer than X's 30 days into
    /// tombstones), then re-checks every document that carries compliance fields (a state
    /// lifted while a copy was being indexed with it). Closes the race between a register
    /// write and a copy indexed with the registers read just before. Idempotent: a second run
    /// changes nothing. With an archive, what the fixes mean for it (tombstones delete their
    /// items, compliance fields are updated) is written after each page of fixes.
    pub async fn compliance_sweep(&self, deadline: Instant) -> Result<SweepReport, SweepError> {
        let now_ms = now_ms();
        let origin = Origin::new("compliance sweep", 0);
        let mut registers = Registers::new(self);
        let mut writer = self.archive_writer();
        if writer.is_some() {
            registers.collect_archive_changes();
        }
        let mut report = SweepReport::default();
        let request = SearchRequest {
            query: json!({ "term": { "active": true } }),
            sort: vec!["subject".into(), "subject_id".into(), "kind".into()],
            size: SWEEP_PAGE,
            source: SourceFilter::All,
            version: false,
        };
        let mut pages = Pages::new(self.compliance_index().to_owned(), request);
        while let Some(hits) = pages.next(&self.client, deadline).await? {
            let active: RegisterSet = hits
                .into_iter()
                .filter_map(|hit| hit.source.and_then(read_register))
                .collect();
            report.registers += active.len() as u64;
            let fixed = registers
                .fix_subjects(&active, &origin, now_ms, deadline)
                .await?;
            report.fixed.add(&fixed);
            archive_fixes(&mut registers, writer.as_mut(), deadline).await?;
        }
        let flagged = json!({ "bool": {
            "should": [
                { "term": { "suppressed": true } },
                { "exists": { "field": "withheld_in_countries" } },
            ],
            "minimum_should_match": 1,
        }});
        let fixed = registers
            .fix_documents(flagged, &origin, now_ms, deadline)
            .await?;
        report.fixed.add(&fixed);
        archive_fixes(&mut registers, writer.as_mut(), deadline).await?;
        report.archive = writer.map(|w| w.counts());
        Ok(report)
    }

    /// Every stored tweet id (or, `users`, every author id) of the index, tombstones left
    /// out, page after page in ascending order (bounded memory whatever the index holds).
    pub fn stored_ids(&self, users: bool) -> IdPages {
        let index = self.client.config().index.clone();
        let field = if users { "user.id" } else { "id_str" };
        let query = json!({ "bool": {
            "filter": [{ "exists": { "field": field } }],
            "must_not": [{ "term": { "deleted": true } }],
        }});
        let (sort, source) = if users {
            (
                vec!["user.id".into(), "id_str".into()],
                SourceFilter::Fields(vec!["user.id".into()]),
            )
        } else {
            (vec!["id_str".into()], SourceFilter::None)
        };
        let request = SearchRequest {
            query,
            sort,
            size: EXPORT_PAGE,
            source,
            version: false,
        };
        IdPages {
            pages: Pages::new(index, request),
            users,
            group: None,
            in_group: BTreeSet::new(),
        }
    }
}

/// The ids of [`Indexer::stored_ids`], page after page.
///
/// Authors are read from the tweets sorted by author (their `_source`'s `user.id`, exact
/// whatever the engine does with longs): each author's tweets are adjacent, so each author is
/// written once with nothing held but the current sort key's authors. (An aggregation would
/// read less, but some engines give its long keys as doubles, and ids above 2^53 would come
/// back rounded; so may sort values, which is why the authors of one sort key are kept apart.)
#[derive(Debug)]
pub struct IdPages {
    pages: Pages,
    users: bool,
    /// The current author sort key, and the authors already written under it.
    group: Option<Value>,
    in_group: BTreeSet<u64>,
}

impl IdPages {
    /// The next page of decimal ids (possibly empty); `None` after the last.
    pub async fn next(
        &mut self,
        client: &SearchClient,
        deadline: Instant,
    ) -> Result<Option<Vec<String>>, SinkError> {
        let Some(hits) = self.pages.next(client, deadline).await? else {
            return Ok(None);
        };
        if !self.users {
            return Ok(Some(
                hits.into_iter()
                    .filter(|hit| decimal_id(&hit.id).is_some())
                    .map(|hit| hit.id)
                    .collect(),
            ));
        }
        let mut ids = Vec::new();
        for hit in &hits {
            let (_, Some(author)) = hit_ids(hit) else {
                continue;
            };
            let key = hit.sort.first().cloned();
            if key != self.group {
                self.group = key;
                self.in_group.clear();
            }
            if self.in_group.insert(author) {
                ids.push(author.to_string());
            }
        }
        Ok(Some(ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(source: Value, version: Option<u64>) -> Hit {
        Hit {
            index: "twitter-2024.05".into(),
            id: "5".into(),
            version,
            source: source.as_object().cloned(),
            sort: vec![json!("5")],
        }
    }

    #[test]
    fn a_hit_is_written_back_only_when_its_registers_change_it() {
        let protect = Register {
            subject: Subject::User,
            subject_id: 7,
            kind: tweets::compliance::RegisterKind::Protect,
            active: true,
            countries: vec![],
            up_to_id: None,
            event_at: 1_000,
            source: tweets::compliance::Source::Stream,
        };
        let set: RegisterSet = [protect.clone()].into_iter().collect();
        let doc = json!({"id_str": "5", "user": {"id": 7}, "text": "hi"});
        let op = fix_up(hit(doc.clone(), Some(42)), &set, 2_000, "twitter")
            .unwrap()
            .expect("changed");
        let Operation::Index {
            id,
            source,
            version,
        } = op
        else {
            panic!("{op:?}")
        };
        assert_eq!(
            (id.as_str(), version),
            ("5", 42),
            "at the version it was read at"
        );
        let written: Value = serde_json::from_slice(&source).unwrap();
        assert_eq!(written["suppressed"], json!(true));
        assert_eq!(written["suppressed_reasons"], json!(["user_protect"]));
        assert_eq!(written["text"], json!("hi"));
        // Already as the registers say: nothing to write.
        let done = json!({"id_str": "5", "user": {"id": 7}, "suppressed": true,
            "suppressed_reasons": ["user_protect"]});
        assert_eq!(
            fix_up(hit(done, Some(42)), &set, 2_000, "twitter").unwrap(),
            None
        );
        // A user_delete past X's 30 days: a tombstone.
        let deleted: RegisterSet = [Register {
            kind: tweets::compliance::RegisterKind::Delete,
            ..protect
        }]
        .into_iter()
        .collect();
        let later = 1_000 + tweets::compliance::USER_DELETE_GRACE_MS;
        assert_eq!(
            fix_up(hit(doc.clone(), Some(42)), &deleted, later, "twitter").unwrap(),
            Some(Operation::Delete { id: "5".into() })
        );
        // A hit without its version cannot be written back safely.
        assert!(fix_up(hit(doc, None), &set, 2_000, "twitter").is_err());
    }

    #[test]
    fn hit_ids_read_numbers_and_strings() {
        let h = hit(
            json!({"id_str": "5", "user": {"id": 18_446_744_073_709_551_615u64}}),
            None,
        );
        assert_eq!(hit_ids(&h), (Some(5), Some(u64::MAX)));
        let h = hit(json!({"user": {"id": "7"}}), None);
        assert_eq!(
            hit_ids(&h),
            (Some(5), Some(7)),
            "the _id when id_str is missing"
        );
    }
}
