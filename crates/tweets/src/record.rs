//! Stage 2: record bytes -> a classified value. One `serde_json` pass over the record into a
//! borrowed view ([`RawTweet`]) that names only the fields we use: strings borrow from the
//! record buffer unless they contain escapes, everything else is skipped without allocating.
//!
//! Classification: a v2 payload (`data`, optionally `includes` + `matching_rules`), a control
//! message (`delete`, `scrub_geo`, `limit`, `status_withheld`, `user_withheld`, `disconnect`,
//! `warning`, or any other object that is not a tweet), else a tweet (v1.1 or bare v2 object).
//! Ids are read as JSON strings or as exact 64-bit integers, never through `f64`.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

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
/// object in user-stream events) that one odd field must not cost a tweet.
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
        d.deserialize_any(LenientVisitor(std::marker::PhantomData))
    }
}

struct LenientVisitor<T>(std::marker::PhantomData<T>);

impl<T> LenientVisitor<T> {
    fn keep<E>(r: Result<T, E>) -> Lenient<T> {
        Lenient(r.ok())
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for LenientVisitor<T> {
    type Value = Lenient<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Lenient(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Lenient(None))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Self::keep(T::deserialize(
            de::value::BoolDeserializer::<E>::new(v),
        )))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Self::keep(T::deserialize(
            de::value::U64Deserializer::<E>::new(v),
        )))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Self::keep(T::deserialize(
            de::value::I64Deserializer::<E>::new(v),
        )))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Self::keep(T::deserialize(
            de::value::F64Deserializer::<E>::new(v),
        )))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Self::keep(T::deserialize(
            de::value::BorrowedStrDeserializer::<E>::new(v),
        )))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Self::keep(T::deserialize(
            de::value::StringDeserializer::<E>::new(v.to_owned()),
        )))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Self::keep(T::deserialize(
            de::value::StringDeserializer::<E>::new(v),
        )))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        match T::deserialize(de::value::SeqAccessDeserializer::new(&mut seq)) {
            Ok(v) => Ok(Lenient(Some(v))),
            Err(_) => {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        match T::deserialize(de::value::MapAccessDeserializer::new(&mut map)) {
            Ok(v) => Ok(Lenient(Some(v))),
            Err(_) => {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
        }
    }
}

type Str<'a> = Lenient<CowStr<'a>>;

/// The fields of a v1.1 tweet, a v2 tweet object, a v2 payload and the control messages that
/// we read, all in one flat view so each record is parsed once.
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
    pub timestamp_ms: Lenient<RawId<'a>>,
    #[serde(borrow)]
    pub text: Str<'a>,
    #[serde(borrow)]
    pub full_text: Str<'a>,
    #[serde(borrow)]
    pub extended_tweet: Lenient<RawExtended<'a>>,
    #[serde(borrow)]
    pub note_tweet: Lenient<RawExtended<'a>>,
    #[serde(borrow)]
    pub user: Lenient<RawUser<'a>>,
    /// v2 objects as flattened by twarc carry the author inline.
    #[serde(borrow)]
    pub author: Lenient<RawUser<'a>>,
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
    pub coordinates: Lenient<RawPoint>,
    #[serde(borrow)]
    pub place: Lenient<RawPlace<'a>>,
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
    // control messages
    #[serde(borrow)]
    pub delete: Option<&'a RawValue>,
    pub scrub_geo: Option<IgnoredAny>,
    pub limit: Option<IgnoredAny>,
    pub status_withheld: Option<IgnoredAny>,
    pub user_withheld: Option<IgnoredAny>,
    pub disconnect: Option<IgnoredAny>,
    pub warning: Option<IgnoredAny>,
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
    pub extended_tweet: Lenient<RawExtended<'a>>,
    #[serde(borrow)]
    pub note_tweet: Lenient<RawExtended<'a>>,
    #[serde(borrow)]
    pub entities: Lenient<RawEntities<'a>>,
}

/// The text-bearing fields shared by [`RawTweet`] and [`RawRetweet`].
pub(crate) trait TweetText<'a> {
    fn id_fields(&self) -> (&Str<'a>, &Lenient<RawId<'a>>);
    fn text(&self) -> &Str<'a>;
    fn full_text(&self) -> &Str<'a>;
    fn extended_tweet(&self) -> &Lenient<RawExtended<'a>>;
    fn note_tweet(&self) -> &Lenient<RawExtended<'a>>;
    fn entities(&self) -> &Lenient<RawEntities<'a>>;
}

macro_rules! tweet_text {
    ($t:ident) => {
        impl<'a> TweetText<'a> for $t<'a> {
            fn id_fields(&self) -> (&Str<'a>, &Lenient<RawId<'a>>) {
                (&self.id_str, &self.id)
            }
            fn text(&self) -> &Str<'a> {
                &self.text
            }
            fn full_text(&self) -> &Str<'a> {
                &self.full_text
            }
            fn extended_tweet(&self) -> &Lenient<RawExtended<'a>> {
                &self.extended_tweet
            }
            fn note_tweet(&self) -> &Lenient<RawExtended<'a>> {
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

/// A GeoJSON point (`coordinates` of v1, `geo.coordinates` of v2): `[lon, lat]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawPoint {
    pub coordinates: Lenient<Vec<f64>>,
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
    pub coordinates: Lenient<RawPoint>,
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

/// The kind of a stream control message (anything that is neither a tweet nor a payload).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ControlKind {
    /// A `delete` notice that names no tweet (e.g. a direct message deletion).
    Delete,
    ScrubGeo,
    Limit,
    StatusWithheld,
    UserWithheld,
    Disconnect,
    Warning,
    /// A v2 payload with no `data` (e.g. only `errors`).
    EmptyPayload,
    /// Any other object; holds its first key (`event`, `friends`, `control`, ...).
    Other(String),
}

impl ControlKind {
    /// A short stable name for logs and counters.
    pub fn as_str(&self) -> &str {
        match self {
            ControlKind::Delete => "delete",
            ControlKind::ScrubGeo => "scrub_geo",
            ControlKind::Limit => "limit",
            ControlKind::StatusWithheld => "status_withheld",
            ControlKind::UserWithheld => "user_withheld",
            ControlKind::Disconnect => "disconnect",
            ControlKind::Warning => "warning",
            ControlKind::EmptyPayload => "empty_payload",
            ControlKind::Other(k) => k,
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
    /// A v2 payload: its `data` (object or array) and `includes`.
    Payload {
        data: &'a RawValue,
        includes: Option<&'a RawValue>,
    },
    /// A delete notice for this tweet id.
    Delete(String),
    Control(ControlKind),
}

/// Why a record could not be classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("tweet without an id")]
    MissingId,
    #[error("invalid UTF-8 in record")]
    InvalidUtf8,
}

impl From<serde_json::Error> for RecordError {
    fn from(e: serde_json::Error) -> Self {
        RecordError::Json(e.to_string())
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
    // validation (every key of every object we read), which cost more than this.
    let text = std::str::from_utf8(bytes).map_err(|_| RecordError::InvalidUtf8)?;
    let raw: RawTweet<'_> = serde_json::from_str(text)?;
    if let Some(data) = raw.data
        && raw.text.is_none()
        && raw.full_text.is_none()
    {
        return Ok(Sorted::Other(Classified::Payload {
            data,
            includes: raw.includes,
        }));
    }
    if let Some(delete) = raw.delete {
        return Ok(Sorted::Other(match delete_target(delete) {
            Some(id) => Classified::Delete(id),
            None => Classified::Control(ControlKind::Delete),
        }));
    }
    let control = [
        (raw.scrub_geo.is_some(), ControlKind::ScrubGeo),
        (raw.limit.is_some(), ControlKind::Limit),
        (raw.status_withheld.is_some(), ControlKind::StatusWithheld),
        (raw.user_withheld.is_some(), ControlKind::UserWithheld),
        (raw.disconnect.is_some(), ControlKind::Disconnect),
        (raw.warning.is_some(), ControlKind::Warning),
    ];
    if let Some((_, kind)) = control.into_iter().find(|(present, _)| *present) {
        return Ok(Sorted::Other(Classified::Control(kind)));
    }
    let is_tweet = raw.text.is_some()
        || raw.full_text.is_some()
        || raw.extended_tweet.is_some()
        || raw.note_tweet.is_some();
    if is_tweet {
        if tweet_id(&raw).is_none() {
            return Err(RecordError::MissingId);
        }
        return Ok(Sorted::Tweet(raw));
    }
    if raw.includes.is_some() {
        return Ok(Sorted::Other(Classified::Control(
            ControlKind::EmptyPayload,
        )));
    }
    if raw.event.is_some() {
        return Ok(Sorted::Other(Classified::Control(ControlKind::Other(
            "event".to_owned(),
        ))));
    }
    Ok(Sorted::Other(Classified::Control(ControlKind::Other(
        first_key(bytes),
    ))))
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

/// `delete.status.{id_str,id}` (v1) or `delete.tweet.id` (v2 compliance events).
fn delete_target(delete: &RawValue) -> Option<String> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Delete<'a> {
        #[serde(borrow)]
        status: Lenient<Target<'a>>,
        #[serde(borrow)]
        tweet: Lenient<Target<'a>>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Target<'a> {
        #[serde(borrow)]
        id_str: Str<'a>,
        #[serde(borrow)]
        id: Lenient<RawId<'a>>,
    }
    let d: Delete<'_> = serde_json::from_str(delete.get()).ok()?;
    let t = d.status.0.or(d.tweet.0)?;
    t.id_str
        .0
        .filter(|s| !s.is_empty())
        .map(|s| s.0.into_owned())
        .or_else(|| t.id.0.filter(|i| !i.is_empty()).map(|i| i.to_id_string()))
}

/// The first key of a JSON object, for naming unknown control messages.
fn first_key(bytes: &[u8]) -> String {
    struct FirstKey;
    impl<'de> Visitor<'de> for FirstKey {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<String, A::Error> {
            let key: Option<Cow<'de, str>> = map.next_key()?;
            // Drain the rest so the deserializer is satisfied.
            if key.is_some() {
                map.next_value::<IgnoredAny>()?;
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            }
            Ok(key
                .map(Cow::into_owned)
                .unwrap_or_else(|| "empty".to_owned()))
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.deserialize_map(FirstKey)
        .unwrap_or_else(|_| "other".to_owned())
}
