//! Scanning: where the object that starts at a `{` ends, by string- and escape-aware brace
//! matching over the buffered bytes ([`scan_object`]), and the line the line fast path hands to
//! the judge whole ([`line_candidate`]); the byte classes both and resync use. Pure functions
//! of the bytes: no framer state, no judging, no resync (the same scan shared by many starts
//! near damage is `memo.rs`).

use super::memo;

/// Outcome of scanning one object from `start`.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Scan {
    /// Object ends at this index (inclusive).
    Complete(usize),
    /// Need more bytes.
    More,
    /// The object is broken.
    Broken(&'static str),
    /// The object passed the size limit.
    TooLarge,
}

/// Where a scan stands, kept across reads when the object runs past the buffered bytes.
#[derive(Default)]
pub(super) struct ObjState {
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// Where the scan stopped for lack of input.
    pub(super) resume: usize,
}

/// Scans the object starting at `buf[start]` (a `{`), from the saved state, up to
/// `max_record_bytes`.
pub(super) fn scan_object(
    buf: &[u8],
    start: usize,
    max_record_bytes: usize,
    state: &mut ObjState,
) -> Scan {
    let mut i = state.resume.max(start);
    let end = buf.len().min(start.saturating_add(max_record_bytes));
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
    if i >= start.saturating_add(max_record_bytes) {
        return Scan::TooLarge;
    }
    Scan::More
}

/// The line fast path: the record from `start` to the end of its line, when the line is
/// buffered, within the size limit and ends in `}` (after `\r`, `,` and blanks).
pub(super) fn line_candidate(buf: &[u8], start: usize, max_record_bytes: usize) -> Option<usize> {
    let limit = buf
        .len()
        .min(start.saturating_add(max_record_bytes).saturating_add(8));
    let nl = start + memchr::memchr(b'\n', &buf[start..limit])?;
    let mut end = nl;
    while end > start && matches!(buf[end - 1], b'\r' | b' ' | b'\t' | b',') {
        end -= 1;
    }
    let fits = end - start <= max_record_bytes;
    (fits && end > start + 1 && buf[end - 1] == b'}').then_some(end)
}

/// Bytes between records (and at a damaged span's end, not counted in its length).
pub(super) fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b',' | b'[' | b']' | 0)
}

/// The previous byte before `i` that is not a blank or line break.
pub(super) fn prev_non_blank(buf: &[u8], i: usize) -> Option<u8> {
    buf[..i]
        .iter()
        .rev()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
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
