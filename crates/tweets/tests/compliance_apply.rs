//! Applying compliance registers to documents: the properties the index relies on (any order
//! of the same events gives the same document, applying twice is applying once, a reverse
//! event restores exactly, other users' and later tweets' documents are unchanged, the typed
//! and the `_source` forms agree), and what each kind does.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tweets::compliance::{
    ComplianceEvent, EventKind, Outcome, Reason, RegisterSet, Source, USER_DELETE_GRACE_MS,
    UserChange,
};
use tweets::{Document, Extractor, ExtractorOptions, Item};

const V1: &str = include_str!("fixtures/v1.ndjson");

/// The fixture tweet with a point and a place (line 5), and its ids.
const TWEET: u64 = 658_206_491_455_807_489;
const AUTHOR: u64 = 132_919_802;
const OTHER_USER: u64 = 5;
/// 2023-11-14T22:13:20Z; events happen at BASE + k seconds, the application at NOW.
const BASE: i64 = 1_700_000_000_000;
const NOW: i64 = BASE + 60_000;
/// When a record without a time (v1) was received.
const RECEIVED: i64 = BASE + 1_500;

fn document() -> Document {
    let line = V1.lines().nth(4).expect("fixture line 5");
    let ex = Extractor::new(ExtractorOptions::default());
    let mut out = Vec::new();
    ex.bytes_items(line.as_bytes(), 0, &mut out);
    let [Item::Document { doc, .. }] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        (doc.id_str.as_str(), doc.user.id),
        ("658206491455807489", Some(AUTHOR))
    );
    assert!(doc.coordinates.is_some() && doc.place.is_some());
    (**doc).clone()
}

fn source(doc: &Document) -> Map<String, Value> {
    match serde_json::from_slice(&doc.to_json()).expect("document JSON") {
        Value::Object(m) => m,
        other => panic!("{other}"),
    }
}

fn event(kind: EventKind, at: Option<i64>, source: Source) -> ComplianceEvent {
    ComplianceEvent {
        kind,
        event_at: at,
        source,
    }
}

fn set_of<'a>(events: impl IntoIterator<Item = &'a ComplianceEvent>) -> RegisterSet {
    events
        .into_iter()
        .flat_map(|e| e.registers(RECEIVED))
        .collect()
}

/// Applies in both forms; checks they agree and returns the document and the outcome.
fn apply(doc: &Document, set: &RegisterSet) -> (Document, Outcome) {
    let mut typed = doc.clone();
    let outcome = set.apply_document(&mut typed, NOW);
    let mut map = source(doc);
    assert_eq!(set.apply_source(&mut map, NOW), outcome, "both forms");
    if outcome != Outcome::Delete {
        assert_eq!(
            Value::Object(map),
            Value::Object(source(&typed)),
            "both forms"
        );
    }
    (typed, outcome)
}

const COUNTRIES: [&str; 3] = ["DE", "FR", "XY"];

/// Any compliance event about `users` and `tweets`, at one of a few times (so that ties
/// happen), scrubs up to one of `up_to`.
fn any_event(
    users: &'static [u64],
    tweets: &'static [u64],
    up_to: &'static [u64],
) -> impl Strategy<Value = ComplianceEvent> {
    (
        0u8..14,
        proptest::sample::select(users),
        proptest::sample::select(tweets),
        proptest::sample::select(up_to),
        proptest::sample::subsequence(COUNTRIES.to_vec(), 0..=3),
        prop_oneof![(0i64..4).prop_map(|k| Some(BASE + k * 1000)), Just(None)],
        any::<bool>(),
    )
        .prop_map(|(k, user, tweet, up_to, countries, at, flag)| {
            let countries: Vec<String> = countries.into_iter().map(str::to_owned).collect();
            let change = [
                UserChange::Delete,
                UserChange::Undelete,
                UserChange::Protect,
                UserChange::Unprotect,
                UserChange::Suspend,
                UserChange::Unsuspend,
            ];
            let kind = match k {
                0 => EventKind::ScrubGeo {
                    user_id: user,
                    up_to_id: up_to,
                },
                1 => EventKind::TweetScrubGeo { tweet_id: tweet },
                2 => EventKind::Withheld {
                    tweet_id: tweet,
                    author_id: Some(user),
                    countries,
                },
                3 => EventKind::UserWithheld {
                    user_id: user,
                    countries,
                },
                4 => EventKind::Drop {
                    tweet_id: tweet,
                    author_id: Some(user),
                    dropped: flag,
                },
                5 => EventKind::Edit {
                    latest_id: Some(tweet + 10),
                    earlier: vec![tweet],
                },
                6..=11 => EventKind::User {
                    user_id: user,
                    change: change[usize::from(k - 6)],
                },
                12 => EventKind::UserClean { user_id: user },
                _ => EventKind::UserProfileModification { user_id: user },
            };
            // v1 events carry no time; the others do.
            let source = match (at, flag) {
                (None, _) => Source::V1,
                (Some(_), true) => Source::Stream,
                (Some(_), false) => Source::Batch,
            };
            event(kind, at, source)
        })
}

fn events_about_the_document() -> impl Strategy<Value = Vec<ComplianceEvent>> {
    proptest::collection::vec(
        any_event(
            &[AUTHOR, OTHER_USER],
            &[TWEET, TWEET + 1, TWEET - 1],
            &[TWEET - 1, TWEET, TWEET + 1],
        ),
        0..12,
    )
}

/// An event that suppresses the document, its reverse (later), and the reason.
fn reversible(which: usize) -> (ComplianceEvent, ComplianceEvent, Reason) {
    let (on, off) = (Some(BASE + 10_000), Some(BASE + 30_000));
    let user = |change, at| {
        event(
            EventKind::User {
                user_id: AUTHOR,
                change,
            },
            at,
            Source::Stream,
        )
    };
    let drop = |dropped, at| {
        event(
            EventKind::Drop {
                tweet_id: TWEET,
                author_id: Some(AUTHOR),
                dropped,
            },
            at,
            Source::Stream,
        )
    };
    match which {
        0 => (
            user(UserChange::Protect, on),
            user(UserChange::Unprotect, off),
            Reason::UserProtect,
        ),
        1 => (
            user(UserChange::Suspend, on),
            user(UserChange::Unsuspend, off),
            Reason::UserSuspend,
        ),
        2 => (
            user(UserChange::Delete, on),
            user(UserChange::Undelete, off),
            Reason::UserDelete,
        ),
        _ => (drop(true, on), drop(false, off), Reason::Drop),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any permutation of the same events gives the same registers and the same document.
    #[test]
    fn order_does_not_matter(
        (events, shuffled) in events_about_the_document()
            .prop_flat_map(|e| (Just(e.clone()), Just(e).prop_shuffle()))
    ) {
        let doc = document();
        let (a, b) = (set_of(&events), set_of(&shuffled));
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(apply(&doc, &a), apply(&doc, &b));
        // Also when each event's registers are applied as they arrive, one after another,
        // each time with every register so far (what the index does).
        let mut sofar = RegisterSet::new();
        let mut current = doc.clone();
        for e in &shuffled {
            sofar.extend(e.registers(RECEIVED));
            current = apply(&current, &sofar).0;
        }
        prop_assert_eq!(current, apply(&doc, &a).0);
    }

    /// Applying twice is applying once; the second time changes nothing.
    #[test]
    fn applying_is_idempotent(events in events_about_the_document()) {
        let set = set_of(&events);
        let (once, outcome) = apply(&document(), &set);
        let (twice, again) = apply(&once, &set);
        prop_assert_eq!(&twice, &once);
        prop_assert_eq!(again, if outcome == Outcome::Delete { Outcome::Delete } else { Outcome::Unchanged });
    }

    /// A reverse event lifts exactly what its event set: the document is as if neither came.
    #[test]
    fn a_reverse_event_restores_exactly(
        events in events_about_the_document(),
        which in 0usize..4,
    ) {
        let (on, off, reason) = reversible(which);
        let slot = on.registers(RECEIVED)[0].doc_id();
        // The other events, without any that writes the reversed register.
        let others: Vec<ComplianceEvent> = events
            .into_iter()
            .filter(|e| e.registers(RECEIVED).iter().all(|r| r.doc_id() != slot))
            .collect();
        let doc = document();
        let (before, _) = apply(&doc, &set_of(&others));
        let (during, _) = apply(&before, &set_of(others.iter().chain([&on])));
        prop_assert!(during.suppressed && during.suppressed_reasons.contains(&reason), "{:?}", during);
        let set_off = set_of(others.iter().chain([&on, &off]));
        let (after, _) = apply(&during, &set_off);
        prop_assert_eq!(after, before);
    }

    /// Events about other users, other tweets, and scrubs that end before the tweet leave
    /// its document as it is.
    #[test]
    fn other_users_and_later_tweets_are_unchanged(
        events in proptest::collection::vec(
            any_event(&[OTHER_USER], &[TWEET + 1, TWEET - 1], &[TWEET - 1]),
            0..12,
        ),
        author_scrub in any::<bool>(),
    ) {
        let mut events = events;
        if author_scrub {
            // The author's scrub, up to an earlier tweet.
            events.push(event(EventKind::ScrubGeo { user_id: AUTHOR, up_to_id: TWEET - 1 }, Some(BASE), Source::Stream));
        }
        let doc = document();
        let (after, outcome) = apply(&doc, &set_of(&events));
        prop_assert_eq!(outcome, Outcome::Unchanged);
        prop_assert_eq!(after.to_json(), doc.to_json());
    }
}

#[test]
fn scrub_geo_removes_every_location_field_and_nothing_else() {
    let doc = document();
    let before = source(&doc);
    for event in [
        EventKind::ScrubGeo {
            user_id: AUTHOR,
            up_to_id: TWEET,
        },
        EventKind::TweetScrubGeo { tweet_id: TWEET },
    ] {
        let (after, outcome) = apply(&doc, &set_of([&self::event(event, None, Source::V1)]));
        assert_eq!(outcome, Outcome::Changed);
        let mut after = source(&after);
        for field in ["coordinates", "place", "geo_source"] {
            assert!(
                before.contains_key(field) && !after.contains_key(field),
                "{field}"
            );
        }
        let mut kept = before.clone();
        kept.retain(|k, _| !["coordinates", "place", "geo_source"].contains(&k.as_str()));
        after.retain(|_, _| true);
        assert_eq!(after, kept);
    }
}

#[test]
fn withheld_lists_merge_and_a_later_list_replaces() {
    let doc = document();
    let tweet = |countries: &[&str], at| {
        event(
            EventKind::Withheld {
                tweet_id: TWEET,
                author_id: Some(AUTHOR),
                countries: countries.iter().map(|c| c.to_string()).collect(),
            },
            Some(at),
            Source::Stream,
        )
    };
    let user = event(
        EventKind::UserWithheld {
            user_id: AUTHOR,
            countries: vec!["FR".into()],
        },
        Some(BASE),
        Source::Stream,
    );
    let (d, _) = apply(&doc, &set_of([&tweet(&["XY", "DE"], BASE), &user]));
    assert_eq!(d.withheld_in_countries, ["DE", "FR", "XY"]);
    assert_eq!(
        source(&d)["withheld_in_countries"],
        json!(["DE", "FR", "XY"])
    );
    // A later list for the tweet replaces its earlier one; an empty one lifts it.
    let (d, _) = apply(
        &d,
        &set_of([
            &tweet(&["XY", "DE"], BASE),
            &tweet(&["AR"], BASE + 1),
            &user,
        ]),
    );
    assert_eq!(d.withheld_in_countries, ["AR", "FR"]);
    let (d, _) = apply(
        &d,
        &set_of([&tweet(&["AR"], BASE + 1), &tweet(&[], BASE + 2)]),
    );
    assert!(d.withheld_in_countries.is_empty());
    assert!(!source(&d).contains_key("withheld_in_countries"));
}

#[test]
fn a_user_delete_becomes_a_delete_after_thirty_days_unless_reversed() {
    let doc = document();
    let delete = event(
        EventKind::User {
            user_id: AUTHOR,
            change: UserChange::Delete,
        },
        Some(NOW - USER_DELETE_GRACE_MS + 1),
        Source::Stream,
    );
    let (d, outcome) = apply(&doc, &set_of([&delete]));
    assert_eq!(outcome, Outcome::Changed);
    assert_eq!(d.suppressed_reasons, [Reason::UserDelete]);
    let old = ComplianceEvent {
        event_at: Some(NOW - USER_DELETE_GRACE_MS),
        ..delete.clone()
    };
    assert_eq!(apply(&doc, &set_of([&old])).1, Outcome::Delete);
    let undelete = event(
        EventKind::User {
            user_id: AUTHOR,
            change: UserChange::Undelete,
        },
        Some(NOW - 1),
        Source::Stream,
    );
    assert_eq!(
        apply(&doc, &set_of([&old, &undelete])).1,
        Outcome::Unchanged
    );
}

#[test]
fn a_clean_batch_result_lifts_older_states_only() {
    let doc = document();
    let protect = |at| {
        event(
            EventKind::User {
                user_id: AUTHOR,
                change: UserChange::Protect,
            },
            Some(at),
            Source::Stream,
        )
    };
    let clean = event(
        EventKind::UserClean { user_id: AUTHOR },
        Some(BASE + 5_000),
        Source::Batch,
    );
    let reasons = |events: &[&ComplianceEvent]| {
        apply(&doc, &set_of(events.iter().copied()))
            .0
            .suppressed_reasons
    };
    assert_eq!(reasons(&[&protect(BASE), &clean]), []);
    assert_eq!(
        reasons(&[&protect(BASE + 6_000), &clean]),
        [Reason::UserProtect]
    );
    // At the same millisecond the stricter state wins.
    assert_eq!(
        reasons(&[&clean, &protect(BASE + 5_000)]),
        [Reason::UserProtect]
    );
}

#[test]
fn every_reason_is_listed_in_its_order() {
    let doc = document();
    let mut events: Vec<ComplianceEvent> =
        [UserChange::Suspend, UserChange::Delete, UserChange::Protect]
            .into_iter()
            .map(|change| {
                event(
                    EventKind::User {
                        user_id: AUTHOR,
                        change,
                    },
                    Some(BASE),
                    Source::Stream,
                )
            })
            .collect();
    events.push(event(
        EventKind::Edit {
            latest_id: None,
            earlier: vec![TWEET],
        },
        Some(BASE),
        Source::Batch,
    ));
    events.push(event(
        EventKind::Drop {
            tweet_id: TWEET,
            author_id: None,
            dropped: true,
        },
        Some(BASE),
        Source::Stream,
    ));
    let (d, _) = apply(&doc, &set_of(&events));
    assert_eq!(d.suppressed_reasons, Reason::ALL);
    let json = source(&d);
    assert_eq!(json["suppressed"], json!(true));
    assert_eq!(
        json["suppressed_reasons"],
        json!([
            "user_protect",
            "user_suspend",
            "user_delete",
            "drop",
            "edited"
        ])
    );
}

#[test]
fn a_tombstone_stays_a_tombstone() {
    let set = set_of([&event(
        EventKind::User {
            user_id: AUTHOR,
            change: UserChange::Protect,
        },
        Some(BASE),
        Source::Stream,
    )]);
    let mut tombstone = match json!({"deleted": true}) {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    assert_eq!(set.apply_source(&mut tombstone, NOW), Outcome::Unchanged);
    assert_eq!(Value::Object(tombstone), json!({"deleted": true}));
}
