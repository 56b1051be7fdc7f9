//! Stage 1: bytes -> records. Splits a stream of concatenated JSON objects into one record per
//! top-level object, whatever layout the producer and Firehose used, without holding the stream.
//!
//! Accepted, also mixed in one stream: NDJSON (LF or CRLF), blank keep-alive lines, objects with
//! no delimiter (`}{`), the legacy `{...},\n` layout, a top-level JSON array, a UTF-8 byte order
//! mark, and gzip (detected by its magic bytes; several members back to back are one stream).
//!
//! Offsets are byte offsets in the *decompressed* stream (for a plain object they are offsets in
//! the object itself).
//!
//! The framer only finds object boundaries (string- and escape-aware brace matching) and checks
//! UTF-8; it does not validate JSON syntax: the record parser does that and reports its own
//! error for the same offset. Resynchronisation after damage: garbage between records is skipped
//! up to the next `{`; an unterminated record ends at the first raw line break inside a string
//! (JSON strings cannot hold one) or at a line that starts with `{` while the record is still
//! open (pretty-printed JSON indents nested objects). A truncated record followed by another with
//! no line break in between (`}{` layout) cannot be told apart from its neighbour, so there the
//! damage can take the next record with it.
//!
//! Speed: with [`FramerOptions::line_fast_path`] (used by [`crate::Extractor::items`]) a record
//! that starts a line ending in `}` is handed out whole after one `memchr` for the line feed;
//! if it then fails to parse, the caller calls [`Framer::reject_last`] and that line is
//! scanned byte by byte as above. NDJSON/CRLF objects thus cost one pass of `memchr`, and the
//! other layouts fall back to the careful scan.

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;

/// Default per-record size limit (1 MiB): a record above it is reported and skipped.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

const READ_CHUNK: usize = 64 * 1024;
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One framed record: the bytes of one top-level JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Byte offset of the record's `{` in the decompressed stream.
    pub offset: u64,
    /// The record's bytes, `{` to `}` inclusive; UTF-8 when `validate_utf8` is on (default).
    pub bytes: Vec<u8>,
}

impl Record {
    /// The record as text (empty if it is not UTF-8, which `validate_utf8` rules out).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes).unwrap_or_default()
    }
}

/// Why a stretch of the stream could not be framed into a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameErrorKind {
    #[error("truncated JSON record ({0})")]
    Truncated(&'static str),
    #[error("invalid UTF-8 in record")]
    InvalidUtf8,
    #[error("garbage between records ({len} bytes)")]
    Garbage { len: u64 },
    #[error("record exceeds the size limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("read error: {0}")]
    Io(String),
}

/// A framing error: where (offset in the decompressed stream) and why. Framing goes on after
/// every kind except [`FrameErrorKind::Io`], which ends the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {kind}")]
pub struct FrameError {
    pub offset: u64,
    pub kind: FrameErrorKind,
}

/// Framing settings.
#[derive(Debug, Clone, Copy)]
pub struct FramerOptions {
    /// Largest record accepted, in bytes (default [`DEFAULT_MAX_RECORD_BYTES`]).
    pub max_record_bytes: usize,
    /// Check each record is UTF-8 (default true). [`crate::Extractor::items`] turns it off:
    /// the record parser checks it itself (and reports invalid UTF-8 as the reason).
    pub validate_utf8: bool,
    /// Line fast path (default false): when a record starts a line that ends in `}`, hand
    /// out the whole line without scanning it, and let the JSON parser be the judge. The
    /// caller must then call [`Framer::reject_last`] when such a record does not parse, so
    /// the framer re-scans it (and the rest of its line) the careful way. Used by
    /// [`crate::Extractor::items`]: NDJSON and CRLF objects are framed at `memchr` speed.
    pub line_fast_path: bool,
}

impl Default for FramerOptions {
    fn default() -> Self {
        FramerOptions {
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            validate_utf8: true,
            line_fast_path: false,
        }
    }
}

enum Source<R: Read> {
    /// Not read yet: gzip detection happens on the first bytes.
    Pending(R),
    Plain(io::Chain<io::Cursor<Vec<u8>>, R>),
    Gzip(Box<MultiGzDecoder<io::Chain<io::Cursor<Vec<u8>>, R>>>),
    Done,
}

/// Streaming record framer over any reader; an [`Iterator`] of records and framing errors.
///
/// Memory: one read buffer (64 KiB chunks) plus the record being assembled, which never
/// exceeds the record limit (an oversized record is skipped without being buffered).
pub struct Framer<R: Read> {
    source: Source<R>,
    opts: FramerOptions,
    buf: Vec<u8>,
    /// Scan position in `buf`.
    pos: usize,
    /// Absolute offset of `buf[0]`.
    base: u64,
    eof: bool,
    /// Set after an I/O error: the iterator is finished.
    failed: bool,
    gzip: bool,
    /// Start of the last record handed out by the line fast path.
    last_fast: Option<usize>,
    /// Scan carefully until the next line break (after a rejected fast record).
    slow_line: bool,
}

/// Outcome of scanning one object from `start`.
enum Scan {
    /// Object ends at this index (inclusive).
    Complete(usize),
    /// Need more bytes.
    More,
    /// The object is broken; resume at this index (not consumed).
    Broken(usize, &'static str),
    /// The object passed the size limit; the rest of it is skipped.
    TooLarge,
}

impl<R: Read> Framer<R> {
    /// A framer with the default options (1 MiB record limit).
    pub fn new(reader: R) -> Self {
        Self::with_options(reader, FramerOptions::default())
    }

    pub fn with_options(reader: R, opts: FramerOptions) -> Self {
        Framer {
            source: Source::Pending(reader),
            opts,
            buf: Vec::with_capacity(READ_CHUNK * 2),
            pos: 0,
            base: 0,
            eof: false,
            failed: false,
            gzip: false,
            last_fast: None,
            slow_line: false,
        }
    }

    /// Whether the stream turned out to be gzip (known after the first record).
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// Bytes of decompressed stream consumed so far.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn detect(&mut self, mut reader: R) -> io::Result<()> {
        let mut head = vec![0u8; 2];
        let mut got = 0;
        while got < 2 {
            match reader.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        head.truncate(got);
        let chained = io::Cursor::new(head.clone()).chain(reader);
        self.source = if head == [0x1f, 0x8b] {
            self.gzip = true;
            Source::Gzip(Box::new(MultiGzDecoder::new(chained)))
        } else {
            Source::Plain(chained)
        };
        Ok(())
    }

    /// Reads one more chunk into `buf`; returns false at end of input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if let Source::Pending(_) = self.source
            && let Source::Pending(r) = std::mem::replace(&mut self.source, Source::Done)
        {
            self.detect(r)?;
        }
        let len = self.buf.len();
        self.buf.resize(len + READ_CHUNK, 0);
        let res = loop {
            let r = match &mut self.source {
                Source::Plain(r) => r.read(&mut self.buf[len..]),
                Source::Gzip(r) => r.read(&mut self.buf[len..]),
                Source::Pending(_) | Source::Done => Ok(0),
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match res {
            Ok(n) => {
                self.buf.truncate(len + n);
                if n == 0 {
                    self.eof = true;
                    self.source = Source::Done;
                }
                Ok(n > 0)
            }
            Err(e) => {
                self.buf.truncate(len);
                Err(e)
            }
        }
    }

    /// Drops consumed bytes so the buffer only holds the unfinished tail.
    fn compact(&mut self, keep_from: usize) {
        if keep_from > 0 {
            self.buf.drain(..keep_from);
            self.base += keep_from as u64;
            self.pos -= keep_from;
        }
    }

    fn err(&self, at: usize, kind: FrameErrorKind) -> FrameError {
        FrameError {
            offset: self.base + at as u64,
            kind,
        }
    }

    fn io_error(&mut self, e: io::Error) -> FrameError {
        self.failed = true;
        self.eof = true;
        self.source = Source::Done;
        let at = self.buf.len();
        self.err(at, FrameErrorKind::Io(e.to_string()))
    }

    /// Scans the object starting at `start` (a `{`), from the saved state.
    fn scan_object(&self, start: usize, state: &mut ObjState) -> Scan {
        let buf = &self.buf;
        let mut i = state.resume.max(start);
        let end = buf
            .len()
            .min(start.saturating_add(self.opts.max_record_bytes));
        while i < end {
            if state.escaped {
                // The byte after a backslash (only ever set inside strings) is content,
                // except a line break, which no JSON escape allows: a record cut after `\`.
                state.escaped = false;
                if buf[i] == b'\n' {
                    return Scan::Broken(i, "line break inside a string");
                }
                i += 1;
                continue;
            }
            if state.in_string {
                // Long texts: jump to the next byte that matters.
                let Some(k) = memchr::memchr3(b'"', b'\\', b'\n', &buf[i..end]) else {
                    i = end;
                    continue;
                };
                i += k;
                let b = buf[i];
                if b == b'"' {
                    state.in_string = false;
                } else if b == b'\\' {
                    state.escaped = true;
                } else if b == b'\n' {
                    return Scan::Broken(i, "line break inside a string");
                }
            } else {
                // Outside strings only quotes and braces matter (brackets balance inside a
                // valid object and cannot end it).
                let Some(k) = memchr::memchr3(b'"', b'{', b'}', &buf[i..end]) else {
                    i = end;
                    continue;
                };
                i += k;
                match buf[i] {
                    b'"' => state.in_string = true,
                    b'{' => {
                        if state.depth > 0 && at_line_start(buf, i, start) {
                            return Scan::Broken(i, "next record began before this one ended");
                        }
                        state.depth += 1;
                    }
                    _ => {
                        state.depth = state.depth.saturating_sub(1);
                        if state.depth == 0 {
                            return Scan::Complete(i);
                        }
                    }
                }
            }
            i += 1;
        }
        state.resume = i;
        if i >= start.saturating_add(self.opts.max_record_bytes) {
            return Scan::TooLarge;
        }
        Scan::More
    }

    /// Skips the rest of an oversized object without buffering it; returns the index where
    /// framing resumes, or None when more input is needed (buffer consumed).
    fn skip_object(&mut self, state: &mut ObjState) -> Option<usize> {
        let mut i = self.pos;
        while i < self.buf.len() {
            let b = self.buf[i];
            if state.in_string {
                if state.escaped {
                    state.escaped = false;
                    if b == b'\n' {
                        return Some(i);
                    }
                } else if b == b'"' {
                    state.in_string = false;
                } else if b == b'\\' {
                    state.escaped = true;
                } else if b == b'\n' {
                    return Some(i);
                }
            } else {
                match b {
                    b'"' => state.in_string = true,
                    b'{' if at_line_start(&self.buf, i, 0) => return Some(i),
                    b'{' => state.depth += 1,
                    b'}' => {
                        state.depth = state.depth.saturating_sub(1);
                        if state.depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        self.pos = i;
        None
    }

    /// The next record as a borrowed slice of the read buffer (no copy): its offset and
    /// bytes. [`Iterator::next`] is the same with an owned copy.
    pub fn next_borrowed(&mut self) -> Option<Result<(u64, &[u8]), FrameError>> {
        match self.next_span()? {
            Ok((offset, start, end)) => Some(Ok((offset, &self.buf[start..end]))),
            Err(e) => Some(Err(e)),
        }
    }

    fn next_span(&mut self) -> Option<Result<(u64, usize, usize), FrameError>> {
        if self.failed {
            return None;
        }
        {
            // Skip separators between records.
            loop {
                if self.pos >= self.buf.len() {
                    let keep = self.pos;
                    self.compact(keep);
                    match self.fill() {
                        Ok(true) => continue,
                        Ok(false) => return None,
                        Err(e) => return Some(Err(self.io_error(e))),
                    }
                }
                match self.buf[self.pos] {
                    b'\n' => {
                        self.slow_line = false;
                        self.pos += 1;
                    }
                    b' ' | b'\t' | b'\r' | b',' | b'[' | b']' => self.pos += 1,
                    0xEF => {
                        // A byte order mark (at the start, or where pieces were concatenated).
                        if self.buf.len() - self.pos < 3 && !self.eof {
                            let keep = self.pos;
                            self.compact(keep);
                            match self.fill() {
                                Ok(_) => continue,
                                Err(e) => return Some(Err(self.io_error(e))),
                            }
                        }
                        if self.buf[self.pos..].starts_with(BOM) {
                            self.pos += 3;
                        } else {
                            break;
                        }
                    }
                    _ => break,
                }
            }
            let start = self.pos;
            if self.buf[start] != b'{' {
                return Some(Err(self.garbage()));
            }
            // Drop consumed bytes now and then (not per record: that would move the
            // buffered tail once per record).
            if start >= READ_CHUNK {
                self.compact(start);
            }
            let mut start = self.pos;
            self.last_fast = None;
            if self.opts.line_fast_path && !self.slow_line {
                if let Some(end) = self.line_candidate(start) {
                    self.pos = end;
                    self.last_fast = Some(start);
                    return Some(Ok((self.base + start as u64, start, end)));
                }
                // The record runs past the buffered bytes: before reading more, move just it
                // to the front (rather than the whole buffered tail later).
                if start > 0 && !self.eof && memchr::memchr(b'\n', &self.buf[start..]).is_none() {
                    self.compact(start);
                    start = self.pos;
                }
            }
            let mut state = ObjState::default();
            loop {
                match self.scan_object(start, &mut state) {
                    Scan::Complete(end) => {
                        self.pos = end + 1;
                        let bytes = &self.buf[start..=end];
                        let offset = self.base + start as u64;
                        if self.opts.validate_utf8 && std::str::from_utf8(bytes).is_err() {
                            return Some(Err(FrameError {
                                offset,
                                kind: FrameErrorKind::InvalidUtf8,
                            }));
                        }
                        return Some(Ok((offset, start, end + 1)));
                    }
                    Scan::Broken(resume, why) => {
                        self.pos = resume;
                        return Some(Err(self.err(start, FrameErrorKind::Truncated(why))));
                    }
                    Scan::TooLarge => {
                        let err = self.err(
                            start,
                            FrameErrorKind::TooLarge {
                                limit: self.opts.max_record_bytes,
                            },
                        );
                        self.pos = state.resume.max(start);
                        // Continue the same state machine without keeping bytes.
                        loop {
                            if let Some(resume) = self.skip_object(&mut state) {
                                self.pos = resume;
                                break;
                            }
                            let keep = self.pos;
                            self.compact(keep);
                            match self.fill() {
                                Ok(true) => {}
                                Ok(false) => break,
                                Err(e) => return Some(Err(self.io_error(e))),
                            }
                        }
                        return Some(Err(err));
                    }
                    Scan::More => match self.fill() {
                        Ok(true) => {}
                        Ok(false) => {
                            self.pos = self.buf.len();
                            return Some(Err(
                                self.err(start, FrameErrorKind::Truncated("end of input"))
                            ));
                        }
                        Err(e) => return Some(Err(self.io_error(e))),
                    },
                }
            }
        }
    }

    /// The line fast path: the record from `start` to the end of its line, when the line is
    /// buffered, within the size limit and ends in `}` (after `\r`, `,` and blanks).
    fn line_candidate(&self, start: usize) -> Option<usize> {
        let limit = self.buf.len().min(
            start
                .saturating_add(self.opts.max_record_bytes)
                .saturating_add(8),
        );
        let nl = start + memchr::memchr(b'\n', &self.buf[start..limit])?;
        let mut end = nl;
        while end > start && matches!(self.buf[end - 1], b'\r' | b' ' | b'\t' | b',') {
            end -= 1;
        }
        let fits = end - start <= self.opts.max_record_bytes;
        (fits && end > start + 1 && self.buf[end - 1] == b'}').then_some(end)
    }

    /// Undoes the last record if it came from the line fast path (see
    /// [`FramerOptions::line_fast_path`]): the framer re-scans it, and the rest of its line,
    /// byte by byte. Returns whether there was anything to undo.
    pub fn reject_last(&mut self) -> bool {
        match self.last_fast.take() {
            Some(start) => {
                self.pos = start;
                self.slow_line = true;
                true
            }
            None => false,
        }
    }

    /// Consumes bytes up to the next `{` (or line start) and reports them.
    fn garbage(&mut self) -> FrameError {
        let start = self.pos;
        let offset = self.base + start as u64;
        let mut len: u64 = 0;
        loop {
            let rest = &self.buf[self.pos..];
            match memchr::memchr2(b'{', b'\n', rest) {
                Some(k) => {
                    self.pos += k;
                    len += k as u64;
                    break;
                }
                None => {
                    len += rest.len() as u64;
                    self.pos = self.buf.len();
                    let keep = self.pos;
                    self.compact(keep);
                    match self.fill() {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => return self.io_error(e),
                    }
                }
            }
        }
        FrameError {
            offset,
            kind: FrameErrorKind::Garbage { len },
        }
    }
}

/// True when `buf[i]` is the first non-blank byte of a line, after `floor`.
fn at_line_start(buf: &[u8], i: usize, floor: usize) -> bool {
    let mut j = i;
    while j > floor {
        match buf[j - 1] {
            b'\n' => return true,
            b'\r' => j -= 1,
            _ => return false,
        }
    }
    false
}

#[derive(Default)]
struct ObjState {
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// Where the scan stopped for lack of input.
    resume: usize,
}

impl<R: Read> Iterator for Framer<R> {
    type Item = Result<Record, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_borrowed()?.map(|(offset, bytes)| Record {
            offset,
            bytes: bytes.to_vec(),
        }))
    }
}
