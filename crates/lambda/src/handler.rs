//! One invocation: classify the event, stream each named object through the pipeline, answer
//! with a JSON summary (or, for SQS batches, a partial batch failure response).
//!
//! Failure policy: a direct S3 or EventBridge invocation fails as a whole when any object could
//! not be confirmed (S3's async retry re-runs it; ids make that safe). An SQS batch reports the
//! failed messages only. A missing object (deleted before we read it) is logged and skipped:
//! retrying cannot bring it back.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use lambda_runtime::Context;
use lambda_runtime::tracing::{self, Instrument};
use pipeline::{Indexer, ObjectStore, ObjectSummary, SourceError};
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::events::{Found, Invocation, ObjectRef, parse_invocation};
use crate::metrics;

/// Time kept back from the invocation deadline to report a clean error before Lambda kills us:
/// a tenth of the remaining time, at most this much (short timeouts keep most of their time).
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Event(#[from] crate::events::EventError),
    #[error("cannot prepare the index: {0}")]
    EnsureIndex(search_sink::SinkError),
    #[error("{0}")]
    Source(SourceError),
    #[error(transparent)]
    Pipeline(#[from] pipeline::PipelineError),
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    /// The error type Lambda reports (and the on-failure destination records) names the stage.
    fn from(error: HandlerError) -> Self {
        let error_type = match &error {
            HandlerError::Event(_) => "InvalidEvent",
            HandlerError::EnsureIndex(_) => "EnsureIndexFailed",
            HandlerError::Source(_) => "ObjectUnavailable",
            HandlerError::Pipeline(_) => "ObjectNotIndexed",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: error.to_string(),
        }
    }
}

/// What happened to one object named by the event.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectReport {
    /// `indexed`, or `missing` when the object no longer exists.
    pub status: &'static str,
    #[serde(flatten)]
    pub summary: ObjectSummary,
}

/// The JSON a direct invocation returns.
#[derive(Debug, Default, Serialize)]
pub struct InvocationReport {
    pub objects: Vec<ObjectReport>,
    /// Records of the event that named nothing to index (test events, deletions, ...).
    pub skipped: Vec<String>,
}

pub struct Handler<S> {
    store: S,
    indexer: Indexer,
    function_name: String,
}

impl<S: ObjectStore> Handler<S> {
    pub fn new(store: S, indexer: Indexer) -> Self {
        Handler {
            store,
            indexer,
            function_name: std::env::var("AWS_LAMBDA_FUNCTION_NAME")
                .unwrap_or_else(|_| "tweet-indexer".into()),
        }
    }

    /// Handles one invocation payload. `context` gives the request id and the deadline.
    pub async fn handle(&self, payload: Value, context: &Context) -> Result<Value, HandlerError> {
        let span = tracing::info_span!("invocation", request_id = %context.request_id);
        let deadline = deadline_from(context.deadline(), SystemTime::now());
        async move {
            self.indexer.ensure_index().await.map_err(HandlerError::EnsureIndex)?;
            match parse_invocation(&payload)? {
                Invocation::Direct(found) => {
                    let report = self.direct(found, deadline).await?;
                    Ok(serde_json::to_value(report).unwrap_or(Value::Null))
                }
                Invocation::Sqs(works) => {
                    let mut response = SqsBatchResponse::default();
                    for work in works {
                        let outcome = match work.found {
                            Ok(found) => self.direct(found, deadline).await.map(|_| ()),
                            Err(e) => Err(HandlerError::Event(e)),
                        };
                        if let Err(e) = outcome {
                            tracing::error!(message_id = %work.message_id, error = %e, "SQS message failed");
                            let mut failure = BatchItemFailure::default();
                            failure.item_identifier = work.message_id;
                            response.batch_item_failures.push(failure);
                        }
                    }
                    Ok(serde_json::to_value(response).unwrap_or(Value::Null))
                }
                Invocation::Kinesis(records) => {
                    let response = crate::kinesis::handle(&self.indexer, records, deadline).await;
                    Ok(serde_json::to_value(response).unwrap_or(Value::Null))
                }
                Invocation::BatchJob(job) => {
                    let response =
                        crate::batch_ops::handle(&self.store, &self.indexer, job, deadline).await;
                    Ok(serde_json::to_value(response).unwrap_or(Value::Null))
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn direct(
        &self,
        found: Found,
        deadline: Instant,
    ) -> Result<InvocationReport, HandlerError> {
        for reason in &found.skipped {
            tracing::info!(%reason, "skipped event record");
        }
        let mut report = InvocationReport {
            skipped: found.skipped,
            ..Default::default()
        };
        for object in found.objects {
            report.objects.push(self.object(&object, deadline).await?);
        }
        Ok(report)
    }

    async fn object(
        &self,
        object: &ObjectRef,
        deadline: Instant,
    ) -> Result<ObjectReport, HandlerError> {
        let opened = match self.store.get(&object.bucket, &object.key).await {
            Ok(opened) => opened,
            Err(SourceError::NotFound { name }) => {
                tracing::warn!(bucket = %object.bucket, key = %object.key, "object not found (deleted before it was read?): skipped");
                return Ok(ObjectReport {
                    status: "missing",
                    summary: ObjectSummary::new(name),
                });
            }
            Err(e) => return Err(HandlerError::Source(e)),
        };
        let summary = self.indexer.index(opened, deadline).await.inspect_err(|e| {
            tracing::error!(bucket = %object.bucket, key = %object.key, error = %e, "object failed: the invocation will be retried");
        })?;
        tracing::info!(
            bucket = %object.bucket,
            key = %object.key,
            records = summary.records,
            documents = summary.documents,
            deletes = summary.deletes,
            control_messages = summary.control_messages,
            invalid_records = summary.invalid_records,
            indexed = summary.indexed,
            deleted = summary.deleted,
            dead_lettered = summary.dead_lettered,
            retried = summary.retried,
            bytes_read = summary.bytes_read,
            duration_ms = summary.duration_ms,
            "object indexed"
        );
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        // EMF goes straight to stdout: CloudWatch parses the raw line, not a log wrapper.
        println!(
            "{}",
            metrics::emf_line(&summary, &self.function_name, now_ms)
        );
        Ok(ObjectReport {
            status: "indexed",
            summary,
        })
    }
}

/// Lambda's longest timeout, used when the runtime API sends no usable deadline.
pub const LAMBDA_MAX_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The sink's deadline: Lambda's deadline minus the margin, on tokio's clock.
///
/// Lambda sends an epoch time in milliseconds. Local emulators send 0 or a duration instead
/// (cargo-lambda sends its timeout, e.g. `600000`): a "deadline" before 2001 is no deadline, and
/// Lambda's own limit applies.
pub fn deadline_from(lambda_deadline: SystemTime, now: SystemTime) -> Instant {
    let epoch_ms = lambda_deadline
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let remaining = if epoch_ms < 1_000_000_000_000 {
        LAMBDA_MAX_TIMEOUT
    } else {
        lambda_deadline
            .duration_since(now)
            .unwrap_or(Duration::ZERO)
    };
    let margin = DEADLINE_MARGIN.min(remaining / 10);
    Instant::now() + (remaining - margin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_is_a_tenth_of_the_time_left_at_most_three_seconds() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let left = |timeout: Duration| {
            deadline_from(now + timeout, now).saturating_duration_since(Instant::now())
        };
        let short = left(Duration::from_secs(3));
        assert!(
            short > Duration::from_millis(2_600) && short <= Duration::from_millis(2_700),
            "{short:?}"
        );
        let long = left(Duration::from_secs(900));
        assert!(
            long > Duration::from_millis(896_900) && long <= Duration::from_secs(897),
            "{long:?}"
        );
        assert_eq!(left(Duration::ZERO), Duration::ZERO);
        // cargo-lambda's emulator: its timeout in ms where an epoch time belongs.
        let emulator = deadline_from(UNIX_EPOCH + Duration::from_millis(600_000), now);
        assert!(emulator.saturating_duration_since(Instant::now()) > Duration::from_secs(890));
        assert_eq!(
            deadline_from(now, now + Duration::from_secs(5))
                .saturating_duration_since(Instant::now()),
            Duration::ZERO
        );
    }
}
