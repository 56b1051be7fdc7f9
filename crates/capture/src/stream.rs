//! The stream reader: connects to a streaming endpoint (the filtered stream
//! `GET /2/tweets/search/stream`, the compliance streams `GET /2/tweets/compliance/stream` and
//! `GET /2/users/compliance/stream`; any endpoint behind [`Connect`]), frames the body (see
//! `framing`), drops duplicates (tweets by id, compliance events by kind, subject and
//! `event_at`; see `dedup`), hands whole records to the queue (see `queue`)
//! and reconnects by the guide's policy (see `backoff`) after drops, stalls, error payloads
//! and HTTP errors. Fatal answers (401, 403, other 4xx) stop it with an error.
//!
//! Backpressure: when the queue is full (memory and spool) the reader stops reading. The
//! socket then fills, X queues tweets for a while and at last disconnects a client that is
//! "too slow"; the reader reconnects (with `backfill_minutes` when configured, to recover the
//! gap, the duplicates then being dropped by the dedup window) and every wait is counted.
//!
//! Every wait on the server has a deadline: the answer's head and each body chunk must come
//! within the stall timeout. It knows nothing of where records go (see `sink`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::header::{ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, HeaderValue};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::backoff::{Disconnect, DisconnectCounts, HEALTHY_AFTER, reconnect_delay};
use crate::dedup::DedupWindow;
use crate::framing::{Frame, Framer};
use crate::message::{Message, Problem, classify_message, reconnect_decision};
use crate::metrics::Stats;
use crate::queue::QueueTx;
pub use crate::record::Record;

/// The path of the filtered stream under the API base URL.
pub const STREAM_PATH: &str = "/2/tweets/search/stream";

/// One of X's two compliance streams (Enterprise access), each split in
/// [`COMPLIANCE_PARTITIONS`] partitions: every partition is a connection of its own, and
/// all of them together carry every event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComplianceStream {
    /// `GET /2/tweets/compliance/stream`: `delete`, `tweet_edit`, `withheld`, `drop`, `undrop`.
    Tweets,
    /// `GET /2/users/compliance/stream`: `user_delete`, `user_undelete`, `user_protect`,
    /// `user_unprotect`, `user_suspend`, `user_unsuspend`, `user_withheld`, `scrub_geo`,
    /// `user_profile_modification`.
    Users,
}

impl ComplianceStream {
    pub fn path(self) -> &'static str {
        match self {
            ComplianceStream::Tweets => "/2/tweets/compliance/stream",
            ComplianceStream::Users => "/2/users/compliance/stream",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ComplianceStream::Tweets => "tweets",
            ComplianceStream::Users => "users",
        }
    }
}

/// The compliance streams' partitions are numbered 1 to this.
pub const COMPLIANCE_PARTITIONS: u8 = 4;

/// Fields and expansions asked for by default: everything the indexer reads (author, geo and
/// place, entities, referenced tweets, long-form `note_tweet`, lang, created_at).
pub const DEFAULT_QUERY: &[(&str, &str)] = &[
    (
        "tweet.fields",
        "attachments,author_id,conversation_id,created_at,entities,geo,id,in_reply_to_user_id,lang,note_tweet,possibly_sensitive,public_metrics,referenced_tweets,source,text",
    ),
    (
        "expansions",
        "author_id,geo.place_id,referenced_tweets.id,referenced_tweets.id.author_id,in_reply_to_user_id,entities.mentions.username,attachments.media_keys",
    ),
    (
        "user.fields",
        "created_at,description,id,location,name,profile_image_url,public_metrics,username,verified",
    ),
    (
        "place.fields",
        "contained_within,country,country_code,full_name,geo,id,name,place_type",
    ),
    ("media.fields", "media_key,type,url,preview_image_url"),
];

/// The longest error body read from a refusing endpoint (the rest is not waited for).
const ERROR_BODY_MAX: usize = 64 * 1024;

/// The bearer token. Its `Debug` never shows it, and it is sent as a sensitive header.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    pub fn new(token: impl Into<String>) -> Self {
        Token(token.into().trim().to_owned())
    }

    /// The `Authorization` header; `None` when the token holds characters no header may.
    pub fn header(&self) -> Option<HeaderValue> {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.0)).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

/// A boxed future, for the object-safe [`Connect`] and [`Body`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What one connection attempt got back: the head of the answer and its body.
pub struct Answer {
    pub status: u16,
    /// `content-encoding: gzip`.
    pub gzip: bool,
    /// `x-rate-limit-reset`: when the limit resets, in seconds since the epoch.
    pub rate_limit_reset: Option<u64>,
    pub body: Box<dyn Body>,
}

/// A streamed body, read chunk by chunk.
pub trait Body: Send {
    /// The next chunk as the transport cut it; `Ok(None)` at the clean end; `Err` (with
    /// its cause) when the connection broke.
    fn chunk(&mut self) -> BoxFuture<'_, Result<Option<Bytes>, String>>;
}

/// Opens connections to one streaming endpoint. The stream loop knows nothing of URLs:
/// [`HttpStream`] is the filtered stream (or any streaming GET) over HTTPS, tests connect in
/// memory.
pub trait Connect: Send + Sync {
    /// One connection attempt: `Err` (with its cause) when no answer came at all.
    fn connect(&self) -> BoxFuture<'_, Result<Answer, String>>;
}

/// A streaming GET over HTTP(S) with the bearer token.
#[derive(Debug, Clone)]
pub struct HttpStream {
    client: reqwest::Client,
    url: String,
    query: Vec<(String, String)>,
    auth: HeaderValue,
}

impl HttpStream {
    /// `GET {api_url}{path}?{query}`; fails when the token cannot be a header.
    pub fn new(
        client: reqwest::Client,
        api_url: &str,
        path: &str,
        query: Vec<(String, String)>,
        token: &Token,
    ) -> Result<Self, StreamError> {
        let auth = token
            .header()
            .ok_or_else(|| StreamError::Request("the bearer token is not a valid header".into()))?;
        Ok(HttpStream {
            client,
            url: format!("{}{path}", api_url.trim_end_matches('/')),
            query,
            auth,
        })
    }

    /// The filtered stream with [`filtered_query`].
    pub fn filtered(
        client: reqwest::Client,
        api_url: &str,
        token: &Token,
        backfill_minutes: Option<u8>,
    ) -> Result<Self, StreamError> {
        let query = filtered_query(backfill_minutes);
        HttpStream::new(client, api_url, STREAM_PATH, query, token)
    }
}

impl HttpStream {
    /// One partition (1-4) of a compliance stream, with `backfill_minutes` when given.
    pub fn compliance(
        client: reqwest::Client,
        api_url: &str,
        token: &Token,
        stream: ComplianceStream,
        partition: u8,
        backfill_minutes: Option<u8>,
    ) -> Result<Self, StreamError> {
        if !(1..=COMPLIANCE_PARTITIONS).contains(&partition) {
            return Err(StreamError::Request(format!(
                "partition {partition}: the compliance streams have partitions 1 to {COMPLIANCE_PARTITIONS}"
            )));
        }
        let query = compliance_query(partition, backfill_minutes);
        HttpStream::new(client, api_url, stream.path(), query, token)
    }
}

/// A compliance stream's query: `partition`, and `backfill_minutes` when given.
pub fn compliance_query(partition: u8, backfill_minutes: Option<u8>) -> Vec<(String, String)> {
    let mut query = vec![("partition".to_owned(), partition.to_string())];
    if let Some(minutes) = backfill_minutes {
        query.push(("backfill_minutes".into(), minutes.to_string()));
    }
    query
}

/// The filtered stream's query: [`DEFAULT_QUERY`], and `backfill_minutes` when given.
pub fn filtered_query(backfill_minutes: Option<u8>) -> Vec<(String, String)> {
    let mut query: Vec<(String, String)> = DEFAULT_QUERY
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    if let Some(minutes) = backfill_minutes {
        query.push(("backfill_minutes".into(), minutes.to_string()));
    }
    query
}

impl Connect for HttpStream {
    fn connect(&self) -> BoxFuture<'_, Result<Answer, String>> {
        Box::pin(async move {
            let response = self
                .client
                .get(&self.url)
                .query(&self.query)
                .header(AUTHORIZATION, self.auth.clone())
                .header(ACCEPT_ENCODING, "gzip")
                .send()
                .await
                .map_err(|e| crate::http::describe(&e))?;
            let headers = response.headers();
            let gzip = headers
                .get(CONTENT_ENCODING)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
            let rate_limit_reset = headers
                .get("x-rate-limit-reset")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            Ok(Answer {
                status: response.status().as_u16(),
                gzip,
                rate_limit_reset,
                body: Box::new(HttpBody(response)),
            })
        })
    }
}

struct HttpBody(reqwest::Response);

impl Body for HttpBody {
    fn chunk(&mut self) -> BoxFuture<'_, Result<Option<Bytes>, String>> {
        Box::pin(async move { self.0.chunk().await.map_err(|e| crate::http::describe(&e)) })
    }
}

/// The reconnect loop's settings (the endpoint is the [`Connect`]).
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Reconnect when nothing, not even a keep-alive, arrived for this long; also the
    /// deadline for the answer's head.
    pub stall_timeout: Duration,
    pub max_backoff: Duration,
    pub dedup_window: Duration,
    /// A connection that lived this long made progress (see `backoff`).
    pub healthy_after: Duration,
    /// Add jitter to reconnect delays (tests turn it off to assert exact delays).
    pub jitter: bool,
    /// What a line is: [`classify_message`] for the filtered stream,
    /// [`crate::message::classify_compliance`] for the compliance streams.
    pub classify: fn(&[u8]) -> Message,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            stall_timeout: Duration::from_secs(30),
            max_backoff: Duration::from_secs(320),
            dedup_window: Duration::from_secs(10 * 60),
            healthy_after: HEALTHY_AFTER,
            jitter: true,
            classify: classify_message,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// An answer that retrying cannot fix (bad token, no access, invalid parameters).
    #[error("the stream endpoint answered {status}: {detail}")]
    Fatal { status: u16, detail: String },
    #[error("the sink stopped")]
    SinkGone,
    #[error("invalid request: {0}")]
    Request(String),
}

/// How one connection (or connection attempt) ended.
enum ConnectionEnd {
    Shutdown,
    Ended {
        failure: Disconnect,
        rate_limit_reset: Option<Duration>,
        /// The connection delivered a record or lived `healthy_after`.
        progress: bool,
    },
}

/// Reads the stream until `shutdown` turns true (then returns `Ok`) or a fatal error.
pub async fn run(
    connect: &dyn Connect,
    config: &StreamConfig,
    out: &QueueTx,
    stats: &Stats,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), StreamError> {
    let mut backoff = DisconnectCounts::default();
    let mut dedup = DedupWindow::new(config.dedup_window);
    let mut rng = fastrand::Rng::new();
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        stats.connections.fetch_add(1, Ordering::Relaxed);
        let mut reader = Reader {
            config,
            stats,
            out,
            dedup: &mut dedup,
            progress: false,
        };
        let outcome = reader.connect_and_read(connect, &mut shutdown).await?;
        let (failure, reset, progress) = match outcome {
            ConnectionEnd::Shutdown => return Ok(()),
            ConnectionEnd::Ended {
                failure,
                rate_limit_reset,
                progress,
            } => (failure, rate_limit_reset, progress),
        };
        if progress {
            backoff.reset();
        }
        let attempt = backoff.record(failure);
        let jitter = if config.jitter { rng.f64() } else { 0.0 };
        let delay = reconnect_delay(failure, attempt, reset, config.max_backoff, jitter);
        stats.reconnect(failure, delay);
        tracing::info!(
            cause = failure.label(),
            attempt,
            delay_ms = millis(delay),
            "reconnecting"
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

struct Reader<'a> {
    config: &'a StreamConfig,
    stats: &'a Stats,
    out: &'a QueueTx,
    dedup: &'a mut DedupWindow,
    /// A record arrived on this connection.
    progress: bool,
}

impl Reader<'_> {
    async fn connect_and_read(
        &mut self,
        connect: &dyn Connect,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<ConnectionEnd, StreamError> {
        let answer = tokio::select! {
            r = tokio::time::timeout(self.config.stall_timeout, connect.connect()) => r,
            _ = shutdown.changed() => return Ok(ConnectionEnd::Shutdown),
        };
        let mut answer = match answer {
            Ok(Ok(a)) => a,
            Ok(Err(cause)) => {
                tracing::warn!(error = %cause, "connecting to the stream failed");
                return Ok(self.ended(Disconnect::Network, None, None));
            }
            Err(_) => {
                tracing::warn!(
                    deadline_ms = millis(self.config.stall_timeout),
                    "no answer from the stream endpoint before the deadline"
                );
                return Ok(self.ended(Disconnect::Network, None, None));
            }
        };
        if answer.status != 200 {
            return self.refused(answer).await;
        }
        let connected = Instant::now();
        tracing::info!(gzip = answer.gzip, "connected to the stream");
        let mut framer = Framer::new(answer.gzip);
        let mut frames = Vec::new();
        loop {
            let chunk = tokio::select! {
                c = tokio::time::timeout(self.config.stall_timeout, answer.body.chunk()) => c,
                _ = shutdown.changed() => return Ok(ConnectionEnd::Shutdown),
            };
            let bytes = match chunk {
                Err(_) => {
                    tracing::warn!(
                        stall_timeout_ms = millis(self.config.stall_timeout),
                        "nothing received, not even a keep-alive: reconnecting"
                    );
                    return Ok(self.ended(Disconnect::Disconnected, None, Some(connected)));
                }
                Ok(Err(cause)) => {
                    tracing::warn!(error = %cause, "the stream broke");
                    return Ok(self.ended(Disconnect::Disconnected, None, Some(connected)));
                }
                Ok(Ok(None)) => {
                    tracing::warn!(
                        partial_line_bytes = framer.pending_len(),
                        "the server closed the stream"
                    );
                    return Ok(self.ended(Disconnect::Disconnected, None, Some(connected)));
                }
                Ok(Ok(Some(bytes))) => bytes,
            };
            if let Err(e) = framer.push(&bytes, &mut frames) {
                tracing::warn!(error = %e, "the stream body is corrupt: reconnecting");
                return Ok(self.ended(Disconnect::Disconnected, None, Some(connected)));
            }
            for frame in frames.drain(..) {
                match frame {
                    // Keep-alives say the connection is up, not that it is useful: they are
                    // not progress (a server may send nothing else before closing).
                    Frame::KeepAlive => {
                        self.stats.keep_alives.fetch_add(1, Ordering::Relaxed);
                    }
                    Frame::Line(line) => {
                        // A full queue holds the reader here; a stop must not wait for room.
                        let handled = tokio::select! {
                            h = self.line(line) => h?,
                            _ = shutdown.changed() => {
                                // The record being queued was read: count it as not delivered.
                                self.stats.queued.fetch_add(1, Ordering::Relaxed);
                                tracing::warn!("stopped while the queue was full: a record read was not queued");
                                return Ok(ConnectionEnd::Shutdown);
                            }
                        };
                        if let Some(failure) = handled {
                            return Ok(self.ended(failure, None, Some(connected)));
                        }
                    }
                }
            }
        }
    }

    /// How the connection ended; progress if a record came or it lived `healthy_after`.
    fn ended(
        &self,
        failure: Disconnect,
        rate_limit_reset: Option<Duration>,
        connected: Option<Instant>,
    ) -> ConnectionEnd {
        let lived = connected.is_some_and(|at| at.elapsed() >= self.config.healthy_after);
        ConnectionEnd::Ended {
            failure,
            rate_limit_reset,
            progress: self.progress || lived,
        }
    }

    /// Handles one payload line; `Some` when it asks for a reconnect.
    async fn line(&mut self, line: Bytes) -> Result<Option<Disconnect>, StreamError> {
        let stats = self.stats;
        let record = match (self.config.classify)(&line) {
            Message::Tweet {
                id,
                author_id,
                created_at,
            } => {
                // A redelivered tweet is progress too: the stream is delivering.
                self.progress = true;
                if !self.dedup.first_sighting(&id, Instant::now()) {
                    stats.duplicates.fetch_add(1, Ordering::Relaxed);
                    return Ok(None);
                }
                stats.tweets.fetch_add(1, Ordering::Relaxed);
                if let Some(lag) = created_at.as_deref().and_then(lag_ms) {
                    stats.max_lag_ms.fetch_max(lag, Ordering::Relaxed);
                }
                Record::new(line, Some(id), author_id)
            }
            Message::Delete { id } => {
                self.progress = true;
                stats.deletes.fetch_add(1, Ordering::Relaxed);
                Record::new(line, Some(id), None)
            }
            Message::Compliance(event) => {
                self.progress = true;
                if !self.dedup.first_sighting(&event.key(), Instant::now()) {
                    stats.duplicates.fetch_add(1, Ordering::Relaxed);
                    return Ok(None);
                }
                stats.compliance.fetch_add(1, Ordering::Relaxed);
                if event.kind == "delete" {
                    stats.deletes.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(lag) = lag_ms(&event.event_at) {
                    stats.max_lag_ms.fetch_max(lag, Ordering::Relaxed);
                }
                Record::new(line, event.tweet_id, event.user_id)
            }
            Message::Other => {
                self.progress = true;
                stats.other.fetch_add(1, Ordering::Relaxed);
                Record::new(line, None, None)
            }
            Message::Problems(problems) => {
                stats.problems.fetch_add(1, Ordering::Relaxed);
                log_problems(&problems, "the stream sent an error payload");
                return Ok(reconnect_decision(&problems));
            }
            Message::Invalid => {
                stats.invalid.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    bytes = line.len(),
                    "a stream line is not JSON: not forwarded"
                );
                return Ok(None);
            }
        };
        stats
            .bytes
            .fetch_add(record.line.len() as u64, Ordering::Relaxed);
        self.out
            .send(record, stats)
            .await
            .map_err(|_| StreamError::SinkGone)?;
        Ok(None)
    }

    /// A non-200 answer: what kind of failure it is, or a fatal error.
    async fn refused(&mut self, mut answer: Answer) -> Result<ConnectionEnd, StreamError> {
        let status = answer.status;
        let reset = answer.rate_limit_reset.map(|epoch| {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            Duration::from_secs(epoch).saturating_sub(now)
        });
        // Error bodies are small; a stalled one is not waited for past the stall timeout.
        let body = tokio::time::timeout(
            self.config.stall_timeout,
            read_some(answer.body.as_mut(), ERROR_BODY_MAX),
        )
        .await
        .unwrap_or_default();
        let problems = match classify_message(&body) {
            Message::Problems(p) => p,
            _ => Vec::new(),
        };
        log_problems(&problems, "the stream endpoint refused the connection");
        let failure = match status {
            429 => Disconnect::RateLimited,
            // 409: the previous connection is still being torn down; 5xx: server trouble.
            409 | 500..=599 => Disconnect::Http,
            code => {
                let detail = problems
                    .first()
                    .and_then(|p| p.detail.clone().or_else(|| p.title.clone()))
                    .unwrap_or_else(|| crate::http::excerpt(&body));
                return Err(StreamError::Fatal {
                    status: code,
                    detail,
                });
            }
        };
        tracing::warn!(status, "stream connection refused");
        Ok(self.ended(failure, reset, None))
    }
}

/// Up to `max` bytes of a body (what came before an error or the limit).
async fn read_some(body: &mut dyn Body, max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < max {
        match body.chunk().await {
            Ok(Some(chunk)) => out.extend_from_slice(&chunk[..chunk.len().min(max - out.len())]),
            Ok(None) | Err(_) => break,
        }
    }
    out
}

fn log_problems(problems: &[Problem], message: &str) {
    for p in problems {
        tracing::warn!(
            title = p.title.as_deref().unwrap_or(""),
            detail = p.detail.as_deref().unwrap_or(""),
            r#type = p.kind.as_deref().unwrap_or(""),
            connection_issue = p.connection_issue.as_deref().unwrap_or(""),
            "{message}"
        );
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// now - a time (a tweet's `created_at`, an event's `event_at`) in milliseconds (0 for a
/// time in the future).
fn lag_ms(created_at: &str) -> Option<u64> {
    let created = humantime::parse_rfc3339_weak(created_at).ok()?;
    let lag = SystemTime::now()
        .duration_since(created)
        .unwrap_or_default();
    Some(millis(lag))
}
