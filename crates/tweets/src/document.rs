//! Stage 3: a classified tweet -> the index document (text, entities, sentiment, emoji, geo).
//!
//! Field names and types of the original Python Lambda are kept (`id_str`, `timestamp_ms`,
//! `text`, `user.id`, `user.name`, `hashtags`, `mentions`, `coordinates.coordinates`,
//! `sentiments`, `emoticons`) so its indexes and dashboards keep working; the other fields are
//! new. `mappings/twitter.json` maps every field serialized here.
//!
//! Files: the document's types are here; `build.rs` (a tweet's view -> its [`Document`]: text,
//! entities, ids, user, time, place and point, sentiment, emoji) and `to_json.rs` (the
//! `_source` bytes). The [`Warning`]s a document carries are shared with the record stage
//! (`error.rs`).

use serde::Serialize;

use crate::compliance::Reason;
use crate::geo::{GeoSource, Point};

mod build;
mod to_json;

pub use crate::error::Warning;
pub use build::unescape_html;
pub(crate) use build::{Context, build};

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
