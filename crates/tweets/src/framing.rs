//! Stage 1: bytes -> records. Splits a stream of concatenated JSON objects into one record per
//! top-level object, whatever layout the producer and Firehose used, without holding the stream.
//!
//! Accepted, also mixed in one stream: NDJSON (LF or CRLF), blank keep-alive lines, objects with
//! no delimiter (`}{`), the legacy `{...},\n` layout, a top-level JSON array, a UTF-8 byte order
//! mark, NUL padding, and gzip members (detected by their header, decoded one by one: plain bytes
//! before, between or after members are framed too: a member among plain bytes is found where
//! the framer meets its header, at a record start, right after a record or ending a damaged
//! span, so plain objects are not searched for headers twice). A stream whose
//! decoded bytes start with a gzip header again (gzip of gzip) is decoded twice. UTF-16 and
//! UTF-32 text is rejected as a whole with one error naming the encoding.
//!
//! Offsets are byte offsets in the *decompressed* stream (for a plain object they are offsets in
//! the object itself).
//!
//! The framer finds object boundaries (string- and escape-aware brace matching); a caller may
//! pass a *judge* (the record parser, see [`Framer::next_judged`]) that decides whether a framed
//! object is a record. Damage is one [`FrameError`] per damaged span, with its offset and length:
//!
//! - A record that is truncated, oversized, not UTF-8, rejected by the judge, or followed on its
//!   own line by other bytes (`{...}"retweeted_status":{...}}`: one damaged line, not a record
//!   plus a phantom) starts a span. So does any byte that cannot start a record.
//! - Resynchronisation never continues the damaged state: from the byte after the span's start,
//!   the framer looks for the next *candidate* record start, frames it afresh (new brace and
//!   string state), has it judged, and only then ends the span there.
//! - A candidate is a `{` that is the first byte of a line, or a `{` followed by (blanks and) a
//!   `"` whose previous non-blank byte is not `:`, `,` or `[`. Why this cannot match a nested
//!   object (`user`, `retweeted_status`, `quoted_status`, v2 `includes`): in JSON a nested
//!   object is a value, so it always follows `:` (member) or `[` / `,` (array element); and
//!   `{"` cannot occur inside a JSON string, where `"` must be escaped. Two exceptions, each
//!   narrowed: in a one-line array (`[{...},{...}]`, learned when good records are separated by
//!   `,` on one line) a `{` after `},` is a candidate when its first key is one that started a
//!   good record of this stream (or a top-level key of the Twitter APIs); and a `[` may precede
//!   a candidate only at the start of a line or after `]` / `}` (arrays concatenated).
//!
//! Work is linear in the input whatever the damage: resync may try a candidate at every
//! `{` of a damaged span, and each candidate's scan may run up to the record limit, so the
//! candidates (and the records framed just after damage) are scanned through a shared memo
//! (`framing/memo.rs`) that walks each byte a bounded number of times for all of them;
//! UTF-8 checks of overlapping candidates are not repeated either. [`Framer::scanned_bytes`]
//! counts the work (`tests/resync.rs` holds it linear).
//!
//! Speed: with [`FramerOptions::line_fast_path`] (used by [`crate::Extractor::items`]) a record
//! that starts a line ending in `}` is handed to the judge whole after one `memchr` for the line
//! feed; only if the judge refuses it is the line scanned byte by byte. NDJSON/CRLF objects
//! thus cost one pass of `memchr`, and the other layouts fall back to the careful scan.

use std::collections::VecDeque;
use std::io::{self, Read};

mod gzip;
mod memo;

use gzip::{Event, MAGIC, Unwrap};
use memo::{Memo, Outcome};

/// Default per-record size limit (1 MiB): a record above it is reported and skipped.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

/// Members of a tweet that hold a whole tweet (closed by `"`, opened by the `"` before).
const NESTED_TWEET_KEYS: &[&[u8]] = &[b"retweeted_status\"", b"quoted_status\""];

const READ_CHUNK: usize = 64 * 1024;
const BOM: &[u8] = b"\xEF\xBB\xBF";
/// Longest first key remembered for candidate checks.
const MAX_KEY_BYTES: usize = 64;
/// How many distinct first keys a stream may teach the framer.
const MAX_KEYS: usize = 32;
/// Keys that start top-level objects of the Twitter / X APIs (tweets, v2 objects and payloads,
/// stream messages) and, in the shared corpus, never start an element of an array inside one
/// (unlike `id`, `id_str`, `text`, `type`, `author_id`, `geo`): candidates after a `,` before
/// any record of the stream taught its own keys.
const SEED_KEYS: &[&[u8]] = &[
    b"attachments",
    b"compliance_job_result",
    b"context_annotations",
    b"contributors",
    b"control",
    b"conversation_id",
    b"coordinates",
    b"created_at",
    b"data",
    b"delete",
    b"direct_message",
    b"disconnect",
    b"display_text_range",
    b"edit_controls",
    b"edit_history_tweet_ids",
    b"entities",
    b"event",
    b"extended_entities",
    b"favorited",
    b"for_user",
    b"friends",
    b"full_text",
    b"in_reply_to_screen_name",
    b"in_reply_to_status_id",
    b"in_reply_to_status_id_str",
    b"in_reply_to_user_id",
    b"in_reply_to_user_id_str",
    b"lang",
    b"limit",
    b"metadata",
    b"place",
    b"possibly_sensitive",
    b"possibly_sensitive_appealable",
    b"public_metrics",
    b"quoted_status",
    b"referenced_tweets",
    b"reply_count",
    b"reply_settings",
    b"retweeted_status",
    b"scrub_geo",
    b"source",
    b"status_withheld",
    b"target",
    b"user",
    b"user_withheld",
    b"warning",
];

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
    #[error("garbage between records")]
    Garbage,
    #[error("record exceeds the size limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// The judge (the record parser) refused the record; its reason.
    #[error("{0}")]
    Rejected(String),
    #[error("record followed by other bytes on its line")]
    TrailingBytes,
    /// A gzip member that could not be inflated to its end. What it inflated to before the
    /// damage is kept (its records are indexed); only the damaged span is this error.
    #[error(
        "corrupt gzip member at compressed byte {raw_offset} ({detail}), {raw_len} compressed bytes to the next member or the end: what it held before the damage is kept"
    )]
    CorruptGzip {
        raw_offset: u64,
        raw_len: u64,
        detail: String,
    },
    #[error("the object is {0} text, not UTF-8: re-encode it as UTF-8")]
    Encoding(&'static str),
    #[error("read error: {0}")]
    Io(String),
}

/// A framing error: where (offset in the decompressed stream), how many bytes of it are
/// damaged, and why. Framing goes on after every kind except [`FrameErrorKind::Io`] (an
/// error of the reader: retryable), which ends the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {kind} ({len} bytes)")]
pub struct FrameError {
    pub offset: u64,
    /// Length of the damaged span in the decompressed stream (0 for a corrupt gzip member,
    /// whose length is in compressed bytes, and for read errors).
    pub len: u64,
    pub kind: FrameErrorKind,
}

impl FrameError {
    /// The error as an invalid-record reason: what and how many bytes.
    pub fn reason(&self) -> String {
        match self.kind {
            // Its other figures are compressed bytes: say which these are.
            FrameErrorKind::CorruptGzip { .. } => format!(
                "{}; the damaged span is invalid ({} decompressed bytes)",
                self.kind, self.len
            ),
            _ => format!("{} ({} bytes)", self.kind, self.len),
        }
    }
}

/// A gzip error inside a damaged span: it is the span's cause (a member cut or corrupt
/// where a record was being framed), so it becomes the span's reason; several in one span
/// are one, over the compressed bytes from the first to the end of the last.
fn absorb_gzip_error(damage: &mut FrameError, e: FrameError) {
    let FrameErrorKind::CorruptGzip {
        raw_offset,
        raw_len,
        detail,
    } = e.kind
    else {
        return;
    };
    match &mut damage.kind {
        FrameErrorKind::CorruptGzip {
            raw_offset: first,
            raw_len: len,
            ..
        } => *len = (raw_offset + raw_len).saturating_sub(*first),
        kind => {
            *kind = FrameErrorKind::CorruptGzip {
                raw_offset,
                raw_len,
                detail,
            }
        }
    }
}

/// Framing settings.
#[derive(Debug, Clone, Copy)]
pub struct FramerOptions {
    /// Largest record accepted, in bytes (default [`DEFAULT_MAX_RECORD_BYTES`]).
    pub max_record_bytes: usize,
    /// Check each record is UTF-8 (default true). [`crate::Extractor::items`] turns it off:
    /// the record parser checks it itself (and reports invalid UTF-8 as the reason).
    pub validate_utf8: bool,
    /// Line fast path (default false): when a record starts a line that ends in `}`, hand the
    /// whole line to the judge without scanning it; if the judge refuses, the line is scanned
    /// the careful way. Only useful with a judge that parses ([`Framer::next_judged`]).
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

/// The judge of [`Framer::next_judged`]: `Ok` when the bytes at this offset are a record,
/// else the reason they are not.
pub type Judge<'j> = dyn FnMut(u64, &[u8]) -> Result<(), String> + 'j;

/// One step of [`Framer::next_judged`]: a damaged span, a judged record, or a damaged span
/// and then the record that ended it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub damage: Option<FrameError>,
    /// `(offset, start, end)`: the record's offset and its range in [`Framer::buffer`].
    pub record: Option<(u64, usize, usize)>,
}

enum Source<R: Read> {
    /// Not read yet.
    Pending(R),
    Single(Unwrap<R>),
    /// Gzip inside gzip.
    Double(Box<Unwrap<Unwrap<R>>>),
    Done,
}

/// Streaming record framer over any reader; an [`Iterator`] of records and framing errors.
///
/// Memory: one read buffer (64 KiB chunks) plus the record being assembled, which never
/// exceeds the record limit (damaged and oversized spans are skipped without being buffered).
pub struct Framer<R: Read> {
    source: Source<R>,
    opts: FramerOptions,
    buf: Vec<u8>,
    /// Scan position in `buf`.
    pos: usize,
    /// Absolute offset of `buf[0]`.
    base: u64,
    /// The byte before `buf[0]` (dropped by compaction), for look-backs.
    before: Option<u8>,
    eof: bool,
    /// Set after an I/O error: the iterator is finished.
    failed: bool,
    /// The stream's first bytes were checked (double gzip, UTF-16/32).
    checked_start: bool,
    encoding: Option<&'static str>,
    gzip: bool,
    /// First keys of good records (for candidates after `},` in a one-line array).
    keys: Vec<Box<[u8]>>,
    /// The index in `keys` of the last key seen.
    last_key: usize,
    /// Good records were separated by `,` on one line (a one-line array).
    comma_layout: bool,
    /// Errors found below the framer (gzip), reported before the next record.
    pending: VecDeque<FrameError>,
    /// Where the output of a corrupt member ends in the records' stream (and the next
    /// member's begins), for the ones not framed past yet: no record spans one.
    seams: VecDeque<u64>,
    /// A record judged already, to hand out after the damage returned before it.
    ready: Option<(u64, usize, usize)>,
    /// A step framed already, to hand out after the gzip error that came before it.
    held: Option<Step>,
    /// The shared scan of every `{` near damage (resync candidates and the records just
    /// after them), so that no byte is scanned once per candidate.
    memo: Option<Memo>,
    /// What UTF-8 checks of overlapping candidates already found.
    utf8: Utf8Memo,
    /// Bytes scanned or checked so far, by plain scans, retired memos and UTF-8 checks.
    work: std::cell::Cell<u64>,
}

/// A stretch `[from, valid_to)` of the stream known to be UTF-8, and whether the byte at
/// `valid_to` is known to be invalid.
#[derive(Default)]
struct Utf8Memo {
    from: u64,
    valid_to: u64,
    bad: bool,
}

/// Outcome of scanning one object from `start`.
#[derive(Debug, PartialEq, Eq)]
enum Scan {
    /// Object ends at this index (inclusive).
    Complete(usize),
    /// Need more bytes.
    More,
    /// The object is broken.
    Broken(&'static str),
    /// The object passed the size limit.
    TooLarge,
}

/// Whether a `{` may start a record.
enum Candidate {
    Yes,
    /// After `:` or `,`: only when its object is followed by another record (after `:`, with
    /// no `,` in between: a record cut just after a `:` is followed by the next record only in
    /// a layout with no delimiter, while a nested object of a record cut just after its `},`
    /// would pass the test with the comma).
    IfFollowed {
        comma: bool,
    },
    No,
    NeedMore,
}

/// Bytes between records (and at a damaged span's end, not counted in its length).
fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b',' | b'[' | b']' | 0)
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
            before: None,
            eof: false,
            failed: false,
            checked_start: false,
            encoding: None,
            gzip: false,
            keys: Vec::new(),
            last_key: 0,
            comma_layout: false,
            pending: VecDeque::new(),
            seams: VecDeque::new(),
            ready: None,
            held: None,
            memo: None,
            utf8: Utf8Memo::default(),
            work: std::cell::Cell::new(0),
        }
    }

    /// Whether the stream held gzip (known once its first bytes are read).
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// Bytes of decompressed stream consumed so far.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Bytes the framer has scanned or checked so far (brace/string scans and UTF-8 checks,
    /// counting each time a byte is looked at again): a measure of its work, linear in the
    /// input's size whatever the damage (at most a few scans per byte).
    pub fn scanned_bytes(&self) -> u64 {
        self.work.get() + self.memo.as_ref().map_or(0, |m| m.scanned)
    }

    /// The read buffer: [`Step::record`] ranges index into it until the next call.
    pub fn buffer(&self) -> &[u8] {
        &self.buf
    }

    fn read_source(&mut self, at: usize) -> io::Result<usize> {
        let framing_at = self.base + self.pos as u64;
        let out = &mut self.buf[at..];
        let (n, events, members) = match &mut self.source {
            Source::Pending(_) | Source::Done => return Ok(0),
            Source::Single(u) => {
                let n = u.read(out)?;
                let events = u.take_events();
                self.seams.extend(events.iter().filter_map(Event::seam));
                (n, events, u.members())
            }
            Source::Double(u) => {
                let n = u.read(out)?;
                // The object's own layer counts its offsets in the stream the gzip inside it
                // inflates, not in the records' stream: its events are placed where framing
                // stands (no step still to come starts before it, so steps stay in offset
                // order; where the inner layer stands is no bound: bytes handed back to it are
                // read again). They are no seams: only the inner layer's damage is one in the
                // records' stream.
                let outer = u.inner_mut().take_events();
                let mut events = u.take_events();
                self.seams.extend(events.iter().filter_map(Event::seam));
                events.extend(outer.into_iter().map(|e| e.placed_at(framing_at)));
                (n, events, 1)
            }
        };
        if members > 0 {
            self.gzip = true;
        }
        for event in events {
            match event {
                Event::Checksum {
                    raw_offset,
                    decompressed_offset,
                    detail,
                } => tracing::warn!(
                    compressed_offset = raw_offset,
                    decompressed_offset,
                    detail,
                    "gzip member trailer does not match; its data is kept"
                ),
                Event::Corrupt {
                    raw_offset,
                    raw_len,
                    decompressed_offset,
                    detail,
                } => self.pending.push_back(FrameError {
                    offset: decompressed_offset,
                    len: 0,
                    kind: FrameErrorKind::CorruptGzip {
                        raw_offset,
                        raw_len,
                        detail,
                    },
                }),
            }
        }
        Ok(n)
    }

    /// Reads one more chunk into `buf`; returns false at end of input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if let Source::Pending(_) = self.source
            && let Source::Pending(r) = std::mem::replace(&mut self.source, Source::Done)
        {
            self.source = Source::Single(Unwrap::new(r));
        }
        let len = self.buf.len();
        self.buf.resize(len + READ_CHUNK, 0);
        let res = self.read_source(len);
        match res {
            Ok(n) => {
                self.buf.truncate(len + n);
                if n == 0 {
                    // The source stays: a gzip header found in its plain bytes is handed back
                    // to it ([`Self::switch_to_gzip`]) and read again.
                    self.eof = true;
                }
                if !self.checked_start && (self.buf.len() >= 4 || self.eof) {
                    self.checked_start = true;
                    self.check_start();
                }
                Ok(n > 0)
            }
            Err(e) => {
                self.buf.truncate(len);
                Err(e)
            }
        }
    }

    /// The stream's first bytes: gzip inside gzip, or text in another encoding than UTF-8.
    fn check_start(&mut self) {
        if self.base == 0 && self.gzip && self.buf.starts_with(&MAGIC) {
            if let Source::Single(u) = std::mem::replace(&mut self.source, Source::Done) {
                let decoded = std::mem::take(&mut self.buf);
                tracing::warn!("the object is gzip inside gzip: decoding it twice");
                self.source = Source::Double(Box::new(Unwrap::with_prefix(u, decoded)));
                // Damage of the object's own layer seen so far is counted in the stream now
                // inflated again: in the records' stream it is at its start.
                for e in &mut self.pending {
                    e.offset = 0;
                }
                self.seams.clear();
                self.pos = 0;
                self.eof = false;
            }
            return;
        }
        self.encoding = detect_wide_encoding(&self.buf);
    }

    /// Drops consumed bytes so the buffer only holds the unfinished tail.
    fn compact(&mut self, keep_from: usize) {
        if keep_from > 0 {
            self.before = Some(self.buf[keep_from - 1]);
            self.buf.drain(..keep_from);
            self.base += keep_from as u64;
            self.pos -= keep_from.min(self.pos);
        }
    }

    /// [`Self::compact`], after letting the memo scan the bytes about to be dropped when it may
    /// still be asked about later ones.
    fn compact_keeping_memo(&mut self, keep_from: usize) {
        let to = self.base + keep_from as u64;
        if let Some(memo) = self.memo.as_mut()
            && memo.covers(to, self.base)
        {
            memo.advance_to(to, &self.buf, self.base);
        }
        self.compact(keep_from);
    }

    /// Drops the memo, keeping the count of its work.
    fn retire_memo(&mut self) {
        if let Some(memo) = self.memo.take() {
            self.work.set(self.work.get() + memo.scanned);
        }
    }

    /// Whether the memo (if any) can answer for the object at `start`.
    fn memo_covers(&self, start: usize) -> bool {
        let at = self.base + start as u64;
        self.memo.as_ref().is_some_and(|m| m.covers(at, self.base))
    }

    /// [`Self::scan_object`] for the object at `start` through the memo (made afresh from
    /// `start` when the current one does not cover it).
    fn memo_scan(&mut self, start: usize) -> Scan {
        let at = self.base + start as u64;
        if !self.memo_covers(start) {
            self.retire_memo();
        }
        let memo = self
            .memo
            .get_or_insert_with(|| Memo::new(at, self.opts.max_record_bytes));
        match memo.outcome(at, &self.buf, self.base) {
            Outcome::Complete(end) => Scan::Complete((end - self.base) as usize),
            Outcome::Broken(why) => Scan::Broken(why),
            Outcome::TooLarge => Scan::TooLarge,
            Outcome::Pending => Scan::More,
        }
    }

    /// Whether `buf[start..=end]` is UTF-8, without checking again what an overlapping
    /// candidate's check covered: both ends are ASCII (`{`, `}`), so a check that began at an
    /// earlier brace is in step with one that begins at `start`.
    fn is_utf8(&mut self, start: usize, end: usize) -> bool {
        let (from, to) = (self.base + start as u64, self.base + end as u64 + 1);
        let known = &mut self.utf8;
        if !(known.from <= from && from <= known.valid_to) {
            *known = Utf8Memo {
                from,
                valid_to: from,
                bad: false,
            };
        }
        if to <= known.valid_to {
            return true;
        }
        if known.bad {
            return false;
        }
        let unchecked = &self.buf[(known.valid_to - self.base) as usize..=end];
        self.work.set(self.work.get() + unchecked.len() as u64);
        match std::str::from_utf8(unchecked) {
            Ok(_) => {
                known.valid_to = to;
                true
            }
            Err(e) => {
                known.valid_to += e.valid_up_to() as u64;
                known.bad = true;
                false
            }
        }
    }

    fn io_error(&mut self, e: io::Error) -> FrameError {
        self.failed = true;
        self.eof = true;
        self.source = Source::Done;
        FrameError {
            offset: self.base + self.buf.len() as u64,
            len: 0,
            kind: FrameErrorKind::Io(e.to_string()),
        }
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
                    return Scan::Broken(memo::LINE_BREAK_IN_STRING);
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
                    return Scan::Broken(memo::LINE_BREAK_IN_STRING);
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
                            return Scan::Broken(memo::NEXT_RECORD_BEGAN);
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

    /// The next record as a borrowed slice of the read buffer (no copy): its offset and
    /// bytes, with no judge (every framed object is a record). [`Iterator::next`] is the same
    /// with an owned copy.
    pub fn next_borrowed(&mut self) -> Option<Result<(u64, &[u8]), FrameError>> {
        if let Some((offset, start, end)) = self.ready.take() {
            return Some(Ok((offset, &self.buf[start..end])));
        }
        match self.next_judged(&mut |_, _| Ok(()))? {
            Err(e) => Some(Err(e)),
            Ok(Step {
                damage: Some(e),
                record,
            }) => {
                self.ready = record;
                Some(Err(e))
            }
            Ok(Step {
                damage: None,
                record: Some((offset, start, end)),
            }) => Some(Ok((offset, &self.buf[start..end]))),
            Ok(Step {
                damage: None,
                record: None,
            }) => None,
        }
    }

    /// The next step: a damaged span and/or a record the judge accepted (its bytes are
    /// `self.buffer()[start..end]`). `Err` only for an error of the reader, which ends the
    /// stream. `judge` is called on every framed object, also on candidates while
    /// resynchronising; the last call it got before a step with a record was for that record.
    ///
    /// Steps come in offset order. A gzip member that is corrupt or cut where a record was
    /// being framed is one step: the damaged span from that record's start to the next record,
    /// with the gzip error as its reason (its length is in decompressed bytes).
    pub fn next_judged(&mut self, judge: &mut Judge<'_>) -> Option<Result<Step, FrameError>> {
        if let Some(step) = self.held.take() {
            return Some(Ok(self.order_gzip_damage(step)));
        }
        if self.failed {
            return None;
        }
        // Damage below the framer where framing stands: nothing unframed is before it.
        if self
            .pending
            .front()
            .is_some_and(|e| e.offset <= self.base + self.pos as u64)
        {
            return self.pending.pop_front().map(|e| Ok(damage_only(e)));
        }
        match self.next_step(judge) {
            None => self.pending.pop_front().map(|e| Ok(damage_only(e))),
            Some(Ok(step)) => Some(Ok(self.order_gzip_damage(step))),
            Some(Err(e)) => Some(Err(e)),
        }
    }

    /// Places the gzip errors found while `step` was framed: one inside its damaged span (or
    /// between the span and the record that ends it) becomes the span's reason, so a member
    /// cut or corrupt mid-record is one damaged span, not the cut record and then the member;
    /// one before the step is returned first (the step is held for the next call; its buffer
    /// range stays valid, nothing is read meanwhile); later ones wait for their turn.
    fn order_gzip_damage(&mut self, mut step: Step) -> Step {
        if let Some(damage) = &mut step.damage {
            let reach = step
                .record
                .map_or(self.base + self.pos as u64, |(offset, ..)| offset);
            let first = damage.offset;
            while let Some(e) = self.pending.front()
                && first <= e.offset
                && e.offset <= reach
            {
                if let Some(e) = self.pending.pop_front() {
                    absorb_gzip_error(damage, e);
                }
            }
        }
        let first = match (&step.damage, step.record) {
            (Some(damage), _) => damage.offset,
            (None, Some((offset, ..))) => offset + 1,
            (None, None) => u64::MAX,
        };
        if self.pending.front().is_some_and(|e| e.offset < first)
            && let Some(e) = self.pending.pop_front()
        {
            self.held = Some(step);
            return damage_only(e);
        }
        step
    }

    /// [`Self::next_judged`] before gzip errors are put in their place.
    fn next_step(&mut self, judge: &mut Judge<'_>) -> Option<Result<Step, FrameError>> {
        // Skip separators between records.
        let mut comma_on_line = false;
        loop {
            if self.pos >= self.buf.len() {
                let keep = self.pos;
                self.compact_keeping_memo(keep);
                match self.fill() {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(e) => return Some(Err(self.io_error(e))),
                }
                if let Some(name) = self.encoding.take() {
                    return Some(self.reject_encoding(name));
                }
                continue;
            }
            match self.buf[self.pos] {
                b'\n' => {
                    comma_on_line = false;
                    self.pos += 1;
                }
                b',' => {
                    comma_on_line = true;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | b'[' | b']' | 0 => self.pos += 1,
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
        if comma_on_line && self.base + (self.pos as u64) > 0 {
            self.comma_layout = true;
        }
        let start = self.pos;
        if self.buf[start] != b'{' {
            if self.buf[start] == MAGIC[0] {
                match self.plain_gzip_at(start) {
                    Ok(true) => {
                        self.switch_to_gzip(start);
                        return self.next_step(judge);
                    }
                    Ok(false) => {}
                    Err(e) => return Some(Err(self.io_error(e))),
                }
            }
            return self.resync(start, FrameErrorKind::Garbage, judge);
        }
        let line_start = self.after_line_break(start);
        // Drop consumed bytes now and then (not per record: that would move the buffered
        // tail once per record).
        if start >= READ_CHUNK {
            self.compact_keeping_memo(start);
        }
        let mut start = self.pos;
        if self.opts.line_fast_path {
            if let Some(end) = self.line_candidate(start) {
                let offset = self.base + start as u64;
                if !self.spans_gzip_seam(start, end) && judge(offset, &self.buf[start..end]).is_ok()
                {
                    self.learn_key(start);
                    self.pos = end;
                    return Some(Ok(record_only(offset, start, end)));
                }
            } else if start > 0 && !self.eof && memchr::memchr(b'\n', &self.buf[start..]).is_none()
            {
                // The record runs past the buffered bytes: before reading more, move just it
                // to the front (rather than the whole buffered tail later).
                self.compact_keeping_memo(start);
                start = self.pos;
            }
        }
        // Just after damage, the memo has scanned these bytes already (or will have to): scan
        // through it. Elsewhere the plain scan is faster, and scans each byte once.
        let through_memo = self.memo_covers(start);
        if !through_memo {
            self.retire_memo();
        }
        let mut state = ObjState::default();
        loop {
            let scan = if through_memo {
                self.memo_scan(start)
            } else {
                let from = state.resume.max(start);
                let scan = self.scan_object(start, &mut state);
                // Counted outside the scan, which stays as lean as it was: exact for a
                // complete object, at most the buffered bytes within the limit otherwise.
                let to = match scan {
                    Scan::Complete(end) => end + 1,
                    Scan::More | Scan::TooLarge => state.resume,
                    Scan::Broken(_) => self
                        .buf
                        .len()
                        .min(start.saturating_add(self.opts.max_record_bytes)),
                };
                self.work
                    .set(self.work.get() + to.saturating_sub(from) as u64);
                scan
            };
            match scan {
                Scan::Complete(end) => {
                    return match self.check_complete(start, end, line_start, judge) {
                        Ok(Ok(())) => {
                            self.learn_key(start);
                            self.pos = end + 1;
                            let offset = self.base + start as u64;
                            Some(Ok(record_only(offset, start, end + 1)))
                        }
                        Ok(Err(kind)) => self.resync(start, kind, judge),
                        Err(e) => Some(Err(self.io_error(e))),
                    };
                }
                Scan::Broken(why) => {
                    return self.resync(start, FrameErrorKind::Truncated(why), judge);
                }
                Scan::TooLarge => {
                    let kind = FrameErrorKind::TooLarge {
                        limit: self.opts.max_record_bytes,
                    };
                    return self.resync(start, kind, judge);
                }
                Scan::More => match self.fill() {
                    Ok(true) => {}
                    Ok(false) => {
                        let kind = FrameErrorKind::Truncated("end of input");
                        return self.resync(start, kind, judge);
                    }
                    Err(e) => return Some(Err(self.io_error(e))),
                },
            }
        }
    }

    /// A complete object at `start..=end`: whether it is a record (UTF-8, alone on its line
    /// up to the next record start, accepted by the judge), else why not.
    fn check_complete(
        &mut self,
        start: usize,
        end: usize,
        line_start: bool,
        judge: &mut Judge<'_>,
    ) -> io::Result<Result<(), FrameErrorKind>> {
        if self.opts.validate_utf8 && !self.is_utf8(start, end) {
            return Ok(Err(FrameErrorKind::InvalidUtf8));
        }
        if !self.clean_after(end + 1, line_start)? {
            return Ok(Err(FrameErrorKind::TrailingBytes));
        }
        if self.spans_gzip_seam(start, end + 1) {
            return Ok(Err(FrameErrorKind::Truncated(
                "cut by a corrupt gzip member",
            )));
        }
        let offset = self.base + start as u64;
        Ok(judge(offset, &self.buf[start..=end]).map_err(FrameErrorKind::Rejected))
    }

    /// Whether a corrupt gzip member's output ends inside `start..end` (buffer positions): the
    /// bytes after that seam come from the next member, so an object that closes after it was
    /// glued from two members (the start of a record the damage cut, the end of another) and
    /// is no record, however well it parses.
    fn spans_gzip_seam(&mut self, start: usize, end: usize) -> bool {
        let (from, to) = (self.base + start as u64, self.base + end as u64);
        // Seams before the framing position are behind every object still to be framed.
        let framed = self.base + self.pos as u64;
        while self.seams.front().is_some_and(|&seam| seam <= framed) {
            self.seams.pop_front();
        }
        self.seams.iter().any(|&seam| from < seam && seam < to)
    }

    /// Whether the object that ends before `i` really ended there: not when a member follows
    /// (`}"key":` or `},"key"`: an extra `}` cut it short), nor, for an object that starts a
    /// line, when other bytes follow on its line (NDJSON lines are authoritative). Other bytes
    /// after an object inside a line are garbage of their own. Reads more input as needed
    /// (never compacts).
    fn clean_after(&mut self, mut i: usize, line_start: bool) -> io::Result<bool> {
        let mut comma = false;
        loop {
            if i >= self.buf.len() {
                if !self.fill()? {
                    return Ok(true);
                }
                continue;
            }
            let b = self.buf[i];
            match b {
                b'\n' => return Ok(true),
                // `MAGIC[0]`: a gzip member after the record.
                0x1f if self.plain_gzip_at(i)? => return Ok(true),
                b'{' => {
                    if comma {
                        self.comma_layout = true;
                    }
                    return Ok(true);
                }
                b',' => comma = true,
                b' ' | b'\t' | b'\r' | b'[' | b']' | 0 => {}
                0xEF if self.buf.len() - i < 3 && !self.eof => {
                    self.fill()?;
                    continue;
                }
                0xEF if self.buf[i..].starts_with(BOM) => i += 2,
                b'"' => return Ok(false),
                _ => return Ok(!line_start),
            }
            i += 1;
        }
    }

    /// Whether the next byte from `i` that is not a separator is a `{`. Reads more input as
    /// needed (never compacts).
    fn next_is_object(&mut self, mut i: usize, comma: bool) -> io::Result<bool> {
        loop {
            if i >= self.buf.len() {
                if !self.fill()? {
                    return Ok(false);
                }
                continue;
            }
            match self.buf[i] {
                b'{' => return Ok(true),
                b',' if !comma => return Ok(false),
                b if is_separator(b) => i += 1,
                _ => return Ok(false),
            }
        }
    }

    /// Damage from `span_start`: scans afresh from the next byte for a candidate record start
    /// that frames and is judged a record; reports the bytes in between as one span.
    fn resync(
        &mut self,
        span_start: usize,
        kind: FrameErrorKind,
        judge: &mut Judge<'_>,
    ) -> Option<Result<Step, FrameError>> {
        let span_abs = self.base + span_start as u64;
        // End of the span's last non-separator byte, once the bytes are dropped.
        let mut content_end = span_abs + 1;
        let mut i = span_start + 1;
        loop {
            let from = i.min(self.buf.len());
            let Some(k) = memchr::memchr2(b'{', MAGIC[0], &self.buf[from..]) else {
                content_end = self.content_end(self.buf.len(), span_abs, content_end);
                if self.eof {
                    self.pos = self.buf.len();
                    return Some(Ok(damage_only(FrameError {
                        offset: span_abs,
                        len: content_end - span_abs,
                        kind,
                    })));
                }
                // Keep a few bytes for the look-back of the next candidate.
                let keep = self.buf.len().saturating_sub(8);
                self.pos = keep;
                self.compact_keeping_memo(keep);
                i = self.buf.len();
                if let Err(e) = self.fill() {
                    return Some(Err(self.io_error(e)));
                }
                continue;
            };
            let c = from + k;
            if self.buf[c] == MAGIC[0] {
                // A gzip member after plain bytes ends the span.
                match self.plain_gzip_at(c) {
                    Ok(true) => {
                        content_end = self.content_end(c, span_abs, content_end);
                        self.switch_to_gzip(c);
                        self.pos = c;
                        return Some(Ok(damage_only(FrameError {
                            offset: span_abs,
                            len: content_end - span_abs,
                            kind,
                        })));
                    }
                    Ok(false) => {
                        i = c + 1;
                        continue;
                    }
                    Err(e) => return Some(Err(self.io_error(e))),
                }
            }
            let followed = match self.candidate(c) {
                Candidate::No => {
                    i = c + 1;
                    continue;
                }
                Candidate::NeedMore => {
                    match self.fill() {
                        Ok(true) => {}
                        Ok(false) => i = c + 1,
                        Err(e) => return Some(Err(self.io_error(e))),
                    }
                    continue;
                }
                Candidate::Yes => None,
                Candidate::IfFollowed { comma } => Some(comma),
            };
            // Frame the candidate afresh; drop what is before it first.
            let line_start = self.after_line_break(c);
            let mut c = c;
            if c >= READ_CHUNK {
                content_end = self.content_end(c, span_abs, content_end);
                self.pos = c;
                self.compact_keeping_memo(c);
                c = 0;
            }
            let outcome = loop {
                match self.memo_scan(c) {
                    Scan::Complete(end) if followed.is_some() => {
                        match self.next_is_object(end + 1, followed == Some(true)) {
                            Ok(true) => match self.check_complete(c, end, line_start, judge) {
                                Ok(Ok(())) => break Some(end),
                                Ok(Err(_)) => break None,
                                Err(e) => return Some(Err(self.io_error(e))),
                            },
                            Ok(false) if self.ends_stream(c, end) => {
                                match self.check_complete(c, end, line_start, judge) {
                                    Ok(Ok(())) => break Some(end),
                                    Ok(Err(_)) => break None,
                                    Err(e) => return Some(Err(self.io_error(e))),
                                }
                            }
                            Ok(false) => break None,
                            Err(e) => return Some(Err(self.io_error(e))),
                        }
                    }
                    Scan::Complete(end) => match self.check_complete(c, end, line_start, judge) {
                        Ok(Ok(())) => break Some(end),
                        Ok(Err(_)) => break None,
                        Err(e) => return Some(Err(self.io_error(e))),
                    },
                    Scan::Broken(_) | Scan::TooLarge => break None,
                    Scan::More => match self.fill() {
                        Ok(true) => {}
                        Ok(false) => break None,
                        Err(e) => return Some(Err(self.io_error(e))),
                    },
                }
            };
            let Some(end) = outcome else {
                i = c + 1;
                continue;
            };
            content_end = self.content_end(c, span_abs, content_end);
            self.learn_key(c);
            self.pos = end + 1;
            let offset = self.base + c as u64;
            return Some(Ok(Step {
                damage: Some(FrameError {
                    offset: span_abs,
                    len: content_end - span_abs,
                    kind,
                }),
                record: Some((offset, c, end + 1)),
            }));
        }
    }

    /// The absolute end of the last non-separator byte before `to` in a span that starts at
    /// `span_abs`; `known` when all buffered bytes of the span before `to` are separators.
    fn content_end(&self, to: usize, span_abs: u64, known: u64) -> u64 {
        let floor = span_abs.saturating_sub(self.base) as usize;
        let mut j = to.min(self.buf.len());
        while j > floor && is_separator(self.buf[j - 1]) {
            j -= 1;
        }
        if j > floor || (span_abs >= self.base && j > 0) {
            (self.base + j as u64).max(known)
        } else {
            known
        }
    }

    /// Whether `buf[i]` is the first byte of a line (or of the stream), after a `\r`.
    fn line_start(&self, i: usize) -> bool {
        self.after_line_break(i) || self.base == 0 && self.buf[..i].iter().all(|b| *b == b'\r')
    }

    /// Whether `buf[i]` follows a line break (and `\r`s): the stream has lines. (The first
    /// record of a stream may be followed by another with no delimiter.)
    fn after_line_break(&self, i: usize) -> bool {
        let mut j = i;
        while j > 0 && self.buf[j - 1] == b'\r' {
            j -= 1;
        }
        if j > 0 {
            self.buf[j - 1] == b'\n'
        } else {
            self.before == Some(b'\n')
        }
    }

    /// Whether the `{` at `c` may start a record (see the module docs for the rule).
    fn candidate(&self, c: usize) -> Candidate {
        let buf = &self.buf;
        let mut j = c;
        while j > 0 && matches!(buf[j - 1], b' ' | b'\t' | b'\r') {
            j -= 1;
        }
        if j == c && self.line_start(c) {
            return Candidate::Yes;
        }
        let prev = if j == 0 {
            self.before
        } else {
            Some(buf[j - 1])
        };
        let mut yes = Candidate::Yes;
        let need_known_key = match prev {
            // A member's value, or the next record after a record cut just after a `:`.
            Some(b':') => {
                yes = Candidate::IfFollowed { comma: false };
                false
            }
            // A one-line array's next record (or one after a record cut just after a `,`),
            // or an array element inside a record.
            Some(b',') => {
                if !self.comma_layout {
                    yes = Candidate::IfFollowed { comma: true };
                }
                true
            }
            // A top-level array's first record; else an array element inside a record, or the
            // next record after a record cut just after a `[`: judged like after `,`.
            Some(b'[') => {
                if matches!(prev_non_blank(buf, j - 1), None | Some(b'\n' | b']' | b'}')) {
                    false
                } else {
                    yes = Candidate::IfFollowed { comma: true };
                    true
                }
            }
            _ => false,
        };
        // `{`, blanks, `"`, the key, `"`.
        let mut k = c + 1;
        while k < buf.len() && matches!(buf[k], b' ' | b'\t' | b'\r' | b'\n') {
            k += 1;
        }
        let more = || {
            if self.eof {
                Candidate::No
            } else {
                Candidate::NeedMore
            }
        };
        match buf.get(k) {
            None => return more(),
            Some(b'"') => {}
            Some(_) => return Candidate::No,
        }
        if !need_known_key {
            return yes;
        }
        let rest = &buf[k + 1..buf.len().min(k + 2 + MAX_KEY_BYTES)];
        match memchr::memchr(b'"', rest) {
            Some(n) if self.known_key(&rest[..n]) => yes,
            Some(_) => Candidate::No,
            None if rest.len() > MAX_KEY_BYTES => Candidate::No,
            None => more(),
        }
    }

    fn known_key(&self, key: &[u8]) -> bool {
        SEED_KEYS.contains(&key) || self.keys.iter().any(|k| &**k == key)
    }

    /// Remembers the first key of the good record at `start`.
    fn learn_key(&mut self, start: usize) {
        let b = &self.buf[start..];
        // Records mostly begin with the key of the record before: that one is checked first.
        if let Some(last) = self.keys.get(self.last_key)
            && b.get(1) == Some(&b'"')
            && b[2..].starts_with(last)
            && b.get(2 + last.len()) == Some(&b'"')
        {
            return;
        }
        let Some(key) = first_key(b) else {
            return;
        };
        match self.keys.iter().position(|k| &**k == key) {
            Some(n) => self.last_key = n,
            None if self.keys.len() < MAX_KEYS => {
                self.last_key = self.keys.len();
                self.keys.push(key.into());
            }
            None => {}
        }
    }

    /// The whole stream as one error naming its encoding.
    fn reject_encoding(&mut self, name: &'static str) -> Result<Step, FrameError> {
        let offset = self.base + self.pos as u64;
        loop {
            self.pos = self.buf.len();
            let keep = self.pos;
            self.compact(keep);
            match self.fill() {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return Err(self.io_error(e)),
            }
        }
        self.pending.clear();
        self.seams.clear();
        Ok(damage_only(FrameError {
            offset,
            len: self.base + self.buf.len() as u64 - offset,
            kind: FrameErrorKind::Encoding(name),
        }))
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

    /// Whether the object `buf[c..=end]`, a candidate after `:` or `,` that no record follows,
    /// is the stream's last record (a record cut just after a `:` or `,`, then the last record):
    /// only separators follow it to the end of input, it begins with a key that good records of
    /// this stream begin with, and after `:` the member before it is not one that holds a whole tweet (a
    /// record cut just after its `retweeted_status` or `quoted_status` closed ends with a
    /// complete tweet that is not a record: lost, not invented).
    fn ends_stream(&self, c: usize, end: usize) -> bool {
        if !self.eof || !self.buf[end + 1..].iter().all(|b| is_separator(*b)) {
            return false;
        }
        let Some(key) = first_key(&self.buf[c..]) else {
            return false;
        };
        if !self.keys.iter().any(|k| **k == *key) {
            return false;
        }
        let before = &self.buf[..c];
        let Some(j) = before
            .iter()
            .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        else {
            return false;
        };
        if before[j] != b':' {
            return true;
        }
        let member = before[..j].trim_ascii_end();
        !NESTED_TWEET_KEYS
            .iter()
            .any(|k| member.ends_with(k) && member[..member.len() - k.len()].ends_with(b"\""))
    }

    /// Whether a gzip member starts at `buf[i]` among plain bytes: a member after plain records
    /// or after a damaged one. The gzip layer does not search plain bytes for headers (a second
    /// pass over every plain object); the framer meets such a header as bytes that are not a
    /// record. Reads more input as needed (never compacts).
    fn plain_gzip_at(&mut self, i: usize) -> io::Result<bool> {
        while self.buf.len() - i < MAGIC.len() && self.fill()? {}
        if !self.buf[i..].starts_with(&MAGIC) {
            return Ok(false);
        }
        let tail = (self.buf.len() - i) as u64;
        Ok(match &self.source {
            Source::Single(u) => u.plain_tail() >= tail,
            Source::Double(u) => u.plain_tail() >= tail,
            Source::Pending(_) | Source::Done => false,
        })
    }

    /// Hands `buf[i..]` (plain bytes from a gzip header on, see [`Self::plain_gzip_at`]) back
    /// to the gzip layer, which decodes them; what was learnt of those bytes is forgotten.
    fn switch_to_gzip(&mut self, i: usize) {
        let taken = match &mut self.source {
            Source::Single(u) => u.unread(&self.buf[i..]),
            Source::Double(u) => u.unread(&self.buf[i..]),
            Source::Pending(_) | Source::Done => false,
        };
        if taken {
            self.buf.truncate(i);
            self.eof = false;
            self.retire_memo();
            self.utf8 = Utf8Memo::default();
        }
    }
}

fn damage_only(e: FrameError) -> Step {
    Step {
        damage: Some(e),
        record: None,
    }
}

fn record_only(offset: u64, start: usize, end: usize) -> Step {
    Step {
        damage: None,
        record: Some((offset, start, end)),
    }
}

/// The previous byte before `i` that is not a blank or line break.
fn prev_non_blank(buf: &[u8], i: usize) -> Option<u8> {
    buf[..i]
        .iter()
        .rev()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// The first key of the object at the start of `b` (`{`, blanks, `"key"`).
fn first_key(b: &[u8]) -> Option<&[u8]> {
    let mut k = 1;
    while k < b.len() && matches!(b[k], b' ' | b'\t' | b'\r' | b'\n') {
        k += 1;
    }
    if b.get(k) != Some(&b'"') {
        return None;
    }
    let rest = &b[k + 1..b.len().min(k + 2 + MAX_KEY_BYTES)];
    let n = memchr::memchr2(b'"', b'\\', rest)?;
    (rest[n] == b'"').then(|| &rest[..n])
}

/// UTF-16 or UTF-32 text, told by its byte order mark or by the NUL bytes around the first
/// ASCII characters (JSON text starts with ASCII).
fn detect_wide_encoding(b: &[u8]) -> Option<&'static str> {
    let at = |i: usize| b.get(i).copied();
    match (at(0), at(1), at(2), at(3)) {
        (Some(0xFF), Some(0xFE), Some(0), Some(0)) => Some("UTF-32LE"),
        (Some(0), Some(0), Some(0xFE), Some(0xFF)) => Some("UTF-32BE"),
        (Some(0xFF), Some(0xFE), ..) => Some("UTF-16LE"),
        (Some(0xFE), Some(0xFF), ..) => Some("UTF-16BE"),
        (Some(a), Some(0), Some(0), Some(0)) if a != 0 => Some("UTF-32LE"),
        (Some(0), Some(0), Some(0), Some(d)) if d != 0 => Some("UTF-32BE"),
        (Some(a), Some(0), Some(c), Some(0)) if a != 0 && c != 0 => Some("UTF-16LE"),
        (Some(0), Some(b), Some(0), Some(d)) if b != 0 && d != 0 => Some("UTF-16BE"),
        _ => None,
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The plain scan and the memo's, for every `{` of `bytes` (all buffered, at end of
    /// input): `More` means the input ended first.
    fn both_scans(bytes: &[u8], max_record_bytes: usize) -> Vec<(usize, Scan, Scan)> {
        let opts = FramerOptions {
            max_record_bytes,
            ..FramerOptions::default()
        };
        let mut framer = Framer::with_options(bytes, opts);
        while framer.fill().expect("a slice reads") {}
        let mut out = Vec::new();
        for c in memchr::memchr_iter(b'{', bytes) {
            let plain = framer.scan_object(c, &mut ObjState::default());
            let memo = framer.memo_scan(c);
            out.push((c, plain, memo));
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The memo finds, for every start, what scanning from that start alone finds.
        #[test]
        fn memo_scan_equals_the_plain_scan(
            bytes in proptest::collection::vec(
                prop::sample::select(&b"{{{}}}\"\"\\\n\r a:,\xff"[..]), 0..300),
            max in 2usize..64,
        ) {
            for (c, plain, memo) in both_scans(&bytes, max) {
                prop_assert_eq!(plain, memo, "start {}", c);
            }
        }
    }

    #[test]
    fn memo_scan_examples() {
        let cases: &[&[u8]] = &[
            br#"{"a":{"b":"}"}}{"c":1}"#,
            b"{\"a\\\"{\"b\":1}}",
            b"{\"x\n{\"a\":1}\n{}",
            b"{\"\\\"{\"\\\"{}}}",
        ];
        for bytes in cases {
            for (c, plain, memo) in both_scans(bytes, 1 << 20) {
                assert_eq!(
                    plain,
                    memo,
                    "start {c} of {:?}",
                    String::from_utf8_lossy(bytes)
                );
            }
        }
    }
}
