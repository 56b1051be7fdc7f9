//! Resynchronisation: after damage, where the next record starts and where the damaged span
//! ends. The candidate rule (which `{` may start a record: the module docs of [`super`] give it
//! and why it cannot match a nested object), the checks of a candidate after `:` or `,` (another
//! record must follow, or only separators to the end of a stream whose records begin with its
//! key), and the span's length (its last byte that is no separator). Not the scan of an object
//! (`scan.rs`, `memo.rs`), nor the keys (`keys.rs`): this is the heuristics that use them.

use std::io::{self, Read};

use super::framer::{Framer, READ_CHUNK};
use super::gzip::MAGIC;
use super::keys::{MAX_KEY_BYTES, first_key};
use super::scan::{Scan, is_separator, prev_non_blank};
use super::{FrameError, FrameErrorKind, Judge, Step, damage_only};

/// Members of a tweet that hold a whole tweet (closed by `"`, opened by the `"` before).
const NESTED_TWEET_KEYS: &[&[u8]] = &[b"retweeted_status\"", b"quoted_status\""];

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

impl<R: Read> Framer<R> {
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
    pub(super) fn resync(
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
            Some(n) if self.keys.known(&rest[..n]) => yes,
            Some(_) => Candidate::No,
            None if rest.len() > MAX_KEY_BYTES => Candidate::No,
            None => more(),
        }
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
        if !self.keys.learned(key) {
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
}
