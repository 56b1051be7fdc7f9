//! One step of framing ([`Framer::next_judged`]): skip the separators between records, frame
//! the object that starts there (the line fast path's whole line, else the careful scan, through
//! the memo just after damage), have it judged, and on damage hand over to resync; then put the
//! gzip layer's damage in its place among the steps. Also the record iterators built on it.
//! Not the scan (`scan.rs`), the buffer and its checks (`framer.rs`) or resync (`resync.rs`).

use std::io::Read;

use super::framer::{BOM, Framer, READ_CHUNK};
use super::gzip::MAGIC;
use super::scan::{ObjState, Scan, line_candidate};
use super::{FrameError, FrameErrorKind, Judge, Record, Step, damage_only, record_only};

impl<R: Read> Framer<R> {
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
        if let Some(step) = self.gzip_damage.take_held() {
            return Some(Ok(self.order_gzip_damage(step)));
        }
        if self.failed {
            return None;
        }
        // Damage below the framer where framing stands: nothing unframed is before it.
        if let Some(e) = self.gzip_damage.due(self.base + self.pos as u64) {
            return Some(Ok(damage_only(e)));
        }
        match self.next_step(judge) {
            None => self.gzip_damage.next().map(|e| Ok(damage_only(e))),
            Some(Ok(step)) => Some(Ok(self.order_gzip_damage(step))),
            Some(Err(e)) => Some(Err(e)),
        }
    }

    /// Places the gzip errors found while `step` was framed (see `GzipDamage::order`).
    fn order_gzip_damage(&mut self, step: Step) -> Step {
        let framed = self.base + self.pos as u64;
        self.gzip_damage.order(step, framed)
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
            if let Some(end) = line_candidate(&self.buf, start, self.opts.max_record_bytes) {
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
