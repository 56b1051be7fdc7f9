//! Errors of the sink. Every variant that abandons operations says how many were not confirmed,
//! so the caller can fail the invocation (AWS retries it; `_id`s make the retry safe).
//! [`SinkError::class`] sorts them into configuration errors, transient failures worth
//! retrying as they are, and permanent refusals that no retry fixes (one table test).
//! The errors the stages share ([`ConfigError`], [`DeadLetterError`]) live here, below them.

use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// What a [`SinkError`] asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A setting is unusable or missing (credentials included): fix it; nothing was sent.
    Config,
    /// Worth retrying as it is: the deadline passed, the server was busy, down or
    /// unreachable, the connection broke.
    Transient,
    /// The server (or its certificate) refuses, and will refuse again until someone changes
    /// something: a mapping conflict, a 4xx other than 408/429, an untrusted certificate,
    /// documents refused with no dead-letter store.
    Permanent,
}

/// An error from the search sink.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The configuration is unusable (names the setting).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The deadline passed before every operation was confirmed.
    #[error(
        "deadline reached after {elapsed:?}: {unconfirmed} operations were not confirmed by the search server (last problem: {last_problem})"
    )]
    DeadlineExceeded {
        /// Operations neither indexed/deleted nor dead-lettered.
        unconfirmed: usize,
        /// Time since the sink started.
        elapsed: Duration,
        /// The last retryable problem seen.
        last_problem: String,
    },
    /// The server refused a whole request for a reason that retrying will not fix
    /// (401/403 from auth, 400 for a malformed request, 405/501 from a server that is no
    /// search API, ...). `body` is an excerpt: its first line, capped.
    #[error(
        "{method} {path}: HTTP {status}{}: {body}{}{}",
        reason_phrase(*status),
        status_hint(*status),
        not_confirmed(*unconfirmed)
    )]
    Rejected {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// HTTP status.
        status: u16,
        /// Start of the response body.
        body: String,
        /// Operations not confirmed (0 outside bulk).
        unconfirmed: usize,
    },
    /// Bulk items were refused for a reason that is not the documents' (a write block on the
    /// index, a security error, a missing index, an unknown error): nothing was dead-lettered;
    /// retry the input once the index accepts writes.
    #[error(
        "index {index:?} refused writes: item status {status} {error_type}: {reason}{}",
        not_confirmed(*unconfirmed)
    )]
    Refused {
        /// Index name.
        index: String,
        /// Item (or request) status of the first refusal.
        status: u16,
        /// Its `error.type`.
        error_type: String,
        /// Its `error.reason`.
        reason: String,
        /// Operations not confirmed.
        unconfirmed: usize,
    },
    /// Documents failed permanently and no dead-letter store is configured.
    #[error(
        "{count} operations failed permanently and no dead-letter store is configured; first: id {first_id:?} from {first_object} at byte {first_offset}: {first_reason}"
    )]
    PermanentFailures {
        /// How many operations failed permanently.
        count: usize,
        /// Id of the first one.
        first_id: String,
        /// Its source object.
        first_object: String,
        /// Its byte offset.
        first_offset: u64,
        /// `type: reason` of its error.
        first_reason: String,
    },
    /// Writing dead letters failed: the failed operations would be lost, so the call fails.
    #[error("writing {count} dead letters failed: {source}")]
    DeadLetter {
        /// Entries that could not be written.
        count: usize,
        /// Why.
        source: DeadLetterError,
    },
    /// The existing index maps a field we write with an incompatible type.
    #[error(
        "index {index:?}: field {field:?} is mapped as {existing:?} but we write it as {wanted:?}; fix the index (it is never deleted for you)"
    )]
    MappingConflict {
        /// Index name.
        index: String,
        /// Dotted field path.
        field: String,
        /// Type in the index.
        existing: String,
        /// Type in our mapping.
        wanted: String,
    },
    /// The index name is laid out otherwise than the writer is set up for (a single index
    /// where partitions behind an alias are expected, or the reverse): nothing was written;
    /// `detail` says what to do.
    #[error("index {index:?}: {detail}")]
    Layout {
        /// The index or alias name.
        index: String,
        /// What is wrong and what to do.
        detail: String,
    },
    /// The index body given to `ensure_index` is not valid JSON.
    #[error("index body is not valid JSON: {0}")]
    IndexBody(serde_json::Error),
    /// A response that could not be understood.
    #[error("{method} {path}: unexpected response: {detail}")]
    BadResponse {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// What was wrong.
        detail: String,
    },
    /// Transport failure outside bulk retries (e.g. during `ensure_index`).
    #[error("{method} {path}: {detail}")]
    Transport {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// SigV4 signing failed (credentials could not be loaded, ...).
    #[error("SigV4 signing failed: {0}")]
    Signing(String),
    /// No connection could be made (refused, the host name does not resolve, no TLS
    /// handshake) on each of [`crate::Config::unreachable_attempts`] quick attempts.
    #[error("{method} {path}: cannot connect to {host}: {detail} ({attempts} attempts)")]
    Unreachable {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// `host:port` of the endpoint.
        host: String,
        /// Why, in a few words (`connection refused`, the resolver's message, ...).
        detail: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The server's TLS certificate was not accepted; no retry changes that. `problem` says
    /// what is wrong with it and what would fix it.
    #[error("{method} {path}: {problem}")]
    Certificate {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// The certificate problem and a hint that fits it.
        problem: String,
    },
}

impl SinkError {
    /// Whether the caller should fix a setting, retry as it is, or give up until someone fixes
    /// the server side (see [`ErrorClass`]).
    pub fn class(&self) -> ErrorClass {
        match self {
            SinkError::Config(_) | SinkError::Signing(_) | SinkError::Layout { .. } => {
                ErrorClass::Config
            }
            SinkError::DeadlineExceeded { .. }
            | SinkError::DeadLetter { .. }
            | SinkError::Transport { .. }
            | SinkError::Unreachable { .. } => ErrorClass::Transient,
            SinkError::Rejected { status, .. } | SinkError::Refused { status, .. } => {
                if crate::classify::is_transient_status(*status) {
                    ErrorClass::Transient
                } else {
                    ErrorClass::Permanent
                }
            }
            SinkError::PermanentFailures { .. }
            | SinkError::MappingConflict { .. }
            | SinkError::IndexBody(_)
            | SinkError::BadResponse { .. }
            | SinkError::Certificate { .. } => ErrorClass::Permanent,
        }
    }
}

/// `"; N operations were not confirmed"`, or nothing when none were at stake (a setup request).
fn not_confirmed(unconfirmed: usize) -> String {
    match unconfirmed {
        0 => String::new(),
        1 => "; 1 operation was not confirmed".into(),
        n => format!("; {n} operations were not confirmed"),
    }
}

/// ` Not Found` for 404: the standard reason phrase, when there is one.
fn reason_phrase(status: u16) -> String {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default()
}

/// What a refusal most likely means, for the statuses where that is clear.
fn status_hint(status: u16) -> &'static str {
    match status {
        401 => " (the server did not accept the credentials: check the auth settings)",
        403 => {
            " (the credentials were refused or lack a permission: check the auth settings and the role)"
        }
        404 => " (is the endpoint's path right?)",
        405 | 501 => {
            " (the server does not serve this API: is the endpoint an OpenSearch / Elasticsearch URL?)"
        }
        _ => "",
    }
}

/// A configuration problem, naming the setting (environment variable) at fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The environment variable (or setting) at fault.
    pub variable: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }
}

/// Characters of a response body kept in a message.
const EXCERPT_CHARS: usize = 200;

/// A response body as one short line for a message, never the whole body: a JSON error's
/// `type: reason`, an HTML page's title, else the first line that is not blank; at most
/// [`EXCERPT_CHARS`] characters, `…` marking a cut.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "no body".into();
    }
    let line = json_error(text)
        .or_else(|| html_title(text))
        .unwrap_or_else(|| {
            let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
            let first = lines.next().unwrap_or_default().to_owned();
            match lines.next() {
                Some(_) => format!("{first} …"),
                None => first,
            }
        });
    let mut cut: String = line.chars().take(EXCERPT_CHARS).collect();
    if cut.len() < line.len() {
        cut.push('…');
    }
    cut
}

/// `type: reason` of an OpenSearch / Elasticsearch error body (`{"error":{...}}`), or its
/// `error` when that is a string (older servers, proxies).
fn json_error(text: &str) -> Option<String> {
    let value: Value = serde_json::from_str(text).ok()?;
    let error = value.get("error")?;
    if let Some(message) = error.as_str() {
        return Some(message.to_owned());
    }
    let error_type = error.get("type").and_then(Value::as_str).unwrap_or("error");
    let reason = error
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or("no reason");
    Some(format!("{error_type}: {reason}"))
}

/// `HTML page "Title"` for an HTML body (a proxy's or web server's error page), whitespace
/// folded; `an HTML page` when it has no title.
fn html_title(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    if !text.starts_with('<') || !(lower.contains("<html") || lower.contains("<!doctype html")) {
        return None;
    }
    let title = lower.find("<title").and_then(|open| {
        let start = open + lower[open..].find('>')? + 1;
        let end = start + lower[start..].find("</title")?;
        Some(
            text[start..end]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        )
    });
    Some(match title {
        Some(title) if !title.is_empty() => format!("HTML page \"{title}\""),
        _ => "an HTML page".into(),
    })
}

/// A failure to store dead letters.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// S3 `PutObject` failed.
    #[error("s3://{bucket}/{key}: {detail}")]
    S3 {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// Error from the SDK.
        detail: String,
    },
    /// The deadline passed before the store confirmed the write.
    #[error("dead letters of {source_object} not stored before the deadline")]
    Timeout {
        /// The source object whose dead letters were being written.
        source_object: String,
    },
    /// Appending to the local file failed.
    #[error("{path}: {source}")]
    File {
        /// File path.
        path: PathBuf,
        /// I/O error.
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(status: u16, unconfirmed: usize) -> SinkError {
        SinkError::Rejected {
            method: "PUT".into(),
            path: "twitter".into(),
            status,
            body: "no body".into(),
            unconfirmed,
        }
    }

    fn refused(status: u16, error_type: &str) -> SinkError {
        SinkError::Refused {
            index: "twitter".into(),
            status,
            error_type: error_type.into(),
            reason: "r".into(),
            unconfirmed: 3,
        }
    }

    #[test]
    fn every_error_has_one_class() {
        use ErrorClass::*;
        let transport = |detail: &str| SinkError::Transport {
            method: "POST".into(),
            path: "_bulk".into(),
            detail: detail.into(),
        };
        let table: Vec<(SinkError, ErrorClass)> = vec![
            (
                SinkError::Config(ConfigError::new("ES_ENDPOINT", "x")),
                Config,
            ),
            (SinkError::Signing("no credentials".into()), Config),
            (
                SinkError::DeadlineExceeded {
                    unconfirmed: 1,
                    elapsed: Duration::from_secs(1),
                    last_problem: "HTTP 503".into(),
                },
                Transient,
            ),
            (transport("connection reset"), Transient),
            (
                SinkError::Unreachable {
                    method: "PUT".into(),
                    path: "twitter".into(),
                    host: "127.0.0.1:9".into(),
                    detail: "connection refused".into(),
                    attempts: 3,
                },
                Transient,
            ),
            (rejected(408, 0), Transient),
            (rejected(429, 0), Transient),
            (rejected(503, 2), Transient),
            (rejected(400, 2), Permanent),
            (rejected(401, 0), Permanent),
            (rejected(403, 0), Permanent),
            (rejected(404, 0), Permanent),
            (rejected(405, 0), Permanent),
            (rejected(501, 0), Permanent),
            // The flood-stage block lifts by itself; a block set by hand, security and a
            // missing index wait for someone.
            (refused(429, "cluster_block_exception"), Transient),
            (refused(403, "cluster_block_exception"), Permanent),
            (refused(403, "security_exception"), Permanent),
            (refused(404, "index_not_found_exception"), Permanent),
            (
                SinkError::MappingConflict {
                    index: "twitter".into(),
                    field: "user.id".into(),
                    existing: "long".into(),
                    wanted: "keyword".into(),
                },
                Permanent,
            ),
            (
                SinkError::Certificate {
                    method: "PUT".into(),
                    path: "twitter".into(),
                    problem: "CaUsedAsEndEntity".into(),
                },
                Permanent,
            ),
            (
                SinkError::PermanentFailures {
                    count: 1,
                    first_id: "1".into(),
                    first_object: "o".into(),
                    first_offset: 0,
                    first_reason: "mapper_parsing_exception: x".into(),
                },
                Permanent,
            ),
            (
                SinkError::BadResponse {
                    method: "GET".into(),
                    path: "twitter/_mapping".into(),
                    detail: "not JSON".into(),
                },
                Permanent,
            ),
        ];
        for (error, class) in table {
            assert_eq!(error.class(), class, "{error}");
        }
    }

    #[test]
    fn a_refusal_names_its_status_and_counts_only_operations_at_stake() {
        assert_eq!(
            rejected(404, 0).to_string(),
            "PUT twitter: HTTP 404 Not Found: no body (is the endpoint's path right?)"
        );
        assert!(
            rejected(400, 1)
                .to_string()
                .ends_with("; 1 operation was not confirmed")
        );
        assert!(
            rejected(400, 7)
                .to_string()
                .ends_with("; 7 operations were not confirmed")
        );
        assert!(
            refused(403, "security_exception")
                .to_string()
                .ends_with("; 3 operations were not confirmed")
        );
        assert!(
            rejected(599, 0)
                .to_string()
                .starts_with("PUT twitter: HTTP 599: ")
        );
    }

    #[test]
    fn excerpts_are_one_short_line() {
        let html = "<!DOCTYPE HTML>\n<html lang=\"en\">\n  <head>\n    <title>Error\n response</title>\n  </head>\n  <body>\n".to_owned()
            + &"<p>line</p>\n".repeat(70)
            + "</body></html>\n";
        let long = "x".repeat(1000);
        let table = [
            (html.as_str(), "HTML page \"Error response\""),
            ("<html><body>502</body></html>", "an HTML page"),
            (
                r#"{"error":{"root_cause":[],"type":"security_exception","reason":"no permissions"},"status":403}"#,
                "security_exception: no permissions",
            ),
            (r#"{"error":"Not Found"}"#, "Not Found"),
            ("", "no body"),
            ("  \n", "no body"),
            ("Bad Gateway", "Bad Gateway"),
            ("\nfirst line\nsecond line\n", "first line …"),
        ];
        for (body, want) in table {
            assert_eq!(excerpt(body.as_bytes()), want, "{body:?}");
        }
        let cut = excerpt(long.as_bytes());
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert!(!excerpt(html.as_bytes()).contains('\n'));
    }
}
