//! S3 Batch Operations trigger (backfill at scale): each task names one object of a manifest
//! (invocation schema 1.0: bucket ARN and URL-encoded key; 2.0: bucket name and plain key;
//! both may carry a version id, which is honoured). Each object goes through the same pipeline
//! as an S3 notification, and each task gets its own result code:
//!
//! - `Succeeded`, with a short JSON summary of the object's counts as `resultString`;
//! - `TemporaryFailure` for what a retry can fix (throttling, 5xx, the deadline, the network);
//! - `PermanentFailure` for a missing or unreadable object, with the reason.
//!
//! `treatMissingKeysAs` is `PermanentFailure`: a key missing from the bucket will stay missing.
//! GetObject is bounded by the invocation's deadline (a hung one is a `TemporaryFailure`).
//! Each task writes one metrics line, counted as a backfill ([`crate::metrics`]).
//! Not here: the job itself (the manifest, retries and the completion report are S3's).

use lambda_runtime::tracing;
use pipeline::{Indexer, ObjectStore, ObjectSummary, PipelineError, SourceError};
use search_sink::SinkError;
use serde::Serialize;
use tokio::time::Instant;

pub use crate::events::batch_job::{BatchJobEvent, BatchTask, task_object};
use crate::metrics::{Emit, ObjectOutcome, Subject};

pub const SUCCEEDED: &str = "Succeeded";
pub const TEMPORARY_FAILURE: &str = "TemporaryFailure";
pub const PERMANENT_FAILURE: &str = "PermanentFailure";

/// The answer S3 Batch Operations expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchJobResponse {
    pub invocation_schema_version: String,
    pub treat_missing_keys_as: &'static str,
    pub invocation_id: String,
    pub results: Vec<TaskResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskResult {
    pub task_id: String,
    pub result_code: &'static str,
    pub result_string: String,
}

/// Runs every task and answers one result per task; `emit` gets each task's counts for its
/// metrics line.
pub async fn handle<S: ObjectStore>(
    store: &S,
    indexer: &Indexer,
    event: BatchJobEvent,
    deadline: Instant,
    emit: Emit<'_>,
) -> BatchJobResponse {
    let mut results = Vec::with_capacity(event.tasks.len());
    for task in &event.tasks {
        let ran = run_task(
            store,
            indexer,
            &event.invocation_schema_version,
            task,
            deadline,
        )
        .await;
        emit(&ran.summary, Subject::BackfillTask(ran.outcome));
        let (code, text) = (ran.code, ran.text);
        if code == SUCCEEDED {
            tracing::info!(object = %ran.summary.object, task_id = %task.task_id, result = %text, "batch task succeeded");
        } else {
            tracing::error!(object = %ran.summary.object, task_id = %task.task_id, result_code = code, reason = %text, "batch task failed");
        }
        results.push(TaskResult {
            task_id: task.task_id.clone(),
            result_code: code,
            result_string: text,
        });
    }
    BatchJobResponse {
        invocation_schema_version: event.invocation_schema_version,
        treat_missing_keys_as: PERMANENT_FAILURE,
        invocation_id: event.invocation_id,
        results,
    }
}

/// Fails every task temporarily without reading it (S3 Batch Operations retries them): for
/// when the index could not be ensured.
pub fn fail_all(event: BatchJobEvent, reason: &str) -> BatchJobResponse {
    let results = event
        .tasks
        .iter()
        .map(|task| {
            tracing::error!(task_id = %task.task_id, result_code = TEMPORARY_FAILURE, %reason, "batch task failed");
            TaskResult {
                task_id: task.task_id.clone(),
                result_code: TEMPORARY_FAILURE,
                result_string: reason.to_owned(),
            }
        })
        .collect();
    BatchJobResponse {
        invocation_schema_version: event.invocation_schema_version,
        treat_missing_keys_as: PERMANENT_FAILURE,
        invocation_id: event.invocation_id,
        results,
    }
}

/// What became of one task: its result code and string, and its counts and outcome for the
/// metrics line.
struct Ran {
    code: &'static str,
    text: String,
    summary: ObjectSummary,
    outcome: ObjectOutcome,
}

async fn run_task<S: ObjectStore>(
    store: &S,
    indexer: &Indexer,
    schema: &str,
    task: &BatchTask,
    deadline: Instant,
) -> Ran {
    let failed = |code, text: String, name: String| Ran {
        code,
        text,
        summary: ObjectSummary::new(name),
        outcome: ObjectOutcome::Failed,
    };
    let (bucket, key) = match task_object(schema, task) {
        Ok(object) => object,
        Err(reason) => return failed(PERMANENT_FAILURE, reason, task.s3_key.clone()),
    };
    let name = format!("s3://{bucket}/{key}");
    if Instant::now() >= deadline {
        let reason = "invocation deadline reached before the object was read";
        return failed(TEMPORARY_FAILURE, reason.into(), name);
    }
    // Bounded like the S3 notifications' GetObject: a hung S3 must not outlive the invocation.
    let got = tokio::time::timeout_at(
        deadline,
        store.get_version(&bucket, &key, task.s3_version_id.as_deref()),
    )
    .await
    .unwrap_or_else(|_| {
        Err(SourceError::Unavailable {
            name: name.clone(),
            detail: "GetObject did not answer before the deadline".into(),
        })
    });
    let object = match got {
        Ok(object) => object,
        Err(e) => {
            let outcome = match e {
                SourceError::NotFound { .. } => ObjectOutcome::Missing,
                SourceError::Unavailable { .. } => ObjectOutcome::Failed,
            };
            return Ran {
                outcome,
                ..failed(source_code(&e), e.to_string(), name)
            };
        }
    };
    let mut summary = ObjectSummary::new(object.name.as_str());
    match indexer.index_into(object, deadline, &mut summary).await {
        Ok(()) => Ran {
            code: SUCCEEDED,
            text: result_summary(&summary),
            summary,
            outcome: ObjectOutcome::Indexed,
        },
        Err(e) => Ran {
            code: pipeline_code(&e),
            text: e.to_string(),
            summary,
            outcome: ObjectOutcome::Failed,
        },
    }
}

/// The short JSON kept in the completion report for a succeeded task.
pub fn result_summary(summary: &ObjectSummary) -> String {
    serde_json::json!({
        "records": summary.records,
        "documents": summary.documents,
        "deletes": summary.deletes,
        "filtered": summary.filtered,
        "invalid_records": summary.invalid_records,
        "indexed": summary.indexed,
        "deleted": summary.deleted,
        "dead_lettered": summary.dead_lettered,
    })
    .to_string()
}

/// S3 error codes that a retry will not change.
const PERMANENT_S3_CODES: &[&str] = &[
    "AccessDenied",
    "NoSuchBucket",
    "NoSuchVersion",
    "InvalidObjectState",
    "InvalidArgument",
];

fn source_code(error: &SourceError) -> &'static str {
    match error {
        SourceError::NotFound { .. } => PERMANENT_FAILURE,
        SourceError::Unavailable { detail, .. } => {
            let code = detail.split(':').next().unwrap_or_default();
            if PERMANENT_S3_CODES.contains(&code) {
                PERMANENT_FAILURE
            } else {
                TEMPORARY_FAILURE
            }
        }
    }
}

fn pipeline_code(error: &PipelineError) -> &'static str {
    match error {
        // Only the reader (network, S3) fails a read: corrupt data is invalid records and the
        // object completes, so a read error is worth retrying.
        PipelineError::Read { .. } | PipelineError::Extractor { .. } => TEMPORARY_FAILURE,
        PipelineError::Sink { source, .. } => match source {
            // Documents refused for good with no dead-letter store: retrying changes nothing.
            SinkError::PermanentFailures { .. } => PERMANENT_FAILURE,
            _ => TEMPORARY_FAILURE,
        },
        // The archive refused (access, no such table): a retry meets it again.
        PipelineError::Archive { source, .. } if !source.is_transient() => PERMANENT_FAILURE,
        PipelineError::Archive { .. } => TEMPORARY_FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn response_shape_is_exact() {
        let response = BatchJobResponse {
            invocation_schema_version: "1.0".into(),
            treat_missing_keys_as: PERMANENT_FAILURE,
            invocation_id: "inv".into(),
            results: vec![TaskResult {
                task_id: "t".into(),
                result_code: SUCCEEDED,
                result_string: result_summary(&ObjectSummary::new("s3://b/k")),
            }],
        };
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({
                "invocationSchemaVersion": "1.0",
                "treatMissingKeysAs": "PermanentFailure",
                "invocationId": "inv",
                "results": [{"taskId": "t", "resultCode": "Succeeded",
                  "resultString": "{\"dead_lettered\":0,\"deleted\":0,\"deletes\":0,\"documents\":0,\"filtered\":0,\"indexed\":0,\"invalid_records\":0,\"records\":0}"}]
            })
        );
    }

    #[test]
    fn failures_are_classified() {
        let unavailable = |detail: &str| SourceError::Unavailable {
            name: "s3://b/k".into(),
            detail: detail.into(),
        };
        let sources = [
            (
                SourceError::NotFound { name: "n".into() },
                PERMANENT_FAILURE,
            ),
            (
                unavailable("AccessDenied: Access Denied"),
                PERMANENT_FAILURE,
            ),
            (unavailable("NoSuchVersion: gone"), PERMANENT_FAILURE),
            (
                unavailable("SlowDown: Please reduce your request rate"),
                TEMPORARY_FAILURE,
            ),
            (
                unavailable("InternalError: We encountered an internal error"),
                TEMPORARY_FAILURE,
            ),
            (
                unavailable("dispatch failure: io error: connection reset"),
                TEMPORARY_FAILURE,
            ),
        ];
        for (error, code) in sources {
            assert_eq!(source_code(&error), code, "{error}");
        }
        let read = |detail: &str| PipelineError::Read {
            object: "o".into(),
            offset: 3,
            detail: detail.into(),
        };
        let sink = |source| PipelineError::Sink {
            object: "o".into(),
            source,
        };
        let pipelines = [
            (read("connection reset by peer"), TEMPORARY_FAILURE),
            (
                sink(SinkError::DeadlineExceeded {
                    unconfirmed: 3,
                    elapsed: std::time::Duration::from_secs(1),
                    last_problem: "HTTP 429".into(),
                }),
                TEMPORARY_FAILURE,
            ),
            (
                sink(SinkError::PermanentFailures {
                    count: 1,
                    first_id: "1".into(),
                    first_object: "o".into(),
                    first_offset: 0,
                    first_reason: "mapper_parsing_exception: x".into(),
                }),
                PERMANENT_FAILURE,
            ),
        ];
        for (error, code) in pipelines {
            assert_eq!(pipeline_code(&error), code, "{error}");
        }
    }

    /// A store whose GetObject never answers (a hung connection).
    struct HungStore;

    impl ObjectStore for HungStore {
        async fn get(&self, _bucket: &str, _key: &str) -> Result<pipeline::Object, SourceError> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn a_hung_get_object_ends_the_task_at_the_deadline() {
        // Nothing listens on the endpoint: the search side is never reached.
        let config = search_sink::Config::new("http://127.0.0.1:9");
        let indexer = Indexer::connect(config).await.unwrap();
        let task = BatchTask {
            task_id: "t".into(),
            s3_key: "tweets/a.gz".into(),
            s3_version_id: None,
            s3_bucket_arn: None,
            s3_bucket: Some("b".into()),
        };
        let deadline = Instant::now() + std::time::Duration::from_millis(200);
        let ran = run_task(&HungStore, &indexer, "2.0", &task, deadline);
        // Generous: the bound under test is the deadline, this only keeps a regression from
        // hanging the suite.
        let ran = tokio::time::timeout(std::time::Duration::from_secs(60), ran)
            .await
            .expect("the task ends at its deadline, not never");
        assert_eq!(ran.code, TEMPORARY_FAILURE);
        assert!(
            ran.text.contains("did not answer before the deadline"),
            "{}",
            ran.text
        );
        assert_eq!(ran.outcome, ObjectOutcome::Failed);
        assert_eq!(ran.summary.object, "s3://b/tweets/a.gz");
    }
}
