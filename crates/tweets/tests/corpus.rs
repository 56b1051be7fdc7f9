//! Corpus-wide checks over `../shared/corpus` (skipped without it unless REQUIRE_SHARED=1).

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use tweets::compliance::{EventKind, Reason, Source};
use tweets::{Extractor, ExtractorOptions, Item};

fn corpus() -> Option<PathBuf> {
    testkit::shared_dir().map(|d| d.join("corpus"))
}

fn lines(path: &PathBuf) -> Vec<String> {
    fs::read_to_string(path)
        .expect("corpus file")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// The source id as the API wrote it: `id_str`, else `id` (a string, or an exact integer).
fn source_id(v: &serde_json::Value) -> String {
    match (&v["id_str"], &v["id"]) {
        (serde_json::Value::String(s), _) => s.clone(),
        (_, serde_json::Value::String(s)) => s.clone(),
        (_, serde_json::Value::Number(n)) => n.as_u64().expect("integer id").to_string(),
        _ => panic!("record without id"),
    }
}

fn items_of(ex: &Extractor, line: &str) -> Vec<Item> {
    let mut out = Vec::new();
    ex.bytes_items(line.as_bytes(), 0, &mut out);
    out
}

/// The compliance events a tweet implies, read here from its JSON independently of the
/// crate: `edit_history_tweet_ids` naming other versions (the latest is the largest id), and
/// its own non-empty `withheld_in_countries` (v1) or `withheld.country_codes` (v2).
fn implied_events(v: &serde_json::Value) -> Vec<EventKind> {
    let id: u64 = source_id(v).parse().expect("decimal id");
    let mut events = Vec::new();
    if let Some(history) = v["edit_history_tweet_ids"].as_array() {
        let mut ids: Vec<u64> = history
            .iter()
            .map(|i| i.as_str().expect("string id").parse().expect("decimal"))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if let Some(latest) = ids.pop()
            && !ids.is_empty()
        {
            events.push(EventKind::Edit {
                latest_id: Some(latest),
                earlier: ids,
            });
        }
    }
    let own = v["withheld_in_countries"]
        .as_array()
        .or(v["withheld"]["country_codes"].as_array());
    if let Some(countries) = own.filter(|c| !c.is_empty()) {
        events.push(EventKind::Withheld {
            tweet_id: id,
            author_id: v["user"]["id"]
                .as_u64()
                .or(v["author_id"].as_str().and_then(|a| a.parse().ok())),
            countries: countries
                .iter()
                .map(|c| c.as_str().expect("country").to_owned())
                .collect(),
        });
    }
    events
}

/// Every line gives its document, with the compliance events it implies, which the document
/// has applied. Returns the lines and the implied events.
fn check_one_document_per_line(file: &str) -> (usize, usize) {
    let Some(dir) = corpus() else { return (0, 0) };
    let ex = Extractor::new(ExtractorOptions::default());
    let all = lines(&dir.join(file));
    let mut implied = 0;
    for (n, line) in all.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).expect("corpus line is JSON");
        let want = source_id(&v);
        let items = items_of(&ex, line);
        let [
            Item::Document {
                id,
                doc,
                compliance,
                ..
            },
        ] = items.as_slice()
        else {
            panic!(
                "{file} line {}: expected one document, got {items:?}",
                n + 1
            )
        };
        assert_eq!(id, &want, "{file} line {}", n + 1);
        assert_eq!(doc.id_str, want, "{file} line {}", n + 1);
        let events: Vec<EventKind> = compliance
            .iter()
            .map(|event| {
                assert_eq!(event.source, Source::Tweet, "{file} line {}", n + 1);
                event.kind.clone()
            })
            .collect();
        let expected = implied_events(&v);
        assert_eq!(events, expected, "{file} line {}", n + 1);
        implied += events.len();
        // Applied: an earlier version is suppressed as `edited`, withholding is carried.
        let mut countries = Vec::new();
        let mut edited = false;
        for e in &expected {
            match e {
                EventKind::Edit { earlier, .. } => {
                    edited = earlier.iter().any(|e| e.to_string() == want)
                }
                EventKind::Withheld { countries: c, .. } => countries = c.clone(),
                _ => unreachable!(),
            }
        }
        countries.sort();
        countries.dedup();
        assert_eq!(
            doc.withheld_in_countries,
            countries,
            "{file} line {}",
            n + 1
        );
        assert_eq!(doc.suppressed, edited, "{file} line {}", n + 1);
        assert_eq!(
            doc.suppressed_reasons,
            if edited { vec![Reason::Edited] } else { vec![] },
            "{file} line {}",
            n + 1
        );
    }
    (all.len(), implied)
}

#[test]
fn every_v1_tweet_yields_its_document() {
    let (n, implied) = check_one_document_per_line("tweets_v1.ndjson");
    eprintln!("v1 tweets checked: {n}, compliance events they imply: {implied}");
    assert!(n == 0 || n == 3273, "{n}");
    assert!(n == 0 || implied >= 1, "the corpus has a withheld v1 tweet");
}

#[test]
fn every_v2_object_yields_its_document() {
    let (n, implied) = check_one_document_per_line("tweets_v2_objects.ndjson");
    eprintln!("v2 objects checked: {n}, compliance events they imply: {implied}");
    assert!(n == 0 || n == 11105, "{n}");
    // Edited tweets (one of them an earlier version) and withheld ones.
    assert!(n == 0 || implied >= 10, "{implied}");
}

#[test]
fn every_v2_payload_tweet_yields_its_document() {
    let Some(dir) = corpus() else { return };
    let ex = Extractor::new(ExtractorOptions::default());
    let mut total = 0;
    for (n, line) in lines(&dir.join("tweets_v2_payloads.ndjson"))
        .iter()
        .enumerate()
    {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
        let want: Vec<String> = match &v["data"] {
            serde_json::Value::Array(a) => a.iter().map(source_id).collect(),
            d => vec![source_id(d)],
        };
        let got: Vec<String> = items_of(&ex, line)
            .into_iter()
            .map(|i| match i {
                Item::Document { id, doc, .. } => {
                    assert_eq!(id, doc.id_str);
                    id
                }
                other => panic!("payload line {}: {other:?}", n + 1),
            })
            .collect();
        assert_eq!(got, want, "payload line {}", n + 1);
        total += got.len();
    }
    eprintln!("v2 payload tweets checked: {total}");
    assert!(total >= 15);
}

/// The control messages the streaming API documents, by their one key.
const CONTROL_KEYS: [&str; 4] = ["delete", "limit", "disconnect", "warning"];

/// The v1.1 compliance messages: each is a compliance event.
const COMPLIANCE_KEYS: [&str; 3] = ["scrub_geo", "status_withheld", "user_withheld"];

/// A v1.1 id member: `<name>_str`, else the number.
fn v1_id(v: &serde_json::Value, name: &str) -> u64 {
    match (&v[format!("{name}_str")], &v[name]) {
        (serde_json::Value::String(s), _) => s.parse().expect("decimal"),
        (_, n) => n.as_u64().expect("integer id"),
    }
}

#[test]
fn every_control_message_is_classified() {
    let Some(dir) = corpus() else { return };
    let ex = Extractor::new(ExtractorOptions::default());
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let all = lines(&dir.join("system_messages.ndjson"));
    for (n, line) in all.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
        let key = v
            .as_object()
            .and_then(|o| o.keys().next().cloned())
            .unwrap_or_default();
        let items = items_of(&ex, line);
        let [item] = items.as_slice() else {
            panic!("line {}: {items:?}", n + 1)
        };
        let kind = match item {
            Item::Delete { id, event_at, .. } => {
                let status = &v["delete"]["status"];
                assert_eq!(id, &source_id(status), "line {}", n + 1);
                let ms = &v["delete"]["timestamp_ms"];
                let want = ms
                    .as_str()
                    .map(|s| s.parse::<i64>().expect("ms"))
                    .or(ms.as_i64());
                assert_eq!(*event_at, want, "line {}", n + 1);
                "delete(tweet)".to_owned()
            }
            Item::Compliance { event, .. } => {
                assert_eq!(event.source, Source::V1, "line {}", n + 1);
                assert_eq!(event.event_at, None, "line {}", n + 1);
                let body = &v[key.as_str()];
                let countries = || -> Vec<String> {
                    serde_json::from_value(body["withheld_in_countries"].clone()).expect("list")
                };
                let want = match key.as_str() {
                    "scrub_geo" => EventKind::ScrubGeo {
                        user_id: v1_id(body, "user_id"),
                        up_to_id: v1_id(body, "up_to_status_id"),
                    },
                    "status_withheld" => EventKind::Withheld {
                        tweet_id: v1_id(body, "id"),
                        author_id: Some(v1_id(body, "user_id")),
                        countries: countries(),
                    },
                    "user_withheld" => EventKind::UserWithheld {
                        user_id: v1_id(body, "id"),
                        countries: countries(),
                    },
                    other => panic!("line {}: compliance item for {other}", n + 1),
                };
                assert_eq!(event.kind, want, "line {}", n + 1);
                key.clone()
            }
            Item::Control { kind, .. } => {
                assert!(
                    !COMPLIANCE_KEYS.contains(&key.as_str()),
                    "line {}: a compliance message counted as control",
                    n + 1
                );
                if v.get(kind.as_str()).is_none() {
                    panic!("line {}: kind {kind} is not a key of the message", n + 1);
                }
                if CONTROL_KEYS.contains(&key.as_str())
                    && v.as_object().is_some_and(|o| o.len() == 1)
                {
                    assert_eq!(kind.as_str(), key, "line {}", n + 1);
                }
                kind.to_string()
            }
            other => panic!("line {}: not classified as control: {other:?}", n + 1),
        };
        *kinds.entry(kind).or_default() += 1;
    }
    eprintln!("control messages: {} {kinds:?}", all.len());
    assert_eq!(kinds.values().sum::<usize>(), 58);
    for k in CONTROL_KEYS.into_iter().chain(COMPLIANCE_KEYS) {
        // Delete notices of tweets are items of their own, not control messages.
        let k = if k == "delete" { "delete(tweet)" } else { k };
        assert!(kinds.contains_key(k), "no {k} in {kinds:?}");
    }
}

#[test]
fn every_fully_qualified_emoji_is_one_emoji() {
    let Some(dir) = testkit::shared_dir() else {
        return;
    };
    let text =
        fs::read_to_string(dir.join("corpus/emoji/17.0/emoji-test.txt")).expect("emoji-test");
    let mut n = 0;
    for line in text.lines() {
        let Some((codes, rest)) = line.split_once(';') else {
            continue;
        };
        if line.starts_with('#') || !rest.trim_start().starts_with("fully-qualified") {
            continue;
        }
        let emoji: String = codes
            .split_whitespace()
            .map(|h| char::from_u32(u32::from_str_radix(h, 16).expect("hex")).expect("char"))
            .collect();
        assert_eq!(tweets::emoji::extract(&emoji), [emoji.as_str()], "{codes}");
        // Also inside text.
        assert_eq!(
            tweets::emoji::extract(&format!("a {emoji} b")),
            [emoji.as_str()],
            "{codes}"
        );
        n += 1;
    }
    eprintln!("fully-qualified emoji checked: {n}");
    assert!(n > 3700, "{n}");
}

#[test]
fn whole_v1_file_streams_through_the_framer() {
    let Some(dir) = corpus() else { return };
    let file = fs::File::open(dir.join("tweets_v1.ndjson")).expect("open");
    let ex = Extractor::new(ExtractorOptions::default());
    let mut docs = 0;
    for item in ex.items(std::io::BufReader::new(file)) {
        match item {
            Item::Document { .. } => docs += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(docs, 3273);
}
