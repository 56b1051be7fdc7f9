//! Compliance records as X and `tweet-capture comply` write them, one JSON line each, for the
//! tests that index them: the v1.1 stream messages, the v2 compliance streams' payloads and a
//! batch compliance job's result lines (after X's documented shapes, as
//! `crates/tweets/tests/compliance_records.rs` has them). Times are epoch milliseconds.

use serde_json::{Value, json};

/// Epoch ms as X writes `event_at`: `2022-12-23T12:34:56.789Z`.
pub fn iso(ms: i64) -> String {
    let ms = u64::try_from(ms).unwrap_or(0);
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(time).to_string()
}

/// The wall clock in epoch ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A day in ms.
pub const DAY_MS: i64 = 24 * 3600 * 1000;

fn v2(kind: &str, body: Value) -> String {
    json!({ "data": { kind: body } }).to_string()
}

/// A v2 user compliance event (`user_protect`, `user_undelete`, ...).
pub fn v2_user(kind: &str, user: u64, at: i64) -> String {
    v2(
        kind,
        json!({"user": {"id": user.to_string()}, "event_at": iso(at)}),
    )
}

/// A v2 tweet event naming one tweet: `delete`, `drop`, `undrop`.
pub fn v2_tweet(kind: &str, tweet: u64, author: u64, at: i64) -> String {
    v2(
        kind,
        json!({"tweet": {"id": tweet.to_string(), "author_id": author.to_string()},
            "event_at": iso(at)}),
    )
}

/// A v2 `withheld` (an empty list lifts it).
pub fn v2_withheld(tweet: u64, author: u64, countries: &[&str], at: i64) -> String {
    v2(
        "withheld",
        json!({"tweet": {"id": tweet.to_string(), "author_id": author.to_string()},
            "withheld_in_countries": countries, "event_at": iso(at)}),
    )
}

/// A v2 `user_withheld`.
pub fn v2_user_withheld(user: u64, countries: &[&str], at: i64) -> String {
    v2(
        "user_withheld",
        json!({"user": {"id": user.to_string()}, "withheld_in_countries": countries,
            "event_at": iso(at)}),
    )
}

/// A v2 `scrub_geo`: the user's tweets up to `up_to` lose their location.
pub fn v2_scrub_geo(user: u64, up_to: u64, at: i64) -> String {
    v2(
        "scrub_geo",
        json!({"user": {"id": user.to_string()}, "up_to_tweet_id": up_to.to_string(),
            "event_at": iso(at)}),
    )
}

/// A v2 `tweet_edit`: `latest` is the new version, `earlier` the ones before it.
pub fn v2_tweet_edit(latest: u64, author: u64, earlier: &[u64], at: i64) -> String {
    let mut ids: Vec<String> = earlier.iter().map(u64::to_string).collect();
    ids.push(latest.to_string());
    v2(
        "tweet_edit",
        json!({"tweet": {"id": latest.to_string(), "author_id": author.to_string()},
            "initial_tweet_id": ids[0], "edit_tweet_ids": ids, "event_at": iso(at)}),
    )
}

/// A v1.1 `scrub_geo` (no time: the indexer uses the time the input was received).
pub fn v1_scrub_geo(user: u64, up_to: u64) -> String {
    json!({"scrub_geo": {"user_id": user, "user_id_str": user.to_string(),
        "up_to_status_id": up_to, "up_to_status_id_str": up_to.to_string()}})
    .to_string()
}

/// A v1.1 `status_withheld`.
pub fn v1_status_withheld(tweet: u64, user: u64, countries: &[&str]) -> String {
    json!({"status_withheld": {"id": tweet, "user_id": user, "withheld_in_countries": countries}})
        .to_string()
}

/// A v1.1 `user_withheld`.
pub fn v1_user_withheld(user: u64, countries: &[&str]) -> String {
    json!({"user_withheld": {"id": user, "withheld_in_countries": countries}}).to_string()
}

/// A v1.1 delete notice.
pub fn v1_delete(tweet: u64, user: u64, at: i64) -> String {
    json!({"delete": {"status": {"id": tweet, "id_str": tweet.to_string(), "user_id": user,
        "user_id_str": user.to_string()}, "timestamp_ms": at.to_string()}})
    .to_string()
}

/// One result line of a batch compliance job created at `job_at`, as `tweet-capture comply`
/// writes it: `job_type` `tweets` or `users`, `result` the line X sent.
pub fn batch(job_type: &str, job_at: i64, result: Value) -> String {
    json!({"compliance_job_result": {
        "job": {"id": "1425543269983784962", "type": job_type, "created_at": iso(job_at)},
        "result": result,
    }})
    .to_string()
}

/// A result line of X (`action` `delete`, `scrub_geo` or `rehydrate` for tweets; `delete`
/// with a `reason` for users), redacted at `at`.
pub fn batch_result(id: u64, action: &str, reason: &str, at: i64) -> Value {
    json!({"id": id.to_string(), "action": action, "created_at": iso(at - DAY_MS),
        "redacted_at": iso(at), "reason": reason})
}

/// The line `comply` writes for an uploaded user X did not return (clean at the job's time).
pub fn batch_user_clean(user: u64) -> Value {
    json!({"id": user.to_string(), "action": "none"})
}

/// One hit of a search answer: `_id`, `_source` (`Null` when not asked for) and `_version`
/// (when asked for).
#[derive(Debug, Clone)]
pub struct Hit {
    pub id: String,
    pub source: Value,
    pub version: Option<u64>,
}

/// The hits of a search answer's body (`hits.hits`); panics on an answer that is none.
pub fn search_hits(body: &[u8]) -> Vec<Hit> {
    let answer: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)));
    let hits = answer["hits"]["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("no hits in {answer}"));
    hits.iter()
        .map(|h| Hit {
            id: h["_id"].as_str().expect("_id").to_owned(),
            source: h["_source"].clone(),
            version: h["_version"].as_u64(),
        })
        .collect()
}
