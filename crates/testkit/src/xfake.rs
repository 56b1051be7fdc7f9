//! A loopback fake of the X API v2 filtered stream (`GET /2/tweets/search/stream`) and its
//! rules endpoint (`GET`/`POST /2/tweets/search/stream/rules`), the compliance streams
//! (`GET /2/tweets/compliance/stream`, `GET /2/users/compliance/stream`) and the batch
//! compliance jobs (see [`jobs`]), hand-written from the X documentation because nothing else
//! emulates X. HTTP/1.1 is written by hand on purpose:
//! tests decide exactly where chunks are cut, when the body stops (zero-length chunk),
//! stalls or the socket is dropped, which no server framework exposes.
//!
//! Each stream connection plays the next scripted [`Reply`]; when the script is used up the
//! fake answers 401, which ends a capture with a fatal error (tests use that as "done").
//! Requests with a wrong bearer token get 401 too. It is not a model of X's matching.
//!
//! Two transports play the same script: loopback TCP ([`XFake::start`], for the binary's
//! tests, on a real clock) and in memory ([`XFake::in_memory`] and [`XFake::open_stream`],
//! for tests on a paused tokio clock). A paused clock must not wait on real sockets: tokio
//! advances it to the next timer whenever the runtime is idle, and a socket whose bytes the
//! kernel has not handed over yet leaves it idle, so minutes of simulated time pass during
//! one loopback round trip. In memory, the only waits are the script's own sleeps.
//!
//! The rules list is paginated as X does: `max_results` (1-1000, default 1000) rules a page,
//! `meta.next_token` while more remain, `pagination_token` to ask for the next page.
//!
//! Each partition of a compliance stream plays a script of its own
//! ([`XFake::script_compliance`]); `partition` (1-4) is required and `backfill_minutes` must be
//! 0-5, as X's API says (else 400). As X documents backfill, a connection asking for
//! `backfill_minutes=N` first gets again every event its partition sent in the last N
//! minutes (duplicates the client must tolerate), then its script.

pub mod jobs;
mod wire;

pub use wire::{Reply, Seen, Step};
use wire::{json_status, query_param};

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An event line as X's compliance streams send it (without `\r\n`): `kind` with its
/// `event_at` and `subject`, e.g. `compliance_line("delete", json!({"tweet": {"id": "1",
/// "author_id": "9"}}), "2024-05-01T10:00:00.000Z")`.
pub fn compliance_line(kind: &str, subject: serde_json::Value, event_at: &str) -> String {
    let mut event = subject;
    if let Some(object) = event.as_object_mut() {
        object.insert("event_at".to_owned(), event_at.into());
    }
    serde_json::json!({"data": {kind: event}}).to_string()
}

/// A tweet line as the filtered stream sends it (without `\r\n`).
pub fn tweet_line(id: &str, author_id: &str, text: &str) -> String {
    serde_json::json!({
        "data": {
            "id": id,
            "author_id": author_id,
            "created_at": "2024-05-01T10:00:00.000Z",
            "text": text,
            "lang": "en",
            "edit_history_tweet_ids": [id],
        },
        "includes": {"users": [{"id": author_id, "name": "N", "username": format!("u{author_id}")}]},
        "matching_rules": [{"id": "1", "tag": "test"}],
    })
    .to_string()
}

/// The `operational-disconnect` payload, as documented.
pub const OPERATIONAL_DISCONNECT: &str = r#"{"errors":[{"title":"operational-disconnect","disconnect_type":"UpstreamOperationalDisconnect","detail":"This stream has been disconnected upstream for operational reasons.","type":"https://api.twitter.com/2/problems/operational-disconnect"}]}"#;

/// The body of the 429 sent when the app already has its one connection.
pub const TOO_MANY_CONNECTIONS: &str = r#"{"title":"ConnectionException","detail":"This stream is currently at the maximum allowed connection limit.","connection_issue":"TooManyConnections","type":"https://api.twitter.com/2/problems/streaming-connection"}"#;

#[derive(Debug)]
struct State {
    script: Vec<Reply>,
    next: usize,
    seen: Vec<Seen>,
    rules: Vec<(String, String, Option<String>)>,
    next_rule_id: u64,
    /// Rule values whose next addition is refused (as X refuses an invalid rule).
    refused_values: Vec<String>,
    /// The compliance streams' partitions, by (`tweets` or `users`, partition).
    partitions: HashMap<(String, u8), Partition>,
    jobs: jobs::Jobs,
}

/// One partition of a compliance stream: its script and what it sent (for backfill).
#[derive(Debug, Default)]
struct Partition {
    script: Vec<Reply>,
    next: usize,
    /// Every complete event line sent, with when.
    sent: Vec<(tokio::time::Instant, String)>,
}

/// The running fake; dropped with the test's runtime.
#[derive(Debug, Clone)]
pub struct XFake {
    /// `None` for the in-memory fake.
    addr: Option<SocketAddr>,
    /// The second origin, standing for cloud storage (pre-signed job URLs).
    storage: Option<SocketAddr>,
    state: Arc<Mutex<State>>,
    expected: Arc<str>,
}

/// Which partition's record of sent lines a reply's lines go to.
type SentTo = Option<(String, u8)>;

/// X's largest (and default) rules page.
pub const RULES_PAGE_MAX: usize = 1000;

impl XFake {
    fn new(
        token: &str,
        script: Vec<Reply>,
        addr: Option<SocketAddr>,
        storage: Option<SocketAddr>,
    ) -> XFake {
        XFake {
            addr,
            storage,
            state: Arc::new(Mutex::new(State {
                script,
                next: 0,
                seen: Vec::new(),
                rules: Vec::new(),
                next_rule_id: 1_000,
                refused_values: Vec::new(),
                partitions: HashMap::new(),
                jobs: jobs::Jobs::default(),
            })),
            expected: format!("Bearer {token}").into(),
        }
    }

    /// Starts on 127.0.0.1 with a stream script; requests must carry `Bearer {token}`.
    pub async fn start(token: &str, script: Vec<Reply>) -> std::io::Result<XFake> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let storage = TcpListener::bind("127.0.0.1:0").await?;
        let fake = XFake::new(
            token,
            script,
            Some(listener.local_addr()?),
            Some(storage.local_addr()?),
        );
        for (listener, is_storage) in [(listener, false), (storage, true)] {
            let server = fake.clone();
            tokio::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    let server = server.clone();
                    tokio::spawn(async move {
                        let _ = server.serve(socket, is_storage).await;
                    });
                }
            });
        }
        Ok(fake)
    }

    /// The same fake without a socket: stream connections are opened with
    /// [`XFake::open_stream`] (for tests on a paused clock).
    pub fn in_memory(token: &str, script: Vec<Reply>) -> XFake {
        XFake::new(token, script, None, None)
    }

    /// The base URL to put in `X_API_URL` (a placeholder for the in-memory fake).
    pub fn url(&self) -> String {
        match self.addr {
            Some(addr) => format!("http://{addr}"),
            None => "http://in-memory.invalid".to_owned(),
        }
    }

    /// One stream request in memory: `GET target` with this `Authorization` header. The
    /// answer's body plays the script's steps as chunks, sleeping on the tokio clock.
    pub fn open_stream(&self, target: &str, authorization: Option<&str>) -> MemoryAnswer {
        let seen = Seen {
            method: "GET".to_owned(),
            target: target.to_owned(),
            authorized: authorization == Some(&*self.expected),
            has_authorization: authorization.is_some(),
            accept_gzip: true,
            body: String::new(),
            storage: false,
        };
        let routed = self.route(seen);
        let sent_to = routed.as_ref().ok().and_then(|(_, to)| to.clone());
        match routed.map(|(reply, _)| reply) {
            Ok(Reply::Status {
                status,
                headers,
                body,
            }) => {
                let (tx, rx) = tokio::sync::mpsc::channel(1);
                tokio::spawn(async move {
                    let _ = tx.send(Chunk::Data(body.into_bytes())).await;
                    let _ = tx.send(Chunk::End).await;
                });
                MemoryAnswer {
                    status,
                    headers,
                    body: MemoryBody { rx },
                }
            }
            Ok(Reply::Stream { gzip, steps }) => {
                let (tx, rx) = tokio::sync::mpsc::channel(1);
                let sent = self.recorder(sent_to);
                tokio::spawn(async move {
                    let _ = play(gzip, steps, sent, |chunk| {
                        let tx = tx.clone();
                        async move {
                            tx.send(chunk)
                                .await
                                .map_err(|_| std::io::Error::other("the reader went away"))
                        }
                    })
                    .await;
                });
                let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
                if gzip {
                    headers.push(("content-encoding".to_owned(), "gzip".to_owned()));
                }
                MemoryAnswer {
                    status: 200,
                    headers,
                    body: MemoryBody { rx },
                }
            }
            Err(_) => MemoryAnswer {
                status: 500,
                headers: Vec::new(),
                body: MemoryBody {
                    rx: tokio::sync::mpsc::channel(1).1,
                },
            },
        }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state
            .lock()
            .map(|s| s.seen.clone())
            .unwrap_or_default()
    }

    /// Stream connections served so far (scripted ones only).
    pub fn connections(&self) -> usize {
        self.state.lock().map(|s| s.next).unwrap_or(0)
    }

    /// Gives a compliance stream's partition (`kind`: `tweets` or `users`; 1-4) its script:
    /// each connection plays the next reply, then 401 as for the filtered stream.
    pub fn script_compliance(&self, kind: &str, partition: u8, script: Vec<Reply>) {
        if let Ok(mut s) = self.state.lock() {
            s.partitions
                .entry((kind.to_owned(), partition))
                .or_default()
                .script = script;
        }
    }

    /// Connections a compliance stream's partition served so far (scripted ones only).
    pub fn compliance_connections(&self, kind: &str, partition: u8) -> usize {
        self.state
            .lock()
            .ok()
            .and_then(|s| {
                s.partitions
                    .get(&(kind.to_owned(), partition))
                    .map(|p| p.next)
            })
            .unwrap_or(0)
    }

    /// How the batch compliance jobs behave (results, polls, older flow, upload limit).
    pub fn configure_jobs(&self, config: jobs::JobsConfig) {
        if let Ok(mut s) = self.state.lock() {
            s.jobs.config = config;
        }
    }

    /// The next job to be uploaded ends with this status (`failed`, `expired`) instead of
    /// completing.
    pub fn end_next_job(&self, status: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.jobs.endings.push_back(status.to_owned());
        }
    }

    /// Creates a job as another client of the app would (e.g. one that holds the type's
    /// active slot); its id.
    pub fn add_job(&self, kind: &str, name: &str) -> String {
        let seen = Seen {
            method: "POST".to_owned(),
            target: "/2/compliance/jobs".to_owned(),
            authorized: true,
            has_authorization: true,
            accept_gzip: false,
            body: serde_json::json!({"type": kind, "name": name}).to_string(),
            storage: false,
        };
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let origins = self.origins();
        let origins = jobs::Origins {
            api: &origins.0,
            storage: origins.1.as_deref(),
        };
        let _ = s.jobs.api(&seen, "/2/compliance/jobs", &origins);
        s.jobs.jobs.last().map(|j| j.id.clone()).unwrap_or_default()
    }

    /// Sets a job's status (e.g. another client's job that ends).
    pub fn set_job_status(&self, id: &str, status: &str) {
        if let Ok(mut s) = self.state.lock()
            && let Some(job) = s.jobs.jobs.iter_mut().find(|j| j.id == id)
        {
            job.status = status.to_owned();
        }
    }

    /// Makes every job's upload window one that has passed.
    pub fn expire_upload_windows(&self) {
        if let Ok(mut s) = self.state.lock() {
            for job in &mut s.jobs.jobs {
                job.upload_expires_at = jobs::PAST.to_owned();
                job.expiry_reads = 1;
            }
        }
    }

    /// Every job so far, oldest first.
    pub fn jobs(&self) -> Vec<jobs::FakeJob> {
        self.state
            .lock()
            .map(|s| s.jobs.jobs.clone())
            .unwrap_or_default()
    }

    /// The API's and the storage's base URLs.
    fn origins(&self) -> (String, Option<String>) {
        (self.url(), self.storage.map(|a| format!("http://{a}")))
    }

    /// Where a played reply records the event lines it sent.
    fn recorder(&self, sent_to: SentTo) -> impl Fn(&[u8]) + Send + 'static {
        let state = Arc::clone(&self.state);
        move |plain: &[u8]| {
            let Some(key) = &sent_to else { return };
            let text = String::from_utf8_lossy(plain);
            // Only complete lines: a piece cut mid-record was not delivered whole.
            let Some((complete, _)) = text.rsplit_once("\r\n") else {
                return;
            };
            if let Ok(mut s) = state.lock()
                && let Some(partition) = s.partitions.get_mut(key)
            {
                let now = tokio::time::Instant::now();
                for line in complete.split("\r\n").filter(|l| !l.is_empty()) {
                    // An event is published once: sent again (a backfill), it keeps its time.
                    if !partition.sent.iter().any(|(_, sent)| sent == line) {
                        partition.sent.push((now, line.to_owned()));
                    }
                }
            }
        }
    }

    /// The current rules as (id, value, tag).
    pub fn rules(&self) -> Vec<(String, String, Option<String>)> {
        self.state
            .lock()
            .map(|s| s.rules.clone())
            .unwrap_or_default()
    }

    /// Puts rules in place directly (ids assigned in order), e.g. more than a page.
    pub fn set_rules(&self, rules: impl IntoIterator<Item = (String, Option<String>)>) {
        if let Ok(mut s) = self.state.lock() {
            for (value, tag) in rules {
                s.next_rule_id += 1;
                let id = s.next_rule_id.to_string();
                s.rules.push((id, value, tag));
            }
        }
    }

    /// The next addition of each of these rule values is refused, with an `errors` entry as
    /// X gives an invalid rule (a later one is accepted).
    pub fn refuse_values(&self, values: &[&str]) {
        if let Ok(mut s) = self.state.lock() {
            s.refused_values
                .extend(values.iter().map(|v| (*v).to_owned()));
        }
    }

    /// Records the request and picks its reply (and, for a compliance stream, the partition
    /// whose sent lines it adds to).
    fn route(&self, seen: Seen) -> std::io::Result<(Reply, SentTo)> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?;
        let path = seen.target.split('?').next().unwrap_or("").to_owned();
        s.seen.push(seen.clone());
        if seen.storage {
            return Ok((s.jobs.storage(&seen), None));
        }
        if !seen.authorized {
            return Ok((unauthorized(), None));
        }
        let compliance = match path.as_str() {
            "/2/tweets/compliance/stream" => Some("tweets"),
            "/2/users/compliance/stream" => Some("users"),
            _ => None,
        };
        if let Some(kind) = compliance.filter(|_| seen.method == "GET") {
            return Ok(compliance_stream(&mut s, kind, &seen.target));
        }
        if path.starts_with("/2/compliance/jobs") {
            let origins = self.origins();
            let origins = jobs::Origins {
                api: &origins.0,
                storage: origins.1.as_deref(),
            };
            return Ok((s.jobs.api(&seen, &path, &origins), None));
        }
        Ok((
            if path == "/2/tweets/search/stream" && seen.method == "GET" {
                let next = s.next;
                match s.script.get(next).cloned() {
                    Some(reply) => {
                        s.next += 1;
                        reply
                    }
                    None => unauthorized(),
                }
            } else if path == "/2/tweets/search/stream/rules" {
                rules(&mut s, &seen.method, &seen.target, &seen.body)
            } else {
                json_status(
                    404,
                    r#"{"title":"Not Found Error","detail":"no such path"}"#,
                )
            },
            None,
        ))
    }

    async fn serve(&self, mut socket: TcpStream, storage: bool) -> std::io::Result<()> {
        let (head, body) = read_request(&mut socket).await?;
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        let mut parts = request_line.split(' ');
        let method = parts.next().unwrap_or("").to_owned();
        let target = parts.next().unwrap_or("").to_owned();
        let mut authorized = false;
        let mut has_authorization = false;
        let mut accept_gzip = false;
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("authorization") {
                    has_authorization = true;
                    authorized = value == &*self.expected;
                } else if name.eq_ignore_ascii_case("accept-encoding") {
                    accept_gzip = value.contains("gzip");
                }
            }
        }
        let (reply, sent_to) = self.route(Seen {
            method,
            target,
            authorized,
            has_authorization,
            accept_gzip,
            body,
            storage,
        })?;
        match reply {
            Reply::Status {
                status,
                headers,
                body,
            } => {
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                socket.write_all(head.as_bytes()).await?;
                socket.write_all(body.as_bytes()).await?;
                socket.shutdown().await
            }
            Reply::Stream { gzip, steps } => {
                stream(socket, gzip, steps, self.recorder(sent_to)).await
            }
        }
    }
}

/// A compliance stream request: `partition` (1-4, required) and `backfill_minutes` (0-5)
/// checked as X does; with backfill, the partition's recent lines first, then its script.
fn compliance_stream(s: &mut State, kind: &str, target: &str) -> (Reply, SentTo) {
    let invalid = |detail: &str| {
        let body = serde_json::json!({"errors": [{"parameters": {}, "message": detail}],
            "title": "Invalid Request", "detail": detail,
            "type": "https://api.twitter.com/2/problems/invalid-request"});
        (json_status(400, &body.to_string()), None)
    };
    let partition = match query_param(target, "partition").map(str::parse::<u8>) {
        Some(Ok(p)) if (1..=4).contains(&p) => p,
        Some(_) => return invalid("The `partition` query parameter value is not one of [1,2,3,4]"),
        None => return invalid("The `partition` query parameter can not be empty"),
    };
    let backfill = match query_param(target, "backfill_minutes").map(str::parse::<u64>) {
        None => 0,
        Some(Ok(m)) if m <= 5 => m,
        Some(_) => return invalid("The `backfill_minutes` query parameter value must be 0 to 5"),
    };
    let key = (kind.to_owned(), partition);
    let part = s.partitions.entry(key.clone()).or_default();
    let Some(reply) = part.script.get(part.next).cloned() else {
        return (unauthorized(), None);
    };
    part.next += 1;
    let reply = match reply {
        Reply::Stream { gzip, mut steps } if backfill > 0 => {
            let since = tokio::time::Instant::now().checked_sub(Duration::from_secs(backfill * 60));
            let again: String = part
                .sent
                .iter()
                .filter(|(at, _)| since.is_none_or(|since| *at >= since))
                .map(|(_, line)| format!("{line}\r\n"))
                .collect();
            if !again.is_empty() {
                steps.insert(
                    0,
                    Step::Send {
                        plain: again.into_bytes(),
                        pieces: 1,
                    },
                );
            }
            Reply::Stream { gzip, steps }
        }
        other => other,
    };
    (reply, Some(key))
}

/// One piece of an in-memory body.
#[derive(Debug)]
pub enum Chunk {
    Data(Vec<u8>),
    /// The body ended cleanly.
    End,
    /// The connection dropped without ending the body.
    Dropped,
}

/// The answer to [`XFake::open_stream`].
#[derive(Debug)]
pub struct MemoryAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: MemoryBody,
}

/// An in-memory body, read chunk by chunk as the script plays.
#[derive(Debug)]
pub struct MemoryBody {
    rx: tokio::sync::mpsc::Receiver<Chunk>,
}

impl MemoryBody {
    /// The next chunk: `Ok(None)` at the clean end, an error when the connection dropped
    /// (a `Step::Drop`, or a script that ran out of steps without `Step::End`).
    pub async fn chunk(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        match self.rx.recv().await {
            Some(Chunk::Data(bytes)) => Ok(Some(bytes)),
            Some(Chunk::End) => Ok(None),
            Some(Chunk::Dropped) | None => Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "the fake dropped the connection",
            )),
        }
    }
}

async fn stream(
    socket: TcpStream,
    gzip: bool,
    steps: Vec<Step>,
    sent: impl Fn(&[u8]),
) -> std::io::Result<()> {
    let mut head = String::from(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n",
    );
    if gzip {
        head.push_str("content-encoding: gzip\r\n");
    }
    head.push_str("\r\n");
    let socket = Arc::new(tokio::sync::Mutex::new(socket));
    socket.lock().await.write_all(head.as_bytes()).await?;
    play(gzip, steps, sent, |chunk| {
        let socket = Arc::clone(&socket);
        async move {
            let mut socket = socket.lock().await;
            match chunk {
                Chunk::Data(piece) => {
                    let mut wire = format!("{:x}\r\n", piece.len()).into_bytes();
                    wire.extend_from_slice(&piece);
                    wire.extend_from_slice(b"\r\n");
                    socket.write_all(&wire).await?;
                    socket.flush().await?;
                    // Let the client read each piece on its own.
                    tokio::task::yield_now().await;
                    Ok(())
                }
                Chunk::End => {
                    socket.write_all(b"0\r\n\r\n").await?;
                    socket.shutdown().await
                }
                // Dropping the socket (when `play` returns) cuts the body.
                Chunk::Dropped => Ok(()),
            }
        }
    })
    .await
}

/// Plays a streamed reply's steps, handing each piece (and the ending) to `emit`; the
/// transport decides what a piece is on the wire. A script without `End` or `Drop` ends
/// as a drop. `sent` is told the plain bytes of each step once they are out.
async fn play<F, Fut>(
    gzip: bool,
    steps: Vec<Step>,
    sent: impl Fn(&[u8]),
    emit: F,
) -> std::io::Result<()>
where
    F: Fn(Chunk) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<()>>,
{
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    for step in steps {
        match step {
            Step::Send { plain, pieces } => {
                let wire = if gzip {
                    encoder.write_all(&plain)?;
                    encoder.flush()?;
                    std::mem::take(encoder.get_mut())
                } else {
                    plain.clone()
                };
                let size = wire.len().div_ceil(pieces.max(1)).max(1);
                for piece in wire.chunks(size) {
                    emit(Chunk::Data(piece.to_vec())).await?;
                }
                sent(&plain);
            }
            Step::Sleep(d) => tokio::time::sleep(d).await,
            Step::End => return emit(Chunk::End).await,
            Step::Drop => return emit(Chunk::Dropped).await,
        }
    }
    emit(Chunk::Dropped).await
}

fn unauthorized() -> Reply {
    json_status(
        401,
        r#"{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}"#,
    )
}

/// The rules endpoint: list (paginated), add (with `tag`), delete by id, `dry_run`. A rule
/// value that is empty, already present or marked refused is refused with an error entry,
/// as X does.
fn rules(s: &mut State, method: &str, target: &str, body: &str) -> Reply {
    let sent = "2024-05-01T10:00:00.000Z";
    if method == "GET" {
        let page = match query_param(target, "max_results").map(str::parse::<usize>) {
            None => RULES_PAGE_MAX,
            Some(Ok(n)) if (1..=RULES_PAGE_MAX).contains(&n) => n,
            Some(_) => {
                return json_status(
                    400,
                    r#"{"title":"Invalid Request","detail":"max_results must be between 1 and 1000"}"#,
                );
            }
        };
        // The token is the index of the page's first rule, opaque to clients.
        let from = match query_param(target, "pagination_token") {
            None => 0,
            Some(token) => match token.strip_prefix("p").and_then(|n| n.parse().ok()) {
                Some(n) if n <= s.rules.len() => n,
                _ => {
                    return json_status(
                        400,
                        r#"{"title":"Invalid Request","detail":"pagination_token is invalid"}"#,
                    );
                }
            },
        };
        let to = (from + page).min(s.rules.len());
        let data: Vec<serde_json::Value> = s.rules[from..to]
            .iter()
            .map(|(id, value, tag)| serde_json::json!({"id": id, "value": value, "tag": tag}))
            .collect();
        let mut out = serde_json::json!({"meta": {"sent": sent, "result_count": data.len()}});
        if to < s.rules.len() {
            out["meta"]["next_token"] = format!("p{to}").into();
        }
        if !data.is_empty() {
            out["data"] = data.into();
        }
        return json_status(200, &out.to_string());
    }
    let dry_run = target.contains("dry_run=true");
    let Ok(request) = serde_json::from_str::<serde_json::Value>(body) else {
        return json_status(
            400,
            r#"{"title":"Invalid Request","detail":"body is not JSON"}"#,
        );
    };
    let mut created = Vec::new();
    let mut errors = Vec::new();
    if let Some(add) = request["add"].as_array() {
        for rule in add {
            let value = rule["value"].as_str().unwrap_or("").to_owned();
            let tag = rule["tag"].as_str().map(str::to_owned);
            let refuse_once = s.refused_values.iter().position(|v| *v == value);
            if let Some(at) = refuse_once.filter(|_| !dry_run) {
                s.refused_values.remove(at);
            }
            let title = if value.is_empty() || refuse_once.is_some() {
                Some("Invalid Rule")
            } else if s.rules.iter().any(|(_, v, _)| *v == value) {
                Some("DuplicateRule")
            } else {
                None
            };
            if let Some(title) = title {
                errors.push(serde_json::json!({"value": value, "title": title, "type": "https://api.twitter.com/2/problems/invalid-rules"}));
                continue;
            }
            s.next_rule_id += 1;
            let id = s.next_rule_id.to_string();
            created.push(serde_json::json!({"id": id, "value": value, "tag": tag}));
            if !dry_run {
                s.rules.push((id, value, tag));
            }
        }
        let out = serde_json::json!({
            "data": created,
            "errors": errors,
            "meta": {"sent": sent, "summary": {"created": created.len(), "not_created": errors.len(), "valid": created.len(), "invalid": errors.len()}},
        });
        return json_status(200, &out.to_string());
    }
    if let Some(ids) = request["delete"]["ids"].as_array() {
        let ids: Vec<&str> = ids.iter().filter_map(|v| v.as_str()).collect();
        let before = s.rules.len();
        let deleted = s
            .rules
            .iter()
            .filter(|(id, _, _)| ids.contains(&id.as_str()))
            .count();
        if !dry_run {
            s.rules.retain(|(id, _, _)| !ids.contains(&id.as_str()));
        }
        let out = serde_json::json!({
            "meta": {"sent": sent, "summary": {"deleted": deleted, "not_deleted": ids.len() - deleted}},
            "rules_before": before,
        });
        return json_status(200, &out.to_string());
    }
    json_status(
        400,
        r#"{"title":"Invalid Request","detail":"add or delete required"}"#,
    )
}

async fn read_request(socket: &mut TcpStream) -> std::io::Result<(String, String)> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut tmp).await?;
        if n == 0 {
            return Err(std::io::Error::other("closed before the request head"));
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length = head
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut tmp).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Ok((head, String::from_utf8_lossy(&body).into_owned()))
}
