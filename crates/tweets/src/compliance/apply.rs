//! Registers -> documents. One core ([`RegisterSet::verdict`]: what the registers of a tweet
//! and of its author require) and one small adapter per form of a document: the typed
//! [`Document`] before it is serialized (index time), and a `_source` map as search returns it
//! (documents already in the index).
//!
//! The compliance fields of a document (`withheld_in_countries`, `suppressed`,
//! `suppressed_reasons`) are a function of the registers alone: the set must hold every
//! register of the document's author and of its id ([`super::register::doc_ids_for`]), a
//! missing one meaning that state is off. So applying is idempotent, any order of the same
//! events gives the same document, and a reverse event lifts exactly its own reason. Location
//! is the exception: a scrub removes it and nothing brings it back (X has no reverse event).
//! Everything else in the document is left as it is.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use super::register::{Reason, Register, RegisterKind, Subject};
use crate::Document;

/// How long a `user_delete` may be reversed (X: the user's tweets are deleted 30 days later
/// unless a `user_undelete` comes first); after it, the user's tweets become tombstones.
pub const USER_DELETE_GRACE_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// What the registers of a tweet and of its author require of its document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// A `user_delete` active for [`USER_DELETE_GRACE_MS`]: the document becomes a tombstone.
    pub delete: bool,
    /// No location at all.
    pub scrub_geo: bool,
    /// The tweet's and its user's countries, merged, sorted.
    pub withheld_in_countries: Vec<String>,
    /// In [`Reason`] order; `suppressed` is whether it is empty.
    pub suppressed_reasons: Vec<Reason>,
}

/// What applying registers did to a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Already as the registers require (nothing to write again).
    Unchanged,
    /// Changed: write it again.
    Changed,
    /// Replace it with a tombstone (its author's `user_delete` was not reversed in time).
    Delete,
}

/// Registers, at most one per `_id` (the one that [`Register::precedes`] the others), so any
/// order of insertion gives the same set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterSet {
    slots: HashMap<(Subject, u64, RegisterKind), Register>,
}

impl RegisterSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps `r` unless the set holds a register of its `_id` that precedes it; whether it
    /// was kept.
    pub fn insert(&mut self, r: Register) -> bool {
        use std::collections::hash_map::Entry;
        match self.slots.entry((r.subject, r.subject_id, r.kind)) {
            Entry::Vacant(slot) => {
                slot.insert(r);
                true
            }
            Entry::Occupied(mut slot) if r.precedes(slot.get()) => {
                slot.insert(r);
                true
            }
            Entry::Occupied(_) => false,
        }
    }

    pub fn get(&self, subject: Subject, id: u64, kind: RegisterKind) -> Option<&Register> {
        self.slots.get(&(subject, id, kind))
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Register> {
        self.slots.values()
    }

    /// What the registers of tweet `tweet_id` and of user `author_id` require, `now_ms`
    /// deciding whether a `user_delete` is past its grace period.
    pub fn verdict(&self, tweet_id: Option<u64>, author_id: Option<u64>, now_ms: i64) -> Verdict {
        let mut v = Verdict::default();
        let mut countries = BTreeSet::new();
        let mut reasons = BTreeSet::new();
        for (subject, id) in [(Subject::User, author_id), (Subject::Tweet, tweet_id)] {
            let Some(id) = id else { continue };
            for &kind in RegisterKind::of(subject) {
                let Some(r) = self.get(subject, id, kind).filter(|r| r.active) else {
                    continue;
                };
                match kind {
                    RegisterKind::ScrubGeo => {
                        v.scrub_geo |= tweet_id.zip(r.up_to_id).is_some_and(|(t, up)| t <= up);
                    }
                    RegisterKind::Withheld => countries.extend(r.countries.iter().cloned()),
                    _ => {
                        reasons.extend(kind.reason());
                        v.delete |= kind == RegisterKind::Delete
                            && now_ms.saturating_sub(r.event_at) >= USER_DELETE_GRACE_MS;
                    }
                }
            }
        }
        v.withheld_in_countries = countries.into_iter().collect();
        v.suppressed_reasons = reasons.into_iter().collect();
        v
    }

    /// Applies the registers to a document about to be indexed.
    pub fn apply_document(&self, doc: &mut Document, now_ms: i64) -> Outcome {
        apply(doc, self, now_ms)
    }

    /// Applies the registers to a document's `_source` as the index holds it. A tombstone
    /// (`{"deleted":true}`) stays as it is.
    pub fn apply_source(&self, source: &mut Map<String, Value>, now_ms: i64) -> Outcome {
        if source.get("deleted") == Some(&Value::Bool(true)) {
            return Outcome::Unchanged;
        }
        apply(source, self, now_ms)
    }
}

impl Extend<Register> for RegisterSet {
    fn extend<I: IntoIterator<Item = Register>>(&mut self, iter: I) {
        for r in iter {
            self.insert(r);
        }
    }
}

impl FromIterator<Register> for RegisterSet {
    fn from_iter<I: IntoIterator<Item = Register>>(iter: I) -> Self {
        let mut set = RegisterSet::new();
        set.extend(iter);
        set
    }
}

/// A document in one of its forms, as [`apply`] changes it.
trait Target {
    /// The tweet id and the author's id.
    fn ids(&self) -> (Option<u64>, Option<u64>);
    /// Removes every location field; whether there was one.
    fn scrub_location(&mut self) -> bool;
    /// Sets (or, empty, removes) `withheld_in_countries`; whether it changed.
    fn set_withheld(&mut self, countries: Vec<String>) -> bool;
    /// Sets (or, empty, removes) `suppressed` and `suppressed_reasons`; whether they changed.
    fn set_suppressed(&mut self, reasons: Vec<Reason>) -> bool;
}

fn apply(target: &mut impl Target, set: &RegisterSet, now_ms: i64) -> Outcome {
    let (tweet_id, author_id) = target.ids();
    let v = set.verdict(tweet_id, author_id, now_ms);
    if v.delete {
        return Outcome::Delete;
    }
    let scrubbed = v.scrub_geo && target.scrub_location();
    let withheld = target.set_withheld(v.withheld_in_countries);
    let suppressed = target.set_suppressed(v.suppressed_reasons);
    if scrubbed || withheld || suppressed {
        Outcome::Changed
    } else {
        Outcome::Unchanged
    }
}

fn decimal(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

impl Target for Document {
    fn ids(&self) -> (Option<u64>, Option<u64>) {
        (decimal(&self.id_str), self.user.id)
    }

    fn scrub_location(&mut self) -> bool {
        let had = self.coordinates.is_some() || self.place.is_some() || self.geo_source.is_some();
        self.coordinates = None;
        self.place = None;
        self.geo_source = None;
        had
    }

    fn set_withheld(&mut self, countries: Vec<String>) -> bool {
        let changed = self.withheld_in_countries != countries;
        self.withheld_in_countries = countries;
        changed
    }

    fn set_suppressed(&mut self, reasons: Vec<Reason>) -> bool {
        let suppressed = !reasons.is_empty();
        let changed = self.suppressed != suppressed || self.suppressed_reasons != reasons;
        self.suppressed = suppressed;
        self.suppressed_reasons = reasons;
        changed
    }
}

/// The location fields a document's `_source` can hold.
const LOCATION_FIELDS: [&str; 3] = ["coordinates", "place", "geo_source"];

impl Target for Map<String, Value> {
    fn ids(&self) -> (Option<u64>, Option<u64>) {
        let as_id = |v: Option<&Value>| match v? {
            Value::String(s) => decimal(s),
            Value::Number(n) => n.as_u64(),
            _ => None,
        };
        (
            as_id(self.get("id_str")),
            as_id(self.get("user").and_then(|u| u.get("id"))),
        )
    }

    fn scrub_location(&mut self) -> bool {
        let mut had = false;
        for field in LOCATION_FIELDS {
            had |= self.remove(field).is_some();
        }
        had
    }

    fn set_withheld(&mut self, countries: Vec<String>) -> bool {
        let want = (!countries.is_empty())
            .then(|| Value::Array(countries.into_iter().map(Value::String).collect()));
        set_field(self, "withheld_in_countries", want)
    }

    fn set_suppressed(&mut self, reasons: Vec<Reason>) -> bool {
        let (flag, list) = if reasons.is_empty() {
            (None, None)
        } else {
            let list = reasons
                .iter()
                .map(|r| Value::String(r.as_str().to_owned()))
                .collect();
            (Some(Value::Bool(true)), Some(Value::Array(list)))
        };
        let flag = set_field(self, "suppressed", flag);
        set_field(self, "suppressed_reasons", list) || flag
    }
}

/// Sets `key` to `want` (removes it for `None`); whether the map changed.
fn set_field(map: &mut Map<String, Value>, key: &str, want: Option<Value>) -> bool {
    match want {
        Some(v) if map.get(key) == Some(&v) => false,
        Some(v) => {
            map.insert(key.to_owned(), v);
            true
        }
        None => map.remove(key).is_some(),
    }
}
