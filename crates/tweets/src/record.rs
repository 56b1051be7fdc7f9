//! Stage 2: record bytes -> a classified value. One `serde_json` pass over the record into a
//! borrowed view ([`RawTweet`]) that names only the fields we use: strings borrow from the
//! record buffer unless they contain escapes, everything else is skipped without allocating.
//!
//! Classification: a v2 payload (`data`, optionally `includes` + `matching_rules` + `errors`),
//! a v2 stream error (`errors` only), a delete notice, a v1.1 compliance message
//! (`scrub_geo`, `status_withheld`, `user_withheld`) or a batch compliance job's result line
//! (`compliance_job_result`), both read by [`crate::compliance::event`], a documented control
//! message (`limit`, `disconnect`, `warning`, and the user/site-stream kinds of
//! [`USER_STREAM_KINDS`]), or a tweet (v1.1 or bare v2 object: it has a text field, or an id
//! and an author). Anything else is a [`RecordError`] naming why (its keys for an unknown
//! object): nothing is counted as a control message by default.
//! Ids are read as JSON strings or as exact 64-bit integers, never through `f64`.
//!
//! Valid JSON that serde_json refuses (lone surrogate escapes, duplicated keys) is repaired
//! (`repair.rs`), on the error path only, and the repair is reported as a [`crate::Warning`].
//!
//! Files, lower ones first: `lenient.rs` (how one field is read: [`Lenient`], [`Checked`],
//! [`RawId`], [`CowStr`]), `schema.rs` (which fields: [`RawTweet`] and the members it nests),
//! `classify.rs` (what a record is: [`classify`], [`Classified`], [`ControlKind`]) and
//! `repair.rs` (the records serde_json refuses). [`RecordError`] and [`crate::Warning`] are
//! shared with the other stages (`error.rs`).

mod classify;
mod lenient;
mod repair;
mod schema;

pub use crate::error::{MAX_DEPTH, RecordError};
pub use classify::{
    Classified, ControlKind, StreamError, USER_STREAM_KINDS, classify, stream_errors,
};
pub(crate) use classify::{Sorted, classified, has_text, object_keys, sort};
pub use lenient::{Checked, CowStr, Lenient, RawId, Seen};
pub(crate) use repair::repair;
pub use schema::{
    RawBoundingBox, RawEntities, RawExtended, RawIncludes, RawMention, RawPlace, RawPlaceGeo,
    RawPoint, RawReference, RawRetweet, RawTag, RawTweet, RawUrl, RawUser, RawUserMetrics,
    RawV2Geo, tweet_id,
};
pub(crate) use schema::{TweetText, any_tweet_id};
