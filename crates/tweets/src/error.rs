//! What reading records reports, shared by the stages and the compliance readers: why a
//! record is invalid ([`RecordError`]), what a tweet kept as a document lost ([`Warning`]), and
//! the shortening of values shown in them. Types only, no stage's logic: every stage imports
//! them from here, so none imports another stage for them.

use crate::geo::GeoWarning;

/// The deepest nesting of arrays and objects a record may have (serde_json's recursion limit,
/// kept for stack safety): the record itself is level 1.
pub const MAX_DEPTH: usize = 127;

/// Why a record could not be classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("tweet without an id")]
    MissingId,
    #[error("invalid UTF-8 in record")]
    InvalidUtf8,
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("not a JSON object")]
    NotAnObject,
    #[error("empty object")]
    EmptyObject,
    /// Valid JSON that is no tweet, v2 payload, delete notice or documented control message.
    #[error("not a tweet, a v2 payload or a known stream message (keys: {0})")]
    Unknown(String),
    #[error("delete notice {0}")]
    Delete(String),
    /// A compliance record (v1 message, v2 compliance payload, batch job result) that cannot
    /// be applied as it is.
    #[error("compliance event {0}")]
    Compliance(String),
}

impl From<serde_json::Error> for RecordError {
    fn from(e: serde_json::Error) -> Self {
        let msg = e.to_string();
        if msg.contains(RECURSION_LIMIT) {
            RecordError::TooDeep
        } else {
            RecordError::Json(msg)
        }
    }
}

/// serde_json's messages for the errors `record::repair` handles.
pub(crate) const RECURSION_LIMIT: &str = "recursion limit exceeded";
pub(crate) const LONE_SURROGATE: &str = "lone leading surrogate in hex escape";
pub(crate) const BROKEN_SURROGATE_PAIR: &str = "unexpected end of hex escape";

/// Shortens a value shown in a warning.
pub(crate) fn clip(s: &str) -> String {
    clip_to(s, 64)
}

pub(crate) fn clip_to(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

/// Something in a tweet we could not use or had to replace; the document is still produced.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Warning {
    #[error("geo: {0}")]
    Geo(#[from] GeoWarning),
    #[error("unparseable time: {0}")]
    Time(String),
    /// `timestamp_ms` that is no epoch-milliseconds integer; `created_at` is used instead.
    #[error("timestamp_ms unusable ({0}): created_at used instead")]
    TimestampMs(String),
    /// No usable text (`text` null, missing or not a string): indexed with an empty text.
    #[error("text unusable ({0}): indexed with an empty text")]
    Text(String),
    /// A key given twice in the record; like JSON parsers, the last value is used.
    #[error("duplicate key `{0}` in the record: its last value is used")]
    DuplicateKey(String),
    /// Escapes of lone UTF-16 surrogates (`\ud800`), which are no characters.
    #[error("{0} lone UTF-16 surrogate escape(s) replaced by U+FFFD")]
    LoneSurrogates(usize),
    /// A tweet's own compliance field (`edit_history_tweet_ids`, `withheld_in_countries`,
    /// `withheld`) that cannot be read: what it would imply is left out.
    #[error("compliance field unusable ({0}): left out")]
    Compliance(String),
}
