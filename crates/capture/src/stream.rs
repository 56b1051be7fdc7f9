//! The filtered-stream reader: connects to `GET /2/tweets/search/stream`, frames the body
//! (see `framing`), drops duplicates (see `dedup`), hands whole records to a bounded buffer and
//! reconnects by the guide's policy (see `backoff`) after drops, stalls, error payloads and
//! HTTP errors. Fatal answers (401, 403, other 4xx) stop it with an error.
//!
//! Backpressure: when the buffer to the sink is full the reader stops reading. The socket then
//! fills, X queues tweets for a while and at last disconnects a client that is "too slow";
//! the reader reconnects (with `backfill_minutes` when configured, to recover the gap, the
//! duplicates then being dropped by the dedup window) and every wait is counted.
//!
//! It knows nothing of where records go (see `sink`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, HeaderValue};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::Instant;

use crate::backoff::{Backoff, Failure, reconnect_delay};
use crate::dedup::DedupWindow;
use crate::framing::{Frame, Framer};
use crate::message::{Message, Problem, classify, reconnect_decision};
use crate::metrics::Stats;

/// The path of the filtered stream under the API base URL.
pub const STREAM_PATH: &str = "/2/tweets/search/stream";

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

    pub(crate) fn header(&self) -> Option<HeaderValue> {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.0)).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// API base URL (`X_API_URL`), without a trailing slash.
    pub api_url: String,
    pub query: Vec<(String, String)>,
    /// `backfill_minutes` (1-5) sent on every connection when set.
    pub backfill_minutes: Option<u8>,
    pub stall_timeout: Duration,
    pub max_backoff: Duration,
    pub dedup_window: Duration,
    /// Add jitter to reconnect delays (tests turn it off to assert exact delays).
    pub jitter: bool,
}

impl StreamConfig {
    pub fn new(api_url: &str) -> Self {
        StreamConfig {
            api_url: api_url.trim_end_matches('/').to_owned(),
            query: DEFAULT_QUERY
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            backfill_minutes: None,
            stall_timeout: Duration::from_secs(30),
            max_backoff: Duration::from_secs(320),
            dedup_window: Duration::from_secs(10 * 60),
            jitter: true,
        }
    }
}

/// One forwarded stream line, as received (no `\r\n`), with the keys sinks partition by.
#[derive(Debug)]
pub struct Record {
    pub line: Bytes,
    pub tweet_id: Option<String>,
    pub author_id: Option<String>,
    /// Held while the record is in the buffer or in the sink: frees its bytes when dropped.
    _budget: Option<OwnedSemaphorePermit>,
}

impl Record {
    /// A record outside any buffer (for sinks' tests and replays).
    pub fn new(
        line: impl Into<Bytes>,
        tweet_id: Option<String>,
        author_id: Option<String>,
    ) -> Self {
        Record {
            line: line.into(),
            tweet_id,
            author_id,
            _budget: None,
        }
    }
}

/// The sending half of the bounded buffer between reader and sink.
#[derive(Debug, Clone)]
pub struct BufferTx {
    tx: mpsc::UnboundedSender<Record>,
    budget: Arc<Semaphore>,
    max_bytes: u32,
}

/// A buffer that holds at most `max_bytes` of records (a record larger than that still
/// passes, alone).
pub fn buffer(max_bytes: usize) -> (BufferTx, mpsc::UnboundedReceiver<Record>) {
    let max_bytes = u32::try_from(max_bytes.max(1)).unwrap_or(u32::MAX);
    let (tx, rx) = mpsc::unbounded_channel();
    (
        BufferTx {
            tx,
            budget: Arc::new(Semaphore::new(max_bytes as usize)),
            max_bytes,
        },
        rx,
    )
}

impl BufferTx {
    /// Waits for room, then queues the record. `Err` when the sink is gone.
    async fn send(&self, mut record: Record, stats: &Stats) -> Result<(), StreamError> {
        let want = u32::try_from(record.line.len().max(1))
            .unwrap_or(u32::MAX)
            .min(self.max_bytes);
        let permit = match Arc::clone(&self.budget).try_acquire_many_owned(want) {
            Ok(p) => p,
            Err(_) => {
                stats.backpressure_waits.fetch_add(1, Ordering::Relaxed);
                Arc::clone(&self.budget)
                    .acquire_many_owned(want)
                    .await
                    .map_err(|_| StreamError::SinkGone)?
            }
        };
        record._budget = Some(permit);
        self.tx.send(record).map_err(|_| StreamError::SinkGone)
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

enum Outcome {
    Shutdown,
    Ended {
        failure: Failure,
        rate_limit_reset: Option<Duration>,
    },
}

/// Reads the stream until `shutdown` turns true (then returns `Ok`) or a fatal error.
pub async fn run(
    client: &reqwest::Client,
    config: &StreamConfig,
    token: &Token,
    out: &BufferTx,
    stats: &Stats,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), StreamError> {
    let auth = token
        .header()
        .ok_or_else(|| StreamError::Request("the bearer token is not a valid header".into()))?;
    let mut query = config.query.clone();
    if let Some(minutes) = config.backfill_minutes {
        query.push(("backfill_minutes".into(), minutes.to_string()));
    }
    let url = format!("{}{STREAM_PATH}", config.api_url);
    let mut backoff = Backoff::default();
    let mut dedup = DedupWindow::new(config.dedup_window);
    let mut rng = fastrand::Rng::new();
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        stats.connections.fetch_add(1, Ordering::Relaxed);
        let request = client
            .get(&url)
            .query(&query)
            .header(AUTHORIZATION, auth.clone())
            .header(ACCEPT_ENCODING, "gzip");
        let mut reader = Reader {
            config,
            stats,
            out,
            dedup: &mut dedup,
            backoff: &mut backoff,
        };
        let outcome = reader.connect_and_read(request, &mut shutdown).await?;
        let (failure, reset) = match outcome {
            Outcome::Shutdown => return Ok(()),
            Outcome::Ended {
                failure,
                rate_limit_reset,
            } => (failure, rate_limit_reset),
        };
        let attempt = backoff.record(failure);
        let jitter = if config.jitter { rng.f64() } else { 0.0 };
        let delay = reconnect_delay(failure, attempt, reset, config.max_backoff, jitter);
        stats.reconnect(failure, delay);
        tracing::info!(
            cause = failure.label(),
            attempt,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
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
    out: &'a BufferTx,
    dedup: &'a mut DedupWindow,
    backoff: &'a mut Backoff,
}

impl Reader<'_> {
    async fn connect_and_read(
        &mut self,
        request: reqwest::RequestBuilder,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Outcome, StreamError> {
        let response = tokio::select! {
            r = tokio::time::timeout(self.config.stall_timeout, request.send()) => r,
            _ = shutdown.changed() => return Ok(Outcome::Shutdown),
        };
        let mut response = match response {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::warn!(error = %error_chain(&e), "connecting to the stream failed");
                return Ok(ended(Failure::Network, None));
            }
            Err(_) => {
                tracing::warn!("connecting to the stream timed out");
                return Ok(ended(Failure::Network, None));
            }
        };
        let status = response.status();
        if status != StatusCode::OK {
            return self.refused(response).await;
        }
        let gzip = response
            .headers()
            .get(CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        tracing::info!(gzip, "connected to the stream");
        let mut framer = Framer::new(gzip);
        let mut frames = Vec::new();
        loop {
            let chunk = tokio::select! {
                c = tokio::time::timeout(self.config.stall_timeout, response.chunk()) => c,
                _ = shutdown.changed() => return Ok(Outcome::Shutdown),
            };
            let bytes = match chunk {
                Err(_) => {
                    tracing::warn!(
                        stall_timeout_ms = millis(self.config.stall_timeout),
                        "nothing received, not even a keep-alive: reconnecting"
                    );
                    return Ok(ended(Failure::Disconnected, None));
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %error_chain(&e), "the stream broke");
                    return Ok(ended(Failure::Disconnected, None));
                }
                Ok(Ok(None)) => {
                    tracing::warn!(
                        partial_line_bytes = framer.pending_len(),
                        "the server closed the stream"
                    );
                    return Ok(ended(Failure::Disconnected, None));
                }
                Ok(Ok(Some(bytes))) => bytes,
            };
            if let Err(e) = framer.push(&bytes, &mut frames) {
                tracing::warn!(error = %e, "the stream body is corrupt: reconnecting");
                return Ok(ended(Failure::Disconnected, None));
            }
            for frame in frames.drain(..) {
                self.backoff.reset();
                match frame {
                    Frame::KeepAlive => {
                        self.stats.keep_alives.fetch_add(1, Ordering::Relaxed);
                    }
                    Frame::Line(line) => {
                        if let Some(failure) = self.line(line).await? {
                            return Ok(ended(failure, None));
                        }
                    }
                }
            }
        }
    }

    /// Handles one payload line; `Some` when it asks for a reconnect.
    async fn line(&mut self, line: Bytes) -> Result<Option<Failure>, StreamError> {
        let stats = self.stats;
        let record = match classify(&line) {
            Message::Tweet {
                id,
                author_id,
                created_at,
            } => {
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
                stats.deletes.fetch_add(1, Ordering::Relaxed);
                Record::new(line, Some(id), None)
            }
            Message::Other => {
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
        self.out.send(record, stats).await?;
        Ok(None)
    }

    /// A non-200 answer: what kind of failure it is, or a fatal error.
    async fn refused(&mut self, response: reqwest::Response) -> Result<Outcome, StreamError> {
        let status = response.status();
        let reset = response
            .headers()
            .get("x-rate-limit-reset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|epoch| {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                Duration::from_secs(epoch).saturating_sub(now)
            });
        // Error bodies are small; a stalled one is not waited for past the stall timeout.
        let body = tokio::time::timeout(self.config.stall_timeout, response.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let problems = match classify(&body) {
            Message::Problems(p) => p,
            _ => Vec::new(),
        };
        log_problems(&problems, "the stream endpoint refused the connection");
        let failure = match status.as_u16() {
            429 => Failure::RateLimited,
            // 409: the previous connection is still being torn down; 5xx: server trouble.
            409 | 500..=599 => Failure::Http,
            code => {
                let detail = problems
                    .first()
                    .and_then(|p| p.detail.clone().or_else(|| p.title.clone()))
                    .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
                return Err(StreamError::Fatal {
                    status: code,
                    detail,
                });
            }
        };
        tracing::warn!(status = status.as_u16(), "stream connection refused");
        Ok(ended(failure, reset))
    }
}

fn ended(failure: Failure, rate_limit_reset: Option<Duration>) -> Outcome {
    Outcome::Ended {
        failure,
        rate_limit_reset,
    }
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

/// now - created_at in milliseconds (0 for a tweet from the future).
fn lag_ms(created_at: &str) -> Option<u64> {
    let created = humantime::parse_rfc3339_weak(created_at).ok()?;
    let lag = SystemTime::now()
        .duration_since(created)
        .unwrap_or_default();
    Some(millis(lag))
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
