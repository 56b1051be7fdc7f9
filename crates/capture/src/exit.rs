//! `tweet-capture`'s exit codes, as one classification of what went wrong (the README's
//! table is this one):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done: every record read was delivered; the rules command did all it was asked |
//! | 1 | partly done: some records read were not delivered (too large for the sink, or still queued when the run was stopped), or some rule changes were refused and the rest made |
//! | 2 | nothing usable: a usage or configuration error (a flag, the token or a variable missing or malformed, a local file or directory, AWS region or credentials missing) |
//! | 3 | a transient failure worth rerunning as is: X or the sink unreachable, timed out, 5xx, 408, 429 |
//! | 4 | a permanent refusal no rerun fixes: X's 400/401/403/404 and any other 4xx, a rule X refuses, a delivery stream that does not exist, access denied, an untrusted certificate |
//!
//! The codes mean what they mean for `tweet-indexer` (`crates/cli/src/exit.rs`), so a wrapper
//! treats both binaries alike: 2 is fixed on this side, 3 is rerun, 4 needs the remote side
//! (credentials, access, the resource) fixed.
//!
//! Records not delivered win over the cause of the stop: a run that read records and lost
//! some exits 1 whatever stopped it, since what it tells the operator first is "data is
//! missing". Without lost records, the cause decides (2, 3 or 4).

pub use crate::class::{Class, class_of_status};

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandOutcome {
    Done,
    /// Some records were not delivered or some changes not made; the rest was done.
    Partial,
    Failed(Class),
}

impl CommandOutcome {
    /// The outcome of a command that may have failed (`error`) and may have left records
    /// undelivered: records not delivered, or an error that says only part of the work
    /// failed, make it partial; otherwise the error's class decides.
    pub fn of(
        undelivered: u64,
        error: Option<&(dyn std::error::Error + 'static)>,
    ) -> CommandOutcome {
        match error {
            _ if undelivered > 0 => CommandOutcome::Partial,
            None => CommandOutcome::Done,
            Some(e) if is_partial(e) => CommandOutcome::Partial,
            Some(e) => CommandOutcome::Failed(class_of(e)),
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            CommandOutcome::Done => 0,
            CommandOutcome::Partial => 1,
            CommandOutcome::Failed(Class::Usage) => 2,
            CommandOutcome::Failed(Class::Transient) => 3,
            CommandOutcome::Failed(Class::Refused) => 4,
        }
    }
}

/// Errors that know their class.
pub trait Classify {
    fn class(&self) -> Class;
}

impl Classify for crate::rules::RulesError {
    fn class(&self) -> Class {
        use crate::rules::RulesError;
        match self {
            RulesError::Unreachable { class, .. } => *class,
            RulesError::Refused { status, .. } => class_of_status(*status),
            RulesError::Body(_) => Class::Refused,
            RulesError::Request(_) => Class::Usage,
        }
    }
}

impl Classify for crate::stream::StreamError {
    fn class(&self) -> Class {
        use crate::stream::StreamError;
        match self {
            StreamError::Fatal { status, .. } => class_of_status(*status),
            StreamError::Request(_) => Class::Usage,
            // The sink stopped first; its own error is the cause.
            StreamError::SinkGone => Class::Transient,
        }
    }
}

impl Classify for crate::sink::SinkError {
    fn class(&self) -> Class {
        use crate::sink::SinkError;
        match self {
            SinkError::Io { .. } => Class::Usage,
            SinkError::Unusable { class, .. } => *class,
        }
    }
}

impl Classify for crate::queue::QueueError {
    fn class(&self) -> Class {
        Class::Usage
    }
}

impl Classify for crate::comply::ComplyError {
    fn class(&self) -> Class {
        crate::comply::ComplyError::class(self)
    }
}

impl Classify for crate::run::CaptureError {
    fn class(&self) -> Class {
        match self {
            crate::run::CaptureError::Stream(e) => e.class(),
            crate::run::CaptureError::Sink(e) => e.class(),
            crate::run::CaptureError::Queue(e) => e.class(),
            crate::run::CaptureError::Comply(e) => Classify::class(e),
        }
    }
}

/// The class of any error, found by walking its chain for one of this crate's errors;
/// anything else (a missing token, an unreadable rules file) is a usage error.
pub fn class_of(error: &(dyn std::error::Error + 'static)) -> Class {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(e) = e.downcast_ref::<crate::rules::RulesError>() {
            return e.class();
        }
        if let Some(e) = e.downcast_ref::<crate::stream::StreamError>() {
            return e.class();
        }
        if let Some(e) = e.downcast_ref::<crate::sink::SinkError>() {
            return e.class();
        }
        if let Some(e) = e.downcast_ref::<crate::queue::QueueError>() {
            return e.class();
        }
        if let Some(e) = e.downcast_ref::<crate::run::CaptureError>() {
            return e.class();
        }
        if let Some(e) = e.downcast_ref::<crate::comply::ComplyError>() {
            return e.class();
        }
        if let Some(e) = e.downcast_ref::<crate::comply::jobs::JobsError>() {
            return e.class();
        }
        if let Some(e) = e.downcast_ref::<crate::comply::ids::FetchError>() {
            return e.class;
        }
        if let Some(e) = e.downcast_ref::<crate::rules::ChangeError>() {
            return e.class();
        }
        current = e.source();
    }
    Class::Usage
}

/// Whether the error says that only part of the work failed.
fn is_partial(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(e) = e.downcast_ref::<crate::rules::ChangeError>() {
            return e.is_partial();
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{ChangeError, RulesError};
    use crate::sink::SinkError;
    use crate::stream::StreamError;

    /// Every failure the README's table names lands on its code.
    #[test]
    fn exit_code_table() {
        let refused = |status| RulesError::Refused {
            status,
            detail: String::new(),
        };
        let unusable = |class| SinkError::Unusable {
            destination: "firehose://x".into(),
            message: String::new(),
            class,
        };
        let unreachable = |class| RulesError::Unreachable {
            message: String::new(),
            class,
        };
        let fatal = |status| StreamError::Fatal {
            status,
            detail: String::new(),
        };
        let io = std::io::Error::other("x");
        type Row = (&'static str, u64, Option<Box<dyn std::error::Error>>, u8);
        let table: Vec<Row> = vec![
            ("everything delivered", 0, None, 0),
            ("records not delivered", 3, None, 1),
            (
                "not delivered beats a fatal answer",
                3,
                Some(Box::new(fatal(401))),
                1,
            ),
            (
                "not delivered beats an outage",
                1,
                Some(Box::new(unusable(Class::Transient))),
                1,
            ),
            ("usage", 0, Some("missing X_BEARER_TOKEN".into()), 2),
            ("rules file", 0, Some(Box::new(io)), 2),
            ("bad token", 0, Some(Box::new(fatal(401))), 4),
            ("no access", 0, Some(Box::new(fatal(403))), 4),
            ("invalid query", 0, Some(Box::new(fatal(400))), 4),
            ("stream gone", 0, Some(Box::new(fatal(404))), 4),
            ("rules 401", 0, Some(Box::new(refused(401))), 4),
            ("rules 403", 0, Some(Box::new(refused(403))), 4),
            ("rules 408", 0, Some(Box::new(refused(408))), 3),
            ("rules 429", 0, Some(Box::new(refused(429))), 3),
            ("rules 503", 0, Some(Box::new(refused(503))), 3),
            ("rules 501", 0, Some(Box::new(refused(501))), 3),
            (
                "rules 200 but not JSON",
                0,
                Some(Box::new(RulesError::Body("x".into()))),
                4,
            ),
            (
                "rules unreachable",
                0,
                Some(Box::new(unreachable(Class::Transient))),
                3,
            ),
            (
                "rules certificate",
                0,
                Some(Box::new(unreachable(Class::Refused))),
                4,
            ),
            (
                "rules bad URL",
                0,
                Some(Box::new(RulesError::Request("x".into()))),
                2,
            ),
            (
                "rule refused",
                0,
                Some(Box::new(ChangeError {
                    made: 0,
                    refused: 1,
                    not_tried: 0,
                })),
                4,
            ),
            (
                "some rule changes refused",
                0,
                Some(Box::new(ChangeError {
                    made: 1,
                    refused: 1,
                    not_tried: 0,
                })),
                1,
            ),
            (
                "nothing added, deletes held back",
                0,
                Some(Box::new(ChangeError {
                    made: 0,
                    refused: 1,
                    not_tried: 2,
                })),
                4,
            ),
            (
                "some added, deletes held back",
                0,
                Some(Box::new(ChangeError {
                    made: 2,
                    refused: 1,
                    not_tried: 2,
                })),
                1,
            ),
            (
                "sink missing",
                0,
                Some(Box::new(unusable(Class::Refused))),
                4,
            ),
            (
                "sink unreachable",
                0,
                Some(Box::new(unusable(Class::Transient))),
                3,
            ),
            (
                "no credentials",
                0,
                Some(Box::new(unusable(Class::Usage))),
                2,
            ),
            (
                "spool dir",
                0,
                Some(Box::new(crate::queue::QueueError::SpoolDir {
                    dir: "/x".into(),
                    source: std::io::Error::other("denied"),
                })),
                2,
            ),
        ];
        for (case, undelivered, error, code) in table {
            let outcome = CommandOutcome::of(undelivered, error.as_deref());
            assert_eq!(outcome.exit_code(), code, "{case}");
        }
    }

    #[test]
    fn the_class_is_found_down_the_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("context")]
        struct Wrapper(#[source] RulesError);
        let wrapped = Wrapper(RulesError::Unreachable {
            message: "refused".into(),
            class: Class::Transient,
        });
        assert_eq!(class_of(&wrapped), Class::Transient);
    }
}
