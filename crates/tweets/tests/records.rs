//! Record-level damage: a table of kinds, each a real tweet (or message) from the fixtures,
//! mutated one way, with the exact outcome it must give: a document (with the exact warning),
//! a delete, a named control message or an invalid record (with the exact reason). Each case
//! is also run between two undamaged neighbours in one object, in a line layout and with no
//! delimiter, and the neighbours must come out exactly as they do alone.

use serde_json::{Value, json};
use tweets::{Document, Extractor, ExtractorOptions, Item};

const V1: &str = include_str!("fixtures/v1.ndjson");
const V2_PAYLOADS: &str = include_str!("fixtures/v2_payloads.ndjson");

/// A stream tweet with `timestamp_ms`, `text` and `extended_tweet` (id 972472958584320000).
fn stream_tweet() -> Value {
    let line = V1.lines().nth(8).expect("fixture line 9");
    let v: Value = serde_json::from_str(line).expect("fixture JSON");
    assert_eq!(v["id_str"], "972472958584320000");
    v
}

/// [`stream_tweet`] without `extended_tweet`: `text` is its only text.
fn short_tweet() -> Value {
    let mut v = stream_tweet();
    v.as_object_mut().expect("object").remove("extended_tweet");
    v
}

/// `v` with `field` set to a placeholder, serialized, then the placeholder replaced by raw
/// JSON text (for what `Value` cannot hold: lone surrogates, duplicated keys, deep nesting).
fn with_raw(mut v: Value, set: impl FnOnce(&mut Value, Value), raw: &str) -> String {
    set(&mut v, json!("@@RAW@@"));
    let s = v.to_string();
    assert_eq!(s.matches("\"@@RAW@@\"").count(), 1);
    s.replace("\"@@RAW@@\"", raw)
}

fn set(mut v: Value, f: impl FnOnce(&mut Value)) -> String {
    f(&mut v);
    v.to_string()
}

/// The one v2 payload fixture with a bare `data` object.
fn hello_payload() -> Value {
    let line = V2_PAYLOADS.lines().nth(2).expect("fixture line 3");
    serde_json::from_str(line).expect("fixture JSON")
}

const CREATED_AT_MS: i64 = 1_520_690_595_000; // "Sat Mar 10 14:03:15 +0000 2018"
const TIMESTAMP_MS: i64 = 1_520_690_595_657;

type DocCheck = fn(&Document) -> bool;

enum Want {
    /// A document with exactly these warnings, and a property of the document.
    Document(&'static [&'static str], DocCheck),
    Delete(&'static str),
    /// A compliance event of this kind.
    Compliance(&'static str),
    Control(&'static str),
    Invalid(&'static str),
}

struct Case {
    name: &'static str,
    record: String,
    want: Want,
}

fn cases() -> Vec<Case> {
    let deep = format!("{}1{}", "[".repeat(130), "]".repeat(130));
    vec![
        // --- item 3: nothing silent ---
        Case {
            name: "text null",
            record: set(short_tweet(), |v| v["text"] = Value::Null),
            want: Want::Document(&["text unusable (null): indexed with an empty text"], |d| {
                d.text.is_empty() && d.id_str == "972472958584320000"
            }),
        },
        Case {
            name: "text missing",
            record: set(short_tweet(), |v| {
                v.as_object_mut().expect("object").remove("text");
            }),
            want: Want::Document(
                &["text unusable (missing): indexed with an empty text"],
                |d| d.text.is_empty() && d.lang.as_deref() == Some("ar"),
            ),
        },
        Case {
            name: "text a number",
            record: set(short_tweet(), |v| v["text"] = json!(42)),
            want: Want::Document(
                &["text unusable (a number: 42): indexed with an empty text"],
                |d| d.text.is_empty() && d.timestamp_ms == Some(TIMESTAMP_MS),
            ),
        },
        Case {
            name: "text an object",
            record: set(short_tweet(), |v| v["text"] = json!({"a": [1]})),
            want: Want::Document(
                &[
                    "text unusable (an object (invalid type: map, expected a string)): indexed with an empty text",
                ],
                |d| d.text.is_empty(),
            ),
        },
        Case {
            name: "text null but extended_tweet has the full text",
            record: set(stream_tweet(), |v| v["text"] = Value::Null),
            want: Want::Document(&[], |d| d.text.starts_with("@alahli_omar")),
        },
        Case {
            name: "timestamp_ms not a number",
            record: set(stream_tweet(), |v| v["timestamp_ms"] = json!("abc")),
            want: Want::Document(
                &[r#"timestamp_ms unusable (a string: "abc"): created_at used instead"#],
                |d| d.timestamp_ms == Some(CREATED_AT_MS),
            ),
        },
        Case {
            name: "timestamp_ms a float",
            record: set(stream_tweet(), |v| v["timestamp_ms"] = json!(1.5)),
            want: Want::Document(
                &["timestamp_ms unusable (a number: 1.5): created_at used instead"],
                |d| d.timestamp_ms == Some(CREATED_AT_MS),
            ),
        },
        Case {
            name: "timestamp_ms null",
            record: set(stream_tweet(), |v| v["timestamp_ms"] = Value::Null),
            want: Want::Document(&[], |d| d.timestamp_ms == Some(CREATED_AT_MS)),
        },
        Case {
            name: "coordinates as strings",
            record: set(stream_tweet(), |v| {
                v["coordinates"] = json!({"type": "Point", "coordinates": ["-122.4", "37.7"]})
            }),
            want: Want::Document(
                &[r#"geo: coordinates unusable: [a string: "-122.4", a string: "37.7"]"#],
                |d| d.coordinates.is_none(),
            ),
        },
        Case {
            name: "coordinates one string",
            record: set(stream_tweet(), |v| v["coordinates"] = json!("-122.4,37.7")),
            want: Want::Document(
                &[r#"geo: coordinates unusable: a string: "-122.4,37.7""#],
                |d| d.coordinates.is_none(),
            ),
        },
        Case {
            name: "coordinates nested one level too deep",
            record: set(stream_tweet(), |v| {
                v["coordinates"] = json!({"type": "Point", "coordinates": [[-122.4, 37.7]]})
            }),
            want: Want::Document(
                &["geo: coordinates unusable: [an array (invalid type: sequence, expected f64)]"],
                |d| d.coordinates.is_none(),
            ),
        },
        Case {
            name: "coordinates a point without coordinates",
            record: set(stream_tweet(), |v| {
                v["coordinates"] = json!({"type": "Point"})
            }),
            want: Want::Document(
                &["geo: coordinates unusable: a point object without coordinates"],
                |d| d.coordinates.is_none(),
            ),
        },
        Case {
            name: "coordinates valid (control case)",
            record: set(stream_tweet(), |v| {
                v["coordinates"] = json!({"type": "Point", "coordinates": [-122.4, 37.7]})
            }),
            want: Want::Document(&[], |d| {
                d.coordinates.as_ref().map(|c| c.coordinates) == Some([-122.4, 37.7])
            }),
        },
        Case {
            name: "delete with a float id",
            record: r#"{"delete":{"status":{"id":1.5,"user_id":3}}}"#.to_owned(),
            want: Want::Invalid("delete notice with an unusable tweet id (a number: 1.5)"),
        },
        Case {
            name: "delete with a negative id",
            record: r#"{"delete":{"status":{"id":-5,"user_id":3}}}"#.to_owned(),
            want: Want::Invalid("delete notice with an unusable tweet id (a number: -5)"),
        },
        Case {
            name: "delete without an id",
            record: r#"{"delete":{"status":{"user_id":3,"user_id_str":"3"}}}"#.to_owned(),
            want: Want::Invalid("delete notice without a tweet id"),
        },
        Case {
            name: "delete naming nothing",
            record: r#"{"delete":{}}"#.to_owned(),
            want: Want::Invalid("delete notice names no tweet (keys: none)"),
        },
        Case {
            name: "delete of something unknown",
            record: r#"{"delete":{"list":{"id":1}}}"#.to_owned(),
            want: Want::Invalid("delete notice names no tweet (keys: list)"),
        },
        Case {
            name: "delete of a direct message (control case)",
            record: r#"{"delete":{"direct_message":{"id":1,"user_id":234}}}"#.to_owned(),
            want: Want::Control("delete"),
        },
        Case {
            name: "delete with an id string (control case)",
            record: r#"{"delete":{"status":{"id":1.5,"id_str":"303747490128207873"}}}"#.to_owned(),
            want: Want::Delete("303747490128207873"),
        },
        Case {
            name: "empty object",
            record: "{}".to_owned(),
            want: Want::Invalid("empty object"),
        },
        Case {
            name: "unknown object",
            record: r#"{"foo":1,"bar":{"text":"x"}}"#.to_owned(),
            want: Want::Invalid(
                "not a tweet, a v2 payload or a known stream message (keys: foo, bar)",
            ),
        },
        Case {
            name: "an id without text or author",
            record: set(stream_tweet(), |v| {
                let o = v.as_object_mut().expect("object");
                o.retain(|k, _| k == "id" || k == "id_str" || k == "lang");
            }),
            want: Want::Invalid(
                "not a tweet, a v2 payload or a known stream message (keys: id, id_str, lang)",
            ),
        },
        Case {
            name: "text without an id",
            record: set(short_tweet(), |v| {
                let o = v.as_object_mut().expect("object");
                o.remove("id");
                o.remove("id_str");
            }),
            want: Want::Invalid("tweet without an id"),
        },
        Case {
            name: "v2 payload of errors only",
            record: json!({"errors": [{
                "title": "operational-disconnect",
                "disconnect_type": "UpstreamOperationalDisconnect",
                "detail": "This stream has been disconnected upstream for operational reasons.",
                "type": "https://api.twitter.com/2/problems/operational-disconnect"
            }]})
            .to_string(),
            want: Want::Control("stream_error"),
        },
        Case {
            name: "v2 payload of includes only",
            record: set(hello_payload(), |v| {
                *v = json!({"includes": {"users": []}});
            }),
            want: Want::Invalid(
                "not a tweet, a v2 payload or a known stream message (keys: includes)",
            ),
        },
        Case {
            name: "v2 payload tweet with text null",
            record: set(hello_payload(), |v| v["data"]["text"] = Value::Null),
            want: Want::Document(&["text unusable (null): indexed with an empty text"], |d| {
                d.text.is_empty() && d.id_str == "1445880548472328192"
            }),
        },
        Case {
            name: "v2 compliance withheld event",
            record: json!({"data": {"withheld": {"tweet": {"id": "1", "author_id": "2"},
                "withheld_in_countries": ["DE"], "event_at": "2022-01-01T00:00:00.000Z"}}})
            .to_string(),
            want: Want::Compliance("withheld"),
        },
        Case {
            name: "v2 compliance event with its time beside it, not in it",
            record: json!({"data": {"withheld": {"tweet": {"id": "1", "author_id": "2"},
                "withheld_in_countries": ["DE"]}, "event_at": "2022-01-01T00:00:00.000Z"}})
            .to_string(),
            want: Want::Invalid("v2 data: compliance event withheld: without event_at"),
        },
        // --- item 4: valid JSON is accepted ---
        Case {
            name: "lone leading surrogate in text",
            record: with_raw(short_tweet(), |v, p| v["text"] = p, r#""a\ud800b""#),
            want: Want::Document(
                &["1 lone UTF-16 surrogate escape(s) replaced by U+FFFD"],
                |d| d.text == "a\u{FFFD}b",
            ),
        },
        Case {
            name: "lone trailing surrogate at the end of text",
            record: with_raw(short_tweet(), |v, p| v["text"] = p, r#""ab\udc00""#),
            want: Want::Document(
                &["1 lone UTF-16 surrogate escape(s) replaced by U+FFFD"],
                |d| d.text == "ab\u{FFFD}",
            ),
        },
        Case {
            name: "two lone surrogates around a valid pair",
            record: with_raw(
                short_tweet(),
                |v, p| v["text"] = p,
                r#""\udbff\ud83d\ude00\\ud800\udfff""#,
            ),
            want: Want::Document(
                &["2 lone UTF-16 surrogate escape(s) replaced by U+FFFD"],
                |d| d.text == "\u{FFFD}😀\\ud800\u{FFFD}" && d.emoticons == ["😀"],
            ),
        },
        Case {
            name: "lone surrogate in a field we skip (control case)",
            record: with_raw(
                stream_tweet(),
                |v, p| v["user"]["description"] = p,
                r#""x\ud800""#,
            ),
            want: Want::Document(&[], |d| d.timestamp_ms == Some(TIMESTAMP_MS)),
        },
        Case {
            name: "lone surrogate in a v2 payload's data",
            record: with_raw(
                hello_payload(),
                |v, p| v["data"]["text"] = p,
                r#""x\ud800""#,
            ),
            want: Want::Document(
                &["1 lone UTF-16 surrogate escape(s) replaced by U+FFFD"],
                |d| d.text == "x\u{FFFD}",
            ),
        },
        Case {
            name: "duplicated top-level key",
            record: with_raw(stream_tweet(), |v, p| v["lang"] = p, r#""xx","lang":"fr""#),
            want: Want::Document(
                &["duplicate key `lang` in the record: its last value is used"],
                |d| d.lang.as_deref() == Some("fr") && d.timestamp_ms == Some(TIMESTAMP_MS),
            ),
        },
        Case {
            name: "duplicated key in the user",
            record: with_raw(
                stream_tweet(),
                |v, p| v["user"]["name"] = p,
                r#""A","name":"B""#,
            ),
            want: Want::Document(
                &["duplicate key `name` in the record: its last value is used"],
                |d| d.user.name.as_deref() == Some("B") && d.user.screen_name.is_some(),
            ),
        },
        Case {
            name: "duplicated key in a v2 payload's data",
            record: with_raw(
                hello_payload(),
                |v, p| v["data"]["lang"] = p,
                r#""xx","lang":"fr""#,
            ),
            want: Want::Document(
                &["duplicate key `lang` in the record: its last value is used"],
                |d| d.lang.as_deref() == Some("fr") && d.text == "Hello world!",
            ),
        },
        Case {
            name: "duplicated key and a lone surrogate",
            record: with_raw(
                short_tweet(),
                |v, p| v["text"] = p,
                r#""a\ud800","text":"b\udc00""#,
            ),
            want: Want::Document(
                &[
                    "2 lone UTF-16 surrogate escape(s) replaced by U+FFFD",
                    "duplicate key `text` in the record: its last value is used",
                ],
                |d| d.text == "b\u{FFFD}",
            ),
        },
        Case {
            name: "duplicated key in a record nested deeper than the limit",
            record: with_raw(
                stream_tweet(),
                |v, p| v["lang"] = p,
                &format!(r#""xx","lang":"fr","deep":{deep}"#),
            ),
            want: Want::Invalid("nested deeper than 127 levels"),
        },
        Case {
            name: "nested deeper than the limit in a field we skip (control case)",
            record: with_raw(stream_tweet(), |v, p| v["deep"] = p, &deep),
            want: Want::Document(&[], |d| d.timestamp_ms == Some(TIMESTAMP_MS)),
        },
    ]
}

fn extractor() -> Extractor {
    Extractor::new(ExtractorOptions::default())
}

fn alone(ex: &Extractor, record: &str) -> Vec<Item> {
    let mut out = Vec::new();
    ex.bytes_items(record.as_bytes(), 0, &mut out);
    out
}

fn check(case: &Case, item: &Item) {
    let name = case.name;
    match (&case.want, item) {
        (
            Want::Document(warnings, property),
            Item::Document {
                doc,
                warnings: got,
                id,
                ..
            },
        ) => {
            let got: Vec<String> = got.iter().map(ToString::to_string).collect();
            assert_eq!(got, *warnings, "{name}: warnings");
            assert_eq!(id, &doc.id_str, "{name}");
            assert!(property(doc), "{name}: {doc:?}");
        }
        (Want::Delete(want), Item::Delete { id, .. }) => assert_eq!(id, want, "{name}"),
        (Want::Compliance(want), Item::Compliance { event, .. }) => {
            assert_eq!(event.kind.as_str(), *want, "{name}")
        }
        (Want::Control(want), Item::Control { kind, .. }) => {
            assert_eq!(kind.as_str(), *want, "{name}")
        }
        (Want::Invalid(want), Item::Invalid { reason, .. }) => {
            assert_eq!(without_span_length(reason), *want, "{name}")
        }
        (_, other) => panic!("{name}: unexpected {other:?}"),
    }
}

/// A framed invalid record's reason ends with the damaged span's length (`... (44 bytes)`),
/// which the record parser alone does not add.
fn without_span_length(reason: &str) -> &str {
    match reason.rsplit_once(" (") {
        Some((head, tail))
            if tail
                .strip_suffix(" bytes)")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) =>
        {
            head
        }
        _ => reason,
    }
}

#[test]
fn each_damage_kind_has_its_exact_outcome() {
    let ex = extractor();
    let cases = cases();
    assert!(cases.len() >= 35, "{}", cases.len());
    for case in &cases {
        let items = alone(&ex, &case.record);
        let [item] = items.as_slice() else {
            panic!("{}: {items:?}", case.name)
        };
        check(case, item);
    }
}

/// Documents compared without offsets.
fn bare(item: &Item) -> (String, Document, usize) {
    match item {
        Item::Document {
            id, doc, warnings, ..
        } => (id.clone(), (**doc).clone(), warnings.len()),
        other => panic!("neighbour is not a document: {other:?}"),
    }
}

#[test]
fn a_damaged_record_leaves_its_neighbours_as_they_are() {
    let ex = extractor();
    let before = V1.lines().next().expect("fixture line 1");
    let after = V1.lines().nth(1).expect("fixture line 2");
    let [want_before] = alone(&ex, before).try_into().expect("one item");
    let [want_after] = alone(&ex, after).try_into().expect("one item");
    for case in cases() {
        for (layout, sep) in [("LF", "\n"), ("CRLF", "\r\n"), ("no delimiter", "")] {
            let object = format!("{before}{sep}{}{sep}{after}{sep}", case.record);
            let items: Vec<Item> = ex.items(object.as_bytes()).collect();
            let [first, middle, last] = items.as_slice() else {
                panic!("{} ({layout}): {items:?}", case.name)
            };
            assert_eq!(bare(first), bare(&want_before), "{} ({layout})", case.name);
            assert_eq!(bare(last), bare(&want_after), "{} ({layout})", case.name);
            assert_eq!(
                middle.offset(),
                (before.len() + sep.len()) as u64,
                "{} ({layout})",
                case.name
            );
            check(&case, middle);
        }
    }
}

/// The golden control messages keep their kinds; only unknown objects became invalid, and
/// the v1.1 compliance messages compliance events.
#[test]
fn every_fixture_message_is_a_named_kind() {
    let ex = extractor();
    for line in include_str!("fixtures/control.ndjson").lines() {
        let items = alone(&ex, line);
        let [item] = items.as_slice() else {
            panic!("{items:?}")
        };
        match item {
            Item::Delete { .. } | Item::Compliance { .. } => {}
            Item::Control { kind, .. } => {
                let v: Value = serde_json::from_str(line).expect("JSON");
                assert!(v.get(kind.as_str()).is_some(), "{kind} of {line:.60}");
            }
            other => panic!("{other:?} for {line:.60}"),
        }
    }
}

/// Each item names the CRC-32 of its own record's bytes, whatever the layout around it (the
/// pipeline breaks ties between copies of a tweet with it).
#[test]
fn each_item_names_the_crc_of_its_own_record() {
    use std::io::Write;
    let ex = extractor();
    let lines: Vec<&str> = V1.lines().take(3).collect();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(lines.join("\n").as_bytes()).unwrap();
    let gzip = gzip.finish().unwrap();
    let layouts: [(&str, Vec<u8>); 4] = [
        ("lines", lines.join("\n").into_bytes()),
        ("crlf", lines.join("\r\n").into_bytes()),
        ("no delimiter", lines.concat().into_bytes()),
        ("gzip", gzip),
    ];
    for (layout, bytes) in layouts {
        let mut items = ex.items(bytes.as_slice());
        let mut seen = Vec::new();
        while let Some(item) = items.next() {
            assert!(matches!(item, Item::Document { .. }), "{layout}: {item:?}");
            seen.push(items.record_crc());
        }
        let want: Vec<u32> = lines
            .iter()
            .map(|l| crc32fast::hash(l.as_bytes()))
            .collect();
        assert_eq!(seen, want, "{layout}");
    }
    // Two copies that differ in one byte differ.
    let other = lines[0].replacen("Federal", "federal", 1);
    assert_ne!(
        crc32fast::hash(other.as_bytes()),
        crc32fast::hash(lines[0].as_bytes())
    );
}
