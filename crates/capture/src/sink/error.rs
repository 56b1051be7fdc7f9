//! The sinks' error, shared by every sink (below them all).

use crate::class::Class;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// The start-up check found a sink that cannot work.
    #[error("{destination}: {message}")]
    Unusable {
        destination: String,
        message: String,
        class: Class,
    },
}

pub(crate) fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SinkError {
    move |source| SinkError::Io {
        context: context.into(),
        source,
    }
}
