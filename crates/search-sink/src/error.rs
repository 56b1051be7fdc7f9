//! Errors of the sink. Every variant that abandons operations says how many were not confirmed,
//! so the caller can fail the invocation (AWS retries it; `_id`s make the retry safe).

use std::time::Duration;

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
    /// (401/403 from auth, 400 for a malformed request, 500, ...).
    #[error(
        "{method} {path} failed with HTTP {status}: {body}; {unconfirmed} operations were not confirmed"
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
        "index {index:?} refused writes: item status {status} {error_type}: {reason}; {unconfirmed} operations were not confirmed"
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
        source: crate::dead_letter::DeadLetterError,
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
