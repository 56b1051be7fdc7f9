//! Turns a Firehose object of captured tweets into index documents: framing (any layout,
//! gzip), classification (Twitter v1.1 tweets, X API v2 payloads and objects, compliance
//! records, stream control messages) and enrichment (full text, entities, VADER sentiment,
//! emoji, geo). Also holds the index body, [`MAPPING_JSON`], that maps every field a
//! [`Document`] can carry, the pure model of what compliance events do to documents
//! ([`compliance`]: registers and how they apply), and the time partition every operation on a
//! tweet goes to, from its Snowflake id ([`partition`], with the retention arithmetic).
//!
//! This crate is pure: it reads from any `std::io::Read` it is handed and does no network or
//! file-system I/O of its own; it knows nothing of S3, OpenSearch or bulk requests.
//!
//! Data flows top to bottom: [`framing`] (bytes -> [`Record`]s with byte offsets in the
//! decompressed stream) -> [`record`] (classify one record) -> [`document`] (build the
//! [`Document`], with [`emoji`], [`geo`] and the `vader` crate) -> [`Item`]s.
//!
//! ```
//! let object = br#"{"id_str":"1","text":"I love it &amp; more \u2764","user":{"id":7,"name":"A"}}
//! {"delete":{"status":{"id":2,"id_str":"2"}}}"#;
//! let extractor = tweets::Extractor::new(tweets::ExtractorOptions::default());
//! let items: Vec<tweets::Item> = extractor.items(&object[..]).collect();
//! assert!(matches!(&items[0], tweets::Item::Document { id, doc, .. }
//!     if id == "1" && doc.text == "I love it & more ❤" && doc.emoticons == ["❤️"]));
//! assert!(matches!(&items[1], tweets::Item::Delete { id, offset: 79, .. } if id == "2"));
//! ```
//!
//! # Differences from the original Python Lambda's values
//! Field names and types are kept; these values differ (each was a bug or a limitation):
//! - `text`: the full text (`extended_tweet.full_text` > `full_text` > `text`; v2
//!   `note_tweet.text` > `text`), not the 140-character truncated `text`; for a retweet, the
//!   retweeted tweet's full text instead of the truncated `RT @user: ...`; `&amp; &lt; &gt;`
//!   unescaped.
//! - `mentions`: from the tweet's entities (`@screen_name`, one per mentioned account), not a
//!   `@\w*` regex over the truncated text (which also matched e-mail addresses and a lone `@`).
//! - `hashtags`: from the entities of the full text (the original read the truncated text's).
//! - `emoticons`: every emoji in text order, one entry per sequence (ZWJ, skin tones, flags,
//!   keycaps, tags), fully qualified, from the Unicode data; not a hard-coded list of 64.
//! - `sentiments`: always one keyword `Positive` / `Neutral` / `Negative` from VADER (the
//!   original used TextBlob and sometimes wrote a list, or `Confused`).
//! - `coordinates`: always `{"type": "Point", "coordinates": [lon, lat]}`, validated (out of
//!   range or swapped values are dropped with a warning); when the tweet has no point, the
//!   centroid of its place's bounding box (antimeridian-aware) instead of nothing; never the
//!   `[lat, lon]` `geo` field. `geo_source` says which.
//! - `timestamp_ms`: a number (epoch millis), also for REST and v2 tweets that have no
//!   `timestamp_ms` (derived from `created_at`), instead of a missing field.
//! - `user.id`: exact (parsed from the id string), also for ids above 2^53.
//! - Records: every layout, v2 payloads, control messages; delete notices delete the tweet
//!   instead of crashing the function; compliance records are events ([`compliance`]).
//!
//! # API used by the pipeline
//! - [`Extractor::new`]`(`[`ExtractorOptions`]`) -> Extractor` (`Send + Sync`, build once).
//! - [`Extractor::items`]`(&self, reader: R) -> Items<'_, R>`: an iterator of [`Item`] over a
//!   whole object (gzip detected), streaming; the one frame -> items loop (also
//!   [`Extractor::items_with`] for other framing options). After it ends,
//!   [`Items::read_error`] tells a reader's error (retryable) from the end of the object.
//! - [`Extractor::record_items`]`(&self, &Record, &mut Vec<Item>)`: the items of one framed
//!   record (a v2 payload with several tweets gives several documents).
//! - [`Document::to_json`] gives the `_source` bytes; `_id` is [`Document::id_str`]; the
//!   newest tweet time is [`Document::timestamp_ms`].
//! - Compliance: [`Item::Compliance`]`{ event, .. }` (and each event of an
//!   [`Item::Document`]'s `compliance`) -> [`ComplianceEvent::registers`]`(received_at)`
//!   (write each [`compliance::Register::to_json`] under [`compliance::Register::doc_id`] at
//!   [`compliance::Register::version`], external versioning); before indexing documents, a
//!   [`compliance::RegisterSet`] of every register of their authors and ids
//!   ([`compliance::register::doc_ids_for`]) *and of the batch's own compliance items* ->
//!   [`compliance::RegisterSet::apply_document`]`(&mut doc, now_ms)`; for documents already
//!   indexed, [`compliance::RegisterSet::apply_source`] on their `_source`. Both return
//!   [`compliance::Outcome`]: unchanged, changed (write it again) or delete (a tombstone).

pub mod compliance;
pub mod document;
pub mod emoji;
mod error;
pub mod framing;
pub mod geo;
pub mod partition;
pub mod record;
mod time;

use std::collections::VecDeque;
use std::io::Read;

pub use compliance::ComplianceEvent;
pub use document::{Document, Warning};
pub use framing::{FrameError, FrameErrorKind, Framer, FramerOptions, Record};
pub use record::ControlKind;

/// The typeless index body (settings + mappings, `dynamic: false`) for Elasticsearch 7+ and
/// OpenSearch 1+: the sink creates the `twitter` index with it.
pub const MAPPING_JSON: &str = include_str!("../../../mappings/twitter.json");

/// Extraction settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractorOptions {
    pub framer: FramerOptions,
}

/// One outcome of a record. Offsets are byte offsets in the decompressed stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A tweet to index under `_id = id` (`== doc.id_str`), with what we had to drop from it,
    /// and the compliance events the tweet implies of itself (`edit_history_tweet_ids` naming
    /// earlier versions, its own withholding; nearly always none): `doc` already has them
    /// applied; their registers concern other documents too (the earlier versions).
    Document {
        id: String,
        offset: u64,
        doc: Box<Document>,
        warnings: Vec<Warning>,
        compliance: Vec<ComplianceEvent>,
    },
    /// A delete notice (v1.1 `delete`, v2 compliance `delete`, a batch job's `delete`):
    /// remove the tweet with this id. `event_at` (epoch ms) is when it was deleted, when
    /// the record says (for the compliance lag).
    Delete {
        id: String,
        offset: u64,
        event_at: Option<i64>,
    },
    /// A compliance event other than a tweet delete: the registers it writes
    /// ([`ComplianceEvent::registers`]) change the documents it concerns (see
    /// [`compliance`]).
    Compliance { event: ComplianceEvent, offset: u64 },
    /// A stream control message (limit, warning, ...): counted, nothing to index.
    Control { kind: ControlKind, offset: u64 },
    /// A record that could not be framed or parsed; everything around it goes on.
    Invalid { offset: u64, reason: String },
}

impl Item {
    pub fn offset(&self) -> u64 {
        match self {
            Item::Document { offset, .. }
            | Item::Delete { offset, .. }
            | Item::Compliance { offset, .. }
            | Item::Control { offset, .. }
            | Item::Invalid { offset, .. } => *offset,
        }
    }
}

/// Holds the VADER analyzer; turns records into [`Item`]s.
#[derive(Debug, Default)]
pub struct Extractor {
    analyzer: vader::Analyzer,
    opts: ExtractorOptions,
}

impl Extractor {
    pub fn new(opts: ExtractorOptions) -> Self {
        Extractor {
            analyzer: vader::Analyzer::new(),
            opts,
        }
    }

    /// A streaming iterator of items over a whole object (plain or gzip, any layout).
    pub fn items<R: Read>(&self, reader: R) -> Items<'_, R> {
        self.items_with(reader, self.opts.framer)
    }

    /// As [`Extractor::items`], with these framing options (the record parser is the
    /// framer's judge, so `validate_utf8` is off and the line fast path on).
    pub fn items_with<R: Read>(&self, reader: R, framer: FramerOptions) -> Items<'_, R> {
        Items {
            extractor: self,
            framer: Framer::with_options(
                reader,
                FramerOptions {
                    validate_utf8: false,
                    line_fast_path: true,
                    ..framer
                },
            ),
            pending: VecDeque::new(),
            scratch: Vec::new(),
            records: 0,
            record_crc: 0,
            record: 0..0,
            read_error: None,
        }
    }

    /// Appends the items of one framed record to `out`.
    pub fn record_items(&self, record: &Record, out: &mut Vec<Item>) {
        self.bytes_items(&record.bytes, record.offset, out);
    }

    /// Appends the items of one JSON record (`offset` is reported back as is). Every record
    /// gives at least one item: documents, deletes, named control messages, or an invalid
    /// item with its reason; nothing is dropped without a word.
    pub fn bytes_items(&self, bytes: &[u8], offset: u64, out: &mut Vec<Item>) {
        use record::{Classified, RecordError, Sorted};
        let invalid = |e: RecordError| Item::Invalid {
            offset,
            reason: e.to_string(),
        };
        // What `record::repair` had to change to read a valid record serde_json refused.
        let mut repairs = Vec::new();
        let repaired: String;
        let sorted = match record::sort(bytes) {
            Ok(s) => s,
            Err(first) => {
                let fixed = match (first, std::str::from_utf8(bytes)) {
                    (e @ RecordError::Json(_), Ok(text)) => record::repair(
                        text,
                        e,
                        |t| record::sort(t.as_bytes()).map(drop),
                        &mut repairs,
                    ),
                    (e, _) => Err(e),
                };
                let sorted = match fixed {
                    Ok(text) => {
                        repaired = text;
                        record::sort(repaired.as_bytes())
                    }
                    Err(e) => Err(e),
                };
                match sorted {
                    Ok(s) => s,
                    Err(e) => {
                        out.push(invalid(e));
                        return;
                    }
                }
            }
        };
        let classified = match sorted {
            Sorted::Tweet(raw) => {
                let ctx = document::Context::default();
                self.document(&raw, offset, &ctx, &repairs, out);
                return;
            }
            Sorted::Other(c) => c,
        };
        match classified {
            Classified::Tweet(raw) => {
                let ctx = document::Context::default();
                self.document(&raw, offset, &ctx, &repairs, out);
            }
            Classified::Payload {
                data,
                includes,
                errors,
            } => {
                if let Some(errors) = errors {
                    log_stream_errors(errors, offset);
                }
                self.payload(data, includes, offset, repairs, out);
            }
            Classified::StreamErrors(errors) => {
                log_repairs(&repairs, offset);
                log_stream_errors(errors, offset);
                out.push(Item::Control {
                    kind: ControlKind::StreamError,
                    offset,
                });
            }
            Classified::Delete { id, event_at } => {
                log_repairs(&repairs, offset);
                out.push(Item::Delete {
                    id,
                    offset,
                    event_at,
                });
            }
            Classified::Compliance(event) => {
                log_repairs(&repairs, offset);
                out.push(Item::Compliance { event, offset });
            }
            Classified::JobError { id, error } => {
                log_repairs(&repairs, offset);
                tracing::warn!(offset, id = %id, error = %error, "batch compliance job error");
                out.push(Item::Control {
                    kind: ControlKind::ComplianceJobError,
                    offset,
                });
            }
            Classified::Control(kind) => {
                log_repairs(&repairs, offset);
                out.push(Item::Control { kind, offset });
            }
        }
    }

    /// The document of one tweet, after the compliance events its own fields imply (see
    /// [`compliance::event`]); `repairs` are what reading its record needed.
    fn document(
        &self,
        raw: &record::RawTweet<'_>,
        offset: u64,
        ctx: &document::Context<'_, '_>,
        repairs: &[Warning],
        out: &mut Vec<Item>,
    ) {
        let Some(id) = record::tweet_id(raw) else {
            out.push(Item::Invalid {
                offset,
                reason: record::RecordError::MissingId.to_string(),
            });
            return;
        };
        let mut warnings = repairs.to_vec();
        let mut doc = document::build(raw, id.clone(), ctx, &self.analyzer, &mut warnings);
        let implied = compliance::event::ImpliedFields {
            edit_history: raw.edit_history_tweet_ids,
            withheld_in_countries: raw.withheld_in_countries,
            withheld: raw.withheld,
        };
        let mut events = Vec::new();
        if implied.any() {
            let mut unusable = Vec::new();
            events = compliance::event::implied(
                &id,
                doc.user.id,
                doc.timestamp_ms,
                implied,
                &mut unusable,
            );
            warnings.extend(unusable.into_iter().map(Warning::Compliance));
            let registers: compliance::RegisterSet =
                events.iter().flat_map(|e| e.registers(0)).collect();
            // No user delete among them: the time does not matter.
            registers.apply_document(&mut doc, 0);
        }
        for w in &warnings {
            tracing::warn!(tweet_id = %id, offset, warning = %w, "tweet field dropped or replaced");
        }
        out.push(Item::Document {
            id,
            offset,
            doc: Box::new(doc),
            warnings,
            compliance: events,
        });
    }

    /// A v2 payload: `data` is one tweet or an array of tweets (or compliance events);
    /// `includes` resolves authors, places and retweeted tweets.
    fn payload(
        &self,
        data: &serde_json::value::RawValue,
        includes: Option<&serde_json::value::RawValue>,
        offset: u64,
        mut repairs: Vec<Warning>,
        out: &mut Vec<Item>,
    ) {
        use record::{RawIncludes, RawTweet, RecordError, repair};
        // `data` and `includes` are parsed apart from the record: a valid JSON value that
        // serde_json refuses is repaired as a whole record is (see `record::repair`).
        let includes_repaired: String;
        let includes: Option<RawIncludes<'_>> = match includes.map(|raw| raw.get()) {
            None => None,
            Some(text) => match serde_json::from_str(text) {
                Ok(i) => Some(i),
                Err(e) => {
                    let check = |t: &str| -> Result<(), RecordError> {
                        serde_json::from_str::<RawIncludes<'_>>(t)
                            .map(drop)
                            .map_err(Into::into)
                    };
                    let parsed = match repair(text, e.into(), check, &mut repairs) {
                        Ok(fixed) => {
                            includes_repaired = fixed;
                            serde_json::from_str(&includes_repaired).map_err(RecordError::from)
                        }
                        Err(e) => Err(e),
                    };
                    match parsed {
                        Ok(i) => Some(i),
                        Err(e) => {
                            out.push(Item::Invalid {
                                offset,
                                reason: format!("v2 includes: {e}"),
                            });
                            return;
                        }
                    }
                }
            },
        };
        let ctx = document::Context {
            includes: includes.as_ref(),
        };
        fn tweets(text: &str) -> Result<Vec<RawTweet<'_>>, serde_json::Error> {
            if text.starts_with('[') {
                serde_json::from_str(text)
            } else {
                serde_json::from_str(text).map(|t| vec![t])
            }
        }
        let mut data_repaired = String::new();
        let mut data_repaired_used = false;
        let parsed = match tweets(data.get()) {
            Ok(t) => Ok(t),
            Err(e) => {
                let check = |t: &str| -> Result<(), RecordError> { Ok(tweets(t).map(drop)?) };
                match repair(data.get(), e.into(), check, &mut repairs) {
                    Ok(fixed) => {
                        data_repaired = fixed;
                        data_repaired_used = true;
                        tweets(&data_repaired).map_err(RecordError::from)
                    }
                    Err(e) => Err(e),
                }
            }
        };
        let tweets = match parsed {
            Ok(tweets) => tweets,
            Err(e) => {
                out.push(Item::Invalid {
                    offset,
                    reason: format!("v2 data: {e}"),
                });
                return;
            }
        };
        let data_text = if data_repaired_used {
            data_repaired.as_str()
        } else {
            data.get()
        };
        for (i, t) in tweets.iter().enumerate() {
            // The v2 compliance streams' events have no tweet id and no text: `data.delete`,
            // `data.user_protect`, ...
            if record::tweet_id(t).is_none() && !record::has_text(t) {
                log_repairs(&repairs, offset);
                out.push(compliance_payload(data_text, i, offset));
                continue;
            }
            self.document(t, offset, &ctx, &repairs, out);
        }
    }
}

/// The item of element `i` of a v2 payload's `data` (`data` itself when it is an object) that
/// is no tweet: a compliance event (a delete, or an event of [`compliance::event::V2_KINDS`]),
/// else an invalid record naming its keys.
fn compliance_payload(data: &str, i: usize, offset: u64) -> Item {
    use record::{Classified, RecordError};
    let element = if data.starts_with('[') {
        serde_json::from_str::<Vec<&serde_json::value::RawValue>>(data)
            .ok()
            .and_then(|all| all.get(i).map(|r| r.get()))
            .unwrap_or_default()
    } else {
        data
    };
    let invalid = |e: RecordError| Item::Invalid {
        offset,
        reason: format!("v2 data: {e}"),
    };
    match compliance::event::v2_data(element) {
        Ok(Some(parsed)) => match record::classified(parsed) {
            Classified::Delete { id, event_at } => Item::Delete {
                id,
                offset,
                event_at,
            },
            Classified::Compliance(event) => Item::Compliance { event, offset },
            Classified::Control(kind) => Item::Control { kind, offset },
            // Batch errors and tweets are not v2 kinds.
            _ => invalid(RecordError::Compliance("of an unexpected kind".to_owned())),
        },
        Ok(None) => {
            let keys = record::object_keys(element).unwrap_or_default();
            Item::Invalid {
                offset,
                reason: format!(
                    "v2 data: neither a tweet (no id) nor a compliance event (keys: {})",
                    if keys.is_empty() {
                        "none".to_owned()
                    } else {
                        keys.join(", ")
                    }
                ),
            }
        }
        Err(e) => invalid(e),
    }
}

/// Logs what reading a record needed when the record gives no document to carry it.
fn log_repairs(repairs: &[Warning], offset: u64) {
    for w in repairs {
        tracing::warn!(offset, warning = %w, "record repaired");
    }
}

/// Logs a v2 payload's `errors` (a stream error, or the part of a payload the API could not
/// expand): their title, detail and type are shown nowhere else.
fn log_stream_errors(errors: &serde_json::value::RawValue, offset: u64) {
    let listed = record::stream_errors(errors);
    if listed.is_empty() {
        tracing::warn!(offset, errors = %errors.get(), "v2 errors");
    }
    for e in listed {
        tracing::warn!(
            offset,
            title = %e.title,
            detail = %e.detail,
            r#type = %e.kind,
            "v2 stream error"
        );
    }
}

/// Iterator of [`Item`]s over one object; see [`Extractor::items`]. This is the one
/// frame -> items loop: the pipeline, `--dry-run` and the benchmarks all use it.
///
/// The record parser is the framer's judge: a framed object whose only item would be
/// [`Item::Invalid`] is damage, and the framer resynchronises after it (see [`framing`]), so a
/// damaged record costs only itself. Every damaged span is one [`Item::Invalid`] whose reason
/// ends with its length in bytes. An error of the reader ends the iteration; see
/// [`Items::read_error`].
pub struct Items<'e, R: Read> {
    extractor: &'e Extractor,
    framer: Framer<R>,
    pending: VecDeque<Item>,
    scratch: Vec<Item>,
    records: u64,
    record_crc: u32,
    /// Where the record of the last item returned is in the framer's buffer.
    record: std::ops::Range<usize>,
    read_error: Option<FrameError>,
}

impl<R: Read> Items<'_, R> {
    /// Bytes of the decompressed stream consumed so far.
    pub fn offset(&self) -> u64 {
        self.framer.offset()
    }

    /// Whether the object held gzip (offsets are then in the decompressed stream).
    pub fn is_gzip(&self) -> bool {
        self.framer.is_gzip()
    }

    /// Records and damaged spans framed so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The CRC-32 of the record the last item returned came from: its bytes as framed (before
    /// any repair), so two copies of a tweet captured differently (other counts, another
    /// payload) differ, while the same input read by any release gives the same value. Callers
    /// break ties between copies of one tweet with it (`pipeline` puts it in the version).
    pub fn record_crc(&self) -> u32 {
        self.record_crc
    }

    /// The bytes of the record the last item returned came from, as framed (before any
    /// repair): every item of one record (a v2 payload's tweets) gives the same bytes. Empty
    /// for a damaged span's item. Valid until the next call of `next`.
    pub fn record(&self) -> &[u8] {
        self.framer
            .buffer()
            .get(self.record.clone())
            .unwrap_or_default()
    }

    /// The reader's error that ended the iteration early (network: the object may be
    /// retried), if any. Damaged data is never a read error.
    pub fn read_error(&self) -> Option<&FrameError> {
        self.read_error.as_ref()
    }
}

impl<R: Read> Iterator for Items<'_, R> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            let extractor = self.extractor;
            let scratch = &mut self.scratch;
            let mut judge = |offset: u64, bytes: &[u8]| {
                scratch.clear();
                extractor.bytes_items(bytes, offset, scratch);
                match scratch.as_slice() {
                    [Item::Invalid { reason, .. }] => Err(reason.clone()),
                    _ => Ok(()),
                }
            };
            let step = match self.framer.next_judged(&mut judge)? {
                Ok(step) => step,
                Err(e) => {
                    self.read_error = Some(e);
                    return None;
                }
            };
            if let Some(e) = step.damage {
                self.records += 1;
                self.record = 0..0;
                self.pending.push_back(Item::Invalid {
                    offset: e.offset,
                    reason: e.reason(),
                });
            }
            if let Some((_, start, end)) = step.record {
                self.records += 1;
                self.record_crc = crc32fast::hash(&self.framer.buffer()[start..end]);
                self.record = start..end;
                if self.pending.is_empty() && self.scratch.len() == 1 {
                    return self.scratch.pop();
                }
                self.pending.extend(self.scratch.drain(..));
            }
        }
    }
}
