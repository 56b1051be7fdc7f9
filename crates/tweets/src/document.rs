//! Stage 3: a classified tweet -> the index document (text, entities, sentiment, emoji, geo).
//!
//! Field names and types of the original Python Lambda are kept (`id_str`, `timestamp_ms`,
//! `text`, `user.id`, `user.name`, `hashtags`, `mentions`, `coordinates.coordinates`,
//! `sentiments`, `emoticons`) so its indexes and dashboards keep working; the other fields are
//! new. `mappings/twitter.json` maps every field serialized here.

use std::borrow::Cow;

use serde::Serialize;

use crate::compliance::Reason;
use crate::emoji;
use crate::geo::{self, GeoSource, GeoWarning, Point};
use crate::record::{
    Checked, RawEntities, RawId, RawIncludes, RawPlace, RawPoint, RawTweet, RawUser, RawV2Geo,
    Seen, TweetText, any_tweet_id,
};

/// One index document; `_id` is [`Document::id_str`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Document {
    /// The tweet id (decimal string, exact).
    pub id_str: String,
    /// Creation time, epoch milliseconds: `timestamp_ms`, else `created_at` (v1 or ISO 8601).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<i64>,
    /// Full text, HTML entities unescaped (for a retweet: the retweeted tweet's full text).
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// The client's name (v1's HTML anchor reduced to its text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub user: User,
    /// Hashtags without `#`, from entities.
    pub hashtags: Vec<String>,
    /// Mentioned accounts as `@screen_name`, from entities.
    pub mentions: Vec<String>,
    /// Expanded URLs, from entities.
    pub urls: Vec<String>,
    /// GeoJSON point `[lon, lat]` (a place's centroid when the tweet has no point).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coordinates: Option<Coordinates>,
    /// Where `coordinates` came from; absent once a `scrub_geo` removed every location field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geo_source: Option<GeoSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<Place>,
    /// The VADER label: `Positive`, `Neutral` or `Negative` (always one keyword).
    pub sentiments: &'static str,
    pub sentiment: Sentiment,
    /// Every emoji of the text in order, fully qualified.
    pub emoticons: Vec<String>,
    pub is_retweet: bool,
    pub is_quote: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retweeted_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quoted_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_reply_to_id: Option<String>,
    /// Compliance (see [`crate::compliance`]): the countries the tweet or its user is
    /// withheld in, as X names the field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub withheld_in_countries: Vec<String>,
    /// Whether `suppressed_reasons` is not empty: the document must not be shown.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub suppressed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suppressed_reasons: Vec<Reason>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct User {
    /// Numeric user id (`long`, as in the original mapping; exact, parsed from the string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screen_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub followers_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
}

/// GeoJSON point as the original Lambda stored it: `{"type": "Point", "coordinates": [lon, lat]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coordinates {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub coordinates: [f64; 2],
}

impl Coordinates {
    pub fn point(p: Point) -> Self {
        Coordinates {
            kind: "Point",
            coordinates: [p.lon, p.lat],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Place {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
}

/// The four VADER scores.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Sentiment {
    pub compound: f64,
    pub pos: f64,
    pub neu: f64,
    pub neg: f64,
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

/// Context a tweet is read in: a v2 payload's `includes` (users, places, referenced tweets).
#[derive(Default)]
pub(crate) struct Context<'r, 'a> {
    pub includes: Option<&'r RawIncludes<'a>>,
}

impl Document {
    /// Serializes the document as the `_source` JSON of a bulk request: the same bytes as
    /// serde_json gives for the derived [`Serialize`] (a test holds them equal), written by
    /// hand because that is a third of the cost: serde_json writes each key and value in
    /// several small calls and escapes byte by byte, where most of our strings need no
    /// escape and every key is known (issue 14, per-core cost).
    pub fn to_json(&self) -> Vec<u8> {
        // Room for the fixed fields plus the strings, so the buffer is not regrown as it fills.
        let strings = self.text.len()
            + self
                .hashtags
                .iter()
                .chain(&self.mentions)
                .chain(&self.urls)
                .chain(&self.emoticons)
                .map(|s| s.len() + 3)
                .sum::<usize>();
        let mut out = Vec::with_capacity(640 + strings + strings / 8);
        let o = &mut out;
        o.extend_from_slice(b"{\"id_str\":");
        json::string(o, &self.id_str);
        if let Some(t) = self.timestamp_ms {
            o.extend_from_slice(b",\"timestamp_ms\":");
            json::integer(o, t);
        }
        o.extend_from_slice(b",\"text\":");
        json::string(o, &self.text);
        json::optional_string(o, b",\"lang\":", &self.lang);
        json::optional_string(o, b",\"source\":", &self.source);
        o.extend_from_slice(b",\"user\":{");
        let user = &self.user;
        let mut first = true;
        let mut key = |o: &mut Vec<u8>, name: &[u8]| {
            if !std::mem::take(&mut first) {
                o.push(b',');
            }
            o.extend_from_slice(name);
        };
        if let Some(id) = user.id {
            key(o, b"\"id\":");
            json::integer(o, id);
        }
        if let Some(name) = &user.name {
            key(o, b"\"name\":");
            json::string(o, name);
        }
        if let Some(screen_name) = &user.screen_name {
            key(o, b"\"screen_name\":");
            json::string(o, screen_name);
        }
        if let Some(n) = user.followers_count {
            key(o, b"\"followers_count\":");
            json::integer(o, n);
        }
        if let Some(verified) = user.verified {
            key(o, b"\"verified\":");
            json::boolean(o, verified);
        }
        o.extend_from_slice(b"},\"hashtags\":");
        json::strings(o, &self.hashtags);
        o.extend_from_slice(b",\"mentions\":");
        json::strings(o, &self.mentions);
        o.extend_from_slice(b",\"urls\":");
        json::strings(o, &self.urls);
        if let Some(c) = &self.coordinates {
            o.extend_from_slice(b",\"coordinates\":{\"type\":");
            json::string(o, c.kind);
            o.extend_from_slice(b",\"coordinates\":[");
            json::float(o, c.coordinates[0]);
            o.push(b',');
            json::float(o, c.coordinates[1]);
            o.extend_from_slice(b"]}");
        }
        o.extend_from_slice(match self.geo_source {
            Some(GeoSource::Coordinates) => b",\"geo_source\":\"coordinates\"",
            Some(GeoSource::Place) => b",\"geo_source\":\"place\"",
            Some(GeoSource::None) => b",\"geo_source\":\"none\"",
            None => b"",
        });
        if let Some(place) = &self.place {
            o.extend_from_slice(b",\"place\":{");
            if let Some(full_name) = &place.full_name {
                o.extend_from_slice(b"\"full_name\":");
                json::string(o, full_name);
            }
            if let Some(country_code) = &place.country_code {
                if place.full_name.is_some() {
                    o.push(b',');
                }
                o.extend_from_slice(b"\"country_code\":");
                json::string(o, country_code);
            }
            o.push(b'}');
        }
        o.extend_from_slice(b",\"sentiments\":");
        json::string(o, self.sentiments);
        let sentiment = &self.sentiment;
        o.extend_from_slice(b",\"sentiment\":{\"compound\":");
        json::float(o, sentiment.compound);
        o.extend_from_slice(b",\"pos\":");
        json::float(o, sentiment.pos);
        o.extend_from_slice(b",\"neu\":");
        json::float(o, sentiment.neu);
        o.extend_from_slice(b",\"neg\":");
        json::float(o, sentiment.neg);
        o.extend_from_slice(b"},\"emoticons\":");
        json::strings(o, &self.emoticons);
        o.extend_from_slice(b",\"is_retweet\":");
        json::boolean(o, self.is_retweet);
        o.extend_from_slice(b",\"is_quote\":");
        json::boolean(o, self.is_quote);
        json::optional_string(o, b",\"retweeted_id\":", &self.retweeted_id);
        json::optional_string(o, b",\"quoted_id\":", &self.quoted_id);
        json::optional_string(o, b",\"in_reply_to_id\":", &self.in_reply_to_id);
        if !self.withheld_in_countries.is_empty() {
            o.extend_from_slice(b",\"withheld_in_countries\":");
            json::strings(o, &self.withheld_in_countries);
        }
        if self.suppressed {
            o.extend_from_slice(b",\"suppressed\":true");
        }
        if !self.suppressed_reasons.is_empty() {
            o.extend_from_slice(b",\"suppressed_reasons\":");
            json::strings(o, self.suppressed_reasons.iter().map(|r| r.as_str()));
        }
        o.push(b'}');
        out
    }
}

/// JSON values as serde_json writes them (compact), for [`Document::to_json`].
mod json {
    pub(super) fn string(out: &mut Vec<u8>, s: &str) {
        // serde_json escapes exactly `"`, `\` and the bytes below 0x20 (non-ASCII stays as
        // is): a string with none of them is copied whole. The test for them has no early
        // exit, so it runs as a vector loop.
        let needs_escape = s.bytes().fold(false, |any, b| {
            any | (b < 0x20) | (b == b'"') | (b == b'\\')
        });
        if needs_escape {
            // Writing into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, s);
        } else {
            out.reserve(s.len() + 2);
            out.push(b'"');
            out.extend_from_slice(s.as_bytes());
            out.push(b'"');
        }
    }

    pub(super) fn optional_string(out: &mut Vec<u8>, key: &[u8], value: &Option<String>) {
        if let Some(value) = value {
            out.extend_from_slice(key);
            string(out, value);
        }
    }

    pub(super) fn strings<S: AsRef<str>>(out: &mut Vec<u8>, values: impl IntoIterator<Item = S>) {
        out.push(b'[');
        for (i, value) in values.into_iter().enumerate() {
            let value = value.as_ref();
            if i > 0 {
                out.push(b',');
            }
            string(out, value);
        }
        out.push(b']');
    }

    pub(super) fn integer(out: &mut Vec<u8>, n: impl std::fmt::Display) {
        use std::io::Write;
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{n}");
    }

    pub(super) fn float(out: &mut Vec<u8>, x: f64) {
        // serde_json's own formatting (shortest round-trip; `null` for NaN and infinities).
        let _ = serde_json::to_writer(&mut *out, &x);
    }

    pub(super) fn boolean(out: &mut Vec<u8>, b: bool) {
        out.extend_from_slice(if b { b"true" } else { b"false" });
    }
}

/// Builds a document from a tweet. `id` is the tweet's id (already checked present).
pub(crate) fn build(
    raw: &RawTweet<'_>,
    id: String,
    ctx: &Context<'_, '_>,
    analyzer: &vader::Analyzer,
    warnings: &mut Vec<Warning>,
) -> Document {
    // The text we index, and the entities that go with it.
    let retweeted = raw.retweeted_status.as_deref();
    let retweet_ref = reference(raw, "retweeted");
    let v2_retweeted = match (retweeted, &retweet_ref, ctx.includes) {
        (None, Some(rid), Some(inc)) => inc
            .tweets
            .iter()
            .flatten()
            .find(|t| any_tweet_id(*t).as_deref() == Some(rid)),
        _ => None,
    };
    let (text, entities) = match retweeted.or(v2_retweeted) {
        Some(r) => (full_text(r), full_entities(r)),
        None => (full_text(raw), full_entities(raw)),
    };
    let text = match text {
        Some(text) => unescape_html(text).into_owned(),
        None => {
            let why = match (retweeted.or(v2_retweeted), &raw.text.seen) {
                (Some(_), _) => "none in the retweeted tweet".to_owned(),
                (None, Seen::Null) => "null".to_owned(),
                (None, Seen::Refused(what)) => what.clone(),
                (None, Seen::Absent | Seen::Read) => "missing".to_owned(),
            };
            warnings.push(Warning::Text(why));
            String::new()
        }
    };

    // Sized once from the entity lists (each entity gives at most one entry).
    fn count<T>(list: &Option<Vec<T>>) -> usize {
        list.as_ref().map_or(0, Vec::len)
    }
    let mut hashtags = Vec::with_capacity(entities.map_or(0, |e| count(&e.hashtags)));
    let mut mentions =
        Vec::with_capacity(entities.map_or(0, |e| count(&e.user_mentions) + count(&e.mentions)));
    let mut urls = Vec::with_capacity(entities.map_or(0, |e| count(&e.urls)));
    if let Some(e) = entities {
        for h in e.hashtags.iter().flatten() {
            if let Some(t) = h.text.as_deref().or(h.tag.as_deref()) {
                hashtags.push(t.to_owned());
            }
        }
        for m in e.user_mentions.iter().chain(e.mentions.iter()).flatten() {
            if let Some(n) = m.screen_name.as_deref().or(m.username.as_deref()) {
                let mut mention = String::with_capacity(n.len() + 1);
                mention.push('@');
                mention.push_str(n);
                mentions.push(mention);
            }
        }
        for u in e.urls.iter().flatten() {
            if let Some(x) = u.expanded_url.as_deref().or(u.url.as_deref()) {
                urls.push(x.to_owned());
            }
        }
    }

    let scores = analyzer.polarity_scores(&text);
    let mut emoticons = Vec::new();
    emoji::extract_into(&text, &mut emoticons);

    let timestamp_ms = timestamp(raw, warnings);
    let user = user(raw, ctx);

    let retweeted_id = retweeted
        .and_then(any_tweet_id)
        .or(retweet_ref.map(str::to_owned));
    let quoted_id = raw
        .quoted_status_id_str
        .as_deref()
        .map(str::to_owned)
        .or(raw.quoted_status_id.as_ref().map(|n| n.to_string()))
        .or(reference(raw, "quoted").map(str::to_owned));
    let in_reply_to_id = raw
        .in_reply_to_status_id_str
        .as_deref()
        .map(str::to_owned)
        .or(raw.in_reply_to_status_id.as_ref().map(|n| n.to_string()))
        .or(reference(raw, "replied_to").map(str::to_owned));

    let (point, geo_source, place) = locate(raw, ctx, warnings);

    Document {
        id_str: id,
        timestamp_ms,
        text,
        lang: raw.lang.as_deref().map(str::to_owned),
        source: raw.source.as_deref().map(source_name),
        user,
        hashtags,
        mentions,
        urls,
        coordinates: point.map(Coordinates::point),
        geo_source: Some(geo_source),
        place,
        sentiments: scores.label().as_str(),
        sentiment: Sentiment {
            compound: scores.compound,
            pos: scores.pos,
            neu: scores.neu,
            neg: scores.neg,
        },
        emoticons,
        is_retweet: retweeted_id.is_some(),
        is_quote: quoted_id.is_some() || *raw.is_quote_status == Some(true),
        retweeted_id,
        quoted_id,
        in_reply_to_id,
        withheld_in_countries: Vec::new(),
        suppressed: false,
        suppressed_reasons: Vec::new(),
    }
}

/// `extended_tweet.full_text` > `note_tweet.text` > `full_text` > `text`.
fn full_text<'r, 'a: 'r>(t: &'r impl TweetText<'a>) -> Option<&'r str> {
    t.extended_tweet()
        .as_ref()
        .and_then(|e| e.full_text.as_deref())
        .or_else(|| t.note_tweet().as_ref().and_then(|n| n.text.as_deref()))
        .or(t.full_text().as_deref())
        .or(t.text().as_deref())
}

/// The entities that match [`full_text`].
fn full_entities<'r, 'a>(t: &'r impl TweetText<'a>) -> Option<&'r RawEntities<'a>> {
    t.extended_tweet()
        .as_ref()
        .and_then(|e| e.entities.as_ref())
        .or_else(|| t.note_tweet().as_ref().and_then(|n| n.entities.as_ref()))
        .or(t.entities().as_ref())
}

/// v2 `referenced_tweets[type == kind].id`.
fn reference<'r>(t: &'r RawTweet<'_>, kind: &str) -> Option<&'r str> {
    t.referenced_tweets
        .iter()
        .flatten()
        .find(|r| r.kind.as_deref() == Some(kind))
        .and_then(|r| match &*r.id {
            Some(crate::record::RawId::Str(s)) => Some(&**s),
            _ => None,
        })
}

fn user(raw: &RawTweet<'_>, ctx: &Context<'_, '_>) -> User {
    let found: Option<&RawUser<'_>> = raw.user.as_ref().or(raw.author.as_deref()).or_else(|| {
        let author = raw.author_id.as_deref()?;
        ctx.includes?
            .users
            .iter()
            .flatten()
            .find(|u| user_id(u).as_deref() == Some(author))
    });
    match found {
        Some(u) => User {
            id: numeric_user_id(u)
                .or_else(|| raw.author_id.as_deref().and_then(|s| s.parse().ok())),
            name: u.name.as_deref().map(str::to_owned),
            screen_name: u
                .screen_name
                .as_deref()
                .or(u.username.as_deref())
                .map(str::to_owned),
            followers_count: u
                .followers_count
                .or(u.public_metrics.as_ref().and_then(|m| *m.followers_count)),
            verified: *u.verified,
        },
        None => User {
            id: raw.author_id.as_deref().and_then(|s| s.parse().ok()),
            ..User::default()
        },
    }
}

/// `user_id(u)` as a number, without making the string.
fn numeric_user_id(u: &RawUser<'_>) -> Option<u64> {
    match u.id_str.as_deref() {
        Some(s) => s.parse().ok(),
        None => u.id.as_ref().and_then(RawId::as_u64),
    }
}

fn user_id(u: &RawUser<'_>) -> Option<String> {
    u.id_str
        .as_deref()
        .map(str::to_owned)
        .or_else(|| u.id.as_ref().map(|i| i.to_id_string()))
}

fn timestamp(raw: &RawTweet<'_>, warnings: &mut Vec<Warning>) -> Option<i64> {
    let refused = match (&raw.timestamp_ms.value, &raw.timestamp_ms.seen) {
        (Some(ms), _) => match ms.as_u64().and_then(|n| i64::try_from(n).ok()) {
            Some(n) => return Some(n),
            None => Some(match ms {
                RawId::Str(s) => format!("a string: {:?}", s.chars().take(64).collect::<String>()),
                RawId::Num(n) => format!("a number: {n}"),
            }),
        },
        (None, Seen::Refused(what)) => Some(what.clone()),
        (None, _) => None,
    };
    if let Some(what) = refused {
        warnings.push(Warning::TimestampMs(what));
    }
    let created = raw.created_at.as_deref()?;
    let parsed = crate::time::parse_created_at(created);
    if parsed.is_none() {
        warnings.push(Warning::Time(created.chars().take(64).collect()));
    }
    parsed
}

/// Point, its source and the place, with warnings for refused values.
fn locate(
    raw: &RawTweet<'_>,
    ctx: &Context<'_, '_>,
    warnings: &mut Vec<Warning>,
) -> (Option<Point>, GeoSource, Option<Place>) {
    // v1 `geo` is a `[lat, lon]` array we never read; v2 `geo` is an object.
    let v2_geo: Option<RawV2Geo<'_>> = match raw.geo.filter(|_| raw.user.is_none()) {
        Some(g) if g.get().starts_with('{') => match serde_json::from_str(g.get()) {
            Ok(g) => Some(g),
            Err(e) => {
                warnings.push(GeoWarning::Unusable(format!("v2 geo ({e})")).into());
                None
            }
        },
        _ => None,
    };

    // 1. The tweet's own point: the first of v1 `coordinates` and v2 `geo.coordinates`
    // that holds anything but `null`.
    let own = [
        Some(&raw.coordinates),
        v2_geo.as_ref().map(|g| &g.coordinates),
    ]
    .into_iter()
    .flatten()
    .find(|c| !matches!(c.seen, Seen::Absent | Seen::Null));
    let point = match own.map(own_point) {
        Some(Ok(p)) => p,
        Some(Err(w)) => {
            warnings.push(w.into());
            None
        }
        None => None,
    };

    // 2. The place: v1 inline, v2 by id in includes.
    let place: Option<&RawPlace<'_>> = raw.place.as_deref().or_else(|| {
        let id = v2_geo.as_ref()?.place_id.as_deref()?;
        ctx.includes?
            .places
            .iter()
            .flatten()
            .find(|p| p.id.as_deref() == Some(id))
    });
    let place_doc = place.map(|p| Place {
        full_name: p.full_name.as_deref().map(str::to_owned),
        country_code: p.country_code.as_deref().map(str::to_owned),
    });
    if let Some(p) = point {
        return (Some(p), GeoSource::Coordinates, place_doc);
    }
    if let Some(p) = place {
        let centroid = if let Some(rings) = p
            .bounding_box
            .as_ref()
            .and_then(|b| b.coordinates.as_deref())
        {
            geo::polygon_centroid(rings)
        } else if let Some(bbox) = p.geo.as_ref().and_then(|g| g.bbox.as_deref()) {
            geo::bbox_slice_centroid(bbox)
        } else {
            Ok(None)
        };
        match centroid {
            Ok(Some(c)) => return (Some(c), GeoSource::Place, place_doc),
            Ok(None) => {}
            Err(w) => warnings.push(w.into()),
        }
    }
    (None, GeoSource::None, place_doc)
}

/// A GeoJSON point field: `Ok(None)` for an empty or `null` point, a warning for a value that
/// is dropped (out of range, not numbers, not a point object).
fn own_point(field: &Checked<RawPoint>) -> Result<Option<Point>, GeoWarning> {
    let unusable = |what: &str| Err(GeoWarning::Unusable(what.to_owned()));
    match (&field.value, &field.seen) {
        (Some(point), _) => match (&point.coordinates.value, &point.coordinates.seen) {
            (Some(members), _) => match members.iter().map(|m| m.value).collect::<Option<Vec<_>>>()
            {
                Some(c) => geo::point(&c),
                None => {
                    let shown: Vec<String> = members
                        .iter()
                        .map(|m| match (&m.value, &m.seen) {
                            (Some(n), _) => n.to_string(),
                            (None, Seen::Refused(what)) => what.clone(),
                            (None, _) => "null".to_owned(),
                        })
                        .collect();
                    unusable(&format!("[{}]", shown.join(", ")))
                }
            },
            (None, Seen::Refused(what)) => unusable(what),
            (None, Seen::Absent) => unusable("a point object without coordinates"),
            (None, Seen::Null | Seen::Read) => Ok(None),
        },
        (None, Seen::Refused(what)) => unusable(what),
        (None, _) => Ok(None),
    }
}

/// Twitter escapes exactly `&`, `<` and `>` in tweet text; undo that and nothing else (a
/// literal `&amp;copy;` typed by a user must become `&copy;`, not `©`).
pub fn unescape_html(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (ch, skip) = if tail.starts_with("&amp;") {
            ('&', 5)
        } else if tail.starts_with("&lt;") {
            ('<', 4)
        } else if tail.starts_with("&gt;") {
            ('>', 4)
        } else {
            ('&', 1)
        };
        out.push(ch);
        rest = &tail[skip..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// v1 `source` is `<a href="..." rel="nofollow">Client</a>`: keep `Client`. v2 is plain.
fn source_name(s: &str) -> String {
    if s.starts_with("<a")
        && let (Some(open), Some(close)) = (
            memchr::memchr(b'>', s.as_bytes()),
            memchr::memmem::rfind(s.as_bytes(), b"</a>"),
        )
        && open < close
    {
        return unescape_html(&s[open + 1..close]).into_owned();
    }
    s.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    mod to_json {
        use super::*;
        use proptest::prelude::*;

        /// Strings that need every escape serde_json makes, and many that need none.
        fn text() -> impl Strategy<Value = String> {
            prop_oneof![
                "[a-z #@]{0,40}",
                "\\PC{0,20}",
                proptest::collection::vec(any::<char>(), 0..12)
                    .prop_map(|cs| cs.into_iter().collect::<String>()),
                Just("quote \" backslash \\ newline \n tab \t nul \u{0} del \u{7f} ❤️".to_owned()),
            ]
        }

        fn float() -> impl Strategy<Value = f64> {
            prop_oneof![
                -1.0f64..1.0,
                any::<f64>(),
                Just(0.0),
                Just(-0.0),
                Just(f64::NAN),
                Just(f64::INFINITY)
            ]
        }

        prop_compose! {
            fn document()(
                texts in proptest::collection::vec(proptest::option::of(text()), 11),
                lists in proptest::collection::vec(proptest::collection::vec(text(), 0..4), 5),
                reasons in proptest::sample::subsequence(Reason::ALL.to_vec(), 0..=5),
                numbers in any::<(Option<i64>, Option<u64>, Option<u64>, Option<bool>)>(),
                floats in proptest::collection::vec(float(), 6),
                shape in any::<(bool, bool, u8, u8, bool, bool, bool)>(),
            ) -> Document {
                let text = |i: usize| texts[i].clone();
                Document {
                    id_str: text(0).unwrap_or_default(),
                    timestamp_ms: numbers.0,
                    text: text(1).unwrap_or_default(),
                    lang: text(2),
                    source: text(3),
                    user: User {
                        id: numbers.1,
                        name: text(4),
                        screen_name: text(5),
                        followers_count: numbers.2,
                        verified: numbers.3,
                    },
                    hashtags: lists[0].clone(),
                    mentions: lists[1].clone(),
                    urls: lists[2].clone(),
                    coordinates: shape.0.then(|| Coordinates {
                        kind: "Point",
                        coordinates: [floats[4], floats[5]],
                    }),
                    geo_source: [
                        Some(GeoSource::Coordinates),
                        Some(GeoSource::Place),
                        Some(GeoSource::None),
                        None,
                    ][usize::from(shape.2 % 4)],
                    place: shape.1.then(|| Place {
                        full_name: text(6),
                        country_code: text(7),
                    }),
                    sentiments: ["Positive", "Neutral", "Negative"][usize::from(shape.3 % 3)],
                    sentiment: Sentiment {
                        compound: floats[0],
                        pos: floats[1],
                        neu: floats[2],
                        neg: floats[3],
                    },
                    emoticons: lists[3].clone(),
                    is_retweet: shape.4,
                    is_quote: shape.5,
                    retweeted_id: text(8),
                    quoted_id: text(9),
                    in_reply_to_id: text(10),
                    withheld_in_countries: lists[4].clone(),
                    suppressed: shape.6,
                    suppressed_reasons: reasons.clone(),
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            /// The hand-written writer gives the bytes of the derived `Serialize`, the spec.
            #[test]
            fn equals_the_derived_serialization(doc in document()) {
                let derived = String::from_utf8(serde_json::to_vec(&doc).unwrap()).unwrap();
                let written = String::from_utf8(doc.to_json()).unwrap();
                prop_assert_eq!(written, derived);
            }
        }
    }

    #[test]
    fn html_unescape_only_twitter_entities() {
        assert_eq!(
            unescape_html("a &amp; b &lt;3 &gt;:( &amp;copy; &quot;"),
            "a & b <3 >:( &copy; &quot;"
        );
        assert!(matches!(unescape_html("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn numeric_user_id_is_the_user_id_string_parsed() {
        for json in [
            r#"{"id_str":"12","id":34}"#,
            r#"{"id_str":"x","id":34}"#,
            r#"{"id_str":"","id":34}"#,
            r#"{"id":34}"#,
            r#"{"id":"56"}"#,
            r#"{"id":"18446744073709551616"}"#,
            r#"{"id":-1}"#,
            r#"{"name":"no id"}"#,
        ] {
            let u: RawUser<'_> = serde_json::from_str(json).unwrap();
            let want = user_id(&u).and_then(|s| s.parse::<u64>().ok());
            assert_eq!(numeric_user_id(&u), want, "{json}");
        }
    }

    #[test]
    fn source_anchor_is_reduced_to_its_text() {
        assert_eq!(
            source_name(r#"<a href="http://twitter.com" rel="nofollow">Twitter Web Client</a>"#),
            "Twitter Web Client"
        );
        assert_eq!(source_name("Twitter for iPhone"), "Twitter for iPhone");
    }
}
