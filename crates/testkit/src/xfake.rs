//! A loopback fake of the X API v2 filtered stream (`GET /2/tweets/search/stream`) and its
//! rules endpoint (`GET`/`POST /2/tweets/search/stream/rules`), hand-written from the X
//! documentation because nothing else emulates X. HTTP/1.1 is written by hand on purpose:
//! tests decide exactly where chunks are cut, when the body stops (zero-length chunk),
//! stalls or the socket is dropped, which no server framework exposes.
//!
//! Each stream connection plays the next scripted [`Reply`]; when the script is used up the
//! fake answers 401, which ends a capture with a fatal error (tests use that as "done").
//! Requests with a wrong bearer token get 401 too. It is not a model of X's matching.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What one stream connection does.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with a chunked body built from `steps`; gzip-encoded when `gzip`.
    Stream { gzip: bool, steps: Vec<Step> },
    /// Any other status with headers and a (JSON) body, then close.
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
}

/// One step of a streamed body.
#[derive(Debug, Clone)]
pub enum Step {
    /// These plain bytes, compressed when the reply is gzip (with a sync flush, as a
    /// streaming server does), sent as `pieces` HTTP chunks cut at equal lengths of the
    /// wire bytes (so a gzip block, a record or a UTF-8 character may be cut).
    Send { plain: Vec<u8>, pieces: usize },
    /// Send nothing for this long (virtual time under a paused tokio clock).
    Sleep(Duration),
    /// The zero-length chunk: the body ends cleanly.
    End,
    /// Drop the socket without ending the body.
    Drop,
}

impl Step {
    /// `text` as one chunk.
    pub fn send(text: &str) -> Step {
        Step::Send {
            plain: text.as_bytes().to_vec(),
            pieces: 1,
        }
    }

    /// `text` as `pieces` chunks.
    pub fn split(text: &str, pieces: usize) -> Step {
        Step::Send {
            plain: text.as_bytes().to_vec(),
            pieces,
        }
    }

    /// The `\r\n` keep-alive.
    pub fn keep_alive() -> Step {
        Step::send("\r\n")
    }
}

/// A request the fake received (the token is not kept: only whether it matched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub authorized: bool,
    pub accept_gzip: bool,
    pub body: String,
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
}

/// The running fake; dropped with the test's runtime.
#[derive(Debug, Clone)]
pub struct XFake {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl XFake {
    /// Starts on 127.0.0.1 with a stream script; requests must carry `Bearer {token}`.
    pub async fn start(token: &str, script: Vec<Reply>) -> std::io::Result<XFake> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let fake = XFake {
            addr: listener.local_addr()?,
            state: Arc::new(Mutex::new(State {
                script,
                next: 0,
                seen: Vec::new(),
                rules: Vec::new(),
                next_rule_id: 1_000,
            })),
        };
        let expected = format!("Bearer {token}");
        let state = Arc::clone(&fake.state);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let state = Arc::clone(&state);
                let expected = expected.clone();
                tokio::spawn(async move {
                    let _ = serve(socket, &state, &expected).await;
                });
            }
        });
        Ok(fake)
    }

    /// The base URL to put in `X_API_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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

    /// The current rules as (id, value, tag).
    pub fn rules(&self) -> Vec<(String, String, Option<String>)> {
        self.state
            .lock()
            .map(|s| s.rules.clone())
            .unwrap_or_default()
    }
}

async fn serve(mut socket: TcpStream, state: &Mutex<State>, expected: &str) -> std::io::Result<()> {
    let (head, body) = read_request(&mut socket).await?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    let mut authorized = false;
    let mut accept_gzip = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("authorization") {
                authorized = value == expected;
            } else if name.eq_ignore_ascii_case("accept-encoding") {
                accept_gzip = value.contains("gzip");
            }
        }
    }
    let path = target.split('?').next().unwrap_or("").to_owned();
    let reply = {
        let mut s = state
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?;
        s.seen.push(Seen {
            method: method.clone(),
            target: target.clone(),
            authorized,
            accept_gzip,
            body: body.clone(),
        });
        if !authorized {
            unauthorized()
        } else if path == "/2/tweets/search/stream" && method == "GET" {
            let next = s.next;
            match s.script.get(next).cloned() {
                Some(reply) => {
                    s.next += 1;
                    reply
                }
                None => unauthorized(),
            }
        } else if path == "/2/tweets/search/stream/rules" {
            rules(&mut s, &method, &target, &body)
        } else {
            json_status(
                404,
                r#"{"title":"Not Found Error","detail":"no such path"}"#,
            )
        }
    };
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
        Reply::Stream { gzip, steps } => stream(socket, gzip, steps).await,
    }
}

async fn stream(mut socket: TcpStream, gzip: bool, steps: Vec<Step>) -> std::io::Result<()> {
    let mut head = String::from(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n",
    );
    if gzip {
        head.push_str("content-encoding: gzip\r\n");
    }
    head.push_str("\r\n");
    socket.write_all(head.as_bytes()).await?;
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    for step in steps {
        match step {
            Step::Send { plain, pieces } => {
                let wire = if gzip {
                    encoder.write_all(&plain)?;
                    encoder.flush()?;
                    std::mem::take(encoder.get_mut())
                } else {
                    plain
                };
                let size = wire.len().div_ceil(pieces.max(1)).max(1);
                for piece in wire.chunks(size) {
                    let mut chunk = format!("{:x}\r\n", piece.len()).into_bytes();
                    chunk.extend_from_slice(piece);
                    chunk.extend_from_slice(b"\r\n");
                    socket.write_all(&chunk).await?;
                    socket.flush().await?;
                    // Let the client read each piece on its own.
                    tokio::task::yield_now().await;
                }
            }
            Step::Sleep(d) => tokio::time::sleep(d).await,
            Step::End => {
                socket.write_all(b"0\r\n\r\n").await?;
                return socket.shutdown().await;
            }
            Step::Drop => return Ok(()),
        }
    }
    Ok(())
}

fn unauthorized() -> Reply {
    json_status(
        401,
        r#"{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}"#,
    )
}

fn json_status(status: u16, body: &str) -> Reply {
    Reply::Status {
        status,
        headers: Vec::new(),
        body: body.to_owned(),
    }
}

/// The rules endpoint: list, add (with `tag`), delete by id, `dry_run`. A rule value that is
/// empty or already present is refused with an error entry, as X does.
fn rules(s: &mut State, method: &str, target: &str, body: &str) -> Reply {
    let sent = "2024-05-01T10:00:00.000Z";
    if method == "GET" {
        let data: Vec<serde_json::Value> = s
            .rules
            .iter()
            .map(|(id, value, tag)| serde_json::json!({"id": id, "value": value, "tag": tag}))
            .collect();
        let mut out = serde_json::json!({"meta": {"sent": sent, "result_count": data.len()}});
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
            if value.is_empty() || s.rules.iter().any(|(_, v, _)| *v == value) {
                errors.push(serde_json::json!({"value": value, "title": if value.is_empty() {"Invalid Rule"} else {"DuplicateRule"}, "type": "https://api.twitter.com/2/problems/invalid-rules"}));
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
