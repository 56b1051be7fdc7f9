//! A seeded fault proxy for soak tests: forwards HTTP/1.1 requests to a search server
//! (osmem-server) and answers each `_bulk` with a fault drawn from a seeded schedule (503, 429,
//! a reset before or after the server applied the bulk, an answer slower than the client's
//! timeout that the server still applies, 413), plus a [`WriteBlocker`] that sets and lifts
//! `index.blocks.write` on a timer. Other requests (ensure's HEAD/PUT/GET) pass untouched.
//!
//! Every kind of fault is served at least once in any run of [`FAULTS`]`.len()` bulks or more:
//! the schedule starts with each once, in a seeded order, so a soak can assert that each was
//! injected ([`FaultProxy::counts`]) whatever the seed; the rest is drawn. Likewise the first
//! block is set at once and the first GET a seeded [`BodyCutter`] may cut is cut.
//!
//! Written on raw sockets because the faults live below HTTP (resets after the upstream
//! applied a request), which mock-server crates do not offer. One request per connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the proxy did with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    Pass,
    Unavailable,
    Busy,
    ResetBefore,
    ResetAfter,
    Late,
    TooLarge,
}

/// Every fault the proxy injects (all but [`Fault::Pass`]).
pub const FAULTS: [Fault; 6] = [
    Fault::Unavailable,
    Fault::Busy,
    Fault::ResetBefore,
    Fault::ResetAfter,
    Fault::Late,
    Fault::TooLarge,
];

/// The seeded schedule: each of [`FAULTS`] once in a shuffled order, then draws (60% pass).
struct Schedule {
    rng: fastrand::Rng,
    first: Vec<Fault>,
}

impl Schedule {
    fn new(seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut first = FAULTS.to_vec();
        rng.shuffle(&mut first);
        Schedule { rng, first }
    }

    fn next(&mut self) -> Fault {
        if let Some(fault) = self.first.pop() {
            return fault;
        }
        match self.rng.u32(0..100) {
            0..=59 => Fault::Pass,
            60..=67 => Fault::Unavailable,
            68..=75 => Fault::Busy,
            76..=81 => Fault::ResetBefore,
            82..=87 => Fault::ResetAfter,
            88..=95 => Fault::Late,
            _ => Fault::TooLarge,
        }
    }
}

/// A running proxy: its URL and how often each fault was served.
pub struct FaultProxy {
    pub url: String,
    counts: Arc<Mutex<HashMap<Fault, u64>>>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 in front of `upstream` (`http://host:port`). `late` is how
    /// long a [`Fault::Late`] answer waits (pick it above the client's request timeout).
    pub async fn start(upstream: &str, seed: u64, late: Duration) -> Self {
        let (listener, url, upstream) = bind_in_front_of(upstream).await;
        let counts = Arc::new(Mutex::new(HashMap::new()));
        let schedule = Arc::new(Mutex::new(Schedule::new(seed)));
        let shared = counts.clone();
        tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let (upstream, schedule, counts) =
                    (upstream.clone(), schedule.clone(), shared.clone());
                tokio::spawn(proxy_one(down, upstream, schedule, counts, late));
            }
        });
        FaultProxy { url, counts }
    }

    /// How many requests got each fault so far (passed requests included).
    pub fn counts(&self) -> std::collections::BTreeMap<Fault, u64> {
        self.counts
            .lock()
            .expect("counts lock")
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect()
    }

    /// The faults of [`FAULTS`] not served yet (a soak asserts this is empty at its end).
    pub fn not_injected(&self) -> Vec<Fault> {
        let counts = self.counts();
        FAULTS
            .into_iter()
            .filter(|f| counts.get(f).copied().unwrap_or(0) == 0)
            .collect()
    }
}

async fn proxy_one(
    mut down: TcpStream,
    upstream: String,
    schedule: Arc<Mutex<Schedule>>,
    counts: Arc<Mutex<HashMap<Fault, u64>>>,
    late: Duration,
) {
    let Some((head, body)) = read_request(&mut down).await else {
        return;
    };
    let is_bulk = head.lines().next().is_some_and(|l| l.contains("_bulk"));
    let fault = if is_bulk {
        schedule.lock().expect("schedule lock").next()
    } else {
        Fault::Pass
    };
    *counts
        .lock()
        .expect("counts lock")
        .entry(fault)
        .or_default() += 1;
    let reply = |status: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    match fault {
        Fault::Unavailable => {
            let _ = down
                .write_all(reply("503 X", r#"{"message":"unavailable"}"#).as_bytes())
                .await;
            return;
        }
        Fault::Busy => {
            let body = r#"{"error":{"type":"es_rejected_execution_exception","reason":"busy"},"status":429}"#;
            let _ = down.write_all(reply("429 X", body).as_bytes()).await;
            return;
        }
        Fault::TooLarge => {
            let _ = down.write_all(reply("413 X", "too large").as_bytes()).await;
            return;
        }
        Fault::ResetBefore => {
            let _ = down.set_zero_linger();
            return;
        }
        Fault::Late => tokio::time::sleep(late).await,
        Fault::Pass | Fault::ResetAfter => {}
    }
    let Some(answer) = forward(&upstream, &head, &body).await else {
        return;
    };
    if fault == Fault::ResetAfter {
        let _ = down.set_zero_linger();
        return;
    }
    let _ = down.write_all(&answer).await;
    let _ = down.shutdown().await;
}

/// A loopback listener for a proxy in front of `upstream` (`http://host:port`): the listener,
/// its URL, and the upstream as `host:port`.
async fn bind_in_front_of(upstream: &str) -> (tokio::net::TcpListener, String, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let url = format!(
        "http://{}",
        listener
            .local_addr()
            .expect("a bound listener has an address")
    );
    let upstream = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    (listener, url, upstream)
}

/// Reads one request: the head (as text) and a `content-length` body.
pub async fn read_request(down: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        match down.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match down.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = buf[head_end..head_end + length].to_vec();
    Some((head, body))
}

/// Sends one request upstream (`host:port`) with `connection: close` and returns the raw answer.
pub async fn forward(upstream: &str, head: &str, body: &[u8]) -> Option<Vec<u8>> {
    let mut request: Vec<u8> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:") && !l.is_empty())
        .flat_map(|l| format!("{l}\r\n").into_bytes())
        .collect();
    request.extend_from_slice(b"connection: close\r\n\r\n");
    request.extend_from_slice(body);
    let mut up = TcpStream::connect(upstream).await.ok()?;
    up.write_all(&request).await.ok()?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer).await.ok()?;
    Some(answer)
}

/// A write block (`index.blocks.write: true`, what AWS applies on low storage) set on `index`
/// at once and then every `every`, lifted `held` later, until stopped.
pub struct WriteBlocker {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<u64>,
    server: String,
    index: String,
}

impl WriteBlocker {
    /// Starts toggling the block on `index` of the server at `server` (`http://host:port`).
    pub fn start(server: &str, index: &str, every: Duration, held: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let server = server
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let task = tokio::spawn({
            let (server, index, stop) = (server.clone(), index.to_owned(), stop.clone());
            async move {
                let mut blocks = 0u64;
                // The first block at once: a run shorter than `every` is blocked too.
                while !stop.load(Ordering::SeqCst) {
                    if set_write_block(&server, &index, "true").await == Some(200) {
                        blocks += 1;
                    }
                    tokio::time::sleep(held).await;
                    let _ = set_write_block(&server, &index, "null").await;
                    tokio::time::sleep(every).await;
                }
                blocks
            }
        });
        WriteBlocker {
            stop,
            task,
            server,
            index: index.to_owned(),
        }
    }

    /// Stops, lifts the block for good and returns how many blocks were set.
    pub async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        let blocks = self.task.await.unwrap_or(0);
        let _ = set_write_block(&self.server, &self.index, "null").await;
        blocks
    }
}

/// `PUT /{index}/_settings {"index.blocks.write": value}`; the answer's status.
async fn set_write_block(server: &str, index: &str, value: &str) -> Option<u16> {
    let body = format!(r#"{{"index.blocks.write": {value}}}"#);
    let head = format!(
        "PUT /{index}/_settings HTTP/1.1\r\nhost: {server}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let answer = forward(server, &head, body.as_bytes()).await?;
    let text = String::from_utf8_lossy(&answer);
    text.split(' ').nth(1)?.parse().ok()
}

/// One request as a [`BodyCutter`] saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    pub method: String,
    pub target: String,
    /// The `range` and `if-match` headers, when sent.
    pub range: Option<String>,
    pub if_match: Option<String>,
    /// Whether its answer was cut.
    pub cut: bool,
}

/// Which GETs (without a `range` header: ranged GETs always pass) a [`BodyCutter`] cuts.
#[derive(Debug, Clone)]
pub enum CutRule {
    /// The first GET of a path containing this text.
    FirstGetOf(String),
    /// The first GET, then each with this chance in percent, from a seeded schedule.
    Seeded { seed: u64, percent: u32 },
}

/// Forwards requests to an S3 server (moto); a GET the [`CutRule`] picks gets half of its
/// body, then a connection reset (what a dropped connection mid-download looks like to the
/// client). With `hold`, the cut waits for [`BodyCutter::release`] after signalling
/// [`BodyCutter::cut`], so a test can change the object in between.
pub struct BodyCutter {
    pub url: String,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    cut: Arc<tokio::sync::Notify>,
    release: Arc<tokio::sync::Notify>,
}

impl BodyCutter {
    pub async fn start(upstream: &str, rule: CutRule, hold: bool) -> Self {
        let (listener, url, upstream) = bind_in_front_of(upstream).await;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (cut_signal, release) = (
            Arc::new(tokio::sync::Notify::new()),
            Arc::new(tokio::sync::Notify::new()),
        );
        let done = Arc::new(AtomicBool::new(false));
        let rng = Arc::new(Mutex::new(fastrand::Rng::with_seed(match rule {
            CutRule::Seeded { seed, .. } => seed,
            CutRule::FirstGetOf(_) => 0,
        })));
        tokio::spawn({
            let (seen, cut_signal, release) = (seen.clone(), cut_signal.clone(), release.clone());
            async move {
                while let Ok((mut down, _)) = listener.accept().await {
                    let (upstream, seen, rule, done, rng) = (
                        upstream.clone(),
                        seen.clone(),
                        rule.clone(),
                        done.clone(),
                        rng.clone(),
                    );
                    let (cut_signal, release) = (cut_signal.clone(), release.clone());
                    tokio::spawn(async move {
                        let Some((head, body)) = read_request(&mut down).await else {
                            return;
                        };
                        let header = |name: &str| {
                            head.lines()
                                .filter_map(|l| l.split_once(':'))
                                .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                                .map(|(_, v)| v.trim().to_owned())
                        };
                        let mut words = head.split(' ');
                        let request = SeenRequest {
                            method: words.next().unwrap_or_default().to_owned(),
                            target: words.next().unwrap_or_default().to_owned(),
                            range: header("range"),
                            if_match: header("if-match"),
                            cut: false,
                        };
                        let cutting = request.method == "GET"
                            && request.range.is_none()
                            && match &rule {
                                CutRule::FirstGetOf(path) => {
                                    request.target.contains(path.as_str())
                                        && !done.swap(true, Ordering::SeqCst)
                                }
                                CutRule::Seeded { percent, .. } => {
                                    let roll = rng.lock().expect("rng lock").u32(0..100);
                                    !done.swap(true, Ordering::SeqCst) || roll < *percent
                                }
                            };
                        let request = SeenRequest {
                            cut: cutting,
                            ..request
                        };
                        seen.lock().expect("seen lock").push(request);
                        let Some(answer) = forward(&upstream, &head, &body).await else {
                            return;
                        };
                        if !cutting {
                            let _ = down.write_all(&answer).await;
                            let _ = down.shutdown().await;
                            return;
                        }
                        let head_end = answer
                            .windows(4)
                            .position(|w| w == b"\r\n\r\n")
                            .map_or(answer.len(), |p| p + 4);
                        let half = head_end + (answer.len() - head_end) / 2;
                        let _ = down.write_all(&answer[..half]).await;
                        let _ = down.flush().await;
                        if hold {
                            cut_signal.notify_one();
                            release.notified().await;
                        } else {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        let _ = down.set_zero_linger();
                    });
                }
            }
        });
        BodyCutter {
            url,
            seen,
            cut: cut_signal,
            release,
        }
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.seen.lock().expect("seen lock").clone()
    }

    /// Resolves once a held cut has sent half the body.
    pub async fn cut(&self) {
        self.cut.notified().await;
    }

    /// Lets a held cut reset its connection.
    pub fn release(&self) {
        self.release.notify_one();
    }
}
