//! Classification: what one record is. A v2 payload, a v2 stream error, a delete notice, a
//! compliance record (read by [`crate::compliance::event`]), a documented control message, a
//! tweet, or a [`RecordError`] naming why it is none of them (its keys for an unknown object).
//! Also the reading of a v2 payload's `errors` for the log. Not the fields' schema
//! (`schema.rs`), nor the repair of records serde_json refuses (`repair.rs`).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::lenient::{Lenient, Seen, Str};
use super::schema::{RawTweet, tweet_id};
use crate::compliance::event::{self, ComplianceEvent, Parsed, Source};
use crate::error::{RecordError, clip, clip_to};

/// The kind of a stream control message: a record that is neither a tweet, nor a delete notice
/// of one, nor a compliance event, of a kind the streaming APIs document. Any other object is
/// an invalid record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ControlKind {
    /// A `delete` notice of something other than a tweet (a direct message).
    Delete,
    Limit,
    /// A batch compliance job's error line for one uploaded id (`{"id","error"}`): logged.
    ComplianceJobError,
    Disconnect,
    Warning,
    /// A v2 payload with `errors` and no `data` (a stream error such as an operational
    /// disconnect); the extractor logs each error's title, detail and type.
    StreamError,
    /// A user- or site-stream message of a documented kind (one of [`USER_STREAM_KINDS`]).
    UserStream(&'static str),
}

/// The keys that name user- and site-stream messages: `event` (follow, favorite, ...),
/// the `friends` list sent at connection, `direct_message`, the site-stream envelope
/// `for_user` and site-stream `control` messages.
pub const USER_STREAM_KINDS: [&str; 6] = [
    "event",
    "friends",
    "friends_str",
    "direct_message",
    "for_user",
    "control",
];

impl ControlKind {
    /// A short stable name for logs and counters.
    pub fn as_str(&self) -> &str {
        match self {
            ControlKind::Delete => "delete",
            ControlKind::Limit => "limit",
            ControlKind::ComplianceJobError => "compliance_job_error",
            ControlKind::Disconnect => "disconnect",
            ControlKind::Warning => "warning",
            ControlKind::StreamError => "stream_error",
            ControlKind::UserStream(k) => k,
        }
    }
}

impl fmt::Display for ControlKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a record is.
#[derive(Debug)]
pub enum Classified<'a> {
    /// A v1.1 tweet or a bare v2 tweet object.
    Tweet(Box<RawTweet<'a>>),
    /// A v2 payload: its `data` (object or array), `includes` and partial `errors`.
    Payload {
        data: &'a RawValue,
        includes: Option<&'a RawValue>,
        errors: Option<&'a RawValue>,
    },
    /// A v2 payload of `errors` only: a stream error ([`ControlKind::StreamError`]).
    StreamErrors(&'a RawValue),
    /// A delete notice for this tweet id, with its time when it has one (v1
    /// `timestamp_ms`, v2 `event_at`, a batch result's `redacted_at`).
    Delete {
        id: String,
        event_at: Option<i64>,
    },
    /// A compliance event (see [`crate::compliance`]).
    Compliance(ComplianceEvent),
    /// A batch compliance job's error line: the id X could not read, and why.
    JobError {
        id: String,
        error: String,
    },
    Control(ControlKind),
}

/// Parses and classifies one record.
pub fn classify(bytes: &[u8]) -> Result<Classified<'_>, RecordError> {
    Ok(match sort(bytes)? {
        Sorted::Tweet(raw) => Classified::Tweet(Box::new(raw)),
        Sorted::Other(c) => c,
    })
}

/// [`classify`] for the extractor: a tweet stays on the stack (one heap allocation and
/// copy of the large [`RawTweet`] less per tweet).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Sorted<'a> {
    Tweet(RawTweet<'a>),
    Other(Classified<'a>),
}

pub(crate) fn sort(bytes: &[u8]) -> Result<Sorted<'_>, RecordError> {
    // One bulk UTF-8 check, then parse from `&str`: serde_json then skips its per-string
    // validation (every key of every object we read), which cost more than this. `simdutf8`
    // (SSE/AVX2/NEON, picked at run time) checks at 2-3x the speed of `std`'s on tweets.
    let text = simdutf8::basic::from_utf8(bytes).map_err(|_| RecordError::InvalidUtf8)?;
    // serde reads a struct from an array too (field by field): only objects are records.
    if text.trim_start().as_bytes().first() != Some(&b'{') {
        return Err(RecordError::NotAnObject);
    }
    let raw: RawTweet<'_> = serde_json::from_str(text)?;
    if let Some(data) = raw.data
        && raw.text.is_none()
        && raw.full_text.is_none()
    {
        return Ok(Sorted::Other(Classified::Payload {
            data,
            includes: raw.includes,
            errors: raw.errors,
        }));
    }
    if let Some(delete) = raw.delete {
        return Ok(Sorted::Other(classified(event::delete_notice(
            delete,
            Source::V1,
        )?)));
    }
    if (raw.scrub_geo.is_some() || raw.status_withheld.is_some() || raw.user_withheld.is_some())
        && let Some(event) = event::v1(text)?
    {
        return Ok(Sorted::Other(Classified::Compliance(event)));
    }
    let control = [
        (raw.limit.is_some(), ControlKind::Limit),
        (raw.disconnect.is_some(), ControlKind::Disconnect),
        (raw.warning.is_some(), ControlKind::Warning),
    ];
    if let Some((_, kind)) = control.into_iter().find(|(present, _)| *present) {
        return Ok(Sorted::Other(Classified::Control(kind)));
    }
    if is_tweet(&raw) {
        if tweet_id(&raw).is_none() {
            return Err(RecordError::MissingId);
        }
        return Ok(Sorted::Tweet(raw));
    }
    if let Some(errors) = raw.errors {
        return Ok(Sorted::Other(Classified::StreamErrors(errors)));
    }
    if raw.event.is_some() {
        return Ok(Sorted::Other(Classified::Control(ControlKind::UserStream(
            "event",
        ))));
    }
    // Not a tweet: a documented stream message named by one of its keys, or invalid.
    let keys = object_keys(text)?;
    if keys.is_empty() {
        return Err(RecordError::EmptyObject);
    }
    if keys.iter().any(|k| k == event::JOB_RESULT_KEY) {
        return Ok(Sorted::Other(classified(event::job_result(text)?)));
    }
    match keys
        .iter()
        .find_map(|k| USER_STREAM_KINDS.iter().find(|kind| **kind == k.as_str()))
    {
        Some(kind) => Ok(Sorted::Other(Classified::Control(ControlKind::UserStream(
            kind,
        )))),
        None => Err(RecordError::Unknown(keys.join(", "))),
    }
}

/// Whether a record that is no payload or control message is a tweet: it has a text field
/// (whatever its value: an unusable text is reported on the document), or an id and an
/// author or retweeted tweet (a tweet whose text is missing).
fn is_tweet(raw: &RawTweet<'_>) -> bool {
    has_text(raw)
        || ((raw.user.is_some()
            || raw.author.is_some()
            || raw.author_id.is_some()
            || raw.retweeted_status.is_some())
            && tweet_id(raw).is_some())
}

/// Whether a record has a text field (whatever its value).
pub(crate) fn has_text(raw: &RawTweet<'_>) -> bool {
    raw.text.seen != Seen::Absent
        || raw.full_text.seen != Seen::Absent
        || raw.extended_tweet.is_some()
        || raw.note_tweet.is_some()
}

/// A parsed compliance record as a classification.
pub(crate) fn classified(parsed: Parsed) -> Classified<'static> {
    match parsed {
        Parsed::Delete { id, event_at } => Classified::Delete { id, event_at },
        Parsed::DeleteOther => Classified::Control(ControlKind::Delete),
        Parsed::Event(e) => Classified::Compliance(e),
        Parsed::JobError { id, error } => Classified::JobError { id, error },
    }
}

/// The keys of a JSON object in record order (at most a handful, for naming it in a message);
/// [`RecordError::NotAnObject`] for any other JSON value.
pub(crate) fn object_keys(text: &str) -> Result<Vec<String>, RecordError> {
    const SHOWN: usize = 8;
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
            let mut keys = Vec::new();
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                map.next_value::<IgnoredAny>()?;
                match keys.len() {
                    n if n < SHOWN => keys.push(clip(&key)),
                    SHOWN => keys.push("...".to_owned()),
                    _ => {}
                }
            }
            Ok(keys)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(Keys)
        .map_err(|_| RecordError::NotAnObject)
}

/// One entry of a v2 `errors` array, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamError {
    pub title: String,
    pub detail: String,
    /// The problem type URI (`.../problems/operational-disconnect`).
    pub kind: String,
}

/// The entries of a v2 `errors` array that are objects (empty when it is no array).
pub fn stream_errors(errors: &RawValue) -> Vec<StreamError> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Entry<'a> {
        #[serde(borrow)]
        title: Str<'a>,
        #[serde(borrow)]
        detail: Str<'a>,
        #[serde(borrow, rename = "type")]
        kind: Str<'a>,
    }
    let entries: Lenient<Vec<Lenient<Entry<'_>>>> =
        serde_json::from_str(errors.get()).unwrap_or_default();
    let text = |s: &Str<'_>| s.as_deref().map(|s| clip_to(s, 512)).unwrap_or_default();
    entries
        .0
        .into_iter()
        .flatten()
        .filter_map(|e| e.0)
        .map(|e| StreamError {
            title: text(&e.title),
            detail: text(&e.detail),
            kind: text(&e.kind),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_objects_are_records() {
        for (json, want) in [
            ("[1,\"2\",null,null,\"text\"]", RecordError::NotAnObject),
            ("5", RecordError::NotAnObject),
            (" null", RecordError::NotAnObject),
            ("\"x\"", RecordError::NotAnObject),
            ("{ }", RecordError::EmptyObject),
        ] {
            assert_eq!(sort(json.as_bytes()).err(), Some(want), "{json}");
        }
    }

    #[test]
    fn user_and_site_stream_messages_are_named_by_their_key() {
        for (json, kind) in [
            (r#"{"friends":[1,2]}"#, "friends"),
            (r#"{"friends_str":["1"]}"#, "friends_str"),
            (r#"{"for_user":1,"message":{"limit":{}}}"#, "for_user"),
            (r#"{"control":{"control_uri":"/x"}}"#, "control"),
            (r#"{"direct_message":{"id":1}}"#, "direct_message"),
            (r#"{"target":{},"event":"follow"}"#, "event"),
        ] {
            match classify(json.as_bytes()) {
                Ok(Classified::Control(k)) => assert_eq!(k.as_str(), kind, "{json}"),
                other => panic!("{json}: {other:?}"),
            }
        }
    }

    #[test]
    fn stream_errors_are_read_for_the_log() {
        let raw: Box<RawValue> = serde_json::from_str(
            r#"[{"title":"ConnectionException","detail":"too many","type":"https://x/problems/streaming-connection","connection_issue":"TooManyConnections"}, 5]"#,
        )
        .unwrap();
        assert_eq!(
            stream_errors(&raw),
            [StreamError {
                title: "ConnectionException".into(),
                detail: "too many".into(),
                kind: "https://x/problems/streaming-connection".into(),
            }]
        );
        let not_a_list: Box<RawValue> = serde_json::from_str(r#""oops""#).unwrap();
        assert!(stream_errors(&not_a_list).is_empty());
    }
}
