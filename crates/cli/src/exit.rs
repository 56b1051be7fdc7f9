//! The exit codes of `tweet-indexer`: the README's table, in code. Every failure of a run is
//! one [`Problem`] (the `*_problem` functions sort the errors of the sink, the pipeline, S3
//! and the inputs), [`status`] gives the table's row for it, and a run ends with its worst
//! row ([`Status`] is ordered by severity). A signal ends a run with 128 + its number
//! instead, whatever else happened.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | everything was done |
//! | 1 | some records were invalid or dead-lettered, or some inputs could not be used; the rest was done |
//! | 2 | a usage or configuration error, or no input could be used: nothing was done |
//! | 3 | a transient failure (a server or S3 down, busy, unreachable or too slow): rerunning as it is may succeed, and is safe |
//! | 4 | a permanent refusal (a certificate that is not accepted, credentials or permissions refused, a mapping conflict, any 4xx but 408/429): rerunning as it is will fail the same way |
//! | 130, 143 | interrupted by SIGINT / SIGTERM (what was confirmed is in the summary) |

use pipeline::archive::ArchiveError;
use pipeline::{PipelineError, SourceError, SweepError};
use search_sink::{ErrorClass, SinkError};

/// A row of the table, ordered by severity: the worst one of a run is its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// 0: everything was done.
    Ok,
    /// 1: some records or inputs could not be used; the rest was done.
    Partial,
    /// 2: usage or configuration, or nothing usable: nothing was done.
    Usage,
    /// 3: rerunning as it is may succeed.
    Transient,
    /// 4: refused for good until someone fixes the server side or the credentials.
    Refused,
}

impl Status {
    pub fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Partial => 1,
            Status::Usage => 2,
            Status::Transient => 3,
            Status::Refused => 4,
        }
    }
}

/// What went wrong, as the table sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Records that were invalid or dead-lettered; saved objects the server refused.
    BadRecords,
    /// An input that does not exist, cannot be read or holds nothing.
    Unusable,
    /// A flag, a setting or the credentials are wrong or missing.
    Usage,
    /// A server or S3 failed in a way a rerun may not meet: down, busy, unreachable, slow.
    Transient,
    /// A server or S3 refused in a way a rerun will meet again.
    Refused,
}

/// The one classification: the row a problem puts a run in. `nothing_usable`: no input could
/// be used, so unusable inputs are all there was (a mistyped path alone is a usage error).
pub fn status(problem: Problem, nothing_usable: bool) -> Status {
    match problem {
        Problem::BadRecords => Status::Partial,
        Problem::Unusable if nothing_usable => Status::Usage,
        Problem::Unusable => Status::Partial,
        Problem::Usage => Status::Usage,
        Problem::Transient => Status::Transient,
        Problem::Refused => Status::Refused,
    }
}

/// The status of a run with these problems (`Ok` with none).
pub fn run_status(problems: &[Problem], nothing_usable: bool) -> Status {
    problems
        .iter()
        .map(|p| status(*p, nothing_usable))
        .max()
        .unwrap_or(Status::Ok)
}

/// The exit code of a run interrupted by a signal: 128 + its number, as shells report it.
pub fn signal_code(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(u8::MAX)
}

pub fn sink_problem(error: &SinkError) -> Problem {
    match error.class() {
        ErrorClass::Config => Problem::Usage,
        ErrorClass::Transient => Problem::Transient,
        ErrorClass::Permanent => Problem::Refused,
    }
}

/// An archive failure: throttled or failing past the deadline is transient; refused (access
/// denied, no such table) is not worth rerunning.
pub fn archive_problem(error: &ArchiveError) -> Problem {
    if error.is_transient() {
        Problem::Transient
    } else {
        Problem::Refused
    }
}

/// A failure part-way through an object.
pub fn pipeline_problem(error: &PipelineError) -> Problem {
    match error {
        PipelineError::Sink { source, .. } => sink_problem(source),
        // The archive throttled past the deadline, or refused (access, no such table).
        PipelineError::Archive { source, .. } => archive_problem(source),
        // Only the reader fails a read (a stalled or reset stream, S3 resumes used up):
        // corrupt data is invalid records and the object completes.
        PipelineError::Read { .. } => Problem::Transient,
        // A bug, not the data: rerunning is safe, and may not meet it.
        PipelineError::Extractor { .. } => Problem::Transient,
    }
}

/// S3 error codes that a rerun meets again: credentials, permissions, the wrong region or
/// an archived object.
const S3_REFUSALS: &[&str] = &[
    "AccessDenied",
    "AllAccessDisabled",
    "AccountProblem",
    "AuthorizationHeaderMalformed",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidBucketName",
    "InvalidObjectState",
    "InvalidToken",
    "PermanentRedirect",
    "SignatureDoesNotMatch",
];

/// S3 error codes that say the input does not exist.
const S3_MISSING: &[&str] = &["NoSuchBucket", "NoSuchKey"];

/// An S3 failure (ListObjectsV2, GetObject) from its description (`Code: message` for an
/// answer from S3, the SDK's chain when no answer came): refusals and missing buckets are
/// not worth rerunning, a missing region or missing credentials are the user's to set,
/// everything else (unreachable, throttled, 5xx, timeouts) is transient.
pub fn s3_problem(detail: &str) -> Problem {
    let code = detail.split(':').next().unwrap_or_default().trim();
    if S3_REFUSALS.contains(&code) || detail.contains("certificate") {
        Problem::Refused
    } else if S3_MISSING.contains(&code) {
        Problem::Unusable
    } else if detail.contains("region must be set") || detail.contains("loading credentials") {
        Problem::Usage
    } else {
        Problem::Transient
    }
}

/// An input that could not be opened: a local file that vanished or cannot be read since it
/// was listed is unusable; S3 is sorted by [`s3_problem`].
pub fn source_problem(s3: bool, error: &SourceError) -> Problem {
    match error {
        SourceError::NotFound { .. } => Problem::Unusable,
        SourceError::Unavailable { detail, .. } if s3 => s3_problem(detail),
        SourceError::Unavailable { .. } => Problem::Unusable,
    }
}

/// A source error's own words, without the name it carries (the caller names the input).
pub fn source_detail(error: &SourceError) -> String {
    match error {
        SourceError::NotFound { .. } => "not found".into(),
        SourceError::Unavailable { detail, .. } => detail.clone(),
    }
}

/// A pipeline error's own words, without the object it carries.
pub fn pipeline_detail(error: &PipelineError) -> String {
    match error {
        PipelineError::Sink { source, .. } => source.to_string(),
        PipelineError::Archive { source, .. } => source.to_string(),
        PipelineError::Read { offset, detail, .. } => {
            format!("read failed at byte {offset} of the decompressed stream: {detail}")
        }
        PipelineError::Extractor { detail, .. } => format!("extractor thread failed: {detail}"),
    }
}

/// A run that stopped before its end: why, and its problem for the exit code.
#[derive(Debug)]
pub struct RunFailure {
    pub problem: Problem,
    pub error: anyhow::Error,
}

impl RunFailure {
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        RunFailure {
            problem: Problem::Usage,
            error: error.into(),
        }
    }

    pub fn transient(error: impl Into<anyhow::Error>) -> Self {
        RunFailure {
            problem: Problem::Transient,
            error: error.into(),
        }
    }

    /// A sink error, classified by [`exit::sink_problem`], with what was being done.
    pub fn sink(error: SinkError, doing: &str) -> Self {
        RunFailure {
            problem: sink_problem(&error),
            error: anyhow::Error::from(error).context(doing.to_owned()),
        }
    }

    /// A sweep's failure: the server's, classified as a sink error, or the archive's.
    pub fn sweep(error: SweepError, doing: &str) -> Self {
        match error {
            SweepError::Sink(e) => RunFailure::sink(e, doing),
            SweepError::Archive(e) => RunFailure {
                problem: archive_problem(&e),
                error: anyhow::Error::from(e).context(doing.to_owned()),
            },
        }
    }

    /// Nothing was done: unusable inputs count as a usage error.
    pub fn status(&self) -> Status {
        status(self.problem, true)
    }
}

/// How a run ended.
pub enum End {
    /// Every object was tried: the worst of its problems.
    Status(Status),
    /// A signal stopped it (its number).
    Signal(i32),
}

impl End {
    pub fn code(&self) -> u8 {
        match self {
            End::Status(status) => status.code(),
            End::Signal(signal) => signal_code(*signal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn code(problems: &[Problem], nothing_usable: bool) -> u8 {
        run_status(problems, nothing_usable).code()
    }

    fn sink(error: SinkError) -> Problem {
        pipeline_problem(&PipelineError::Sink {
            object: "o".into(),
            source: error,
        })
    }

    fn rejected(status: u16) -> SinkError {
        SinkError::Rejected {
            method: "PUT".into(),
            path: "twitter".into(),
            status,
            body: "b".into(),
            unconfirmed: 0,
        }
    }

    /// Each failure the issue names, as the error that reports it, and the exit code the
    /// README's table gives it: alone (nothing else usable) and beside a good input.
    #[test]
    fn each_failure_lands_where_the_table_says() {
        let s3_refused_connection = "dispatch failure: io error: client error (Connect): tcp connect error: Connection refused (os error 111)";
        let local_missing = SourceError::NotFound { name: "x".into() };
        let table: Vec<(&str, Problem, u8, u8)> = vec![
            // (case, its problem, code alone, code beside a good input)
            ("S3 unreachable", s3_problem(s3_refused_connection), 3, 3),
            (
                "S3 throttled",
                s3_problem("SlowDown: reduce your rate"),
                3,
                3,
            ),
            ("S3 access denied", s3_problem("AccessDenied: no"), 4, 4),
            (
                "S3 certificate",
                s3_problem("dispatch failure: io error: invalid peer certificate: UnknownIssuer"),
                4,
                4,
            ),
            ("no such bucket", s3_problem("NoSuchBucket: gone"), 2, 1),
            (
                "no region for S3",
                s3_problem(
                    "dispatch failure: other: A region must be set when sending requests to S3.",
                ),
                2,
                2,
            ),
            (
                "a missing file",
                source_problem(false, &local_missing),
                2,
                1,
            ),
            ("an empty S3 prefix", Problem::Unusable, 2, 1),
            ("an unreadable file", Problem::Unusable, 2, 1),
            ("an invalid record", Problem::BadRecords, 1, 1),
            (
                "connection refused",
                sink(SinkError::Unreachable {
                    method: "PUT".into(),
                    path: "_index_template/twitter".into(),
                    host: "127.0.0.1:9".into(),
                    detail: "connection refused".into(),
                    attempts: 3,
                }),
                3,
                3,
            ),
            (
                "a deadline",
                sink(SinkError::DeadlineExceeded {
                    unconfirmed: 1,
                    elapsed: Duration::from_secs(9),
                    last_problem: "HTTP 503".into(),
                }),
                3,
                3,
            ),
            ("HTTP 503", sink(rejected(503)), 3, 3),
            ("HTTP 429", sink(rejected(429)), 3, 3),
            ("HTTP 408", sink(rejected(408)), 3, 3),
            ("HTTP 501 (no search server)", sink(rejected(501)), 4, 4),
            ("HTTP 405", sink(rejected(405)), 4, 4),
            ("HTTP 403", sink(rejected(403)), 4, 4),
            ("HTTP 404 during setup", sink(rejected(404)), 4, 4),
            (
                "an untrusted certificate",
                sink(SinkError::Certificate {
                    method: "PUT".into(),
                    path: "twitter".into(),
                    problem: "UnknownIssuer".into(),
                }),
                4,
                4,
            ),
            (
                "a mapping conflict",
                sink(SinkError::MappingConflict {
                    index: "twitter".into(),
                    field: "user.id".into(),
                    existing: "long".into(),
                    wanted: "keyword".into(),
                }),
                4,
                4,
            ),
            (
                "no credentials",
                sink(SinkError::Signing("loading AWS credentials".into())),
                2,
                2,
            ),
            (
                "a stalled read",
                pipeline_problem(&PipelineError::Read {
                    object: "-".into(),
                    offset: 0,
                    detail: "timed out".into(),
                }),
                3,
                3,
            ),
            ("a bad flag", Problem::Usage, 2, 2),
        ];
        for (case, problem, alone, beside_a_good_one) in table {
            assert_eq!(code(&[problem], true), alone, "{case} alone");
            assert_eq!(
                code(&[problem], false),
                beside_a_good_one,
                "{case} beside a good input"
            );
        }
    }

    #[test]
    fn the_worst_problem_wins() {
        use Problem::*;
        assert_eq!(code(&[], false), 0);
        assert_eq!(code(&[BadRecords, Unusable], false), 1);
        assert_eq!(code(&[Unusable, Transient], true), 3, "S3 down and a typo");
        assert_eq!(code(&[Transient, BadRecords], false), 3);
        assert_eq!(code(&[Transient, Refused], false), 4);
        assert_eq!(code(&[Unusable, Refused], true), 4);
        assert_eq!(signal_code(2), 130);
        assert_eq!(signal_code(15), 143);
    }

    #[test]
    fn details_do_not_repeat_the_name() {
        let error = PipelineError::Sink {
            object: "small.ndjson".into(),
            source: rejected(400),
        };
        assert!(!pipeline_detail(&error).contains("small.ndjson"));
        let missing = SourceError::NotFound {
            name: "small.ndjson".into(),
        };
        assert_eq!(source_detail(&missing), "not found");
    }

    #[test]
    fn a_sink_failure_keeps_its_class() {
        let config = RunFailure::sink(
            SinkError::Config(search_sink::Config::from_lookup(|_| None).unwrap_err()),
            "connecting",
        );
        assert_eq!(config.status(), Status::Usage);
        let conflict = RunFailure::sink(
            SinkError::MappingConflict {
                index: "twitter".into(),
                field: "user.id".into(),
                existing: "long".into(),
                wanted: "keyword".into(),
            },
            "preparing the index",
        );
        assert_eq!(conflict.status(), Status::Refused);
        assert!(
            crate::report::error_text(&conflict.error).starts_with("preparing the index: index")
        );
    }
}
