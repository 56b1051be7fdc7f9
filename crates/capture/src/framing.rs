//! Turns the stream's HTTP body chunks into lines: optional incremental gunzip, then framing
//! on `\r\n` across chunk boundaries (an empty line is a keep-alive). [`Framer::lines`] frames
//! on `\n` instead (a batch compliance job's results file), a `\r` before it cut off.
//!
//! Chunks are byte slices cut wherever the network cut them (mid-record, mid-UTF-8, mid gzip
//! block); nothing here decodes text, so a cut inside a multi-byte character is harmless.
//! It does not parse JSON (see `message`).

use std::io::Write;

use bytes::{Bytes, BytesMut};
use flate2::write::GzDecoder;

/// One line of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The `\r\n` heartbeat (about every 20 s).
    KeepAlive,
    /// A payload line, without its `\r\n`, exactly as received.
    Line(Bytes),
}

#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    #[error("gzip: {0}")]
    Gzip(#[from] std::io::Error),
    #[error("a line grew past {0} bytes without a line break")]
    LineTooLong(usize),
}

/// Longest line accepted: a tweet with every expansion is tens of KiB; a stream that sends
/// megabytes without `\r\n` is broken, and buffering it forever would exhaust memory.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Framer state for one connection (a reconnect starts a new one: a partial line left by a
/// dropped connection is discarded, as the server resends nothing mid-record).
pub struct Framer {
    gunzip: Option<GzDecoder<Vec<u8>>>,
    pending: BytesMut,
    /// How much of `pending` is known to hold no line break.
    scanned: usize,
    /// Lines end with `\n` alone (a `\r` before it is not part of the line).
    lf: bool,
}

impl std::fmt::Debug for Framer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Framer")
            .field("gzip", &self.gunzip.is_some())
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Framer {
    /// `gzip`: the response had `Content-Encoding: gzip`.
    pub fn new(gzip: bool) -> Self {
        Framer {
            gunzip: gzip.then(|| GzDecoder::new(Vec::new())),
            pending: BytesMut::new(),
            scanned: 0,
            lf: false,
        }
    }

    /// Frames on `\n` (NDJSON files), a `\r` before it cut off; an empty line is a
    /// [`Frame::KeepAlive`] (nothing).
    pub fn lines(gzip: bool) -> Self {
        Framer {
            lf: true,
            ..Framer::new(gzip)
        }
    }

    /// The body ended: appends what the end of a gzip body completes to `out`, and returns
    /// the last line when it had no line break after it.
    pub fn finish(&mut self, out: &mut Vec<Frame>) -> Result<Option<Bytes>, FramingError> {
        if let Some(decoder) = &mut self.gunzip {
            decoder.try_finish()?;
            let plain = std::mem::take(decoder.get_mut());
            self.pending.extend_from_slice(&plain);
            self.split(out)?;
        }
        let mut rest = std::mem::take(&mut self.pending);
        self.scanned = 0;
        if self.lf && rest.ends_with(b"\r") {
            rest.truncate(rest.len() - 1);
        }
        Ok((!rest.is_empty()).then(|| rest.freeze()))
    }

    /// Feeds one body chunk; appends the complete frames it finished to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Frame>) -> Result<(), FramingError> {
        match &mut self.gunzip {
            Some(decoder) => {
                decoder.write_all(chunk)?;
                // flush() makes the decoder hand over everything it can decode so far.
                decoder.flush()?;
                let plain = std::mem::take(decoder.get_mut());
                self.pending.extend_from_slice(&plain);
            }
            None => self.pending.extend_from_slice(chunk),
        }
        self.split(out)
    }

    /// Bytes received but not yet framed (a partial line).
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    fn split(&mut self, out: &mut Vec<Frame>) -> Result<(), FramingError> {
        loop {
            // Resume the search one byte early: a "\r" may end the previous scan.
            let from = self.scanned.saturating_sub(1);
            let found = if self.lf {
                self.pending[from..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map(|pos| (pos, 1))
            } else {
                find_crlf(&self.pending[from..]).map(|pos| (pos, 2))
            };
            match found {
                Some((pos, width)) => {
                    let mut line = self.pending.split_to(from + pos).freeze();
                    let _ = self.pending.split_to(width);
                    self.scanned = 0;
                    if self.lf && line.ends_with(b"\r") {
                        line.truncate(line.len() - 1);
                    }
                    out.push(if line.is_empty() {
                        Frame::KeepAlive
                    } else {
                        Frame::Line(line)
                    });
                }
                None => {
                    self.scanned = self.pending.len();
                    break;
                }
            }
        }
        if self.pending.len() > MAX_LINE_BYTES {
            return Err(FramingError::LineTooLong(MAX_LINE_BYTES));
        }
        Ok(())
    }
}

fn find_crlf(haystack: &[u8]) -> Option<usize> {
    haystack.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;

    fn frames_of(gzip: bool, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut framer = Framer::new(gzip);
        let mut out = Vec::new();
        for c in chunks {
            framer.push(c, &mut out).unwrap();
        }
        out
    }

    fn line(s: &str) -> Frame {
        Frame::Line(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn splits_on_crlf_across_every_cut() {
        let body = "{\"data\":{\"id\":\"1\",\"text\":\"caf\u{e9} \u{1f600}\"}}\r\n\r\n{\"data\":{\"id\":\"2\"}}\r\n";
        let bytes = body.as_bytes();
        // Every two-way cut, including inside the emoji, inside "\r\n" and at the ends.
        for cut in 0..=bytes.len() {
            let got = frames_of(false, &[&bytes[..cut], &bytes[cut..]]);
            assert_eq!(
                got,
                vec![
                    line("{\"data\":{\"id\":\"1\",\"text\":\"caf\u{e9} \u{1f600}\"}}"),
                    Frame::KeepAlive,
                    line("{\"data\":{\"id\":\"2\"}}"),
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn lone_cr_or_lf_is_part_of_the_line_and_partial_line_is_held() {
        let got = frames_of(false, &[b"a\rb\nc", b"\r", b"\nrest"]);
        assert_eq!(got, vec![line("a\rb\nc")]);
        let mut framer = Framer::new(false);
        framer.push(b"partial", &mut Vec::new()).unwrap();
        assert_eq!(framer.pending_len(), 7);
    }

    #[test]
    fn gunzips_incrementally_byte_by_byte() {
        let body = "\r\n{\"data\":{\"id\":\"7\",\"text\":\"\u{65e5}\u{672c}\"}}\r\n\r\n";
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(body.as_bytes()).unwrap();
        let gz = enc.finish().unwrap();
        let chunks: Vec<&[u8]> = gz.chunks(1).collect();
        let got = frames_of(true, &chunks);
        assert_eq!(
            got,
            vec![
                Frame::KeepAlive,
                line("{\"data\":{\"id\":\"7\",\"text\":\"\u{65e5}\u{672c}\"}}"),
                Frame::KeepAlive
            ]
        );
    }

    #[test]
    fn gzip_flushed_per_write_yields_lines_before_the_stream_ends() {
        // The server flushes its gzip stream after each message; a line must come out as
        // soon as its bytes are in, without waiting for the gzip trailer.
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(b"{\"data\":{\"id\":\"1\"}}\r\n").unwrap();
        enc.flush().unwrap();
        let first = enc.get_ref().clone();
        let mut framer = Framer::new(true);
        let mut out = Vec::new();
        framer.push(&first, &mut out).unwrap();
        assert_eq!(out, vec![line("{\"data\":{\"id\":\"1\"}}")]);
    }

    #[test]
    fn lines_split_on_lf_drop_a_cr_and_finish_with_the_last_line() {
        let body = b"{\"id\":\"1\"}\n{\"id\":\"2\"}\r\n\n{\"id\":\"3\"}";
        for gzip in [false, true] {
            let wire = if gzip {
                let mut enc = GzEncoder::new(Vec::new(), Compression::default());
                enc.write_all(body).unwrap();
                enc.finish().unwrap()
            } else {
                body.to_vec()
            };
            for cut in 0..=wire.len() {
                let mut framer = Framer::lines(gzip);
                let mut out = Vec::new();
                framer.push(&wire[..cut], &mut out).unwrap();
                framer.push(&wire[cut..], &mut out).unwrap();
                let last = framer.finish(&mut out).unwrap();
                assert_eq!(
                    out,
                    vec![
                        line("{\"id\":\"1\"}"),
                        line("{\"id\":\"2\"}"),
                        Frame::KeepAlive
                    ],
                    "gzip {gzip} cut at {cut}"
                );
                assert_eq!(last.as_deref(), Some(&b"{\"id\":\"3\"}"[..]));
            }
        }
        let mut framer = Framer::lines(false);
        framer.push(b"x\r\n", &mut Vec::new()).unwrap();
        assert_eq!(
            framer.finish(&mut Vec::new()).unwrap(),
            None,
            "nothing after the last break"
        );
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let mut framer = Framer::new(true);
        let err = framer.push(b"not gzip at all", &mut Vec::new());
        assert!(matches!(err, Err(FramingError::Gzip(_))), "{err:?}");
    }
}
