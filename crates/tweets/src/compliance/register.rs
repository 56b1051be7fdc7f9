//! Registers: the compliance state of one user or tweet, one kind at a time, as kept in the
//! `{index}_compliance` index (one document per register, `_id` = [`Register::doc_id`]).
//!
//! An event writes registers ([`ComplianceEvent::registers`]); a register is last-writer-wins
//! by [`Register::version`], written with external versioning so the server keeps the newest
//! whatever order events arrive in: `event_at` in ms * 2, + 1 when the register is active (at
//! the same millisecond the stricter state wins); for `scrub_geo`, the `up_to` tweet id shifted
//! right by 4 bits (the largest wins: a scrub only ever grows; see [`SCRUB_VERSION_SHIFT`]).
//! [`Register::precedes`] is the same order with a tie-break on content, so two registers of
//! one `_id` always resolve the same way.

use serde::{Deserialize, Serialize};

use super::event::{ComplianceEvent, EventKind, Source, UserChange};

/// Whose state a register is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    User,
    Tweet,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::User => "user",
            Subject::Tweet => "tweet",
        }
    }
}

/// What a register holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterKind {
    /// User: `user_protect` / `user_unprotect`.
    Protect,
    /// User: `user_suspend` / `user_unsuspend`.
    Suspend,
    /// User: `user_delete` / `user_undelete`.
    Delete,
    /// User or tweet: the countries it is withheld in (active when there is one).
    Withheld,
    /// User (tweets up to `up_to_id`) or tweet (that tweet): no location. Always active.
    ScrubGeo,
    /// Tweet: `drop` / `undrop`.
    Drop,
    /// Tweet: an earlier version of an edited tweet. Always active.
    Edited,
}

impl RegisterKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RegisterKind::Protect => "protect",
            RegisterKind::Suspend => "suspend",
            RegisterKind::Delete => "delete",
            RegisterKind::Withheld => "withheld",
            RegisterKind::ScrubGeo => "scrub_geo",
            RegisterKind::Drop => "drop",
            RegisterKind::Edited => "edited",
        }
    }

    /// The kinds a subject has.
    pub fn of(subject: Subject) -> &'static [RegisterKind] {
        match subject {
            Subject::User => &[
                RegisterKind::Protect,
                RegisterKind::Suspend,
                RegisterKind::Delete,
                RegisterKind::Withheld,
                RegisterKind::ScrubGeo,
            ],
            Subject::Tweet => &[
                RegisterKind::Withheld,
                RegisterKind::ScrubGeo,
                RegisterKind::Drop,
                RegisterKind::Edited,
            ],
        }
    }

    /// The reason an active register of this kind suppresses a document.
    pub fn reason(self) -> Option<Reason> {
        match self {
            RegisterKind::Protect => Some(Reason::UserProtect),
            RegisterKind::Suspend => Some(Reason::UserSuspend),
            RegisterKind::Delete => Some(Reason::UserDelete),
            RegisterKind::Drop => Some(Reason::Drop),
            RegisterKind::Edited => Some(Reason::Edited),
            RegisterKind::Withheld | RegisterKind::ScrubGeo => None,
        }
    }
}

/// A value of a document's `suppressed_reasons`, in the order they are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    UserProtect,
    UserSuspend,
    UserDelete,
    Drop,
    Edited,
}

impl Reason {
    pub const ALL: [Reason; 5] = [
        Reason::UserProtect,
        Reason::UserSuspend,
        Reason::UserDelete,
        Reason::Drop,
        Reason::Edited,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::UserProtect => "user_protect",
            Reason::UserSuspend => "user_suspend",
            Reason::UserDelete => "user_delete",
            Reason::Drop => "drop",
            Reason::Edited => "edited",
        }
    }

    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// The largest external version OpenSearch and Elasticsearch accept (a signed 64-bit long).
pub const MAX_VERSION: u64 = i64::MAX as u64;

/// A `scrub_geo` register's version is its `up_to` id shifted right by this many bits, so that
/// every id a signed long holds (X's ids are) gives a version below 10^18: the search sink
/// keeps every version it writes below that (its tombstones' version), and today's tweet ids
/// are already above it (about 1.9 * 10^18), so unshifted they would all be written at the
/// same clamped version and the last write, not the largest scrub, would win. The order is
/// kept except among ids that differ in their 4 lowest bits only (the low bits of a Snowflake
/// id's per-millisecond sequence: two tweets of one user in the same millisecond on the same
/// machine); the register that precedes in memory still compares the ids themselves.
pub const SCRUB_VERSION_SHIFT: u32 = 4;

/// The state one event writes for one (subject, kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    pub subject: Subject,
    pub subject_id: u64,
    pub kind: RegisterKind,
    pub active: bool,
    /// [`RegisterKind::Withheld`]: the countries, sorted, without repeats.
    pub countries: Vec<String>,
    /// [`RegisterKind::ScrubGeo`]: the largest tweet id scrubbed.
    pub up_to_id: Option<u64>,
    /// When the event happened, epoch ms.
    pub event_at: i64,
    pub source: Source,
}

impl Register {
    /// The `_id` of the register document: `user:<id>:<kind>` or `tweet:<id>:<kind>`.
    pub fn doc_id(&self) -> String {
        doc_id(self.subject, self.subject_id, self.kind)
    }

    /// The external version the register document is written at (see the module), at most
    /// [`MAX_VERSION`].
    pub fn version(&self) -> u64 {
        let version = match (self.kind, self.up_to_id) {
            (RegisterKind::ScrubGeo, Some(up_to)) => up_to >> SCRUB_VERSION_SHIFT,
            _ => u64::try_from(self.event_at)
                .unwrap_or(0)
                .saturating_mul(2)
                .saturating_add(u64::from(self.active)),
        };
        version.min(MAX_VERSION)
    }

    /// Whether `self` wins over `other` (of the same `_id`): the higher version, then a
    /// content tie-break, so that any order of the same registers resolves to one.
    pub fn precedes(&self, other: &Register) -> bool {
        self.order_key() > other.order_key()
    }

    #[allow(clippy::type_complexity)]
    fn order_key(&self) -> (u64, bool, &[String], Option<u64>, i64, Source) {
        (
            self.version(),
            self.active,
            &self.countries,
            self.up_to_id,
            self.event_at,
            self.source,
        )
    }

    /// The register document (`_source` in `{index}_compliance`): ids as decimal strings
    /// (keywords; exact beyond 2^53), `countries` only for withheld, `up_to_id` only for
    /// scrub_geo.
    pub fn to_json(&self) -> Vec<u8> {
        let doc = RegisterDoc {
            subject: self.subject,
            subject_id: self.subject_id.to_string(),
            kind: self.kind,
            active: self.active,
            countries: (self.kind == RegisterKind::Withheld).then(|| self.countries.clone()),
            up_to_id: self.up_to_id.map(|id| id.to_string()),
            event_at: self.event_at,
            source: self.source.as_str().to_owned(),
        };
        // A struct of strings, numbers and booleans always serializes.
        serde_json::to_vec(&doc).unwrap_or_default()
    }

    /// Reads a register document back (the `_source` of a hit or `_mget` doc).
    pub fn from_json(bytes: &[u8]) -> Result<Register, RegisterError> {
        let doc: RegisterDoc =
            serde_json::from_slice(bytes).map_err(|e| RegisterError(e.to_string()))?;
        let id = |s: &str, name: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| RegisterError(format!("{name} is not a decimal id: {s:?}")))
        };
        if !RegisterKind::of(doc.subject).contains(&doc.kind) {
            return Err(RegisterError(format!(
                "a {} has no {} register",
                doc.subject.as_str(),
                doc.kind.as_str()
            )));
        }
        let up_to_id = doc
            .up_to_id
            .as_deref()
            .map(|s| id(s, "up_to_id"))
            .transpose()?;
        if doc.kind == RegisterKind::ScrubGeo && up_to_id.is_none() {
            return Err(RegisterError("scrub_geo without up_to_id".to_owned()));
        }
        let mut countries = doc.countries.unwrap_or_default();
        countries.sort();
        countries.dedup();
        Ok(Register {
            subject: doc.subject,
            subject_id: id(&doc.subject_id, "subject_id")?,
            kind: doc.kind,
            active: doc.active,
            countries,
            up_to_id,
            event_at: doc.event_at,
            source: Source::parse(&doc.source)
                .ok_or_else(|| RegisterError(format!("unknown source {:?}", doc.source)))?,
        })
    }
}

/// The body of the `{index}_compliance` index (settings + mappings, `dynamic: false`): every
/// field of a register document, ids as keywords (terms lookups by `subject_id`).
pub const MAPPING_JSON: &str = r#"{
  "settings": {},
  "mappings": {
    "dynamic": false,
    "properties": {
      "subject": { "type": "keyword" },
      "subject_id": { "type": "keyword" },
      "kind": { "type": "keyword" },
      "active": { "type": "boolean" },
      "countries": { "type": "keyword" },
      "up_to_id": { "type": "keyword" },
      "event_at": { "type": "date", "format": "epoch_millis" },
      "source": { "type": "keyword" }
    }
  }
}"#;

/// The `_id` of a register document.
pub fn doc_id(subject: Subject, subject_id: u64, kind: RegisterKind) -> String {
    format!("{}:{subject_id}:{}", subject.as_str(), kind.as_str())
}

/// The `_id`s of every register that can concern a tweet (its own and its author's): what
/// one `_mget` on the compliance index fetches for [`super::RegisterSet::apply_document`].
pub fn doc_ids_for(tweet_id: Option<u64>, author_id: Option<u64>) -> Vec<String> {
    let mut ids = Vec::with_capacity(9);
    for (subject, id) in [(Subject::User, author_id), (Subject::Tweet, tweet_id)] {
        if let Some(id) = id {
            ids.extend(
                RegisterKind::of(subject)
                    .iter()
                    .map(|k| doc_id(subject, id, *k)),
            );
        }
    }
    ids
}

/// A register document that could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("compliance register: {0}")]
pub struct RegisterError(pub String);

/// Unknown fields are ignored when read back (a later version may add some).
#[derive(Serialize, Deserialize)]
struct RegisterDoc {
    subject: Subject,
    subject_id: String,
    kind: RegisterKind,
    active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    countries: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    up_to_id: Option<String>,
    event_at: i64,
    source: String,
}

impl ComplianceEvent {
    /// The registers this event writes. `received_at` (epoch ms) stands for the event's time
    /// when it has none (the v1 messages): the time the record was received, e.g. its S3
    /// object's or Kinesis record's arrival, so a replay writes the same versions.
    pub fn registers(&self, received_at: i64) -> Vec<Register> {
        let event_at = self.event_at.unwrap_or(received_at);
        let register = |subject, subject_id, kind, active| Register {
            subject,
            subject_id,
            kind,
            active,
            countries: Vec::new(),
            up_to_id: None,
            event_at,
            source: self.source,
        };
        let withheld = |subject, subject_id, countries: &[String]| {
            let mut countries = countries.to_vec();
            countries.sort();
            countries.dedup();
            Register {
                active: !countries.is_empty(),
                countries,
                ..register(subject, subject_id, RegisterKind::Withheld, false)
            }
        };
        let scrub = |subject, subject_id, up_to| Register {
            up_to_id: Some(up_to),
            ..register(subject, subject_id, RegisterKind::ScrubGeo, true)
        };
        match &self.kind {
            EventKind::ScrubGeo { user_id, up_to_id } => {
                vec![scrub(Subject::User, *user_id, *up_to_id)]
            }
            EventKind::TweetScrubGeo { tweet_id } => {
                vec![scrub(Subject::Tweet, *tweet_id, *tweet_id)]
            }
            EventKind::Withheld {
                tweet_id,
                countries,
                ..
            } => vec![withheld(Subject::Tweet, *tweet_id, countries)],
            EventKind::UserWithheld { user_id, countries } => {
                vec![withheld(Subject::User, *user_id, countries)]
            }
            EventKind::Drop {
                tweet_id, dropped, ..
            } => vec![register(
                Subject::Tweet,
                *tweet_id,
                RegisterKind::Drop,
                *dropped,
            )],
            EventKind::Edit { earlier, .. } => earlier
                .iter()
                .map(|id| register(Subject::Tweet, *id, RegisterKind::Edited, true))
                .collect(),
            EventKind::User { user_id, change } => {
                let (kind, active) = match change {
                    UserChange::Delete => (RegisterKind::Delete, true),
                    UserChange::Undelete => (RegisterKind::Delete, false),
                    UserChange::Protect => (RegisterKind::Protect, true),
                    UserChange::Unprotect => (RegisterKind::Protect, false),
                    UserChange::Suspend => (RegisterKind::Suspend, true),
                    UserChange::Unsuspend => (RegisterKind::Suspend, false),
                };
                vec![register(Subject::User, *user_id, kind, active)]
            }
            EventKind::UserClean { user_id } => [
                RegisterKind::Delete,
                RegisterKind::Protect,
                RegisterKind::Suspend,
            ]
            .into_iter()
            .map(|kind| register(Subject::User, *user_id, kind, false))
            .collect(),
            EventKind::UserProfileModification { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, at: i64) -> ComplianceEvent {
        ComplianceEvent {
            kind,
            event_at: Some(at),
            source: Source::Stream,
        }
    }

    #[test]
    fn versions_order_time_then_strictness() {
        let at = 1_700_000_000_000;
        let protect = |change, at| {
            event(EventKind::User { user_id: 7, change }, at).registers(0)[0].version()
        };
        assert_eq!(protect(UserChange::Protect, at), 3_400_000_000_001);
        assert_eq!(protect(UserChange::Unprotect, at), 3_400_000_000_000);
        assert!(protect(UserChange::Unprotect, at + 1) > protect(UserChange::Protect, at));
        let scrub = event(
            EventKind::ScrubGeo {
                user_id: 7,
                up_to_id: 42,
            },
            at,
        )
        .registers(0);
        assert_eq!(scrub[0].version(), 42 >> 4);
        // Every id a signed long holds stays below the sink's tombstone version (10^18), and
        // larger scrubs have larger versions.
        let scrub_version = |up_to_id| {
            event(
                EventKind::ScrubGeo {
                    user_id: 7,
                    up_to_id,
                },
                at,
            )
            .registers(0)[0]
                .version()
        };
        assert!(scrub_version(i64::MAX as u64) < 1_000_000_000_000_000_000);
        assert!(
            scrub_version(1_870_000_000_000_000_016) > scrub_version(1_870_000_000_000_000_000)
        );
        assert!(scrub_version(1_000_000_000_000_000_000) > scrub_version(999_999_999_999_999_984));
        assert_eq!(scrub_version(u64::MAX), u64::MAX >> 4);
        assert_eq!(scrub[0].doc_id(), "user:7:scrub_geo");
        // No time: the time it was received.
        let v1 = ComplianceEvent {
            event_at: None,
            source: Source::V1,
            ..event(
                EventKind::UserWithheld {
                    user_id: 7,
                    countries: vec!["DE".into()],
                },
                0,
            )
        };
        assert_eq!(v1.registers(5)[0].version(), 11);
    }

    #[test]
    fn register_documents_read_back() {
        let events = [
            event(
                EventKind::Withheld {
                    tweet_id: 18_446_744_073_709_551_615,
                    author_id: None,
                    countries: vec!["FR".into(), "DE".into(), "FR".into()],
                },
                1,
            ),
            event(
                EventKind::ScrubGeo {
                    user_id: 1,
                    up_to_id: 9_007_199_254_740_993,
                },
                2,
            ),
            event(EventKind::UserClean { user_id: 3 }, 4),
        ];
        for r in events.iter().flat_map(|e| e.registers(0)) {
            let json = r.to_json();
            assert_eq!(Register::from_json(&json), Ok(r.clone()), "{r:?}");
        }
        let withheld = &events[0].registers(0)[0];
        assert_eq!(
            String::from_utf8(withheld.to_json()).unwrap(),
            r#"{"subject":"tweet","subject_id":"18446744073709551615","kind":"withheld","active":true,"countries":["DE","FR"],"event_at":1,"source":"stream"}"#
        );
        for (bad, why) in [
            (
                r#"{"subject":"user","subject_id":"1","kind":"drop","active":true,"event_at":1,"source":"v1"}"#,
                "a user has no drop register",
            ),
            (
                r#"{"subject":"tweet","subject_id":"x","kind":"drop","active":true,"event_at":1,"source":"v1"}"#,
                "subject_id is not a decimal id: \"x\"",
            ),
            (
                r#"{"subject":"user","subject_id":"1","kind":"scrub_geo","active":true,"event_at":1,"source":"v1"}"#,
                "scrub_geo without up_to_id",
            ),
            (
                r#"{"subject":"user","subject_id":"1","kind":"protect","active":true,"event_at":1,"source":"fax"}"#,
                "unknown source \"fax\"",
            ),
        ] {
            assert_eq!(
                Register::from_json(bad.as_bytes()),
                Err(RegisterError(why.to_owned())),
                "{bad}"
            );
        }
        assert!(Register::from_json(b"{\"subject\":\"group\"}").is_err());
    }

    #[test]
    fn the_mapping_maps_every_field_of_a_register_document() {
        let body: serde_json::Value = serde_json::from_str(MAPPING_JSON).unwrap();
        let props = body["mappings"]["properties"].as_object().unwrap();
        let withheld = event(
            EventKind::Withheld {
                tweet_id: 1,
                author_id: None,
                countries: vec!["DE".into()],
            },
            1,
        );
        let scrub = event(
            EventKind::ScrubGeo {
                user_id: 1,
                up_to_id: 2,
            },
            1,
        );
        let mut seen = std::collections::BTreeSet::new();
        for r in withheld.registers(0).into_iter().chain(scrub.registers(0)) {
            let doc: serde_json::Value = serde_json::from_slice(&r.to_json()).unwrap();
            seen.extend(doc.as_object().unwrap().keys().cloned());
        }
        let mapped: std::collections::BTreeSet<String> = props.keys().cloned().collect();
        assert_eq!(seen, mapped);
    }

    #[test]
    fn doc_ids_cover_every_kind_of_both_subjects() {
        let ids = doc_ids_for(Some(5), Some(7));
        assert_eq!(ids.len(), 9);
        assert!(ids.contains(&"user:7:protect".to_owned()));
        assert!(ids.contains(&"tweet:5:edited".to_owned()));
        assert_eq!(doc_ids_for(Some(5), None).len(), 4);
    }
}
