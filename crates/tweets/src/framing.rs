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
//!
//! Files, each one concern, lower ones first (none uses a higher one): [`Record`], the errors,
//! the options and [`Step`] are here; `keys.rs` (the first keys learnt from good records),
//! `scan.rs` (where the object that starts at a `{` ends; the line fast path's line),
//! `memo.rs` (that scan shared by every `{` near damage), `gzip.rs` (the gzip layer),
//! `seams.rs` (gzip damage among the steps, and the seams a corrupt member leaves),
//! `framer.rs` (the [`Framer`]: its buffer, reading through the gzip layer, the checks a
//! complete object passes to be a record), `resync.rs` (after damage: candidate record starts,
//! the span's end) and `step.rs` (one step: separators, the line fast path, the careful scan,
//! resync on damage).

mod framer;
mod gzip;
mod keys;
mod memo;
mod resync;
mod scan;
mod seams;
mod step;

pub use framer::Framer;

/// Default per-record size limit (1 MiB): a record above it is reported and skipped.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

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
