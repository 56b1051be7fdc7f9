//! Compliance records of every kind and shape -> their one outcome: a compliance event, a
//! tweet delete, a named control message, or an invalid record with its exact reason.
//!
//! The records are written by hand after X's documented examples (the v1.1 streaming message
//! types, the v2 "Compliance Data Objects" page, the batch compliance quickstart and
//! integration guide), not copied from the corpus; `tests/corpus.rs` checks the corpus's real
//! v1.1 messages.

#[path = "compliance_records/cases.rs"]
mod cases;

use cases::{Case, Want, all_cases};
use serde_json::json;
use tweets::compliance::{ComplianceEvent, EventKind, Reason, Source, UserChange};
use tweets::{Extractor, ExtractorOptions, Item};

fn items(record: &str) -> Vec<Item> {
    let ex = Extractor::new(ExtractorOptions::default());
    let mut out = Vec::new();
    ex.bytes_items(record.as_bytes(), 0, &mut out);
    out
}

#[test]
fn every_compliance_record_has_its_one_outcome() {
    let cases = all_cases();
    assert!(cases.len() >= 60, "{}", cases.len());
    for Case { name, record, want } in &cases {
        let got = items(record);
        let [item] = got.as_slice() else {
            panic!("{name}: {got:?}")
        };
        match (want, item) {
            (Want::Event(kind, at, source), Item::Compliance { event, .. }) => assert_eq!(
                event,
                &ComplianceEvent {
                    kind: kind.clone(),
                    event_at: *at,
                    source: *source,
                },
                "{name}"
            ),
            (
                Want::Delete(id, at),
                Item::Delete {
                    id: got, event_at, ..
                },
            ) => {
                assert_eq!((got.as_str(), event_at), (*id, at), "{name}")
            }
            (Want::Control(kind), Item::Control { kind: got, .. }) => {
                assert_eq!(got.as_str(), *kind, "{name}")
            }
            (Want::Invalid(reason), Item::Invalid { reason: got, .. }) => {
                assert_eq!(got, reason, "{name}")
            }
            (_, other) => panic!("{name}: unexpected {other:?}"),
        }
    }
}

/// The one document of a record, and the compliance events it implies.
fn one_document(items: &[Item]) -> (&tweets::Document, &[ComplianceEvent]) {
    let [
        Item::Document {
            doc, compliance, ..
        },
    ] = items
    else {
        panic!("{items:?}")
    };
    (doc, compliance)
}

/// A v2 payload's `data` array may mix tweets and events: each element has its outcome.
#[test]
fn a_data_array_gives_each_element_its_outcome() {
    let record = json!({"data": [
        {"id": "5", "text": "a tweet", "author_id": "7"},
        {"user_protect": {"user": {"id": "7"}, "event_at": "2022-06-27T23:49:41.839+00:00"}},
        {"nothing": {}},
    ]});
    let got = items(&record.to_string());
    assert!(
        matches!(&got[..], [
            Item::Document { id, .. },
            Item::Compliance { event: ComplianceEvent { kind: EventKind::User { user_id: 7, change: UserChange::Protect }, .. }, .. },
            Item::Invalid { reason, .. },
        ] if id == "5" && reason == "v2 data: neither a tweet (no id) nor a compliance event (keys: nothing)"),
        "{got:?}"
    );
}

/// A v2 tweet is its own compliance record too: its `edit_history_tweet_ids` names earlier
/// versions (which are `edited`, as `tweet_edit` would say), its `withheld` the countries. The
/// events ride on its document, which has them applied: still one outcome per record.
#[test]
fn a_tweet_says_what_it_implies_with_its_document() {
    let tweet = |id: &str, history: serde_json::Value| {
        json!({"id": id, "text": "t", "author_id": "7", "created_at": "2022-09-06T19:31:16.801Z",
            "edit_history_tweet_ids": history})
        .to_string()
    };
    let (old, new) = ("1567233844205453313", "1567233994734948354");
    let edit = EventKind::Edit {
        latest_id: Some(1_567_233_994_734_948_354),
        earlier: vec![1_567_233_844_205_453_313],
    };
    // The latest version: the earlier one is edited; this one is shown.
    let got = items(&tweet(new, json!([old, new])));
    let (doc, [event]) = one_document(&got) else {
        panic!("{got:?}")
    };
    assert_eq!(event.kind, edit);
    assert_eq!(
        (event.source, event.event_at),
        (Source::Tweet, Some(1_662_492_676_801))
    );
    assert!(
        !doc.suppressed && doc.suppressed_reasons.is_empty(),
        "{doc:?}"
    );
    // An earlier version captured later (a lookup returns the whole chain): suppressed.
    let got = items(&tweet(old, json!([old, new])));
    let (doc, [event]) = one_document(&got) else {
        panic!("{got:?}")
    };
    assert_eq!(event.kind, edit);
    assert!(
        doc.suppressed && doc.suppressed_reasons == [Reason::Edited],
        "{doc:?}"
    );
    // A history of itself alone: nothing implied.
    assert!(matches!(
        &items(&tweet(new, json!([new])))[..],
        [Item::Document { .. }]
    ));
    // An unusable history costs the implication, not the tweet.
    let got = items(&tweet(new, json!([old, 1.5])));
    let [
        Item::Document {
            doc,
            warnings,
            compliance,
            ..
        },
    ] = &got[..]
    else {
        panic!("{got:?}")
    };
    assert!(!doc.suppressed && compliance.is_empty());
    assert_eq!(
        warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "compliance field unusable (edit_history_tweet_ids: edit_history_tweet_ids[] is not an integer: 1.5): left out"
        ]
    );
    // Withheld: v2 `withheld.country_codes` and v1 `withheld_in_countries`.
    for record in [
        json!({"id": "5", "text": "t", "author_id": "7", "withheld": {"copyright": false, "country_codes": ["FR", "DE"]}}),
        json!({"id_str": "5", "text": "t", "user": {"id": 7}, "withheld_in_countries": ["FR", "DE"]}),
    ] {
        let got = items(&record.to_string());
        let (doc, [event]) = one_document(&got) else {
            panic!("{got:?}")
        };
        assert_eq!(
            event.kind,
            EventKind::Withheld {
                tweet_id: 5,
                author_id: Some(7),
                countries: vec!["FR".into(), "DE".into()]
            }
        );
        assert_eq!(doc.withheld_in_countries, ["DE", "FR"]);
        let json: serde_json::Value = serde_json::from_slice(&doc.to_json()).unwrap();
        assert_eq!(json["withheld_in_countries"], json!(["DE", "FR"]));
    }
    // Not withheld: `[]` implies nothing.
    let plain = json!({"id_str": "5", "text": "t", "user": {"id": 7}, "withheld_in_countries": []});
    assert!(matches!(
        &items(&plain.to_string())[..],
        [Item::Document { .. }]
    ));
}

/// Each kind of compliance record between two tweets in one object: the framer keeps them
/// apart and each keeps its outcome.
#[test]
fn compliance_records_frame_between_tweets() {
    let ex = Extractor::new(ExtractorOptions::default());
    let tweet =
        |id: u64| json!({"id_str": id.to_string(), "text": "t", "user": {"id": 7}}).to_string();
    let cases = all_cases();
    let mut object = String::new();
    for (i, c) in cases.iter().enumerate() {
        object.push_str(&tweet(i as u64 + 1));
        object.push('\n');
        object.push_str(&c.record);
        object.push('\n');
    }
    let got: Vec<Item> = ex.items(object.as_bytes()).collect();
    assert_eq!(got.len(), cases.len() * 2, "{got:?}");
    for (pair, c) in got.chunks(2).zip(&cases) {
        assert!(
            matches!(pair[0], Item::Document { .. }),
            "{}: {:?}",
            c.name,
            pair[0]
        );
        let alone = items(&c.record);
        assert_eq!(normalized(&pair[1]), normalized(&alone[0]), "{}", c.name);
    }
}

/// An item at offset 0, an invalid record's reason without the framed span's length.
fn normalized(item: &Item) -> Item {
    match item.clone() {
        Item::Invalid { reason, .. } => {
            let reason = match reason.rsplit_once(" (") {
                Some((head, tail))
                    if tail
                        .strip_suffix(" bytes)")
                        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())) =>
                {
                    head.to_owned()
                }
                _ => reason,
            };
            Item::Invalid { offset: 0, reason }
        }
        Item::Document { .. } => panic!("a document: {item:?}"),
        Item::Delete { id, event_at, .. } => Item::Delete {
            id,
            offset: 0,
            event_at,
        },
        Item::Compliance { event, .. } => Item::Compliance { event, offset: 0 },
        Item::Control { kind, .. } => Item::Control { kind, offset: 0 },
    }
}
