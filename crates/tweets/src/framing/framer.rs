//! The [`Framer`]: its state, its window on the decompressed stream (reading through the gzip
//! layer, a gzip member met among plain bytes handed back to it, gzip inside gzip, another
//! encoding than UTF-8 rejected, compaction, the shared scan memo and the UTF-8 checks that are
//! not repeated) and the checks a complete object passes to be a record (UTF-8, alone on its
//! line, no gzip seam inside, the judge). What framing does with them: `step.rs` (one step)
//! and `resync.rs` (after damage). Its methods call nothing of theirs.

use std::io::{self, Read};

use super::gzip::{MAGIC, Unwrap};
use super::keys::Keys;
use super::memo::{Memo, Outcome};
use super::scan::{ObjState, Scan, scan_object};
use super::seams::GzipDamage;
use super::{FrameError, FrameErrorKind, FramerOptions, Judge, Step, damage_only};

pub(super) const READ_CHUNK: usize = 64 * 1024;
pub(super) const BOM: &[u8] = b"\xEF\xBB\xBF";

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
    pub(super) opts: FramerOptions,
    pub(super) buf: Vec<u8>,
    /// Scan position in `buf`.
    pub(super) pos: usize,
    /// Absolute offset of `buf[0]`.
    pub(super) base: u64,
    /// The byte before `buf[0]` (dropped by compaction), for look-backs.
    pub(super) before: Option<u8>,
    pub(super) eof: bool,
    /// Set after an I/O error: the iterator is finished.
    pub(super) failed: bool,
    /// The stream's first bytes were checked (double gzip, UTF-16/32).
    checked_start: bool,
    pub(super) encoding: Option<&'static str>,
    gzip: bool,
    /// First keys of good records (for candidates after `},` in a one-line array).
    pub(super) keys: Keys,
    /// Good records were separated by `,` on one line (a one-line array).
    pub(super) comma_layout: bool,
    /// The gzip layer's damage waiting for its place among the steps, and its seams.
    pub(super) gzip_damage: GzipDamage,
    /// A record judged already, to hand out after the damage returned before it.
    pub(super) ready: Option<(u64, usize, usize)>,
    /// The shared scan of every `{` near damage (resync candidates and the records just
    /// after them), so that no byte is scanned once per candidate.
    memo: Option<Memo>,
    /// What UTF-8 checks of overlapping candidates already found.
    utf8: Utf8Memo,
    /// Bytes scanned or checked so far, by plain scans, retired memos and UTF-8 checks.
    pub(super) work: std::cell::Cell<u64>,
}

/// A stretch `[from, valid_to)` of the stream known to be UTF-8, and whether the byte at
/// `valid_to` is known to be invalid.
#[derive(Default)]
struct Utf8Memo {
    from: u64,
    valid_to: u64,
    bad: bool,
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
            keys: Keys::default(),
            comma_layout: false,
            gzip_damage: GzipDamage::default(),
            ready: None,
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
                self.gzip_damage.note_seams(&events);
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
                self.gzip_damage.note_seams(&events);
                events.extend(outer.into_iter().map(|e| e.placed_at(framing_at)));
                (n, events, 1)
            }
        };
        if members > 0 {
            self.gzip = true;
        }
        self.gzip_damage.report(events);
        Ok(n)
    }

    /// Reads one more chunk into `buf`; returns false at end of input.
    pub(super) fn fill(&mut self) -> io::Result<bool> {
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
                self.gzip_damage.restart();
                self.pos = 0;
                self.eof = false;
            }
            return;
        }
        self.encoding = detect_wide_encoding(&self.buf);
    }

    /// Drops consumed bytes so the buffer only holds the unfinished tail.
    pub(super) fn compact(&mut self, keep_from: usize) {
        if keep_from > 0 {
            self.before = Some(self.buf[keep_from - 1]);
            self.buf.drain(..keep_from);
            self.base += keep_from as u64;
            self.pos -= keep_from.min(self.pos);
        }
    }

    /// [`Self::compact`], after letting the memo scan the bytes about to be dropped when it may
    /// still be asked about later ones.
    pub(super) fn compact_keeping_memo(&mut self, keep_from: usize) {
        let to = self.base + keep_from as u64;
        if let Some(memo) = self.memo.as_mut()
            && memo.covers(to, self.base)
        {
            memo.advance_to(to, &self.buf, self.base);
        }
        self.compact(keep_from);
    }

    /// Drops the memo, keeping the count of its work.
    pub(super) fn retire_memo(&mut self) {
        if let Some(memo) = self.memo.take() {
            self.work.set(self.work.get() + memo.scanned);
        }
    }

    /// Whether the memo (if any) can answer for the object at `start`.
    pub(super) fn memo_covers(&self, start: usize) -> bool {
        let at = self.base + start as u64;
        self.memo.as_ref().is_some_and(|m| m.covers(at, self.base))
    }

    /// [`Self::scan_object`] for the object at `start` through the memo (made afresh from
    /// `start` when the current one does not cover it).
    pub(super) fn memo_scan(&mut self, start: usize) -> Scan {
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

    pub(super) fn io_error(&mut self, e: io::Error) -> FrameError {
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
    pub(super) fn scan_object(&self, start: usize, state: &mut ObjState) -> Scan {
        scan_object(&self.buf, start, self.opts.max_record_bytes, state)
    }

    /// A complete object at `start..=end`: whether it is a record (UTF-8, alone on its line
    /// up to the next record start, accepted by the judge), else why not.
    pub(super) fn check_complete(
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
    pub(super) fn spans_gzip_seam(&mut self, start: usize, end: usize) -> bool {
        let (from, to) = (self.base + start as u64, self.base + end as u64);
        let framed = self.base + self.pos as u64;
        self.gzip_damage.spans_seam(framed, from, to)
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

    /// Whether `buf[i]` follows a line break (and `\r`s): the stream has lines. (The first
    /// record of a stream may be followed by another with no delimiter.)
    pub(super) fn after_line_break(&self, i: usize) -> bool {
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

    /// Remembers the first key of the good record at `start`.
    pub(super) fn learn_key(&mut self, start: usize) {
        self.keys.learn(&self.buf[start..]);
    }

    /// The whole stream as one error naming its encoding.
    pub(super) fn reject_encoding(&mut self, name: &'static str) -> Result<Step, FrameError> {
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
        self.gzip_damage.clear();
        Ok(damage_only(FrameError {
            offset,
            len: self.base + self.buf.len() as u64 - offset,
            kind: FrameErrorKind::Encoding(name),
        }))
    }

    /// Whether a gzip member starts at `buf[i]` among plain bytes: a member after plain records
    /// or after a damaged one. The gzip layer does not search plain bytes for headers (a second
    /// pass over every plain object); the framer meets such a header as bytes that are not a
    /// record. Reads more input as needed (never compacts).
    pub(super) fn plain_gzip_at(&mut self, i: usize) -> io::Result<bool> {
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
    pub(super) fn switch_to_gzip(&mut self, i: usize) {
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::FramerOptions;
    use super::super::scan::{ObjState, Scan};
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
