//! Shared test helpers: a fault-injecting HTTP/1.1 peer on a raw `TcpListener` (it can reset a
//! connection in the middle of a request body, which mock-server crates cannot) that answers
//! `_bulk` with per-item statuses chosen by the test and records every request.

#![allow(dead_code)]

use search_sink::{Config, Operation, Origin};
use std::collections::HashSet;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the peer saw it.
#[derive(Debug, Clone)]
pub struct Captured {
    pub number: usize,
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// Body bytes as received (gzipped when the client compressed).
    pub raw_body: Vec<u8>,
    /// Body after gunzip.
    pub body: Vec<u8>,
}

impl Captured {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `(action, id)` of each bulk operation in the body.
    pub fn ops(&self) -> Vec<(String, String)> {
        let text = String::from_utf8_lossy(&self.body);
        let mut ops = Vec::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let v: serde_json::Value = serde_json::from_str(line).expect("action line is JSON");
            let (action, meta) = v.as_object().unwrap().iter().next().unwrap();
            let id = meta["_id"].as_str().unwrap().to_owned();
            if action == "index" {
                lines.next().expect("source line");
            }
            // A delete is a tombstone: an `index` at the tombstone version.
            let action = if meta["version"].as_u64() == Some(search_sink::TOMBSTONE_VERSION) {
                "delete".to_owned()
            } else {
                action.clone()
            };
            ops.push((action, id));
        }
        ops
    }

    pub fn ids(&self) -> Vec<String> {
        self.ops().into_iter().map(|(_, id)| id).collect()
    }
}

/// What the peer answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A 200 bulk response with these item statuses, one per operation in order.
    Items(Vec<u16>),
    /// A bare status with this body.
    Status(u16, String),
    /// Wait, then answer (the client has usually timed out: such replies confirm nothing).
    Slow(Duration, Box<Reply>),
    /// Read half of the body, then reset the connection (RST).
    ResetMidBody,
}

type Handler = dyn Fn(&Captured) -> Reply + Send + Sync;

#[derive(Default)]
struct State {
    requests: Vec<Captured>,
    /// Ids whose fate the peer told the client (success or permanent failure).
    settled: HashSet<String>,
    /// Ids sent again after they were settled: must stay empty.
    resent_after_settled: Vec<String>,
    /// Requests read but not yet answered, and the most seen at once.
    active: usize,
    max_active: usize,
    /// Request numbers in the order their answers were written.
    answered: Vec<usize>,
    /// For each request number, how many requests had been answered when it arrived.
    answered_before: Vec<(usize, usize)>,
}

pub struct FaultPeer {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FaultPeer {
    /// Starts a peer on 127.0.0.1 (random port). `decide` sees each request with its number
    /// (0-based); a `ResetMidBody` decision is taken from the headers only (body empty).
    pub async fn start(decide: impl Fn(&Captured) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let handler: Arc<Handler> = Arc::new(decide);
        let counter = Arc::new(AtomicUsize::new(0));
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (handler, st, counter) = (handler.clone(), st.clone(), counter.clone());
                tokio::spawn(async move {
                    serve(stream, handler, st, counter).await;
                });
            }
        });
        Self { url, state }
    }

    pub fn requests(&self) -> Vec<Captured> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn resent_after_settled(&self) -> Vec<String> {
        self.state.lock().unwrap().resent_after_settled.clone()
    }

    /// The most requests the peer held at once (read, not yet answered).
    pub fn max_concurrent(&self) -> usize {
        self.state.lock().unwrap().max_active
    }

    /// Request numbers in the order they were answered.
    pub fn answered(&self) -> Vec<usize> {
        self.state.lock().unwrap().answered.clone()
    }

    /// How many requests had been answered when request `number` arrived.
    pub fn answered_before(&self, number: usize) -> Option<usize> {
        let st = self.state.lock().unwrap();
        st.answered_before
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, before)| *before)
    }
}

async fn serve(
    mut stream: TcpStream,
    handler: Arc<Handler>,
    state: Arc<Mutex<State>>,
    counter: Arc<AtomicUsize>,
) {
    // One request per connection (we answer `connection: close`).
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut captured = Captured {
        number: counter.fetch_add(1, Ordering::SeqCst),
        method,
        target,
        headers,
        raw_body: Vec::new(),
        body: Vec::new(),
    };
    if let Reply::ResetMidBody = handler(&captured) {
        while buf.len() < head_end + length / 2 {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let _ = stream.set_zero_linger();
        drop(stream);
        state.lock().unwrap().requests.push(captured);
        return;
    }
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    captured.raw_body = buf[head_end..head_end + length].to_vec();
    captured.body = if captured.header("content-encoding") == Some("gzip") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&captured.raw_body[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        captured.raw_body.clone()
    };
    let reply = handler(&captured);
    let ops = if captured.target.contains("_bulk") {
        captured.ops()
    } else {
        vec![]
    };
    {
        let mut st = state.lock().unwrap();
        for (_, id) in &ops {
            if st.settled.contains(id) {
                st.resent_after_settled.push(id.clone());
            }
        }
        if let Reply::Items(statuses) = &reply {
            for ((action, id), status) in ops.iter().zip(statuses) {
                let retryable = matches!(status, 429 | 502 | 503 | 504);
                if !retryable || (action == "delete" && *status == 404) {
                    st.settled.insert(id.clone());
                }
            }
        }
        st.active += 1;
        st.max_active = st.max_active.max(st.active);
        let before = st.answered.len();
        st.answered_before.push((captured.number, before));
        st.requests.push(captured.clone());
    }
    let mut reply = reply;
    if let Reply::Slow(delay, inner) = reply {
        tokio::time::sleep(delay).await;
        reply = *inner;
    }
    let (status, body) = match reply {
        Reply::Items(statuses) => (200, bulk_body(&ops, &statuses)),
        Reply::Status(status, body) => (status, body),
        Reply::Slow(..) | Reply::ResetMidBody => (500, "nested reply".into()),
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    {
        let mut st = state.lock().unwrap();
        st.active -= 1;
        st.answered.push(captured.number);
    }
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn bulk_body(ops: &[(String, String)], statuses: &[u16]) -> String {
    assert_eq!(
        ops.len(),
        statuses.len(),
        "test gave {} statuses for {} operations",
        statuses.len(),
        ops.len()
    );
    let items: Vec<serde_json::Value> = ops
        .iter()
        .zip(statuses)
        .map(|((action, id), &status)| {
            let mut item = serde_json::json!({ "_index": "t", "_id": id, "status": status });
            match (status, action.as_str()) {
                (201, _) => item["result"] = "created".into(),
                (200, "delete") => item["result"] = "deleted".into(),
                (200, _) => item["result"] = "updated".into(),
                (404, "delete") => item["result"] = "not_found".into(),
                (404, _) => {
                    item["error"] = serde_json::json!({"type": "index_not_found_exception", "reason": "no such index [faults]"})
                }
                (429, _) => {
                    item["error"] = serde_json::json!({"type": "es_rejected_execution_exception", "reason": "rejected execution of coordinating operation"})
                }
                (400, _) => {
                    item["error"] = serde_json::json!({"type": "mapper_parsing_exception", "reason": format!("failed to parse field [n] in document with id '{id}'")})
                }
                (s, _) => item["error"] = serde_json::json!({"type": "test_error", "reason": format!("status {s}")}),
            }
            serde_json::json!({ action.clone(): item })
        })
        .collect();
    let errors = statuses.iter().any(|s| *s >= 300);
    serde_json::json!({ "took": 1, "errors": errors, "items": items }).to_string()
}

/// A config for tests: fast retries.
pub fn fast_config(url: &str) -> Config {
    let mut config = Config::new(url);
    config.index = "faults".into();
    config.retry_initial_delay = Duration::from_millis(10);
    config.retry_max_delay = Duration::from_millis(50);
    config.request_timeout = Duration::from_secs(5);
    config
}

/// A document at version `n`.
pub fn doc(id: &str, n: usize) -> Operation {
    Operation::Index {
        id: id.to_owned(),
        source: format!(r#"{{"n":{n},"text":"document {id}"}}"#).into_bytes(),
        version: n as u64,
    }
}

pub fn origin(offset: u64) -> Origin {
    Origin::new("s3://in/captures/2026/11/23/part-0001.gz", offset)
}

/// A fresh path for a dead-letter file.
pub fn temp_file(name: &str) -> std::path::PathBuf {
    let path =
        std::env::temp_dir().join(format!("search-sink-{}-{name}.ndjson", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// A unique index name for tests sharing one server (lowercase, per process and call).
pub fn unique_index(name: &str) -> String {
    testkit::unique_name(&format!("sink-{name}"))
}
