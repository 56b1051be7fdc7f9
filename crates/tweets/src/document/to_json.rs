//! The document as the `_source` JSON of a bulk request ([`Document::to_json`]), written by
//! hand with the bytes serde_json gives for the derived `Serialize` (a property test holds them
//! equal). Not what goes into a document (`build.rs`).

use super::Document;
use crate::geo::GeoSource;

impl Document {
    /// Serializes the document as the `_source` JSON of a bulk request: the same bytes as
    /// serde_json gives for the derived [`serde::Serialize`] (a test holds them equal), written by
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

#[cfg(test)]
mod tests {
    use super::super::{Coordinates, Place, Sentiment, User};
    use super::*;
    use crate::compliance::Reason;
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
