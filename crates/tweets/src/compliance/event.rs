//! Compliance records -> typed events, in every shape the indexer reads (see [`super`]).
//!
//! These records are rare next to tweets, so they are read field by field on their own (cold)
//! path, after the one typed pass of [`crate::record`] has told them apart: a tweet pays
//! nothing for them. Every field an event needs is checked: an id that is a float, negative,
//! not decimal or missing, a time that is no ISO 8601 date-time, an unknown kind under a v2
//! `data` is an error naming the field, which the extractor turns into an invalid record.
//! Unknown extra fields are tolerated (X adds some, e.g. `quote_tweet_id`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::{RecordError, clip};

mod batch;
mod implied;
mod stream;

pub(crate) use batch::job_result;
pub use batch::{JOB_RESULT_KEY, id_time, last_id_at};
pub(crate) use implied::{ImpliedFields, implied};
pub use stream::V2_KINDS;
pub(crate) use stream::v2_data;

/// Where an event was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// A v1.1 stream message (`scrub_geo`, `status_withheld`, `user_withheld`, `delete`).
    V1,
    /// A v2 compliance stream payload.
    Stream,
    /// A result line of a batch compliance job.
    Batch,
    /// What a captured tweet says of itself (`edit_history_tweet_ids`, its own
    /// `withheld_in_countries`).
    Tweet,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::V1 => "v1",
            Source::Stream => "stream",
            Source::Batch => "batch",
            Source::Tweet => "tweet",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        [Source::V1, Source::Stream, Source::Batch, Source::Tweet]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A user-level change of the v2 user compliance stream (or of a batch users job).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserChange {
    Delete,
    Undelete,
    Protect,
    Unprotect,
    Suspend,
    Unsuspend,
}

impl UserChange {
    /// The v2 kind (`user_delete`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            UserChange::Delete => "user_delete",
            UserChange::Undelete => "user_undelete",
            UserChange::Protect => "user_protect",
            UserChange::Unprotect => "user_unprotect",
            UserChange::Suspend => "user_suspend",
            UserChange::Unsuspend => "user_unsuspend",
        }
    }
}

/// What an event says (tweet deletes are [`crate::Item::Delete`], not events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// Every tweet of the user with id <= `up_to_id` loses its location (v1 and v2
    /// `scrub_geo`; a batch users job's `scrub_geo`, up to the last id of its time).
    ScrubGeo {
        user_id: u64,
        up_to_id: u64,
    },
    /// This one tweet loses its location (a batch tweets job's `scrub_geo`).
    TweetScrubGeo {
        tweet_id: u64,
    },
    /// The tweet is withheld in these countries (v2 `withheld`, v1 `status_withheld`, a
    /// tweet's own `withheld_in_countries`); the list replaces an older one.
    Withheld {
        tweet_id: u64,
        author_id: Option<u64>,
        countries: Vec<String>,
    },
    /// Every tweet of the user is withheld in these countries.
    UserWithheld {
        user_id: u64,
        countries: Vec<String>,
    },
    /// The tweet is removed from public view (`drop`) or may be shown again (`undrop`).
    Drop {
        tweet_id: u64,
        author_id: Option<u64>,
        dropped: bool,
    },
    /// These tweets are earlier versions of an edited tweet (v2 `tweet_edit`, whose `tweet`
    /// is the latest version; a batch `rehydrate`; `edit_history_tweet_ids`).
    Edit {
        latest_id: Option<u64>,
        earlier: Vec<u64>,
    },
    User {
        user_id: u64,
        change: UserChange,
    },
    /// A batch users job did not return this uploaded user: the user was clean (not deleted,
    /// protected or suspended) when the job was created.
    UserClean {
        user_id: u64,
    },
    /// `user_profile_modification`: changes nothing we store (a document keeps the profile
    /// name it was captured with, like its text).
    UserProfileModification {
        user_id: u64,
    },
}

impl EventKind {
    /// A short stable name for logs and counters (X's name of the event where it has one).
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::ScrubGeo { .. } | EventKind::TweetScrubGeo { .. } => "scrub_geo",
            EventKind::Withheld { .. } => "withheld",
            EventKind::UserWithheld { .. } => "user_withheld",
            EventKind::Drop { dropped: true, .. } => "drop",
            EventKind::Drop { dropped: false, .. } => "undrop",
            EventKind::Edit { .. } => "tweet_edit",
            EventKind::User { change, .. } => change.as_str(),
            EventKind::UserClean { .. } => "user_clean",
            EventKind::UserProfileModification { .. } => "user_profile_modification",
        }
    }
}

/// One compliance event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplianceEvent {
    pub kind: EventKind,
    /// When it happened, epoch milliseconds: v2 `event_at`; a batch result's `redacted_at`
    /// (else its job's `created_at`); for what a tweet says of itself, the tweet's time.
    /// `None` for the v1 messages, which carry no time.
    pub event_at: Option<i64>,
    pub source: Source,
}

/// What a compliance record holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// Delete this tweet.
    Delete {
        id: String,
        event_at: Option<i64>,
    },
    /// A `delete` of something other than a tweet (a direct message).
    DeleteOther,
    Event(ComplianceEvent),
    /// A batch job's error line (`{"id":"...","error":"invalid_id"}`).
    JobError {
        id: String,
        error: String,
    },
}

type Field<'a> = Option<&'a RawValue>;

/// A field that is there and not `null`.
fn present(f: Field<'_>) -> Option<&RawValue> {
    f.filter(|r| r.get() != "null")
}

/// A decimal id: a JSON string of ASCII digits or a non-negative integer, exactly.
fn id(f: Field<'_>, name: &str) -> Result<Option<u64>, String> {
    let Some(raw) = present(f) else {
        return Ok(None);
    };
    let text = raw.get();
    match serde_json::from_str::<Value>(text) {
        Ok(Value::String(s)) => decimal(&s)
            .map(Some)
            .ok_or_else(|| format!("{name} is not a decimal id: {:?}", clip(&s))),
        Ok(Value::Number(n)) => match n.as_u64() {
            Some(n) => Ok(Some(n)),
            None if n.is_i64() => Err(format!("{name} is negative: {n}")),
            None => Err(format!("{name} is not an integer: {}", clip(text))),
        },
        _ => Err(format!("{name} is not an id: {}", clip(text))),
    }
}

fn required_id(f: Field<'_>, name: &str) -> Result<u64, String> {
    id(f, name)?.ok_or_else(|| format!("without {name}"))
}

fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// An ISO 8601 date-time string (`2022-12-23T12:34:56.789Z`, `...+00:00`), epoch ms.
fn iso_time(f: Field<'_>, name: &str) -> Result<Option<i64>, String> {
    let Some(raw) = present(f) else {
        return Ok(None);
    };
    let s: String = serde_json::from_str(raw.get())
        .map_err(|_| format!("{name} is not a string: {}", clip(raw.get())))?;
    s.trim()
        .as_bytes()
        .first()
        .is_some_and(u8::is_ascii_digit)
        .then(|| crate::time::parse_created_at(&s))
        .flatten()
        .map(Some)
        .ok_or_else(|| format!("{name} is not an ISO 8601 time: {:?}", clip(&s)))
}

/// A list of country codes (strings, none empty).
fn countries(f: Field<'_>, name: &str) -> Result<Option<Vec<String>>, String> {
    let Some(raw) = present(f) else {
        return Ok(None);
    };
    let list: Vec<String> = serde_json::from_str(raw.get())
        .map_err(|_| format!("{name} is not a list of strings: {}", clip(raw.get())))?;
    if list.iter().any(String::is_empty) {
        return Err(format!("{name} holds an empty country code"));
    }
    Ok(Some(list))
}

fn required_countries(f: Field<'_>, name: &str) -> Result<Vec<String>, String> {
    countries(f, name)?.ok_or_else(|| format!("without {name}"))
}

/// A JSON object read into `T` (serde would read a struct from an array too).
fn object<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, ()> {
    if !text.starts_with('{') {
        return Err(());
    }
    serde_json::from_str(text).map_err(drop)
}

/// A JSON object's members by key, kept as raw values (`null` members are absent).
fn members(text: &str) -> Option<BTreeMap<String, &RawValue>> {
    serde_json::from_str(text).ok()
}

// ---------------------------------------------------------------------------------------
// v1.1 stream messages

/// The event of a v1.1 `scrub_geo`, `status_withheld` or `user_withheld` message (`record`
/// is the whole message); `None` when it holds none of them.
pub(crate) fn v1(record: &str) -> Result<Option<ComplianceEvent>, RecordError> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Message<'a> {
        #[serde(borrow)]
        scrub_geo: Field<'a>,
        #[serde(borrow)]
        status_withheld: Field<'a>,
        #[serde(borrow)]
        user_withheld: Field<'a>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Body<'a> {
        #[serde(borrow)]
        id: Field<'a>,
        #[serde(borrow)]
        id_str: Field<'a>,
        #[serde(borrow)]
        user_id: Field<'a>,
        #[serde(borrow)]
        user_id_str: Field<'a>,
        #[serde(borrow)]
        up_to_status_id: Field<'a>,
        #[serde(borrow)]
        up_to_status_id_str: Field<'a>,
        #[serde(borrow)]
        withheld_in_countries: Field<'a>,
    }
    let m: Message<'_> = serde_json::from_str(record)?;
    let (name, body) = match (m.scrub_geo, m.status_withheld, m.user_withheld) {
        (Some(b), _, _) => ("scrub_geo", b),
        (None, Some(b), _) => ("status_withheld", b),
        (None, None, Some(b)) => ("user_withheld", b),
        (None, None, None) => return Ok(None),
    };
    let fail = |why: String| RecordError::Compliance(format!("{name}: {why}"));
    let b: Body<'_> = object(body.get()).map_err(|()| fail("not an object".to_owned()))?;
    // The `_str` spelling first, the number when it is missing.
    let either = |s: Field<'_>, n: Field<'_>, name: &str| -> Result<u64, String> {
        match id(s, &format!("{name}_str"))? {
            Some(id) => Ok(id),
            None => required_id(n, name),
        }
    };
    let kind = match name {
        "scrub_geo" => EventKind::ScrubGeo {
            user_id: either(b.user_id_str, b.user_id, "user_id").map_err(fail)?,
            up_to_id: either(b.up_to_status_id_str, b.up_to_status_id, "up_to_status_id")
                .map_err(fail)?,
        },
        "status_withheld" => EventKind::Withheld {
            tweet_id: either(b.id_str, b.id, "id").map_err(fail)?,
            author_id: match id(b.user_id_str, "user_id_str").map_err(fail)? {
                Some(id) => Some(id),
                None => id(b.user_id, "user_id").map_err(fail)?,
            },
            countries: required_countries(b.withheld_in_countries, "withheld_in_countries")
                .map_err(fail)?,
        },
        _ => EventKind::UserWithheld {
            user_id: either(b.id_str, b.id, "id").map_err(fail)?,
            countries: required_countries(b.withheld_in_countries, "withheld_in_countries")
                .map_err(fail)?,
        },
    };
    Ok(Some(ComplianceEvent {
        kind,
        event_at: None,
        source: Source::V1,
    }))
}

/// A delete notice's body: v1 `{"status":{"id_str","id","user_id_str"},"timestamp_ms"}` or
/// v2 `{"tweet":{"id","author_id"},"event_at"}`. For `source` [`Source::Stream`] the v2
/// rules hold: a decimal id and a valid `event_at` are required. A v1 `timestamp_ms` that is
/// no time is left out (the delete is what matters; the time only feeds the lag metric).
pub(crate) fn delete_notice(delete: &RawValue, source: Source) -> Result<Parsed, RecordError> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Delete<'a> {
        #[serde(borrow)]
        status: Option<Target<'a>>,
        #[serde(borrow)]
        tweet: Option<Target<'a>>,
        direct_message: Option<serde::de::IgnoredAny>,
        #[serde(borrow)]
        timestamp_ms: Field<'a>,
        #[serde(borrow)]
        event_at: Field<'a>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Target<'a> {
        #[serde(borrow)]
        id_str: Field<'a>,
        #[serde(borrow)]
        id: Field<'a>,
    }
    let d: Delete<'_> = serde_json::from_str(delete.get()).map_err(|e| {
        let e = RecordError::from(e);
        match e {
            RecordError::Json(msg) => RecordError::Delete(format!("unreadable: {msg}")),
            other => other,
        }
    })?;
    let Some(target) = d.status.or(d.tweet) else {
        if d.direct_message.is_some() {
            return Ok(Parsed::DeleteOther);
        }
        let keys = members(delete.get())
            .map(|m| m.into_keys().map(|k| clip(&k)).collect::<Vec<_>>())
            .unwrap_or_default();
        return Err(RecordError::Delete(format!(
            "names no tweet (keys: {})",
            if keys.is_empty() {
                "none".to_owned()
            } else {
                keys.join(", ")
            }
        )));
    };
    let id = match present(target.id_str).map(|r| serde_json::from_str::<String>(r.get())) {
        Some(Ok(s)) if !s.is_empty() => s,
        _ => match present(target.id) {
            None => return Err(RecordError::Delete("without a tweet id".to_owned())),
            Some(raw) => match serde_json::from_str::<Value>(raw.get()) {
                Ok(Value::String(s)) if !s.is_empty() => s,
                Ok(Value::Number(n)) if n.is_u64() => n.to_string(),
                Ok(Value::String(_)) => {
                    return Err(RecordError::Delete("without a tweet id".to_owned()));
                }
                _ => {
                    let what = describe(raw.get());
                    return Err(RecordError::Delete(format!(
                        "with an unusable tweet id ({what})"
                    )));
                }
            },
        },
    };
    let event_at = if source == Source::Stream {
        if decimal(&id).is_none() {
            return Err(RecordError::Delete(format!(
                "with an unusable tweet id (not decimal: {:?})",
                clip(&id)
            )));
        }
        let at = iso_time(d.event_at, "event_at").map_err(RecordError::Delete)?;
        Some(at.ok_or_else(|| RecordError::Delete("without event_at".to_owned()))?)
    } else {
        match present(d.timestamp_ms).map(|raw| id_text(raw.get())) {
            Some(Some(ms)) => i64::try_from(ms).ok(),
            Some(None) => {
                tracing::warn!(
                    timestamp_ms = %clip(d.timestamp_ms.map_or("", |r| r.get())),
                    "delete notice: timestamp_ms is no epoch-milliseconds integer, left out"
                );
                None
            }
            None => None,
        }
    };
    Ok(Parsed::Delete { id, event_at })
}

/// A decimal integer written as a JSON number or string.
fn id_text(text: &str) -> Option<u64> {
    match serde_json::from_str::<Value>(text).ok()? {
        Value::String(s) => decimal(&s),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// What a refused id held, as [`crate::record::Checked`] names it (`a number: -1`, ...).
fn describe(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Number(n)) => match n.as_f64().filter(|_| n.is_f64()) {
            Some(x) => format!("a number: {x}"),
            None => format!("a number: {n}"),
        },
        Ok(Value::Bool(b)) => format!("a boolean: {b}"),
        Ok(Value::Array(_)) => "an array".to_owned(),
        Ok(Value::Object(_)) => "an object".to_owned(),
        _ => clip(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_decimal_integers_only() {
        let raw = |s: &str| serde_json::from_str::<Box<RawValue>>(s).unwrap();
        let cases = [
            ("\"123\"", Ok(Some(123))),
            ("123", Ok(Some(123))),
            ("null", Ok(None)),
            ("1.5", Err("x is not an integer: 1.5")),
            ("1e3", Err("x is not an integer: 1e3")),
            ("-3", Err("x is negative: -3")),
            ("\"-3\"", Err("x is not a decimal id: \"-3\"")),
            ("\"\"", Err("x is not a decimal id: \"\"")),
            ("\"12a\"", Err("x is not a decimal id: \"12a\"")),
            (
                "\"99999999999999999999\"",
                Err("x is not a decimal id: \"99999999999999999999\""),
            ),
            ("true", Err("x is not an id: true")),
        ];
        for (text, want) in cases {
            let r = raw(text);
            assert_eq!(id(Some(&r), "x"), want.map_err(str::to_owned), "{text}");
        }
        assert_eq!(id(None, "x"), Ok(None));
    }
}
