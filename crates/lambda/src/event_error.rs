//! What in an invocation could not be understood: shared by the event parser ([`crate::events`])
//! and the triggers that read their own fields ([`crate::batch_ops`]), below both.

/// Why an invocation (or one SQS message of it) names nothing that can be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("unrecognised event shape: {0}")]
    Unrecognised(String),
    #[error("malformed {shape}: {reason}")]
    Malformed { shape: &'static str, reason: String },
    #[error("object key {raw:?} is not valid URL-encoded UTF-8")]
    BadKey { raw: String },
}
