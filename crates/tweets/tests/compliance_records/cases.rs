//! The table: one case per kind and shape of compliance record, with its exact outcome.

use serde_json::json;
use tweets::compliance::event::last_id_at;
use tweets::compliance::{EventKind, Source, UserChange};

/// 2022-12-23T12:34:56.789Z and 2022-06-27T23:49:41.839+00:00 (X's example `event_at`s).
const DEC_23: i64 = 1_671_798_896_789;
const JUN_27: i64 = 1_656_373_781_839;
/// A batch job's `created_at` (2024-01-15T10:00:00.000Z) and a `redacted_at`
/// (2024-01-12T08:30:00.000Z).
const JOB_AT: i64 = 1_705_312_800_000;
const REDACTED_AT: i64 = 1_705_048_200_000;

pub enum Want {
    Event(EventKind, Option<i64>, Source),
    Delete(&'static str, Option<i64>),
    Control(&'static str),
    Invalid(&'static str),
}

pub struct Case {
    pub name: &'static str,
    pub record: String,
    pub want: Want,
}

fn case(name: &'static str, record: serde_json::Value, want: Want) -> Case {
    Case {
        name,
        record: record.to_string(),
        want,
    }
}

fn v2(kind: &str, body: serde_json::Value) -> serde_json::Value {
    json!({ "data": { kind: body } })
}

fn user_event(kind: &str, user: &str) -> serde_json::Value {
    v2(
        kind,
        json!({"user": {"id": user}, "event_at": "2022-06-27T23:49:41.839+00:00"}),
    )
}

fn job(kind: &str, result: serde_json::Value) -> serde_json::Value {
    json!({"compliance_job_result": {
        "job": {"id": "1425543269983784962", "type": kind, "created_at": "2024-01-15T10:00:00.000Z"},
        "result": result,
    }})
}

fn stream(kind: EventKind, at: i64) -> Want {
    Want::Event(kind, Some(at), Source::Stream)
}

fn batch(kind: EventKind, at: i64) -> Want {
    Want::Event(kind, Some(at), Source::Batch)
}

fn user(user_id: u64, change: UserChange) -> EventKind {
    EventKind::User { user_id, change }
}

fn v1_cases() -> Vec<Case> {
    vec![
        case(
            "v1 delete with timestamp_ms",
            json!({"delete": {"status": {"id": 1234, "id_str": "1234", "user_id": 3, "user_id_str": "3"},
                "timestamp_ms": "1481380005131"}}),
            Want::Delete("1234", Some(1_481_380_005_131)),
        ),
        case(
            "v1 delete without a time",
            json!({"delete": {"status": {"id": 1234, "id_str": "1234", "user_id": 3, "user_id_str": "3"}}}),
            Want::Delete("1234", None),
        ),
        case(
            "v1 delete with a timestamp_ms that is no time: the delete holds",
            json!({"delete": {"status": {"id_str": "1234"}, "timestamp_ms": "soon"}}),
            Want::Delete("1234", None),
        ),
        case(
            "v1 delete of a direct message",
            json!({"delete": {"direct_message": {"id": 1, "user_id": 2}}}),
            Want::Control("delete"),
        ),
        case(
            "v1 scrub_geo",
            json!({"scrub_geo": {"user_id": 14090452, "user_id_str": "14090452",
                "up_to_status_id": 23260136625u64, "up_to_status_id_str": "23260136625"}}),
            Want::Event(
                EventKind::ScrubGeo {
                    user_id: 14_090_452,
                    up_to_id: 23_260_136_625,
                },
                None,
                Source::V1,
            ),
        ),
        case(
            "v1 scrub_geo with numbers only",
            json!({"scrub_geo": {"user_id": 14090452, "up_to_status_id": 23260136625u64}}),
            Want::Event(
                EventKind::ScrubGeo {
                    user_id: 14_090_452,
                    up_to_id: 23_260_136_625,
                },
                None,
                Source::V1,
            ),
        ),
        case(
            "v1 scrub_geo without up_to",
            json!({"scrub_geo": {"user_id": 14090452}}),
            Want::Invalid("compliance event scrub_geo: without up_to_status_id"),
        ),
        case(
            "v1 scrub_geo with a float user id",
            json!({"scrub_geo": {"user_id": 1.5, "up_to_status_id": 5}}),
            Want::Invalid("compliance event scrub_geo: user_id is not an integer: 1.5"),
        ),
        case(
            "v1 scrub_geo with a user id that is no number",
            json!({"scrub_geo": {"user_id_str": "x14", "up_to_status_id": 5}}),
            Want::Invalid("compliance event scrub_geo: user_id_str is not a decimal id: \"x14\""),
        ),
        case(
            "v1 status_withheld",
            json!({"status_withheld": {"id": 1234567890, "user_id": 123456,
                "withheld_in_countries": ["DE", "AR"]}}),
            Want::Event(
                EventKind::Withheld {
                    tweet_id: 1_234_567_890,
                    author_id: Some(123_456),
                    countries: vec!["DE".into(), "AR".into()],
                },
                None,
                Source::V1,
            ),
        ),
        case(
            "v1 status_withheld with a negative id",
            json!({"status_withheld": {"id": -4, "user_id": 123456, "withheld_in_countries": ["DE"]}}),
            Want::Invalid("compliance event status_withheld: id is negative: -4"),
        ),
        case(
            "v1 status_withheld without countries",
            json!({"status_withheld": {"id": 4, "user_id": 123456}}),
            Want::Invalid("compliance event status_withheld: without withheld_in_countries"),
        ),
        case(
            "v1 user_withheld",
            json!({"user_withheld": {"id": 123456, "withheld_in_countries": ["DE", "AR"]}}),
            Want::Event(
                EventKind::UserWithheld {
                    user_id: 123_456,
                    countries: vec!["DE".into(), "AR".into()],
                },
                None,
                Source::V1,
            ),
        ),
        case(
            "v1 user_withheld with countries that are no list",
            json!({"user_withheld": {"id": 123456, "withheld_in_countries": "DE"}}),
            Want::Invalid(
                "compliance event user_withheld: withheld_in_countries is not a list of strings: \"DE\"",
            ),
        ),
        case(
            "v1 user_withheld that is no object",
            json!({"user_withheld": [1]}),
            Want::Invalid("compliance event user_withheld: not an object"),
        ),
    ]
}

fn v2_cases() -> Vec<Case> {
    let tweet = json!({"id": "601430178305220608", "author_id": "3198576760"});
    let dec_23 = "2022-12-23T12:34:56.789Z";
    let users = [
        ("user_delete", UserChange::Delete),
        ("user_undelete", UserChange::Undelete),
        ("user_protect", UserChange::Protect),
        ("user_unprotect", UserChange::Unprotect),
        ("user_suspend", UserChange::Suspend),
        ("user_unsuspend", UserChange::Unsuspend),
    ]
    .map(|(kind, change)| {
        assert_eq!(kind, change.as_str());
        case(
            kind,
            user_event(kind, "1375036644"),
            stream(user(1_375_036_644, change), JUN_27),
        )
    });
    users.into_iter().chain([
        case(
            "v2 delete",
            v2("delete", json!({"tweet": tweet, "event_at": dec_23})),
            Want::Delete("601430178305220608", Some(DEC_23)),
        ),
        case(
            "v2 delete of a quoted tweet's quote (extra field)",
            v2(
                "delete",
                json!({"tweet": tweet, "quote_tweet_id": "601430178305220609", "event_at": dec_23}),
            ),
            Want::Delete("601430178305220608", Some(DEC_23)),
        ),
        case(
            "v2 delete without event_at",
            v2("delete", json!({"tweet": tweet})),
            Want::Invalid("v2 data: delete notice without event_at"),
        ),
        case(
            "v2 delete with an event_at that is no time",
            v2("delete", json!({"tweet": tweet, "event_at": "yesterday"})),
            Want::Invalid("v2 data: delete notice event_at is not an ISO 8601 time: \"yesterday\""),
        ),
        case(
            "v2 delete with a float tweet id",
            v2(
                "delete",
                json!({"tweet": {"id": 6.0e17}, "event_at": dec_23}),
            ),
            Want::Invalid(
                "v2 data: delete notice with an unusable tweet id (a number: 600000000000000000)",
            ),
        ),
        case(
            "v2 delete with a tweet id that is no number",
            v2(
                "delete",
                json!({"tweet": {"id": "6014x"}, "event_at": dec_23}),
            ),
            Want::Invalid(
                "v2 data: delete notice with an unusable tweet id (not decimal: \"6014x\")",
            ),
        ),
        case(
            "v2 tweet_edit",
            v2(
                "tweet_edit",
                json!({"tweet": {"id": "1567233994734948354"},
                "initial_tweet_id": "1567233844205453313",
                "edit_tweet_ids": ["1567233844205453313", "1567233994734948354"],
                "event_at": "2022-09-06T19:31:16.801Z"}),
            ),
            stream(
                EventKind::Edit {
                    latest_id: Some(1_567_233_994_734_948_354),
                    earlier: vec![1_567_233_844_205_453_313],
                },
                1_662_492_676_801,
            ),
        ),
        case(
            "v2 tweet_edit with an edit id that is a float",
            v2(
                "tweet_edit",
                json!({"tweet": {"id": "3"}, "initial_tweet_id": "1",
                "edit_tweet_ids": ["1", 2.5], "event_at": dec_23}),
            ),
            Want::Invalid(
                "v2 data: compliance event tweet_edit: edit_tweet_ids[] is not an integer: 2.5",
            ),
        ),
        case(
            "v2 withheld",
            v2(
                "withheld",
                json!({"tweet": tweet, "withheld_in_countries": ["XY"], "event_at": dec_23}),
            ),
            stream(
                EventKind::Withheld {
                    tweet_id: 601_430_178_305_220_608,
                    author_id: Some(3_198_576_760),
                    countries: vec!["XY".into()],
                },
                DEC_23,
            ),
        ),
        case(
            "v2 withheld without countries",
            v2("withheld", json!({"tweet": tweet, "event_at": dec_23})),
            Want::Invalid("v2 data: compliance event withheld: without withheld_in_countries"),
        ),
        case(
            "v2 drop",
            v2(
                "drop",
                json!({"tweet": {"id": "601430178305220600", "author_id": "3198576760"}, "event_at": dec_23}),
            ),
            stream(
                EventKind::Drop {
                    tweet_id: 601_430_178_305_220_600,
                    author_id: Some(3_198_576_760),
                    dropped: true,
                },
                DEC_23,
            ),
        ),
        case(
            "v2 undrop",
            v2(
                "undrop",
                json!({"tweet": {"id": "601430178305220600", "author_id": "3198576760"}, "event_at": dec_23}),
            ),
            stream(
                EventKind::Drop {
                    tweet_id: 601_430_178_305_220_600,
                    author_id: Some(3_198_576_760),
                    dropped: false,
                },
                DEC_23,
            ),
        ),
        case(
            "v2 drop with a negative author id",
            v2(
                "drop",
                json!({"tweet": {"id": "6", "author_id": -3}, "event_at": dec_23}),
            ),
            Want::Invalid("v2 data: compliance event drop: tweet.author_id is negative: -3"),
        ),
        case(
            "v2 scrub_geo",
            v2(
                "scrub_geo",
                json!({"user": {"id": "1375036644"}, "up_to_tweet_id": "411552403083628544",
                "event_at": "2022-06-27T23:49:41.839+00:00"}),
            ),
            stream(
                EventKind::ScrubGeo {
                    user_id: 1_375_036_644,
                    up_to_id: 411_552_403_083_628_544,
                },
                JUN_27,
            ),
        ),
        case(
            "v2 scrub_geo without up_to",
            v2(
                "scrub_geo",
                json!({"user": {"id": "1375036644"}, "event_at": dec_23}),
            ),
            Want::Invalid("v2 data: compliance event scrub_geo: without up_to_tweet_id"),
        ),
        case(
            "v2 user_withheld",
            v2(
                "user_withheld",
                json!({"user": {"id": "1375036644"}, "withheld_in_countries": ["XY"],
                "event_at": "2022-06-27T23:49:41.839+00:00"}),
            ),
            stream(
                EventKind::UserWithheld {
                    user_id: 1_375_036_644,
                    countries: vec!["XY".into()],
                },
                JUN_27,
            ),
        ),
        case(
            "v2 user_profile_modification",
            v2(
                "user_profile_modification",
                json!({"user": {"id": "906948460078698496"},
                "event_at": "2022-07-12T19:47:59.442Z", "profile_field": "profile.description",
                "new_value": "Home of the chatbot."}),
            ),
            stream(
                EventKind::UserProfileModification {
                    user_id: 906_948_460_078_698_496,
                },
                1_657_655_279_442,
            ),
        ),
        case(
            "v2 user event without a user",
            v2("user_protect", json!({"event_at": dec_23})),
            Want::Invalid("v2 data: compliance event user_protect: without user"),
        ),
        case(
            "v2 user event without a user id",
            v2("user_protect", json!({"user": {}, "event_at": dec_23})),
            Want::Invalid("v2 data: compliance event user_protect: without user.id"),
        ),
        case(
            "v2 user event with an event_at that is a number",
            v2(
                "user_suspend",
                json!({"user": {"id": "1"}, "event_at": 1656373781839u64}),
            ),
            Want::Invalid(
                "v2 data: compliance event user_suspend: event_at is not a string: 1656373781839",
            ),
        ),
        case(
            "v2 event of an unknown kind",
            v2(
                "user_frobnicate",
                json!({"user": {"id": "1"}, "event_at": dec_23}),
            ),
            Want::Invalid(
                "v2 data: neither a tweet (no id) nor a compliance event (keys: user_frobnicate)",
            ),
        ),
        case(
            "v2 data with two kinds",
            json!({"data": {"user_protect": {"user": {"id": "1"}, "event_at": dec_23},
                "user_suspend": {"user": {"id": "1"}, "event_at": dec_23}}}),
            Want::Invalid(
                "v2 data: compliance event with two kinds under data: user_protect, user_suspend",
            ),
        ),
    ])
    .collect()
}

fn batch_cases() -> Vec<Case> {
    let result = |action: &str, reason: &str| {
        json!({"id": "1265324480517361664", "action": action, "created_at": "2019-10-29T17:02:47.000Z",
            "redacted_at": "2024-01-12T08:30:00.000Z", "reason": reason})
    };
    const TWEET: u64 = 1_265_324_480_517_361_664;
    // X's users-job reasons (with action `delete`) and the user-level change each is.
    let users = [
        ("users job: deleted", "deleted", UserChange::Delete),
        ("users job: deactivated", "deactivated", UserChange::Delete),
        ("users job: suspended", "suspended", UserChange::Suspend),
        ("users job: protected", "protected", UserChange::Protect),
    ]
    .map(|(name, reason, change)| {
        case(
            name,
            job("users", result("delete", reason)),
            batch(user(TWEET, change), REDACTED_AT),
        )
    });
    users.into_iter().chain([
        case(
            "tweets job: delete",
            job("tweets", result("delete", "deleted")),
            Want::Delete("1265324480517361664", Some(REDACTED_AT)),
        ),
        case(
            "tweets job: delete, author protected",
            job("tweets", result("delete", "protected")),
            Want::Delete("1265324480517361664", Some(REDACTED_AT)),
        ),
        case(
            "tweets job: delete without a redaction time (the job's time)",
            job(
                "tweets",
                json!({"id": "1265324480517361664", "action": "delete", "redacted_at": null, "reason": "deleted"}),
            ),
            Want::Delete("1265324480517361664", Some(JOB_AT)),
        ),
        case(
            "tweets job: deleted_at, the legacy alias",
            job(
                "tweets",
                json!({"id": "1265324480517361664", "action": "delete", "deleted_at": "2024-01-12T08:30:00.000Z", "reason": "deleted"}),
            ),
            Want::Delete("1265324480517361664", Some(REDACTED_AT)),
        ),
        case(
            "tweets job, older format: a reason and no action",
            job(
                "tweets",
                json!({"id": "1265324480517361664", "created_at": "2019-10-29T17:02:47.000Z", "reason": "suspended"}),
            ),
            Want::Delete("1265324480517361664", Some(JOB_AT)),
        ),
        case(
            "tweets job: scrub_geo",
            job("tweets", result("scrub_geo", "scrub_geo")),
            batch(EventKind::TweetScrubGeo { tweet_id: TWEET }, REDACTED_AT),
        ),
        case(
            "tweets job, older format: scrub_geo reason",
            job(
                "tweets",
                json!({"id": "1265324480517361664", "reason": "scrub_geo"}),
            ),
            batch(EventKind::TweetScrubGeo { tweet_id: TWEET }, JOB_AT),
        ),
        case(
            "tweets job: rehydrate (the stored copy is an earlier version)",
            job("tweets", result("rehydrate", "edited")),
            batch(
                EventKind::Edit {
                    latest_id: None,
                    earlier: vec![TWEET],
                },
                REDACTED_AT,
            ),
        ),
        case(
            "tweets job: an unknown action",
            job("tweets", result("shred", "deleted")),
            Want::Invalid(
                "compliance event job result: unknown action / reason for a tweets job: \"shred\" / \"deleted\"",
            ),
        ),
        case(
            "tweets job: no action and an unknown reason",
            job("tweets", json!({"id": "1", "reason": "bored"})),
            Want::Invalid(
                "compliance event job result: unknown action / reason for a tweets job: \"none given\" / \"bored\"",
            ),
        ),
        case(
            "users job, older format: protected",
            job("users", json!({"id": "42", "reason": "protected"})),
            batch(user(42, UserChange::Protect), JOB_AT),
        ),
        case(
            "users job: scrub_geo up to the last id of its time",
            job(
                "users",
                json!({"id": "42", "reason": "scrub_geo", "redacted_at": "2024-01-12T08:30:00.000Z"}),
            ),
            batch(
                EventKind::ScrubGeo {
                    user_id: 42,
                    up_to_id: last_id_at(REDACTED_AT),
                },
                REDACTED_AT,
            ),
        ),
        case(
            "users job: an uploaded user not returned (written by comply)",
            job("users", json!({"id": "42", "action": "none"})),
            batch(EventKind::UserClean { user_id: 42 }, JOB_AT),
        ),
        case(
            "users job: rehydrate is no user action",
            job("users", result("rehydrate", "edited")),
            Want::Invalid(
                "compliance event job result: unknown action / reason for a users job: \"rehydrate\" / \"edited\"",
            ),
        ),
        case(
            "a job's error line for an id it could not read",
            job(
                "tweets",
                json!({"id": "not_a_valid_id", "error": "invalid_id"}),
            ),
            Want::Control("compliance_job_error"),
        ),
        case(
            "a job of an unknown type",
            json!({"compliance_job_result": {"job": {"type": "spaces", "created_at": "2024-01-15T10:00:00.000Z"}, "result": {"id": "1", "action": "delete"}}}),
            Want::Invalid(
                "compliance event job result: job.type is neither tweets nor users: \"spaces\"",
            ),
        ),
        case(
            "a job without its time",
            json!({"compliance_job_result": {"job": {"type": "tweets"}, "result": {"id": "1", "action": "delete"}}}),
            Want::Invalid("compliance event job result: without job.created_at"),
        ),
        case(
            "a job result without a result",
            json!({"compliance_job_result": {"job": {"type": "tweets", "created_at": "2024-01-15T10:00:00.000Z"}}}),
            Want::Invalid("compliance event job result: without result"),
        ),
        case(
            "a job result with a float id",
            job("tweets", json!({"id": 1.25e18, "action": "delete"})),
            Want::Invalid("compliance event job result: result.id is not an integer: 1.25e+18"),
        ),
        case(
            "a job result without an id",
            job("users", json!({"action": "delete", "reason": "deleted"})),
            Want::Invalid("compliance event job result: without result.id"),
        ),
        case(
            "a job result with a redaction time that is no time",
            job(
                "tweets",
                json!({"id": "1", "action": "delete", "redacted_at": "2024-13-01T00:00:00Z"}),
            ),
            Want::Invalid(
                "compliance event job result: result.redacted_at is not an ISO 8601 time: \"2024-13-01T00:00:00Z\"",
            ),
        ),
    ])
    .collect()
}

pub fn all_cases() -> Vec<Case> {
    [v1_cases(), v2_cases(), batch_cases()]
        .into_iter()
        .flatten()
        .collect()
}
