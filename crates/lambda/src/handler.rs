//! One invocation: classify the event, stream each named object through the pipeline, answer
//! with a JSON summary (or, for SQS batches, a partial batch failure response).
//!
//! Failure policy: a direct S3 or EventBridge invocation fails as a whole when any object could
//! not be confirmed (S3's async retry re-runs it; ids make that safe). An SQS batch reports the
//! failed messages only. A missing object (GetObject: NoSuchKey) fails too: a key decoded
//! wrongly or a lost object must reach an alarm (Lambda `Errors`, the `MissingObjects` metric)
//! rather than vanish; after the retries the event waits in the failure queue, where it can be
//! looked at and dropped. EventBridge keys are tried as given, then percent-decoded.
//!
//! Every object, Kinesis batch and Batch Operations task gets one EMF metrics line (see
//! [`crate::metrics`]), failed or not.
//!
//! Ensuring the index is bounded by the invocation's deadline. When it fails (no time left, a
//! mapping conflict, ...), nothing is read or written: every object the event names is reported
//! failed with the reason and its metrics line, SQS messages are all failed items, a Kinesis
//! batch is retried from its first record and S3 Batch Operations tasks fail temporarily.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use lambda_runtime::Context;
use lambda_runtime::tracing::{self, Instrument};
use pipeline::{Indexer, ObjectStore, ObjectSummary, SourceError};
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::event_error::EventError;
use crate::events::{Found, Invocation, ObjectRef, Trigger};
use crate::metrics::{self, ObjectOutcome, Subject};
use crate::s3_key::decode_key;

/// Time kept back from the invocation deadline to report a clean error before Lambda kills us:
/// a tenth of the remaining time, at most this much (short timeouts keep most of their time).
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Event(#[from] EventError),
    /// Ensure failed: none of `objects` was read.
    #[error("{objects}: {reason}")]
    EnsureIndex { objects: String, reason: String },
    #[error("{0}")]
    Source(SourceError),
    #[error("{0} (NoSuchKey): nothing was indexed; check the key's encoding")]
    Missing(SourceError),
    #[error(transparent)]
    Pipeline(#[from] pipeline::PipelineError),
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    /// The error type Lambda reports (and the on-failure destination records) names the stage.
    fn from(error: HandlerError) -> Self {
        let error_type = match &error {
            HandlerError::Event(_) => "InvalidEvent",
            HandlerError::EnsureIndex { .. } => "EnsureIndexFailed",
            HandlerError::Source(_) => "ObjectUnavailable",
            HandlerError::Missing(_) => "ObjectMissing",
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
    /// `indexed` (a missing or failed object fails the invocation instead).
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

/// Where the EMF lines go: stdout in production (CloudWatch parses the raw line, not a log
/// wrapper), a collector in tests.
pub type MetricsWriter = Arc<dyn Fn(String) + Send + Sync>;

pub struct Handler<S> {
    store: S,
    indexer: Indexer,
    function_name: String,
    metrics: MetricsWriter,
}

impl<S: ObjectStore> Handler<S> {
    pub fn new(store: S, indexer: Indexer) -> Self {
        Handler {
            store,
            indexer,
            function_name: std::env::var("AWS_LAMBDA_FUNCTION_NAME")
                .unwrap_or_else(|_| "tweet-indexer".into()),
            metrics: Arc::new(|line| println!("{line}")),
        }
    }

    /// Sends the EMF lines to `writer` instead of stdout.
    pub fn with_metrics_writer(mut self, writer: MetricsWriter) -> Self {
        self.metrics = writer;
        self
    }

    /// Handles one invocation payload. `context` gives the request id and the deadline.
    pub async fn handle(&self, payload: Value, context: &Context) -> Result<Value, HandlerError> {
        let span = tracing::info_span!("invocation", request_id = %context.request_id);
        let deadline = deadline_from(context.deadline(), SystemTime::now());
        async move {
            let trigger = Trigger::parse(&payload)?;
            drop(payload);
            // EventBridge sends the key as stored, but a rule's input transformer or a hand-made
            // event may carry the URL-encoded form: both are tried.
            let keys = if trigger.keys_as_stored() {
                KeyForms::AsGivenThenDecoded
            } else {
                KeyForms::AsGiven
            };
            let invocation = trigger.into_invocation()?;
            let not_ensured = match self.indexer.ensure_index_before(deadline).await {
                Ok(_) => None,
                Err(e) => {
                    let reason = not_ensured_reason(&e, Instant::now() >= deadline);
                    tracing::error!(%reason, "the index could not be ensured: nothing is read");
                    Some(reason)
                }
            };
            let not_ensured = not_ensured.as_deref();
            match invocation {
                Invocation::Direct(found) => {
                    let report = self.direct(found, deadline, keys, not_ensured).await?;
                    Ok(serde_json::to_value(report).unwrap_or(Value::Null))
                }
                Invocation::Sqs(works) => {
                    let mut response = SqsBatchResponse::default();
                    for work in works {
                        let outcome = match work.found {
                            Ok(found) => self
                                .direct(found, deadline, KeyForms::AsGiven, not_ensured)
                                .await
                                .map(|_| ()),
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
                    let response = match not_ensured {
                        Some(reason) => {
                            if !records.is_empty() {
                                let batch = crate::kinesis::batch_name(&records);
                                let failed = Subject::KinesisBatch { failed: true };
                                self.emit(&ObjectSummary::new(batch), failed);
                            }
                            crate::kinesis::retry_all(&records, reason)
                        }
                        None => {
                            let emit = |summary: &ObjectSummary, subject| self.emit(summary, subject);
                            crate::kinesis::handle(&self.indexer, records, deadline, &emit).await
                        }
                    };
                    Ok(serde_json::to_value(response).unwrap_or(Value::Null))
                }
                Invocation::BatchJob(job) => {
                    let response = match not_ensured {
                        Some(reason) => {
                            for task in &job.tasks {
                                let name = crate::batch_ops::task_object(&job.invocation_schema_version, task)
                                    .map_or_else(|_| task.s3_key.clone(), |(b, k)| format!("s3://{b}/{k}"));
                                let failed = Subject::BackfillTask(ObjectOutcome::Failed);
                                self.emit(&ObjectSummary::new(name), failed);
                            }
                            crate::batch_ops::fail_all(job, reason)
                        }
                        None => {
                            let emit = |summary: &ObjectSummary, subject| self.emit(summary, subject);
                            crate::batch_ops::handle(&self.store, &self.indexer, job, deadline, &emit)
                                .await
                        }
                    };
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
        keys: KeyForms,
        not_ensured: Option<&str>,
    ) -> Result<InvocationReport, HandlerError> {
        for reason in &found.skipped {
            tracing::info!(%reason, "skipped event record");
        }
        if let Some(reason) = not_ensured
            && !found.objects.is_empty()
        {
            let names: Vec<String> = found
                .objects
                .iter()
                .map(|o| format!("s3://{}/{}", o.bucket, o.key))
                .collect();
            for name in &names {
                tracing::error!(object = %name, %reason, "object failed: the invocation will be retried");
                self.emit(
                    &ObjectSummary::new(name.as_str()),
                    Subject::Object(ObjectOutcome::Failed),
                );
            }
            return Err(HandlerError::EnsureIndex {
                objects: names.join(", "),
                reason: reason.to_owned(),
            });
        }
        let mut report = InvocationReport {
            skipped: found.skipped,
            ..Default::default()
        };
        for object in found.objects {
            report
                .objects
                .push(self.object(&object, deadline, keys).await?);
        }
        Ok(report)
    }

    async fn object(
        &self,
        object: &ObjectRef,
        deadline: Instant,
        keys: KeyForms,
    ) -> Result<ObjectReport, HandlerError> {
        let opened = match self.open(object, deadline, keys).await {
            Ok(opened) => opened,
            Err(SourceError::NotFound { name }) => {
                tracing::error!(object = %name, bucket = %object.bucket, key = %object.key, "object not found (NoSuchKey): the invocation fails so that this is seen");
                self.emit(
                    &ObjectSummary::new(name.clone()),
                    Subject::Object(ObjectOutcome::Missing),
                );
                return Err(HandlerError::Missing(SourceError::NotFound { name }));
            }
            Err(e) => {
                let name = format!("s3://{}/{}", object.bucket, object.key);
                self.emit(
                    &ObjectSummary::new(name),
                    Subject::Object(ObjectOutcome::Failed),
                );
                return Err(HandlerError::Source(e));
            }
        };
        let mut summary = ObjectSummary::new(opened.name.as_str());
        let indexed = self
            .indexer
            .index_into(opened, deadline, &mut summary)
            .await;
        let outcome = if indexed.is_ok() {
            ObjectOutcome::Indexed
        } else {
            ObjectOutcome::Failed
        };
        self.emit(&summary, Subject::Object(outcome));
        if let Err(e) = indexed {
            tracing::error!(
                object = %summary.object,
                bucket = %object.bucket,
                key = %object.key,
                error = %e,
                documents = summary.documents,
                indexed = summary.indexed,
                dead_lettered = summary.dead_lettered,
                "object failed: the invocation will be retried"
            );
            return Err(e.into());
        }
        tracing::info!(
            object = %summary.object,
            bucket = %object.bucket,
            key = %object.key,
            records = summary.records,
            documents = summary.documents,
            deletes = summary.deletes,
            compliance_events = summary.compliance_events,
            control_messages = summary.control_messages,
            invalid_records = summary.invalid_records,
            indexed = summary.indexed,
            deleted = summary.deleted,
            compliance_changed = summary.compliance_changed,
            compliance_lag_ms = summary.compliance_lag_ms,
            dead_lettered = summary.dead_lettered,
            retried = summary.retried,
            bytes_read = summary.bytes_read,
            duration_ms = summary.duration_ms,
            "object indexed"
        );
        Ok(ObjectReport {
            status: "indexed",
            summary,
        })
    }

    /// GetObject, bounded by the deadline; for EventBridge, a missing key is tried again
    /// percent-decoded.
    async fn open(
        &self,
        object: &ObjectRef,
        deadline: Instant,
        keys: KeyForms,
    ) -> Result<pipeline::Object, SourceError> {
        let first = self.get(&object.bucket, &object.key, deadline).await;
        let decoded = match (&first, keys) {
            (Err(SourceError::NotFound { .. }), KeyForms::AsGivenThenDecoded) => {
                decode_key(&object.key).ok().filter(|k| *k != object.key)
            }
            _ => None,
        };
        match decoded {
            Some(key) => {
                let second = self.get(&object.bucket, &key, deadline).await;
                if second.is_ok() {
                    tracing::warn!(bucket = %object.bucket, given = %object.key, %key, "the key as given does not exist; read it percent-decoded");
                }
                second
            }
            None => first,
        }
    }

    async fn get(
        &self,
        bucket: &str,
        key: &str,
        deadline: Instant,
    ) -> Result<pipeline::Object, SourceError> {
        tokio::time::timeout_at(deadline, self.store.get(bucket, key))
            .await
            .unwrap_or_else(|_| {
                Err(SourceError::Unavailable {
                    name: format!("s3://{bucket}/{key}"),
                    detail: "GetObject did not answer before the deadline".into(),
                })
            })
    }

    fn emit(&self, summary: &ObjectSummary, subject: Subject) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        (self.metrics)(metrics::emf_line(
            summary,
            subject,
            &self.function_name,
            now_ms,
        ));
    }
}

/// Why nothing was read: ensure's error, saying so when the deadline is what ran out.
fn not_ensured_reason(error: &search_sink::SinkError, deadline_passed: bool) -> String {
    if deadline_passed {
        format!("index not ensured before the deadline: {error}")
    } else {
        format!("index not ensured: {error}")
    }
}

/// Which forms of an object key to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyForms {
    AsGiven,
    AsGivenThenDecoded,
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
