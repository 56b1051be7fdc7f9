//! Corpus-wide checks over `../shared/corpus` (skipped without it unless REQUIRE_SHARED=1).

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

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

fn check_one_document_per_line(file: &str) -> usize {
    let Some(dir) = corpus() else { return 0 };
    let ex = Extractor::new(ExtractorOptions::default());
    let all = lines(&dir.join(file));
    for (n, line) in all.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).expect("corpus line is JSON");
        let want = source_id(&v);
        let items = items_of(&ex, line);
        match items.as_slice() {
            [Item::Document { id, doc, .. }] => {
                assert_eq!(id, &want, "{file} line {}", n + 1);
                assert_eq!(doc.id_str, want, "{file} line {}", n + 1);
            }
            other => panic!(
                "{file} line {}: expected one document, got {other:?}",
                n + 1
            ),
        }
    }
    all.len()
}

#[test]
fn every_v1_tweet_yields_its_document() {
    let n = check_one_document_per_line("tweets_v1.ndjson");
    eprintln!("v1 tweets checked: {n}");
    assert!(n == 0 || n == 3273, "{n}");
}

#[test]
fn every_v2_object_yields_its_document() {
    let n = check_one_document_per_line("tweets_v2_objects.ndjson");
    eprintln!("v2 objects checked: {n}");
    assert!(n == 0 || n == 11105, "{n}");
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
const CONTROL_KEYS: [&str; 7] = [
    "delete",
    "scrub_geo",
    "limit",
    "status_withheld",
    "user_withheld",
    "disconnect",
    "warning",
];

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
            Item::Delete { id, .. } => {
                let status = &v["delete"]["status"];
                assert_eq!(id, &source_id(status), "line {}", n + 1);
                "delete(tweet)".to_owned()
            }
            Item::Control { kind, .. } => {
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
    for k in CONTROL_KEYS {
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
