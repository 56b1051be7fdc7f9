//! Where objects come from: S3 (streaming GetObject, ListObjectsV2 for prefixes) and local
//! files. Bodies stream; nothing here buffers a whole object.
//!
//! An S3 body that fails mid-way (connection reset, a stalled read cut by the SDK) is resumed
//! below the gzip decoder, at the raw byte offset already handed on, with a ranged GetObject
//! (`Range: bytes=N-`) pinned to the object first read (`If-Match` its ETag, and its version
//! id), at most [`MAX_RESUMES`] times per object. A changed object or a server that ignores
//! `Range` fails the read instead of being stitched.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::{Instant, Sleep};

/// An async byte stream.
pub type Stream = Pin<Box<dyn AsyncRead + Send>>;

/// An object's bytes, as the extractor thread will read them.
pub enum Body {
    /// An async stream (S3, stdin, pipes), bridged to the extractor thread read by read and
    /// bounded by the object's deadline.
    Stream(Stream),
    /// A regular local file, read with plain blocking reads on the extractor thread: through
    /// `tokio::fs` every 64 KiB read was a hand-off to tokio's blocking pool and back (2,048 of
    /// them for a 128 MiB file, about 6% of a `--dry-run`'s CPU time). A regular file cannot
    /// stall the way a network read can, so it needs no deadline.
    File(std::fs::File),
    /// A blocking reader that cannot stall the way a network read can, read on the extractor
    /// thread like [`Body::File`]: a local file the caller wraps (the CLI stops reading it at
    /// a signal).
    Read(Box<dyn std::io::Read + Send>),
}

impl Body {
    /// An async stream as a body.
    pub fn stream(reader: impl AsyncRead + Send + 'static) -> Body {
        Body::Stream(Box::pin(reader))
    }

    /// The blocking reader the extractor thread uses; a stream fails with
    /// [`std::io::ErrorKind::TimedOut`] once `deadline` passes while a read waits (see
    /// [`until`]). Call it inside the runtime (a stream is bridged to the current one).
    pub fn into_blocking_reader(self, deadline: Instant) -> Box<dyn std::io::Read + Send> {
        match self {
            Body::Stream(stream) => {
                Box::new(tokio_util::io::SyncIoBridge::new(until(stream, deadline)))
            }
            Body::File(file) => Box::new(file),
            Body::Read(reader) => reader,
        }
    }
}

/// An object opened for reading.
pub struct Object {
    /// `s3://bucket/key` or the local path: the name used in logs and dead letters.
    pub name: String,
    pub body: Body,
    /// Size in bytes, when known.
    pub size: Option<u64>,
    /// How often reading the body was resumed after a mid-body failure (S3 ranged GETs);
    /// stays 0 for sources that cannot resume.
    pub resumes: Arc<AtomicU64>,
    /// When the object was stored (S3 `LastModified`, a file's modification time), epoch ms:
    /// the time of its compliance records that carry none (v1.1 `scrub_geo`, `*_withheld`),
    /// so that reading the object again writes the same register versions. `None` (stdin):
    /// the time it is read.
    pub received_at: Option<i64>,
}

impl Object {
    /// An object whose bytes are already in memory (a test's object, a fake store's): its size
    /// known, never resumed, `received_at` unknown (the time it is read).
    pub fn in_memory(name: impl Into<String>, bytes: Vec<u8>) -> Object {
        Object {
            name: name.into(),
            size: Some(bytes.len() as u64),
            body: Body::stream(std::io::Cursor::new(bytes)),
            resumes: Default::default(),
            received_at: None,
        }
    }
}

/// Ranged GETs allowed per object after mid-body failures, before the read fails.
pub const MAX_RESUMES: u32 = 3;

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("name", &self.name)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The object does not exist (for S3 events: deleted before we could read it).
    #[error("{name}: not found")]
    NotFound { name: String },
    /// Anything else: permissions, network, throttling. Worth retrying the invocation.
    #[error("{name}: {detail}")]
    Unavailable { name: String, detail: String },
}

/// Opens objects by bucket and key. The Lambda handler is generic over it so tests can serve
/// objects without S3.
pub trait ObjectStore: Send + Sync {
    fn get(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Object, SourceError>> + Send;

    /// Opens one version of an object (`None`: the current one). Stores without versions
    /// refuse a version id rather than serve another version.
    fn get_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> impl Future<Output = Result<Object, SourceError>> + Send {
        async move {
            match version_id {
                None => self.get(bucket, key).await,
                Some(version) => Err(SourceError::Unavailable {
                    name: format!("s3://{bucket}/{key}?versionId={version}"),
                    detail: "this store cannot open object versions".into(),
                }),
            }
        }
    }
}

/// S3 through the AWS SDK (credentials and region from the default chain; the standard
/// `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` select a local S3 such as moto).
#[derive(Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
}

impl std::fmt::Debug for S3Store {
    /// Not the client: its `Debug` prints the credentials provider and cached identities
    /// (the access key id).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store").finish_non_exhaustive()
    }
}

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        S3Store { client }
    }

    /// A client from the AWS default chain (path-style when an endpoint override is set).
    pub async fn from_env() -> Self {
        S3Store::new(search_sink::dead_letter::s3_client_from_env().await)
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// Every object under `prefix` with its size, in S3's (lexicographic) order.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<Listed>, SourceError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| SourceError::Unavailable {
                name: format!("s3://{bucket}/{prefix}"),
                detail: sdk_detail(&e),
            })?;
            keys.extend(page.contents().iter().filter_map(|o| {
                Some(Listed {
                    key: o.key()?.to_owned(),
                    size: o.size().and_then(|n| u64::try_from(n).ok()),
                })
            }));
        }
        Ok(keys)
    }
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    /// Size in bytes as ListObjectsV2 reports it (for progress before the object is opened).
    pub size: Option<u64>,
}

impl ObjectStore for S3Store {
    async fn get(&self, bucket: &str, key: &str) -> Result<Object, SourceError> {
        self.get_version(bucket, key, None).await
    }

    async fn get_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Object, SourceError> {
        let name = match version_id {
            None => format!("s3://{bucket}/{key}"),
            Some(version) => format!("s3://{bucket}/{key}?versionId={version}"),
        };
        match self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .send()
            .await
        {
            Ok(out) => {
                let size = out.content_length().and_then(|n| u64::try_from(n).ok());
                let received_at = out.last_modified().and_then(|t| t.to_millis().ok());
                let resumes = Arc::new(AtomicU64::new(0));
                let body = Resuming {
                    pin: Pinned {
                        client: self.client.clone(),
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                        // Pinned to what was read first, even when no version was asked for.
                        version_id: version_id
                            .map(str::to_owned)
                            .or_else(|| out.version_id().map(str::to_owned)),
                        etag: out.e_tag().map(str::to_owned),
                    },
                    name: name.clone(),
                    size,
                    consumed: 0,
                    resumes_left: MAX_RESUMES,
                    resumes: resumes.clone(),
                    state: ReadState::Reading(Box::pin(out.body.into_async_read())),
                };
                Ok(Object {
                    size,
                    received_at,
                    body: Body::stream(body),
                    name,
                    resumes,
                })
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                Err(SourceError::NotFound { name })
            }
            Err(e) => Err(SourceError::Unavailable {
                detail: sdk_detail(&e),
                name,
            }),
        }
    }
}

/// A readable one-line description of an SDK error (code and message, not the Debug dump).
fn sdk_detail<
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
>(
    error: &SdkError<E, R>,
) -> String {
    match error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            format!(
                "{}: {}",
                err.code().unwrap_or("error"),
                err.message().unwrap_or("no message")
            )
        }
        other => search_sink::error_chain(other),
    }
}

/// What a ranged GET must match to continue a body: the object as first read.
#[derive(Clone)]
struct Pinned {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    version_id: Option<String>,
    etag: Option<String>,
}

impl Pinned {
    /// GetObject from byte `offset` of the same object; the answer must be that range (a
    /// server ignoring `Range` would send the whole object again).
    async fn reopen(self, offset: u64) -> Result<Stream, String> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_version_id(self.version_id)
            .set_if_match(self.etag)
            .range(format!("bytes={offset}-"))
            .send()
            .await
            .map_err(|e| sdk_detail(&e))?;
        let wanted = format!("bytes {offset}-");
        match out.content_range() {
            Some(range) if range.starts_with(&wanted) => Ok(Box::pin(out.body.into_async_read())),
            other => Err(format!(
                "the ranged GET answered {other:?} instead of {wanted}..."
            )),
        }
    }
}

/// An S3 body that resumes with a ranged GET after a mid-body failure (module docs). Written
/// by hand: the SDK retries whole requests, never a body part-way, and no kept crate resumes
/// an `AsyncRead` from an offset.
struct Resuming {
    pin: Pinned,
    name: String,
    size: Option<u64>,
    /// Bytes handed to the reader above: where a resume starts.
    consumed: u64,
    resumes_left: u32,
    resumes: Arc<AtomicU64>,
    state: ReadState,
}

type Reopen = Pin<Box<dyn Future<Output = Result<Stream, String>> + Send>>;

enum ReadState {
    Reading(Stream),
    Reopening(Reopen),
    Failed,
}

impl AsyncRead for Resuming {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                ReadState::Reading(body) => {
                    let before = buf.filled().len();
                    match body.as_mut().poll_read(cx, buf) {
                        Poll::Ready(Ok(())) => {
                            this.consumed += (buf.filled().len() - before) as u64;
                            return Poll::Ready(Ok(()));
                        }
                        // Every byte arrived before the connection failed: that is the end.
                        Poll::Ready(Err(_)) if this.size == Some(this.consumed) => {
                            return Poll::Ready(Ok(()));
                        }
                        Poll::Ready(Err(error)) if this.resumes_left > 0 => {
                            this.resumes_left -= 1;
                            tracing::warn!(object = %this.name, offset = this.consumed, %error, "object read failed mid-body; resuming with a ranged GET");
                            let reopen = this.pin.clone().reopen(this.consumed);
                            this.state = ReadState::Reopening(Box::pin(reopen));
                        }
                        other => return other,
                    }
                }
                ReadState::Reopening(reopen) => match reopen.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(body)) => {
                        this.resumes.fetch_add(1, Ordering::Relaxed);
                        this.state = ReadState::Reading(body);
                    }
                    Poll::Ready(Err(detail)) => {
                        this.state = ReadState::Failed;
                        return Poll::Ready(Err(std::io::Error::other(format!(
                            "resuming the read at byte {} failed: {detail}",
                            this.consumed
                        ))));
                    }
                },
                ReadState::Failed => {
                    return Poll::Ready(Err(std::io::Error::other("the read already failed")));
                }
            }
        }
    }
}

/// Opens a local file as an [`Object`]: a regular file as [`Body::File`], anything else
/// (a FIFO, a device such as `/dev/stdin`) as a stream.
pub async fn open_file(path: &Path) -> Result<Object, SourceError> {
    let name = path.display().to_string();
    let unavailable = |name: String, e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => SourceError::NotFound { name },
        _ => SourceError::Unavailable {
            name,
            detail: e.to_string(),
        },
    };
    let file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(e) => return Err(unavailable(name, e)),
    };
    let metadata = match file.metadata().await {
        Ok(metadata) => metadata,
        Err(e) => return Err(unavailable(name, e)),
    };
    let (body, size) = if metadata.is_file() {
        (Body::File(file.into_std().await), Some(metadata.len()))
    } else {
        (Body::stream(file), None)
    };
    let received_at = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_millis()).ok());
    Ok(Object {
        name,
        body,
        size,
        resumes: Arc::default(),
        received_at,
    })
}

/// `body`, failing with [`std::io::ErrorKind::TimedOut`] once `deadline` passes while a read is
/// waiting. A stalled GetObject body would otherwise hang the extractor thread until Lambda
/// kills the sandbox, with no error reported. Written here because the timeout readers on
/// offer (e.g. `tokio-io-timeout`) bound each read, not the whole object by one deadline.
pub fn until(body: Stream, deadline: Instant) -> Stream {
    Box::pin(UntilDeadline {
        inner: body,
        deadline: Box::pin(tokio::time::sleep_until(deadline)),
    })
}

struct UntilDeadline {
    inner: Stream,
    deadline: Pin<Box<Sleep>>,
}

impl AsyncRead for UntilDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.inner.as_mut().poll_read(cx, buf) {
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the object could not be read before the deadline",
                ))),
                Poll::Pending => Poll::Pending,
            },
            ready => ready,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_stalled_body_fails_at_the_deadline_and_a_fast_one_reads_through() {
        let (_writer, stalled) = tokio::io::duplex(64);
        let deadline = Instant::now() + Duration::from_millis(50);
        let mut body = until(Box::pin(stalled), deadline);
        let mut buf = Vec::new();
        let error = body.read_to_end(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        assert!(Instant::now() >= deadline);

        let mut body = until(
            Box::pin(&b"all of it"[..]),
            Instant::now() + Duration::from_secs(5),
        );
        let mut buf = Vec::new();
        body.read_to_end(&mut buf).await.unwrap();
        assert_eq!(buf, b"all of it");
    }

    #[test]
    fn debug_shows_no_credential() {
        use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
        let credentials = Credentials::new("AKIDSTOREEXAMPLE", "secret", None, None, "test");
        let client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .http_client(search_sink::https::aws_http_client())
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("eu-west-1"))
                .credentials_provider(credentials)
                .build(),
        );
        assert!(
            format!("{client:?}").contains("AKIDSTOREEXAMPLE"),
            "premise"
        );
        let shown = format!("{:?}", S3Store::new(client));
        assert!(!shown.contains("AKIDSTOREEXAMPLE"), "{shown}");
    }
}
