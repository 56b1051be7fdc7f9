//! What the AWS sinks (Firehose, Kinesis) share: the deadlines of their calls, the start-up
//! check's verdict, an SDK error as one line and its class, the split of a batch into calls,
//! the delay before a resend and the split of a call's answers into refused entries.

use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_sdk_firehose::error::{ProvideErrorMetadata, SdkError};
use search_sink::Schedule;

use super::error::SinkError;
use crate::class::Class;
use crate::metrics::Stats;

/// The start-up check's verdict on a stream `destination` whose describe call answered
/// `status` (`Err`: the call failed): `ready` statuses take records, `CREATING` is worth
/// waiting for, any other is not.
pub(crate) fn judge_status<E, R>(
    destination: String,
    answer: Result<String, SdkError<E, R>>,
    ready: &[&str],
) -> Result<(), SinkError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let (message, class) = match answer {
        Err(e) => describe_sdk_error(&e),
        Ok(status) if ready.contains(&status.as_str()) => return Ok(()),
        Ok(status) if status == "CREATING" => (
            "still being created: try again in a minute".to_owned(),
            Class::Transient,
        ),
        Ok(status) => (
            format!("{status}, not ACTIVE: it takes no records"),
            Class::Refused,
        ),
    };
    Err(SinkError::Unusable {
        destination,
        message,
        class,
    })
}

/// The deadlines of every AWS call: connecting, and one attempt of an operation (the sinks
/// retry by themselves, so an attempt is an operation).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// An AWS SDK error as one line, cause first, and its class: a missing stream, denied
/// access or bad credentials cannot be fixed by retrying; throttling, 5xx, timeouts and
/// unreachable endpoints can; a request the SDK could not even build (no region, no
/// credentials) is configuration.
pub(crate) fn describe_sdk_error<E, R>(error: &SdkError<E, R>) -> (String, Class)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let root = |e: &(dyn std::error::Error + 'static)| {
        let mut last = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            last = s.to_string();
            source = s.source();
        }
        last
    };
    match error {
        SdkError::ServiceError(e) => {
            let inner = e.err();
            let code = inner.code().unwrap_or("unknown error");
            let message = inner.message().unwrap_or("");
            let class = match code {
                "ResourceNotFoundException"
                | "AccessDeniedException"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "IncompleteSignature"
                | "MissingAuthenticationToken"
                | "ExpiredTokenException"
                | "InvalidArgumentException"
                | "InvalidParameterException"
                | "ValidationException"
                | "KMSAccessDeniedException"
                | "KMSDisabledException"
                | "KMSNotFoundException"
                | "KMSInvalidStateException" => Class::Refused,
                _ => Class::Transient,
            };
            let text = if message.is_empty() {
                code.to_owned()
            } else {
                format!("{code}: {message}")
            };
            (text, class)
        }
        SdkError::TimeoutError(_) => ("no answer before the deadline".to_owned(), Class::Transient),
        SdkError::DispatchFailure(e) => {
            let cause = e
                .as_connector_error()
                .map_or_else(|| root(error), |c| root(c));
            if e.is_io() || e.is_timeout() {
                (format!("cannot connect: {cause}"), Class::Transient)
            } else if cause.contains("timed out") || cause.contains("timeout") {
                // A credentials provider (IMDS, STS) that did not answer in time.
                (cause, Class::Transient)
            } else if cause.contains("Missing Region") {
                (format!("{cause} (set AWS_REGION)"), Class::Usage)
            } else if cause.contains("provided credentials") {
                (
                    format!(
                        "{cause}: no AWS credentials (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with a role)"
                    ),
                    Class::Usage,
                )
            } else {
                // Nothing was sent: credentials or endpoint resolution refused the request.
                (cause, Class::Usage)
            }
        }
        SdkError::ResponseError(_) => (
            format!("the answer could not be read: {}", root(error)),
            Class::Transient,
        ),
        // No region, no credentials, an invalid endpoint: nothing was sent.
        _ => (root(error), Class::Usage),
    }
}

/// Splits records (by their sizes) into calls of at most `max_records` records and
/// `max_call_bytes` bytes, as lists of indexes in order; a record over `max_record_bytes`
/// goes to the second list. Pure, so the limits are tested as a table.
pub fn plan_batches(
    sizes: &[usize],
    max_records: usize,
    max_record_bytes: usize,
    max_call_bytes: usize,
) -> (Vec<Vec<usize>>, Vec<usize>) {
    let mut calls: Vec<Vec<usize>> = Vec::new();
    let mut too_large = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for (i, &size) in sizes.iter().enumerate() {
        if size > max_record_bytes {
            too_large.push(i);
            continue;
        }
        if !current.is_empty() && (current.len() == max_records || bytes + size > max_call_bytes) {
            calls.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(i);
    }
    if !current.is_empty() {
        calls.push(current);
    }
    (calls, too_large)
}

/// First delay before resending refused records; it doubles per attempt up to [`RETRY_MAX`],
/// and stays there for as long as the service refuses.
pub(crate) const RETRY_START: Duration = Duration::from_millis(200);
pub(crate) const RETRY_MAX: Duration = Duration::from_secs(30);

/// The delay before resend attempt `attempt` (1-based): `start` doubling, capped at
/// [`RETRY_MAX`] (the workspace's one [`Schedule`]).
pub(crate) fn retry_delay(start: Duration, attempt: u32) -> Duration {
    Schedule::Doubling {
        start,
        max: RETRY_MAX,
    }
    .delay(attempt)
}

/// Splits a batch by the per-entry answers of a call that succeeded as a whole (Firehose
/// `PutRecordBatch`, Kinesis `PutRecords`: `(error code, error message)` per entry, in order):
/// the refused entries, to resend alone, and the first refusal for the log. Accepted entries
/// are counted as delivered.
pub(crate) fn split_refused<'a, T>(
    answers: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
    sent: Vec<T>,
    stats: &Stats,
) -> (Vec<T>, Option<String>) {
    let mut refused = Vec::new();
    let mut first_error = None;
    for ((code, message), entry) in answers.into_iter().zip(sent) {
        match code {
            Some(code) => {
                first_error.get_or_insert_with(|| format!("{code}: {}", message.unwrap_or("")));
                refused.push(entry);
            }
            None => {
                stats.delivered.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    (refused, first_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_batches_table() {
        type Plan = (Vec<Vec<usize>>, Vec<usize>);
        let table: &[(&[usize], usize, usize, usize, Plan)] = &[
            (&[], 500, 10, 100, (vec![], vec![])),
            (&[1, 1, 1], 2, 10, 100, (vec![vec![0, 1], vec![2]], vec![])),
            (
                &[40, 40, 40],
                500,
                50,
                100,
                (vec![vec![0, 1], vec![2]], vec![]),
            ),
            (&[50, 50], 500, 50, 100, (vec![vec![0, 1]], vec![])),
            (&[51, 1], 500, 50, 100, (vec![vec![1]], vec![0])),
            // A too-large record between others is left out of its call, reported apart.
            (&[10, 99, 10], 500, 50, 100, (vec![vec![0, 2]], vec![1])),
        ];
        for (sizes, max_records, max_record, max_call, expected) in table {
            let got = plan_batches(sizes, *max_records, *max_record, *max_call);
            assert_eq!(&got, expected, "{sizes:?}");
        }
    }
}
