//! The lenient schema: the fields of a record that we read, in one flat borrowed view
//! ([`RawTweet`], with the members it nests) parsed in one `serde_json` pass, and a tweet's id
//! read from it. Strings borrow from the record buffer unless they contain escapes; everything
//! else is skipped without allocating. Not how one field is read (`lenient.rs`), nor what a
//! record is (`classify.rs`).

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::lenient::{Checked, CowStr, Lenient, RawId, Str};

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
