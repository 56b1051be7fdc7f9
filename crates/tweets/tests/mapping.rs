//! `mappings/twitter.json` maps every field a document can carry, with the intended type, and
//! nothing else but [`TOMBSTONE_FIELDS`]: the field of the tombstone a delete writes under the
//! tweet's id (`{"deleted":true}`, written by `search-sink`; README "Delivery"), mapped so
//! tombstones can be filtered (the dashboards query `NOT deleted:true`).

use std::collections::BTreeMap;

use serde_json::Value;
use tweets::compliance::Reason;
use tweets::document::{Coordinates, Place, Sentiment, User};
use tweets::geo::{GeoSource, Point};
use tweets::{Document, MAPPING_JSON};

/// Mapped fields no `Document` carries: the tombstone's (`search_sink::TOMBSTONE_SOURCE`,
/// checked against this mapping in `crates/pipeline/tests/tombstones.rs`).
const TOMBSTONE_FIELDS: [(&str, &str); 1] = [("deleted", "boolean")];

/// A document with every optional field set. A struct literal: adding a field to `Document`
/// without updating this test (and so the mapping check) does not compile.
fn full_document() -> Document {
    Document {
        id_str: "1611340888684331008".into(),
        timestamp_ms: Some(1_673_000_000_000),
        text: "text".into(),
        lang: Some("en".into()),
        source: Some("Twitter for iPhone".into()),
        user: User {
            id: Some(9_007_199_254_740_993),
            name: Some("Name".into()),
            screen_name: Some("name".into()),
            followers_count: Some(10),
            verified: Some(true),
        },
        hashtags: vec!["tag".into()],
        mentions: vec!["@x".into()],
        urls: vec!["https://example.org/".into()],
        coordinates: Some(Coordinates::point(Point { lon: 1.5, lat: 2.5 })),
        geo_source: Some(GeoSource::Coordinates),
        place: Some(Place {
            full_name: Some("Paris, France".into()),
            country_code: Some("FR".into()),
        }),
        sentiments: "Positive",
        sentiment: Sentiment {
            compound: 0.5,
            pos: 0.4,
            neu: 0.6,
            neg: 0.0,
        },
        emoticons: vec!["❤️".into()],
        is_retweet: true,
        is_quote: true,
        retweeted_id: Some("2".into()),
        quoted_id: Some("3".into()),
        in_reply_to_id: Some("4".into()),
        withheld_in_countries: vec!["DE".into(), "FR".into()],
        suppressed: true,
        suppressed_reasons: vec![Reason::UserProtect, Reason::Edited],
    }
}

/// Leaf paths of the mapping with their types.
fn mapped(props: &Value, prefix: &str, out: &mut BTreeMap<String, String>) {
    for (k, v) in props.as_object().expect("properties") {
        let path = format!("{prefix}{k}");
        if let Some(inner) = v.get("properties") {
            assert!(v.get("type").is_none() || v["type"] == "object", "{path}");
            mapped(inner, &format!("{path}."), out);
        } else {
            out.insert(path, v["type"].as_str().expect("type").to_owned());
        }
    }
}

/// Leaf paths of a serialized document with the JSON kind of their values.
fn produced(v: &Value, prefix: &str, out: &mut BTreeMap<String, Value>) {
    for (k, v) in v.as_object().expect("object") {
        let path = format!("{prefix}{k}");
        match v {
            Value::Object(_) if path != "coordinates.coordinates" => {
                produced(v, &format!("{path}."), out)
            }
            _ => {
                out.insert(path, v.clone());
            }
        }
    }
}

fn compatible(ty: &str, v: &Value) -> bool {
    let scalars: Vec<&Value> = match v {
        Value::Array(a) if ty != "geo_point" => a.iter().collect(),
        other => vec![other],
    };
    scalars.iter().all(|s| match ty {
        "keyword" | "text" => s.is_string(),
        "long" => s.is_u64() || s.is_i64(),
        "float" | "double" => s.is_number(),
        "boolean" => s.is_boolean(),
        "date" => s.is_i64() || s.is_u64() || s.is_string(),
        // [lon, lat]
        "geo_point" => s.as_array().is_some_and(|a| {
            a.len() == 2
                && a[0].as_f64().is_some_and(|x| x.abs() <= 180.0)
                && a[1].as_f64().is_some_and(|y| y.abs() <= 90.0)
        }),
        _ => false,
    })
}

#[test]
fn mapping_is_typeless_strict_and_covers_every_field() {
    let body: Value = serde_json::from_str(MAPPING_JSON).expect("mapping is JSON");
    assert!(body["settings"].is_object());
    let mappings = &body["mappings"];
    assert_eq!(
        mappings["dynamic"],
        Value::Bool(false),
        "dynamic must be false"
    );
    assert!(
        mappings.get("_doc").is_none() && mappings.get("tweet").is_none(),
        "typeless"
    );
    let mut types = BTreeMap::new();
    mapped(&mappings["properties"], "", &mut types);

    let doc = serde_json::to_value(full_document()).unwrap();
    let mut fields = BTreeMap::new();
    produced(&doc, "", &mut fields);

    let expected: BTreeMap<&str, &str> = [
        ("id_str", "keyword"),
        ("timestamp_ms", "date"),
        ("text", "text"),
        ("lang", "keyword"),
        ("source", "keyword"),
        ("user.id", "long"),
        ("user.name", "text"),
        ("user.screen_name", "keyword"),
        ("user.followers_count", "long"),
        ("user.verified", "boolean"),
        ("hashtags", "keyword"),
        ("mentions", "keyword"),
        ("urls", "keyword"),
        ("coordinates.type", "keyword"),
        ("coordinates.coordinates", "geo_point"),
        ("geo_source", "keyword"),
        ("place.full_name", "keyword"),
        ("place.country_code", "keyword"),
        ("sentiments", "keyword"),
        ("sentiment.compound", "float"),
        ("sentiment.pos", "float"),
        ("sentiment.neu", "float"),
        ("sentiment.neg", "float"),
        ("emoticons", "keyword"),
        ("is_retweet", "boolean"),
        ("is_quote", "boolean"),
        ("retweeted_id", "keyword"),
        ("quoted_id", "keyword"),
        ("in_reply_to_id", "keyword"),
        ("withheld_in_countries", "keyword"),
        ("suppressed", "boolean"),
        ("suppressed_reasons", "keyword"),
    ]
    .into_iter()
    .collect();

    for (field, ty) in TOMBSTONE_FIELDS {
        assert_eq!(
            types.remove(field).as_deref(),
            Some(ty),
            "tombstone field {field}"
        );
        assert!(
            !fields.contains_key(field),
            "a document never carries {field}"
        );
    }
    let produced_paths: Vec<&String> = fields.keys().collect();
    let mapped_paths: Vec<&String> = types.keys().collect();
    assert_eq!(
        produced_paths, mapped_paths,
        "document fields vs mapped fields (tombstone fields aside)"
    );
    for (path, value) in &fields {
        let ty = &types[path];
        assert_eq!(
            Some(&ty.as_str()),
            expected.get(path.as_str()),
            "intended type of {path}"
        );
        assert!(compatible(ty, value), "{path}: {value} is not a {ty}");
    }
    // Ids above 2^53 serialize as exact integers.
    assert!(doc.to_string().contains("9007199254740993"));
}

#[test]
fn a_minimal_document_only_has_mapped_fields() {
    let line = r#"{"id":"5","text":"hi"}"#;
    let ex = tweets::Extractor::new(tweets::ExtractorOptions::default());
    let mut out = Vec::new();
    ex.bytes_items(line.as_bytes(), 0, &mut out);
    let [tweets::Item::Document { doc, .. }] = out.as_slice() else {
        panic!("{out:?}")
    };
    let body: Value = serde_json::from_str(MAPPING_JSON).unwrap();
    let mut types = BTreeMap::new();
    mapped(&body["mappings"]["properties"], "", &mut types);
    let mut fields = BTreeMap::new();
    produced(&serde_json::to_value(doc).unwrap(), "", &mut fields);
    for (path, value) in &fields {
        let ty = types.get(path).unwrap_or_else(|| panic!("{path} unmapped"));
        assert!(compatible(ty, value), "{path}");
    }
}
