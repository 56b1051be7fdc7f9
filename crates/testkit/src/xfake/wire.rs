//! What the fake's connections send and what it saw: the replies and their steps, the
//! requests received, and the small HTTP helpers the endpoints share (below the fake's
//! endpoints and its batch jobs, so neither reaches up into the other).

use std::time::Duration;

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
    /// The request carried the expected bearer token.
    pub authorized: bool,
    /// The request carried an `Authorization` header at all.
    pub has_authorization: bool,
    pub accept_gzip: bool,
    pub body: String,
    /// It went to the storage origin (pre-signed URLs), not the API.
    pub storage: bool,
}

pub(crate) fn json_status(status: u16, body: &str) -> Reply {
    Reply::Status {
        status,
        headers: Vec::new(),
        body: body.to_owned(),
    }
}

/// The value of query parameter `name` in `target`, if present (no percent-decoding: the
/// values the fake hands out need none).
pub(crate) fn query_param<'a>(target: &'a str, name: &str) -> Option<&'a str> {
    let query = target.split_once('?')?.1;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}
