//! A job's result lines as the indexer reads them: each wrapped as
//! `{"compliance_job_result":{"job":{"id","type","created_at"},"result":<the line as X sent
//! it>}}` (a bare result line does not say whether its `id` is a tweet or a user), and for a
//! users job one `{"id":"…","action":"none"}` result per uploaded user X did not return (the
//! user was clean when the job was created: what lifts the states earlier jobs set).
//!
//! The format is the one `tweets::compliance` parses (its `JOB_RESULT_KEY`); the capture's
//! tests run the indexer's extractor over what this writes.

use serde::Deserialize;
use serde_json::value::RawValue;

/// The top-level key of a wrapped result line.
pub const JOB_RESULT_KEY: &str = "compliance_job_result";

/// The job a result line came from, as written beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRef {
    pub id: String,
    /// `tweets` or `users`.
    pub kind: &'static str,
    /// X's `created_at` of the job (RFC 3339).
    pub created_at: String,
}

impl JobRef {
    /// The JSON text before the result: `{"compliance_job_result":{"job":{...},"result":`.
    fn head(&self) -> String {
        format!(
            "{{\"{JOB_RESULT_KEY}\":{{\"job\":{{\"id\":{},\"type\":{},\"created_at\":{}}},\"result\":",
            json_string(&self.id),
            json_string(self.kind),
            json_string(&self.created_at),
        )
    }
}

/// What one result line of X's holds, as far as the capture cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrapped {
    /// The line to write.
    pub line: Vec<u8>,
    /// The result's `id` when it is a decimal id (for a users job's "not returned" set, and
    /// the sinks' partition keys).
    pub id: Option<u64>,
    /// `action` (`delete`, `scrub_geo`, `rehydrate`), else `reason` (the older format),
    /// `error` for an error line (`{"id":"x","error":"invalid_id"}`), `unreadable` for a
    /// line that is not a JSON object.
    pub action: String,
}

/// Wraps one line of X's results file (without its line break). A line that is not JSON is
/// wrapped as a JSON string, so that the indexer reports it (an invalid record with its
/// reason) instead of the capture dropping it.
pub fn wrap(job: &JobRef, raw: &[u8]) -> Wrapped {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Fields {
        id: Option<serde_json::Value>,
        action: Option<String>,
        reason: Option<String>,
        error: Option<serde_json::Value>,
    }
    let mut line = job.head().into_bytes();
    let parsed = serde_json::from_slice::<&RawValue>(raw);
    let (id, action) = match parsed {
        Ok(value) => {
            line.extend_from_slice(value.get().as_bytes());
            match serde_json::from_str::<Fields>(value.get()) {
                Ok(fields) => {
                    let id = fields.id.as_ref().and_then(decimal_id);
                    let action = if fields.error.is_some() {
                        "error".to_owned()
                    } else {
                        fields
                            .action
                            .or(fields.reason)
                            .unwrap_or_else(|| "unknown".to_owned())
                    };
                    (id, action)
                }
                Err(_) => (None, "unreadable".to_owned()),
            }
        }
        Err(_) => {
            let text = String::from_utf8_lossy(raw);
            let quoted = serde_json::Value::String(text.into_owned()).to_string();
            line.extend_from_slice(quoted.as_bytes());
            (None, "unreadable".to_owned())
        }
    };
    line.extend_from_slice(b"}}");
    Wrapped { line, id, action }
}

/// The result written for an uploaded user X did not return.
pub fn clean_user(job: &JobRef, id: &str) -> Vec<u8> {
    let mut line = job.head().into_bytes();
    line.extend_from_slice(
        format!("{{\"id\":{},\"action\":\"none\"}}}}}}", json_string(id)).as_bytes(),
    );
    line
}

/// `text` as a JSON string.
fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

fn decimal_id(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        serde_json::Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// The ids a users job returned, to find those it did not: sorted once, then looked up.
/// 8 bytes an id (a part holds at most 6,000,000).
#[derive(Debug, Default)]
pub struct Returned {
    ids: Vec<u64>,
    sorted: bool,
}

impl Returned {
    pub fn add(&mut self, id: u64) {
        self.ids.push(id);
        self.sorted = false;
    }

    pub fn contains(&mut self, id: u64) -> bool {
        if !self.sorted {
            self.ids.sort_unstable();
            self.ids.dedup();
            self.sorted = true;
        }
        self.ids.binary_search(&id).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> JobRef {
        JobRef {
            id: "1460300000000000000".into(),
            kind: "users",
            created_at: "2024-01-15T10:00:00.000Z".into(),
        }
    }

    #[test]
    fn wrap_table() {
        let head = r#"{"compliance_job_result":{"job":{"id":"1460300000000000000","type":"users","created_at":"2024-01-15T10:00:00.000Z"},"result":"#;
        let table: &[(&str, &str, Option<u64>, &str)] = &[
            (
                r#"{"id":"12","action":"delete","created_at":"2024-01-10T12:00:00.000Z","redacted_at":"2024-01-12T08:30:00.000Z","reason":"deleted"}"#,
                r#"{"id":"12","action":"delete","created_at":"2024-01-10T12:00:00.000Z","redacted_at":"2024-01-12T08:30:00.000Z","reason":"deleted"}"#,
                Some(12),
                "delete",
            ),
            // The older format: a reason, no action; a numeric id.
            (
                r#"{"id":13,"reason":"protected"}"#,
                r#"{"id":13,"reason":"protected"}"#,
                Some(13),
                "protected",
            ),
            // Trailing spaces are not part of the value.
            (
                r#"{"id":"14","action":"scrub_geo"}  "#,
                r#"{"id":"14","action":"scrub_geo"}"#,
                Some(14),
                "scrub_geo",
            ),
            (
                r#"{"id":"x1","error":"invalid_id"}"#,
                r#"{"id":"x1","error":"invalid_id"}"#,
                None,
                "error",
            ),
            (r#"[1,2]"#, r#"[1,2]"#, None, "unreadable"),
            ("not json", r#""not json""#, None, "unreadable"),
        ];
        for (raw, result, id, action) in table {
            let wrapped = wrap(&job(), raw.as_bytes());
            let text = String::from_utf8(wrapped.line).unwrap();
            assert_eq!(text, format!("{head}{result}}}}}"), "{raw}");
            serde_json::from_str::<serde_json::Value>(&text).unwrap();
            assert_eq!(
                (wrapped.id, wrapped.action.as_str()),
                (*id, *action),
                "{raw}"
            );
        }
        let clean = String::from_utf8(clean_user(&job(), "15")).unwrap();
        assert_eq!(clean, format!(r#"{head}{{"id":"15","action":"none"}}}}}}"#));
    }

    #[test]
    fn returned_ids_are_found_whatever_their_order() {
        let mut returned = Returned::default();
        for id in [9, 3, 7, 3] {
            returned.add(id);
        }
        let found: Vec<u64> = (1..=10).filter(|&id| returned.contains(id)).collect();
        assert_eq!(found, [3, 7, 9]);
        returned.add(1);
        assert!(returned.contains(1));
    }
}
