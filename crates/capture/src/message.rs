//! What one stream line is: a tweet (id, author, created_at for dedup, partition keys and
//! lag), a delete notice, a compliance event of X's compliance streams (its kind, subject and
//! `event_at`, for dedup, partition keys and lag), or an `errors` payload (with the reconnect
//! decision it implies). [`classify_message`] reads the filtered stream's lines,
//! [`classify_compliance`] the compliance streams'.
//!
//! Only the few fields the capture needs are read; the line itself is forwarded untouched.
//! It does not build documents nor decide what an event does (that is the indexer's `tweets`
//! crate).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::backoff::Disconnect;

/// One stream line, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Tweet {
        id: String,
        author_id: Option<String>,
        created_at: Option<String>,
    },
    /// A delete notice (v2 `data.delete.tweet.id`, or the classic `delete.status.id_str`).
    Delete { id: String },
    /// An event of a v2 compliance stream: `{"data":{"<kind>":{...,"event_at":...}}}`.
    Compliance(ComplianceEvent),
    /// An `errors` payload with no `data`: a disconnect notice or another server problem.
    Problems(Vec<Problem>),
    /// Valid JSON of another shape: forwarded, not deduplicated.
    Other,
    /// Not JSON: counted and logged, not forwarded (a downstream parser would reject it too).
    Invalid,
}

/// What the capture reads of a compliance event (the line itself is forwarded as is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplianceEvent {
    /// X's name of the event: `delete`, `tweet_edit`, `user_protect`, ...
    pub kind: String,
    /// The tweet's id for a tweet event.
    pub tweet_id: Option<String>,
    /// The tweet's author for a tweet event, the user for a user event.
    pub user_id: Option<String>,
    /// When it happened, as X wrote it.
    pub event_at: String,
}

impl ComplianceEvent {
    /// The dedup key: kind, subject and time. The same event redelivered (a backfill, X's
    /// at-least-once delivery) has the same key; a user protected, unprotected and protected
    /// again has three, and each is forwarded (the indexer orders them by `event_at`).
    pub fn key(&self) -> String {
        let subject = match (&self.tweet_id, &self.user_id) {
            (Some(tweet), _) => format!("tweet:{tweet}"),
            (None, Some(user)) => format!("user:{user}"),
            (None, None) => String::new(),
        };
        format!("{}|{subject}|{}", self.kind, self.event_at)
    }
}

/// One entry of an `errors` payload (or the top-level problem object X sends with a 429).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Problem {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub connection_issue: Option<String>,
    #[serde(default)]
    pub disconnect_type: Option<String>,
}

impl Problem {
    /// What the stream loop does after this problem: `None` means keep reading (the server
    /// closes the connection itself if it has to).
    pub fn reconnect_decision(&self) -> Option<Disconnect> {
        let is = |s: &Option<String>, needle: &str| {
            s.as_deref()
                .is_some_and(|v| v.to_ascii_lowercase().contains(needle))
        };
        if is(&self.connection_issue, "toomanyconnections") {
            Some(Disconnect::RateLimited)
        } else if is(&self.kind, "operational-disconnect")
            || is(&self.title, "operational-disconnect")
            || self.disconnect_type.is_some()
        {
            Some(Disconnect::Disconnected)
        } else {
            None
        }
    }
}

/// The most severe decision among several problems (rate limit beats disconnect).
pub fn reconnect_decision(problems: &[Problem]) -> Option<Disconnect> {
    let decisions = problems.iter().filter_map(Problem::reconnect_decision);
    decisions.max_by_key(|f| match f {
        Disconnect::RateLimited => 3,
        Disconnect::Http => 2,
        Disconnect::Network => 1,
        Disconnect::Disconnected => 0,
    })
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    errors: Option<Vec<Problem>>,
    #[serde(default)]
    delete: Option<ClassicDelete>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    connection_issue: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    author_id: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    delete: Option<V2Delete>,
}

#[derive(Deserialize)]
struct V2Delete {
    tweet: IdOnly,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Deserialize)]
struct ClassicDelete {
    status: ClassicStatus,
}

#[derive(Deserialize)]
struct ClassicStatus {
    id_str: String,
}

/// Classifies one line (without its `\r\n`).
pub fn classify_message(line: &[u8]) -> Message {
    let Ok(envelope) = serde_json::from_slice::<Envelope>(line) else {
        return Message::Invalid;
    };
    if let Some(data) = envelope.data {
        if let Some(delete) = data.delete {
            return Message::Delete {
                id: delete.tweet.id,
            };
        }
        if let Some(id) = data.id {
            return Message::Tweet {
                id,
                author_id: data.author_id,
                created_at: data.created_at,
            };
        }
        return Message::Other;
    }
    if let Some(delete) = envelope.delete {
        return Message::Delete {
            id: delete.status.id_str,
        };
    }
    if let Some(errors) = envelope.errors {
        return Message::Problems(errors);
    }
    if envelope.title.is_some() || envelope.connection_issue.is_some() {
        return Message::Problems(vec![Problem {
            title: envelope.title,
            detail: envelope.detail,
            kind: envelope.kind,
            connection_issue: envelope.connection_issue,
            disconnect_type: None,
        }]);
    }
    Message::Other
}

/// Classifies one line of a compliance stream (without its `\r\n`): an event whose `data`
/// holds one kind with its `event_at` and a `tweet` or `user` id; anything else as
/// [`classify_message`] would (an `errors` payload, other JSON forwarded, not JSON).
pub fn classify_compliance(line: &[u8]) -> Message {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(default, borrow)]
        data: Option<&'a RawValue>,
    }
    #[derive(Deserialize)]
    struct Event {
        #[serde(default)]
        event_at: Option<String>,
        #[serde(default)]
        tweet: Option<Subject>,
        #[serde(default)]
        user: Option<Subject>,
    }
    #[derive(Deserialize)]
    struct Subject {
        #[serde(default)]
        id: Option<String>,
        #[serde(default)]
        author_id: Option<String>,
    }
    let Ok(envelope) = serde_json::from_slice::<Envelope<'_>>(line) else {
        return Message::Invalid;
    };
    let Some(data) = envelope.data else {
        return classify_message(line);
    };
    // Fields of other shapes (a future kind, a number where a string was) make it `Other`:
    // forwarded, not deduplicated; the indexer judges it.
    let Ok(kinds) = serde_json::from_str::<BTreeMap<String, Event>>(data.get()) else {
        return Message::Other;
    };
    let mut events = kinds.into_iter().filter_map(|(kind, event)| {
        let event_at = event.event_at?;
        let (tweet_id, user_id) = match (event.tweet, event.user) {
            (Some(t), _) if t.id.is_some() => (t.id, t.author_id),
            (_, Some(u)) if u.id.is_some() => (None, u.id),
            _ => return None,
        };
        Some(ComplianceEvent {
            kind,
            tweet_id,
            user_id,
            event_at,
        })
    });
    match (events.next(), events.next()) {
        (Some(event), None) => Message::Compliance(event),
        _ => Message::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tweet(id: &str, author: Option<&str>, created: Option<&str>) -> Message {
        Message::Tweet {
            id: id.into(),
            author_id: author.map(Into::into),
            created_at: created.map(Into::into),
        }
    }

    #[test]
    fn classify_table() {
        let table: &[(&str, Message)] = &[
            (
                r#"{"data":{"id":"1","author_id":"9","created_at":"2024-05-01T10:00:00.000Z","text":"x"},"matching_rules":[{"id":"5","tag":"t"}]}"#,
                tweet("1", Some("9"), Some("2024-05-01T10:00:00.000Z")),
            ),
            (
                // Partial errors beside data (a missing expansion) do not make it a problem.
                r#"{"data":{"id":"2"},"errors":[{"title":"Not Found Error"}]}"#,
                tweet("2", None, None),
            ),
            (
                r#"{"data":{"delete":{"tweet":{"id":"3","author_id":"9"},"event_at":"x"}}}"#,
                Message::Delete { id: "3".into() },
            ),
            (
                r#"{"delete":{"status":{"id":4,"id_str":"4","user_id":1}}}"#,
                Message::Delete { id: "4".into() },
            ),
            (r#"{"data":{"text":"no id"}}"#, Message::Other),
            (r#"{"meta":{}}"#, Message::Other),
            ("not json", Message::Invalid),
            (r#"{"data":{"id":"1""#, Message::Invalid),
        ];
        for (line, expected) in table {
            assert_eq!(&classify_message(line.as_bytes()), expected, "{line}");
        }
    }

    #[test]
    fn classify_compliance_table() {
        let event = |kind: &str, tweet: Option<&str>, user: Option<&str>, at: &str| {
            Message::Compliance(ComplianceEvent {
                kind: kind.into(),
                tweet_id: tweet.map(Into::into),
                user_id: user.map(Into::into),
                event_at: at.into(),
            })
        };
        let at = "2021-07-06T18:40:40.000Z";
        let table: &[(&str, Message)] = &[
            // X's examples (the OpenAPI spec's schemas), with `quote_tweet_id` and all.
            (
                r#"{"data":{"delete":{"event_at":"2021-07-06T18:40:40.000Z","tweet":{"author_id":"2244994945","id":"1346889436626259968"},"quote_tweet_id":"1346889436626259968"}}}"#,
                event(
                    "delete",
                    Some("1346889436626259968"),
                    Some("2244994945"),
                    at,
                ),
            ),
            (
                r#"{"data":{"tweet_edit":{"tweet":{"id":"3"},"initial_tweet_id":"1","edit_tweet_ids":["1","3"],"event_at":"2021-07-06T18:40:40.000Z"}}}"#,
                event("tweet_edit", Some("3"), None, at),
            ),
            (
                r#"{"data":{"withheld":{"tweet":{"id":"4","author_id":"9"},"withheld_in_countries":["DE"],"event_at":"2021-07-06T18:40:40.000Z"}}}"#,
                event("withheld", Some("4"), Some("9"), at),
            ),
            (
                r#"{"data":{"user_protect":{"event_at":"2021-07-06T18:40:40.000Z","user":{"id":"2244994945"}}}}"#,
                event("user_protect", None, Some("2244994945"), at),
            ),
            (
                r#"{"data":{"scrub_geo":{"user":{"id":"9"},"up_to_tweet_id":"5","event_at":"2021-07-06T18:40:40.000Z"}}}"#,
                event("scrub_geo", None, Some("9"), at),
            ),
            (
                r#"{"data":{"user_profile_modification":{"user":{"id":"9"},"profile_field":"name","new_value":"N","event_at":"2021-07-06T18:40:40.000Z"}}}"#,
                event("user_profile_modification", None, Some("9"), at),
            ),
            // Not an event we can key: forwarded as other JSON.
            (
                r#"{"data":{"delete":{"tweet":{"id":"1"}}}}"#,
                Message::Other,
            ),
            (r#"{"data":{"delete":{"event_at":"x"}}}"#, Message::Other),
            (
                r#"{"data":{"delete":{"event_at":"x","tweet":{"id":1}}}}"#,
                Message::Other,
            ),
            (
                r#"{"data":{"drop":{"event_at":"x","tweet":{"id":"1"}},"undrop":{"event_at":"x","tweet":{"id":"1"}}}}"#,
                Message::Other,
            ),
            (r#"{"data":[]}"#, Message::Other),
            (r#"{"meta":{}}"#, Message::Other),
            ("not json", Message::Invalid),
        ];
        for (line, expected) in table {
            assert_eq!(&classify_compliance(line.as_bytes()), expected, "{line}");
        }
        let Message::Problems(problems) = classify_compliance(OPERATIONAL.as_bytes()) else {
            panic!("an errors payload is a problem on a compliance stream too");
        };
        assert_eq!(
            reconnect_decision(&problems),
            Some(Disconnect::Disconnected)
        );
    }

    const OPERATIONAL: &str = r#"{"errors":[{"title":"operational-disconnect","disconnect_type":"UpstreamOperationalDisconnect","type":"https://api.twitter.com/2/problems/operational-disconnect"}]}"#;

    #[test]
    fn compliance_keys_tell_events_apart_and_match_redeliveries() {
        let key = |line: &str| match classify_compliance(line.as_bytes()) {
            Message::Compliance(e) => e.key(),
            other => panic!("{other:?}"),
        };
        let protect = r#"{"data":{"user_protect":{"user":{"id":"9"},"event_at":"2024-01-01T00:00:00.000Z"}}}"#;
        let again = r#"{"data":{"user_protect":{"event_at":"2024-01-01T00:00:00.000Z","user":{"id":"9"}}}}"#;
        let later = r#"{"data":{"user_protect":{"user":{"id":"9"},"event_at":"2024-01-02T00:00:00.000Z"}}}"#;
        let unprotect = r#"{"data":{"user_unprotect":{"user":{"id":"9"},"event_at":"2024-01-01T00:00:00.000Z"}}}"#;
        let tweet = r#"{"data":{"drop":{"tweet":{"id":"9","author_id":"1"},"event_at":"2024-01-01T00:00:00.000Z"}}}"#;
        let user_drop =
            r#"{"data":{"drop":{"user":{"id":"9"},"event_at":"2024-01-01T00:00:00.000Z"}}}"#;
        assert_eq!(key(protect), key(again), "field order does not matter");
        for other in [later, unprotect, tweet] {
            assert_ne!(key(protect), key(other), "{other}");
        }
        assert_ne!(key(tweet), key(user_drop), "a tweet id is not a user id");
    }

    #[test]
    fn problems_map_to_reconnect_decisions() {
        let table: &[(&str, Option<Disconnect>)] = &[
            (
                r#"{"errors":[{"title":"operational-disconnect","disconnect_type":"UpstreamOperationalDisconnect","detail":"This stream has been disconnected upstream for operational reasons.","type":"https://api.twitter.com/2/problems/operational-disconnect"}]}"#,
                Some(Disconnect::Disconnected),
            ),
            (
                r#"{"title":"ConnectionException","detail":"This stream is currently at the maximum allowed connection limit.","connection_issue":"TooManyConnections","type":"https://api.twitter.com/2/problems/streaming-connection"}"#,
                Some(Disconnect::RateLimited),
            ),
            (
                r#"{"errors":[{"title":"operational-disconnect"},{"connection_issue":"TooManyConnections"}]}"#,
                Some(Disconnect::RateLimited),
            ),
            (
                r#"{"errors":[{"title":"Invalid Request","detail":"bad field","type":"https://api.twitter.com/2/problems/invalid-request"}]}"#,
                None,
            ),
        ];
        for (line, expected) in table {
            let Message::Problems(problems) = classify_message(line.as_bytes()) else {
                panic!("not problems: {line}");
            };
            assert_eq!(reconnect_decision(&problems), *expected, "{line}");
        }
    }
}
