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
//! Valid JSON that serde_json refuses (lone surrogate escapes, duplicated keys) is repaired by
//! [`repair`], on the error path only, and the repair is reported as a [`Warning`].

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::compliance::event::{self, Parsed};
use crate::compliance::{ComplianceEvent, Source};
use crate::document::Warning;

/// A tweet or user id as it appears in the record: a JSON string (`id_str`, v2 `id`) or an
/// integer (v1 `id`, parsed exactly as `u64`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawId<'a> {
    Str(Cow<'a, str>),
    Num(u64),
}

impl RawId<'_> {
    /// The decimal string form.
    pub fn to_id_string(&self) -> String {
        match self {
            RawId::Str(s) => s.to_string(),
            RawId::Num(n) => n.to_string(),
        }
    }

    /// The numeric form, when the id is (or spells) a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            RawId::Str(s) => s.parse().ok(),
            RawId::Num(n) => Some(*n),
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, RawId::Str(s) if s.is_empty())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawId<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawId<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id (string or non-negative integer)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(RawId::Num(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(RawId::Num)
                    .map_err(|_| E::custom("negative id"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Err(E::custom("id is not an integer"))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(RawId::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawId::Str(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_any(V)
    }
}

/// A JSON string borrowed from the record when it has no escapes (serde's own `Cow<str>`
/// always copies when wrapped in an `Option`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CowStr<'a>(pub Cow<'a, str>);

impl std::ops::Deref for CowStr<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A field read leniently: a value of an unexpected JSON type (a map where a list was expected,
/// a number for a string, ...) becomes `None` instead of failing the whole record. Real
/// captures disagree with the API documentation often enough (`"mentions": {}`, a `source`
/// object in user-stream events) that one odd field must not cost a tweet. Fields whose loss
/// the document reports use [`Checked`] instead.
///
/// A duplicated key, nesting beyond the recursion limit or a lone surrogate escape inside the
/// value is not a type mismatch: it fails the record, so that the caller can repair it (see
/// [`repair`]) instead of this field being dropped without a word.
#[derive(Debug, Clone, PartialEq)]
pub struct Lenient<T>(pub Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

impl<T> std::ops::Deref for Lenient<T> {
    type Target = Option<T>;
    fn deref(&self) -> &Option<T> {
        &self.0
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientVisitor::<T, Self>(std::marker::PhantomData))
    }
}

/// What a [`Checked`] field held in the record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Seen {
    /// The key was not there.
    #[default]
    Absent,
    /// `null`.
    Null,
    /// A value of the expected type (kept in [`Checked::value`]).
    Read,
    /// A value of another type, described for a warning (`a number: 42`).
    Refused(String),
}

/// A field read like [`Lenient`] that also remembers whether it was absent, `null` or refused,
/// for the fields whose loss the document reports as a [`crate::Warning`].
#[derive(Debug, Clone, PartialEq)]
pub struct Checked<T> {
    pub value: Option<T>,
    pub seen: Seen,
}

impl<T> Default for Checked<T> {
    fn default() -> Self {
        Checked {
            value: None,
            seen: Seen::Absent,
        }
    }
}

impl<T> std::ops::Deref for Checked<T> {
    type Target = Option<T>;
    fn deref(&self) -> &Option<T> {
        &self.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Checked<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientVisitor::<T, Self>(std::marker::PhantomData))
    }
}

/// What [`LenientVisitor`] makes of a value: [`Lenient`] keeps only the value, [`Checked`]
/// also describes a refused one (so `Lenient` never pays for the text).
trait Outcome<T> {
    fn read(value: T) -> Self;
    fn null() -> Self;
    fn refused(describe: impl FnOnce() -> String) -> Self;
}

impl<T> Outcome<T> for Lenient<T> {
    fn read(value: T) -> Self {
        Lenient(Some(value))
    }
    fn null() -> Self {
        Lenient(None)
    }
    fn refused(_: impl FnOnce() -> String) -> Self {
        Lenient(None)
    }
}

impl<T> Outcome<T> for Checked<T> {
    fn read(value: T) -> Self {
        Checked {
            value: Some(value),
            seen: Seen::Read,
        }
    }
    fn null() -> Self {
        Checked {
            value: None,
            seen: Seen::Null,
        }
    }
    fn refused(describe: impl FnOnce() -> String) -> Self {
        Checked {
            value: None,
            seen: Seen::Refused(describe()),
        }
    }
}

/// Reads any JSON value as a `T` when it is one, into a [`Lenient`] or a [`Checked`].
struct LenientVisitor<T, O>(std::marker::PhantomData<(T, O)>);

impl<T, O: Outcome<T>> LenientVisitor<T, O> {
    fn keep<E>(r: Result<T, E>, describe: impl FnOnce() -> String) -> O {
        match r {
            Ok(v) => O::read(v),
            Err(_) => O::refused(describe),
        }
    }

    fn mismatch(what: &str, e: &impl fmt::Display) -> O {
        O::refused(|| {
            let why = e.to_string();
            // serde_json's position is of no use in a warning about one field.
            let why = why.rfind(" at line ").map_or(why.as_str(), |i| &why[..i]);
            format!("{what} ({why})")
        })
    }
}

/// Whether an error from inside a value must fail the record rather than drop the field:
/// the ones [`repair`] can fix or must name (a type mismatch only costs the field).
fn fails_the_record(e: &impl fmt::Display) -> bool {
    let msg = e.to_string();
    msg.starts_with("duplicate field")
        || msg.contains(RECURSION_LIMIT)
        || msg.contains(LONE_SURROGATE)
        || msg.contains(BROKEN_SURROGATE_PAIR)
}

/// serde_json's messages for the errors [`repair`] handles.
const RECURSION_LIMIT: &str = "recursion limit exceeded";
const LONE_SURROGATE: &str = "lone leading surrogate in hex escape";
const BROKEN_SURROGATE_PAIR: &str = "unexpected end of hex escape";

/// Shortens a value shown in a warning.
pub(crate) fn clip(s: &str) -> String {
    clip_to(s, 64)
}

fn clip_to(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

impl<'de, T: Deserialize<'de>, O: Outcome<T>> Visitor<'de> for LenientVisitor<T, O> {
    type Value = O;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<O, E> {
        Ok(O::null())
    }
    fn visit_none<E: de::Error>(self) -> Result<O, E> {
        Ok(O::null())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<O, E> {
        Ok(Self::keep(
            T::deserialize(de::value::BoolDeserializer::<E>::new(v)),
            || format!("a boolean: {v}"),
        ))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<O, E> {
        Ok(Self::keep(
            T::deserialize(de::value::U64Deserializer::<E>::new(v)),
            || format!("a number: {v}"),
        ))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<O, E> {
        Ok(Self::keep(
            T::deserialize(de::value::I64Deserializer::<E>::new(v)),
            || format!("a number: {v}"),
        ))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<O, E> {
        Ok(Self::keep(
            T::deserialize(de::value::F64Deserializer::<E>::new(v)),
            || format!("a number: {v}"),
        ))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<O, E> {
        Ok(Self::keep(
            T::deserialize(de::value::BorrowedStrDeserializer::<E>::new(v)),
            || format!("a string: {:?}", clip(v)),
        ))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<O, E> {
        Ok(Self::keep(
            T::deserialize(de::value::StringDeserializer::<E>::new(v.to_owned())),
            || format!("a string: {:?}", clip(v)),
        ))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<O, E> {
        // serde_json hands strings over borrowed: this is for other deserializers.
        let shown = format!("a string: {:?}", clip(&v));
        Ok(Self::keep(
            T::deserialize(de::value::StringDeserializer::<E>::new(v)),
            || shown,
        ))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<O, A::Error> {
        match T::deserialize(de::value::SeqAccessDeserializer::new(&mut seq)) {
            Ok(v) => Ok(O::read(v)),
            Err(e) if fails_the_record(&e) => Err(e),
            Err(e) => {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Self::mismatch("an array", &e))
            }
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<O, A::Error> {
        match T::deserialize(de::value::MapAccessDeserializer::new(&mut map)) {
            Ok(v) => Ok(O::read(v)),
            Err(e) if fails_the_record(&e) => Err(e),
            Err(e) => {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Self::mismatch("an object", &e))
            }
        }
    }
}

type Str<'a> = Lenient<CowStr<'a>>;

/// The fields of a v1.1 tweet, a v2 tweet object, a v2 payload and the control messages that
/// we read, all in one flat view so each record is parsed once. The large members that most
/// records lack (`extended_tweet`, `note_tweet`, `author`, `place`) are boxed: the view is
/// moved several times per record on its way out of serde, and 1.4 KB of mostly `None` made
/// those copies 2% of a dry run.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawTweet<'a> {
    #[serde(borrow)]
    pub id: Lenient<RawId<'a>>,
    #[serde(borrow)]
    pub id_str: Str<'a>,
    #[serde(borrow)]
    pub created_at: Str<'a>,
    #[serde(borrow)]
    pub timestamp_ms: Checked<RawId<'a>>,
    #[serde(borrow)]
    pub text: Checked<CowStr<'a>>,
    #[serde(borrow)]
    pub full_text: Checked<CowStr<'a>>,
    #[serde(borrow)]
    pub extended_tweet: Lenient<Box<RawExtended<'a>>>,
    #[serde(borrow)]
    pub note_tweet: Lenient<Box<RawExtended<'a>>>,
    #[serde(borrow)]
    pub user: Lenient<RawUser<'a>>,
    /// v2 objects as flattened by twarc carry the author inline.
    #[serde(borrow)]
    pub author: Lenient<Box<RawUser<'a>>>,
    #[serde(borrow)]
    pub author_id: Str<'a>,
    #[serde(borrow)]
    pub entities: Lenient<RawEntities<'a>>,
    /// Only what a retweet takes from it (id, full text, entities): its `user`, `place`,
    /// nested `quoted_status` etc. are skipped, not matched field by field.
    #[serde(borrow)]
    pub retweeted_status: Lenient<Box<RawRetweet<'a>>>,
    #[serde(borrow)]
    pub quoted_status_id_str: Str<'a>,
    pub quoted_status_id: Lenient<u64>,
    pub is_quote_status: Lenient<bool>,
    #[serde(borrow)]
    pub in_reply_to_status_id_str: Str<'a>,
    pub in_reply_to_status_id: Lenient<u64>,
    #[serde(borrow)]
    pub referenced_tweets: Lenient<Vec<RawReference<'a>>>,
    pub coordinates: Checked<RawPoint>,
    #[serde(borrow)]
    pub place: Lenient<Box<RawPlace<'a>>>,
    /// v1 `geo` is `[lat, lon]` (unused); v2 `geo` is `{coordinates, place_id}`: read lazily.
    #[serde(borrow)]
    pub geo: Option<&'a RawValue>,
    #[serde(borrow)]
    pub lang: Str<'a>,
    #[serde(borrow)]
    pub source: Str<'a>,
    // v2 payload
    #[serde(borrow)]
    pub data: Option<&'a RawValue>,
    #[serde(borrow)]
    pub includes: Option<&'a RawValue>,
    /// v2 `errors` (a stream error, or the part of a payload that could not be expanded).
    #[serde(borrow)]
    pub errors: Option<&'a RawValue>,
    // control messages
    #[serde(borrow)]
    pub delete: Option<&'a RawValue>,
    // v1.1 compliance messages, read again on their own path (`compliance::event::v1`).
    pub scrub_geo: Option<IgnoredAny>,
    pub limit: Option<IgnoredAny>,
    pub status_withheld: Option<IgnoredAny>,
    pub user_withheld: Option<IgnoredAny>,
    pub disconnect: Option<IgnoredAny>,
    pub warning: Option<IgnoredAny>,
    /// A v2 tweet's withholding (`{"copyright","country_codes"}`), read lazily (see
    /// `compliance::event::implied`).
    #[serde(borrow)]
    pub withheld: Option<&'a RawValue>,
    /// A v1 tweet's withholding, read lazily; nearly always `[]`.
    #[serde(borrow)]
    pub withheld_in_countries: Option<&'a RawValue>,
    /// v2: the ids of every version of the tweet, read lazily; nearly always just its own.
    #[serde(borrow)]
    pub edit_history_tweet_ids: Option<&'a RawValue>,
    /// User-stream events (`follow`, `favorite`, ...): named `event` whatever the key order.
    pub event: Option<IgnoredAny>,
}

/// A retweeted tweet (v1 `retweeted_status`, v2 `includes.tweets[]`): only the fields a
/// retweet's document takes from it, so the rest of it is skipped at `IgnoredAny` speed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawRetweet<'a> {
    #[serde(borrow)]
    pub id: Lenient<RawId<'a>>,
    #[serde(borrow)]
    pub id_str: Str<'a>,
    #[serde(borrow)]
    pub text: Str<'a>,
    #[serde(borrow)]
    pub full_text: Str<'a>,
    #[serde(borrow)]
    pub extended_tweet: Lenient<Box<RawExtended<'a>>>,
    #[serde(borrow)]
    pub note_tweet: Lenient<Box<RawExtended<'a>>>,
    #[serde(borrow)]
    pub entities: Lenient<RawEntities<'a>>,
}

/// The text-bearing fields shared by [`RawTweet`] and [`RawRetweet`].
pub(crate) trait TweetText<'a> {
    fn id_fields(&self) -> (&Str<'a>, &Lenient<RawId<'a>>);
    fn text(&self) -> &Option<CowStr<'a>>;
    fn full_text(&self) -> &Option<CowStr<'a>>;
    fn extended_tweet(&self) -> &Lenient<Box<RawExtended<'a>>>;
    fn note_tweet(&self) -> &Lenient<Box<RawExtended<'a>>>;
    fn entities(&self) -> &Lenient<RawEntities<'a>>;
}

macro_rules! tweet_text {
    ($t:ident) => {
        impl<'a> TweetText<'a> for $t<'a> {
            fn id_fields(&self) -> (&Str<'a>, &Lenient<RawId<'a>>) {
                (&self.id_str, &self.id)
            }
            fn text(&self) -> &Option<CowStr<'a>> {
                &self.text
            }
            fn full_text(&self) -> &Option<CowStr<'a>> {
                &self.full_text
            }
            fn extended_tweet(&self) -> &Lenient<Box<RawExtended<'a>>> {
                &self.extended_tweet
            }
            fn note_tweet(&self) -> &Lenient<Box<RawExtended<'a>>> {
                &self.note_tweet
            }
            fn entities(&self) -> &Lenient<RawEntities<'a>> {
                &self.entities
            }
        }
    };
}
tweet_text!(RawTweet);
tweet_text!(RawRetweet);

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawExtended<'a> {
    #[serde(borrow)]
    pub full_text: Str<'a>,
    /// `note_tweet.text` (v2 long posts).
    #[serde(borrow)]
    pub text: Str<'a>,
    #[serde(borrow)]
    pub entities: Lenient<RawEntities<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawUser<'a> {
    #[serde(borrow)]
    pub id: Lenient<RawId<'a>>,
    #[serde(borrow)]
    pub id_str: Str<'a>,
    #[serde(borrow)]
    pub name: Str<'a>,
    #[serde(borrow)]
    pub screen_name: Str<'a>,
    /// v2 spelling of `screen_name`.
    #[serde(borrow)]
    pub username: Str<'a>,
    pub followers_count: Lenient<u64>,
    pub public_metrics: Lenient<RawUserMetrics>,
    pub verified: Lenient<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawUserMetrics {
    pub followers_count: Lenient<u64>,
}

/// v1 and v2 entities: hashtags (`text` / `tag`), mentions (`user_mentions[].screen_name` /
/// `mentions[].username`), urls (`expanded_url`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawEntities<'a> {
    #[serde(borrow)]
    pub hashtags: Lenient<Vec<RawTag<'a>>>,
    #[serde(borrow)]
    pub user_mentions: Lenient<Vec<RawMention<'a>>>,
    #[serde(borrow)]
    pub mentions: Lenient<Vec<RawMention<'a>>>,
    #[serde(borrow)]
    pub urls: Lenient<Vec<RawUrl<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawTag<'a> {
    #[serde(borrow)]
    pub text: Str<'a>,
    #[serde(borrow)]
    pub tag: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawMention<'a> {
    #[serde(borrow)]
    pub screen_name: Str<'a>,
    #[serde(borrow)]
    pub username: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawUrl<'a> {
    #[serde(borrow)]
    pub expanded_url: Str<'a>,
    #[serde(borrow)]
    pub url: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawReference<'a> {
    #[serde(borrow, rename = "type")]
    pub kind: Str<'a>,
    #[serde(borrow)]
    pub id: Lenient<RawId<'a>>,
}

/// A GeoJSON point (`coordinates` of v1, `geo.coordinates` of v2): `[lon, lat]`. Each member
/// is read on its own, so that a member of the wrong type (a string, a nested array) is
/// skipped whole and named in the warning instead of failing the record.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawPoint {
    pub coordinates: Checked<Vec<Checked<f64>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawPlace<'a> {
    #[serde(borrow)]
    pub id: Str<'a>,
    #[serde(borrow)]
    pub full_name: Str<'a>,
    #[serde(borrow)]
    pub country_code: Str<'a>,
    pub bounding_box: Lenient<RawBoundingBox>,
    /// v2 `includes.places[].geo.bbox` lives under `geo`.
    pub geo: Lenient<RawPlaceGeo>,
}

/// v1 `place.bounding_box`: a GeoJSON polygon, `coordinates[0]` is the ring of `[lon, lat]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawBoundingBox {
    pub coordinates: Lenient<Vec<Vec<Vec<f64>>>>,
}

/// v2 place geo: `bbox` is `[west, south, east, north]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawPlaceGeo {
    pub bbox: Lenient<Vec<f64>>,
}

/// v2 tweet `geo`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawV2Geo<'a> {
    pub coordinates: Checked<RawPoint>,
    #[serde(borrow)]
    pub place_id: Str<'a>,
}

/// v2 `includes`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawIncludes<'a> {
    #[serde(borrow)]
    pub users: Lenient<Vec<RawUser<'a>>>,
    #[serde(borrow)]
    pub places: Lenient<Vec<RawPlace<'a>>>,
    /// Referenced tweets (the full text of a retweeted tweet lives here).
    #[serde(borrow)]
    pub tweets: Lenient<Vec<RawRetweet<'a>>>,
}

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

/// The id of a tweet: `id_str`, else `id` (string in v2, exact integer in v1).
pub fn tweet_id(raw: &RawTweet<'_>) -> Option<String> {
    any_tweet_id(raw)
}

/// [`tweet_id`] of a tweet or a retweeted tweet.
pub(crate) fn any_tweet_id<'a>(raw: &impl TweetText<'a>) -> Option<String> {
    let (id_str, id) = raw.id_fields();
    if let Some(s) = id_str.as_deref().filter(|s| !s.is_empty()) {
        return Some(s.to_owned());
    }
    id.as_ref()
        .filter(|id| !id.is_empty())
        .map(RawId::to_id_string)
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

/// Makes a record that serde_json refused although it is valid JSON readable, on the error
/// path only: lone UTF-16 surrogate escapes (`\ud800`) become `\ufffd` (what Python's
/// `errors="replace"` shows), and duplicated keys keep their last value (what JSON parsers
/// do; serde's derived structs refuse them). `check` parses the repaired text as the caller
/// will; each repair is reported in `warnings`. Any other error is returned as it is.
pub(crate) fn repair(
    text: &str,
    first: RecordError,
    check: impl Fn(&str) -> Result<(), RecordError>,
    warnings: &mut Vec<Warning>,
) -> Result<String, RecordError> {
    let mut current = Cow::Borrowed(text);
    let mut error = first;
    // Each round fixes one kind of error; a record can need both, in either order.
    for _ in 0..4 {
        let RecordError::Json(msg) = &error else {
            return Err(error);
        };
        let repaired = if msg.contains(LONE_SURROGATE) || msg.contains(BROKEN_SURROGATE_PAIR) {
            let (fixed, replaced) = replace_lone_surrogates(&current);
            if replaced == 0 {
                return Err(error);
            }
            warnings.push(Warning::LoneSurrogates(replaced));
            fixed
        } else if let Some(key) = duplicated_key(msg) {
            // A `Value` map keeps the last of duplicated keys, at every level.
            match serde_json::from_str::<serde_json::Value>(&current) {
                Ok(value) => {
                    warnings.push(Warning::DuplicateKey(key.to_owned()));
                    value.to_string()
                }
                Err(e) => {
                    error = e.into();
                    continue;
                }
            }
        } else {
            return Err(error);
        };
        match check(&repaired) {
            Ok(()) => return Ok(repaired),
            Err(e) => {
                error = e;
                current = Cow::Owned(repaired);
            }
        }
    }
    Err(error)
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

/// `lang` of serde's "duplicate field `lang`".
fn duplicated_key(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("duplicate field `")?;
    rest.split('`').next()
}

/// Replaces every `\uXXXX` escape of a lone UTF-16 surrogate by `\ufffd`; returns the text and
/// how many were replaced. Written by hand: serde_json has no lossy mode for them, and this
/// only looks at escapes (a backslash in valid JSON always starts one), so it needs no parser.
fn replace_lone_surrogates(text: &str) -> (String, usize) {
    fn hex4(b: &[u8], at: usize) -> Option<u32> {
        let digits = b.get(at..at + 4)?;
        digits
            .iter()
            .try_fold(0u32, |n, &d| Some(n * 16 + char::from(d).to_digit(16)?))
    }
    const HIGH: std::ops::Range<u32> = 0xD800..0xDC00;
    const LOW: std::ops::Range<u32> = 0xDC00..0xE000;
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut copied, mut i, mut replaced) = (0, 0, 0);
    while let Some(found) = b.get(i..).and_then(|rest| memchr::memchr(b'\\', rest)) {
        let at = i + found;
        let unit = (b.get(at + 1) == Some(&b'u'))
            .then(|| hex4(b, at + 2))
            .flatten();
        let Some(unit) = unit else {
            // `\\`, `\"`, `\n`, ...: two bytes.
            i = at + 2;
            continue;
        };
        let paired = HIGH.contains(&unit)
            && b.get(at + 6) == Some(&b'\\')
            && b.get(at + 7) == Some(&b'u')
            && hex4(b, at + 8).is_some_and(|low| LOW.contains(&low));
        if paired {
            i = at + 12;
        } else if HIGH.contains(&unit) || LOW.contains(&unit) {
            out.push_str(&text[copied..at]);
            out.push_str("\\ufffd");
            copied = at + 6;
            i = at + 6;
            replaced += 1;
        } else {
            i = at + 6;
        }
    }
    out.push_str(&text[copied..]);
    (out, replaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogate_escapes_and_only_they_are_replaced() {
        let cases = [
            (r#""a\ud800b""#, r#""a\ufffdb""#, 1),
            (r#""a\uDC00""#, r#""a\ufffd""#, 1),
            // A pair, any case of hex digits, is a character.
            (
                r#""\ud83d\ude00 \uD83D\uDE00""#,
                r#""\ud83d\ude00 \uD83D\uDE00""#,
                0,
            ),
            // Two leading surrogates: the first is lone, the second pairs.
            (r#""\ud83d\ud83d\ude00""#, r#""\ufffd\ud83d\ude00""#, 1),
            // An escaped backslash before `u` starts no escape.
            (r#""\\ud800 \\\ud800""#, r#""\\ud800 \\\ufffd""#, 1),
            (r#""\ud800\n\u0041""#, r#""\ufffd\n\u0041""#, 1),
            // Truncated escapes are left to the parser to report.
            (r#""\ud8"#, r#""\ud8"#, 0),
            (r#""\"#, r#""\"#, 0),
            ("\"é\\udfffé\"", "\"é\\ufffdé\"", 1),
        ];
        for (input, want, n) in cases {
            assert_eq!(
                replace_lone_surrogates(input),
                (want.to_owned(), n),
                "{input}"
            );
        }
        // Every replacement then parses to U+FFFD.
        let (fixed, _) = replace_lone_surrogates(r#""a\ud800b""#);
        assert_eq!(
            serde_json::from_str::<String>(&fixed).unwrap(),
            "a\u{FFFD}b"
        );
    }

    #[test]
    fn duplicated_key_is_read_from_serde_message() {
        assert_eq!(
            duplicated_key("duplicate field `lang` at line 1 column 9"),
            Some("lang")
        );
        assert_eq!(duplicated_key("invalid type: map"), None);
    }

    /// `MAX_DEPTH` is serde_json's recursion limit, counted with the record as level 1.
    #[test]
    fn max_depth_is_the_parsers_limit() {
        let nested = |levels: usize| {
            // The record is one level; `levels - 1` arrays inside it.
            let arrays = levels - 1;
            format!(
                r#"{{"id_str":"1","text":"t","lang":"a","lang":"b","x":{}1{}}}"#,
                "[".repeat(arrays),
                "]".repeat(arrays)
            )
        };
        let check = |t: &str| sort(t.as_bytes()).map(drop);
        let mut warnings = Vec::new();
        let at_limit = nested(MAX_DEPTH);
        let first = sort(at_limit.as_bytes()).err().unwrap();
        assert!(repair(&at_limit, first, check, &mut warnings).is_ok());
        let beyond = nested(MAX_DEPTH + 1);
        let first = sort(beyond.as_bytes()).err().unwrap();
        assert_eq!(
            repair(&beyond, first, check, &mut warnings),
            Err(RecordError::TooDeep)
        );
        assert_eq!(
            RecordError::TooDeep.to_string(),
            "nested deeper than 127 levels"
        );
    }

    #[test]
    fn lenient_drops_a_mismatch_but_not_an_error_repair_must_see() {
        let user: Lenient<RawUser<'_>> = serde_json::from_str(r#"{"name":{"a":1}}"#).unwrap();
        assert_eq!(user.as_ref().map(|u| u.name.is_none()), Some(true));
        let mismatch: Lenient<Vec<RawTag<'_>>> = serde_json::from_str(r#"{"a":1}"#).unwrap();
        assert!(mismatch.is_none());
        for fatal in [
            r#"{"name":"a","name":"b"}"#,
            r#"{"name":"a\ud800"}"#,
            r#"{"name":"\udc00"}"#,
        ] {
            let got = serde_json::from_str::<Lenient<RawUser<'_>>>(fatal);
            assert!(got.is_err(), "{fatal}");
        }
        let dup_in_list = r#"[{"text":"a","text":"b"}]"#;
        assert!(serde_json::from_str::<Lenient<Vec<RawTag<'_>>>>(dup_in_list).is_err());
    }

    #[test]
    fn checked_tells_absent_null_read_and_refused_apart() {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct T<'a> {
            #[serde(borrow)]
            s: Checked<CowStr<'a>>,
        }
        let seen = |json: &str| serde_json::from_str::<T<'_>>(json).unwrap().s.seen;
        assert_eq!(seen("{}"), Seen::Absent);
        assert_eq!(seen(r#"{"s":null}"#), Seen::Null);
        assert_eq!(seen(r#"{"s":"x"}"#), Seen::Read);
        assert_eq!(
            seen(r#"{"s":true}"#),
            Seen::Refused("a boolean: true".into())
        );
        assert_eq!(seen(r#"{"s":-3}"#), Seen::Refused("a number: -3".into()));
        assert_eq!(
            seen(r#"{"s":[1]}"#),
            Seen::Refused("an array (invalid type: sequence, expected a string)".into())
        );
        let object = format!(r#"{{"id":"{}"}}"#, "x".repeat(100));
        let ms: Checked<RawId<'_>> = serde_json::from_str(r#""abc""#).unwrap();
        assert_eq!(ms.seen, Seen::Read);
        let refused: Checked<u64> = serde_json::from_str(&object).unwrap();
        assert!(matches!(refused.seen, Seen::Refused(ref s) if s.starts_with("an object")));
        let clipped: Checked<u64> =
            serde_json::from_str(&format!("\"{}\"", "é".repeat(100))).unwrap();
        assert_eq!(
            clipped.seen,
            Seen::Refused(format!("a string: \"{}...\"", "é".repeat(64)))
        );
    }

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
