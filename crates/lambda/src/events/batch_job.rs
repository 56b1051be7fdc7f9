//! The S3 Batch Operations event (invocation schema 1.0 and 2.0) and the object each task
//! names. Running the tasks is [`crate::batch_ops`]'s.

use serde::Deserialize;
use serde_json::Value;

use crate::event_error::EventError;
use crate::s3_key::decode_key;

/// A Batch Operations invocation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchJobEvent {
    pub invocation_schema_version: String,
    pub invocation_id: String,
    pub tasks: Vec<BatchTask>,
}

/// One task as sent; which bucket field is set depends on the schema version.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchTask {
    pub task_id: String,
    pub s3_key: String,
    #[serde(default)]
    pub s3_version_id: Option<String>,
    /// Schema 1.0.
    #[serde(default)]
    pub s3_bucket_arn: Option<String>,
    /// Schema 2.0.
    #[serde(default)]
    pub s3_bucket: Option<String>,
}

/// True for a Batch Operations invocation.
pub fn is_batch_job(payload: &Value) -> bool {
    payload.get("invocationSchemaVersion").is_some() && payload.get("tasks").is_some()
}

pub fn parse(payload: &Value) -> Result<BatchJobEvent, EventError> {
    let event = BatchJobEvent::deserialize(payload).map_err(|e| EventError::Malformed {
        shape: "S3 Batch Operations event",
        reason: e.to_string(),
    })?;
    match event.invocation_schema_version.as_str() {
        "1.0" | "2.0" => Ok(event),
        other => Err(EventError::Malformed {
            shape: "S3 Batch Operations event",
            reason: format!("unsupported invocationSchemaVersion {other:?}"),
        }),
    }
}

/// The bucket and real key a task names.
pub fn task_object(schema: &str, task: &BatchTask) -> Result<(String, String), String> {
    if schema == "1.0" {
        let arn = task.s3_bucket_arn.as_deref().unwrap_or_default();
        let bucket = arn
            .rsplit_once(":::")
            .map(|(_, bucket)| bucket)
            .filter(|b| !b.is_empty())
            .ok_or_else(|| format!("s3BucketArn {arn:?} names no bucket"))?;
        let key = decode_key(&task.s3_key).map_err(|e| e.to_string())?;
        Ok((bucket.to_owned(), key))
    } else {
        let bucket = task
            .s3_bucket
            .as_deref()
            .filter(|b| !b.is_empty())
            .ok_or("task has no s3Bucket")?;
        Ok((bucket.to_owned(), task.s3_key.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_schema_versions_name_the_object() {
        let v1 = parse(&json!({
            "invocationSchemaVersion": "1.0", "invocationId": "inv1", "job": {"id": "job1"},
            "tasks": [{"taskId": "t1", "s3Key": "tweets/a+b%C3%A9.gz", "s3VersionId": "v1",
                       "s3BucketArn": "arn:aws:s3:::bucket-1"}]
        }))
        .unwrap();
        assert_eq!(
            task_object("1.0", &v1.tasks[0]).unwrap(),
            ("bucket-1".into(), "tweets/a bé.gz".into())
        );
        assert_eq!(v1.tasks[0].s3_version_id.as_deref(), Some("v1"));
        let v2 = parse(&json!({
            "invocationSchemaVersion": "2.0", "invocationId": "inv2",
            "job": {"id": "job2", "userArguments": {"k": "v"}},
            "tasks": [{"taskId": "t2", "s3Bucket": "bucket-2", "s3Key": "tweets/a+b%C3%A9.gz", "s3VersionId": null}]
        }))
        .unwrap();
        assert_eq!(
            task_object("2.0", &v2.tasks[0]).unwrap(),
            ("bucket-2".into(), "tweets/a+b%C3%A9.gz".into())
        );
        assert_eq!(v2.tasks[0].s3_version_id, None);
        let unsupported = parse(
            &json!({"invocationSchemaVersion": "3.0", "invocationId": "i", "job": {}, "tasks": []}),
        );
        assert!(unsupported.unwrap_err().to_string().contains("\"3.0\""));
    }
}
