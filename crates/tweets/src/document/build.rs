//! A tweet's view ([`RawTweet`], with a v2 payload's `includes`) -> its [`Document`]: the full
//! text (a retweet's from the retweeted tweet) and the entities that go with it, the ids it
//! refers to, its user, time, point and place, VADER sentiment and emoji, and a [`Warning`] for
//! each value dropped or replaced. Not the record's parsing (`crate::record`), nor the
//! document's JSON (`to_json.rs`), nor compliance (applied by the extractor afterwards).

use std::borrow::Cow;

use super::{Coordinates, Document, Place, Sentiment, User};
use crate::emoji;
use crate::error::Warning;
use crate::geo::{self, GeoSource, GeoWarning, Point};
use crate::record::{
    Checked, RawEntities, RawId, RawIncludes, RawPlace, RawPoint, RawTweet, RawUser, RawV2Geo,
    Seen, TweetText, any_tweet_id,
};

/// Context a tweet is read in: a v2 payload's `includes` (users, places, referenced tweets).
#[derive(Default)]
pub(crate) struct Context<'r, 'a> {
    pub includes: Option<&'r RawIncludes<'a>>,
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
            Some(RawId::Str(s)) => Some(&**s),
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
