//! What one stream line is: a tweet (id, author, created_at for dedup, partition keys and
//! lag), a delete notice, or an `errors` payload (with the reconnect decision it implies).
//!
//! Only the few fields the capture needs are read; the line itself is forwarded untouched.
//! It does not build documents (that is the indexer's `tweets` crate).

use serde::Deserialize;

use crate::backoff::Failure;

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
    /// An `errors` payload with no `data`: a disconnect notice or another server problem.
    Problems(Vec<Problem>),
    /// Valid JSON of another shape: forwarded, not deduplicated.
    Other,
    /// Not JSON: counted and logged, not forwarded (a downstream parser would reject it too).
    Invalid,
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
    pub fn reconnect_decision(&self) -> Option<Failure> {
        let is = |s: &Option<String>, needle: &str| {
            s.as_deref()
                .is_some_and(|v| v.to_ascii_lowercase().contains(needle))
        };
        if is(&self.connection_issue, "toomanyconnections") {
            Some(Failure::RateLimited)
        } else if is(&self.kind, "operational-disconnect")
            || is(&self.title, "operational-disconnect")
            || self.disconnect_type.is_some()
        {
            Some(Failure::Disconnected)
        } else {
            None
        }
    }
}

/// The most severe decision among several problems (rate limit beats disconnect).
pub fn reconnect_decision(problems: &[Problem]) -> Option<Failure> {
    let decisions = problems.iter().filter_map(Problem::reconnect_decision);
    decisions.max_by_key(|f| match f {
        Failure::RateLimited => 3,
        Failure::Http => 2,
        Failure::Network => 1,
        Failure::Disconnected => 0,
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
pub fn classify(line: &[u8]) -> Message {
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
            assert_eq!(&classify(line.as_bytes()), expected, "{line}");
        }
    }

    #[test]
    fn problems_map_to_reconnect_decisions() {
        let table: &[(&str, Option<Failure>)] = &[
            (
                r#"{"errors":[{"title":"operational-disconnect","disconnect_type":"UpstreamOperationalDisconnect","detail":"This stream has been disconnected upstream for operational reasons.","type":"https://api.twitter.com/2/problems/operational-disconnect"}]}"#,
                Some(Failure::Disconnected),
            ),
            (
                r#"{"title":"ConnectionException","detail":"This stream is currently at the maximum allowed connection limit.","connection_issue":"TooManyConnections","type":"https://api.twitter.com/2/problems/streaming-connection"}"#,
                Some(Failure::RateLimited),
            ),
            (
                r#"{"errors":[{"title":"operational-disconnect"},{"connection_issue":"TooManyConnections"}]}"#,
                Some(Failure::RateLimited),
            ),
            (
                r#"{"errors":[{"title":"Invalid Request","detail":"bad field","type":"https://api.twitter.com/2/problems/invalid-request"}]}"#,
                None,
            ),
        ];
        for (line, expected) in table {
            let Message::Problems(problems) = classify(line.as_bytes()) else {
                panic!("not problems: {line}");
            };
            assert_eq!(reconnect_decision(&problems), *expected, "{line}");
        }
    }
}
