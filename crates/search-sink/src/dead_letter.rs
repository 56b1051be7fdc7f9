//! Dead-letter stores: where operations that failed permanently go, with the reason and the
//! source object and offset, so nothing is dropped silently. S3 writes one NDJSON object per
//! source object; the file store appends NDJSON lines to one local file.

use crate::config::DeadLetterTarget;
pub use crate::error::DeadLetterError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::path::PathBuf;
use std::sync::Arc;

/// One failed operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Document id.
    pub id: String,
    /// `index` or `delete`.
    pub action: String,
    /// Item status from the server (413 for a document too large on its own, 0 when the
    /// operation could not even be encoded).
    pub status: u16,
    /// Error type, e.g. `mapper_parsing_exception`.
    pub error_type: String,
    /// Error reason from the server.
    pub reason: String,
    /// Source object of the operation.
    pub source_object: String,
    /// Byte offset of the record in its source object.
    pub offset: u64,
    /// The document as sent (for `index`), so it can be replayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Box<RawValue>>,
}

/// Somewhere to put failed operations. Implementations must be durable when `store` returns Ok.
#[async_trait]
pub trait DeadLetterStore: Send + Sync + std::fmt::Debug {
    /// Stores `entries`, all from `source_object`. `part` counts the calls for one source
    /// object within one sink (0 first; more only when very many entries fail).
    async fn store(
        &self,
        source_object: &str,
        part: u32,
        entries: &[DeadLetter],
    ) -> Result<(), DeadLetterError>;
}

fn to_ndjson(entries: &[DeadLetter]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        // Serializing these plain fields into a Vec cannot fail.
        if serde_json::to_writer(&mut out, entry).is_ok() {
            out.push(b'\n');
        }
    }
    out
}

/// S3 dead-letter store: `s3://{bucket}/{prefix}{source key}.ndjson` (then `.part1.ndjson`,
/// ...). Keys are deterministic, so re-processing the same object overwrites instead of
/// piling up copies.
#[derive(Clone)]
pub struct S3DeadLetters {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl std::fmt::Debug for S3DeadLetters {
    /// Not the client: its `Debug` prints the credentials provider and cached identities
    /// (the access key id).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3DeadLetters")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl S3DeadLetters {
    /// A store using `client`.
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    /// A store with a client from the AWS default chain; path-style addressing is used when
    /// `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` point at a local S3 (e.g. moto).
    pub async fn from_env(bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self::new(s3_client_from_env().await, bucket, prefix)
    }

    /// The key used for `source_object`'s dead letters.
    pub fn key_for(&self, source_object: &str, part: u32) -> String {
        let name = source_object
            .strip_prefix("s3://")
            .unwrap_or(source_object)
            .trim_start_matches('/');
        if part == 0 {
            format!("{}{name}.ndjson", self.prefix)
        } else {
            format!("{}{name}.part{part}.ndjson", self.prefix)
        }
    }
}

#[async_trait]
impl DeadLetterStore for S3DeadLetters {
    async fn store(
        &self,
        source_object: &str,
        part: u32,
        entries: &[DeadLetter],
    ) -> Result<(), DeadLetterError> {
        let key = self.key_for(source_object, part);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/x-ndjson")
            .body(to_ndjson(entries).into())
            .send()
            .await
            .map_err(|e| DeadLetterError::S3 {
                bucket: self.bucket.clone(),
                key,
                detail: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
            })?;
        tracing::warn!(bucket = %self.bucket, source_object, count = entries.len(), "dead letters stored");
        Ok(())
    }
}

/// Local dead-letter store: appends NDJSON lines to one file (created if missing).
#[derive(Debug, Clone)]
pub struct FileDeadLetters {
    path: PathBuf,
}

impl FileDeadLetters {
    /// A store appending to `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

#[async_trait]
impl DeadLetterStore for FileDeadLetters {
    async fn store(
        &self,
        source_object: &str,
        _part: u32,
        entries: &[DeadLetter],
    ) -> Result<(), DeadLetterError> {
        use tokio::io::AsyncWriteExt;
        let err = |source| DeadLetterError::File {
            path: self.path.clone(),
            source,
        };
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(err)?;
        file.write_all(&to_ndjson(entries)).await.map_err(err)?;
        file.sync_data().await.map_err(err)?;
        tracing::warn!(path = %self.path.display(), source_object, count = entries.len(), "dead letters stored");
        Ok(())
    }
}

/// An S3 client from the AWS default chain. Path-style addressing when an endpoint override
/// (`AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`) is set: local S3 servers on 127.0.0.1 have no
/// per-bucket host names.
pub async fn s3_client_from_env() -> aws_sdk_s3::Client {
    let sdk = crate::https::aws_config_loader().load().await;
    let local = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|s| !s.is_empty()));
    let conf = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(local)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Opens the store a [`DeadLetterTarget`] names (S3 clients come from the AWS default chain).
pub async fn open(target: &DeadLetterTarget) -> Arc<dyn DeadLetterStore> {
    open_with(target, None).await
}

/// Like [`open`], with the S3 client an S3 store should use; without one, an S3 store gets a
/// client from the AWS default chain (a configured store is never silently dropped).
pub async fn open_with(
    target: &DeadLetterTarget,
    s3: Option<aws_sdk_s3::Client>,
) -> Arc<dyn DeadLetterStore> {
    match (target, s3) {
        (DeadLetterTarget::S3 { bucket, prefix }, Some(client)) => {
            Arc::new(S3DeadLetters::new(client, bucket, prefix))
        }
        (DeadLetterTarget::S3 { bucket, prefix }, None) => {
            Arc::new(S3DeadLetters::from_env(bucket, prefix).await)
        }
        (DeadLetterTarget::File(path), _) => Arc::new(FileDeadLetters::new(path)),
    }
}
