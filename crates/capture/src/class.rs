//! What kind of failure stopped a command ([`Class`]): the one word every error of the crate
//! carries or is given, and the exit code (`exit`) is made of. At the bottom: it uses nothing of
//! the crate.

/// What kind of failure stopped a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The command line, a variable, a file or a local directory is wrong, or the AWS
    /// region or credentials are missing: fixed on this side (exit 2).
    Usage,
    /// A remote refusal no rerun can fix (credentials or access refused, a missing resource,
    /// an invalid request, a certificate that is not trusted): exit 4.
    Refused,
    /// Unreachable, timed out, throttled or a server error: rerunning may work.
    Transient,
}

/// The class of an HTTP status a remote endpoint refused with: 408, 429 and 5xx are worth
/// retrying, other 4xx are not (and a 1xx-3xx where a success was expected is a server
/// that does not speak the API: no rerun fixes it).
pub fn class_of_status(status: u16) -> Class {
    match status {
        408 | 429 | 500..=599 => Class::Transient,
        _ => Class::Refused,
    }
}
