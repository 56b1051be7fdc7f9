//! The byte layer under the framer: gzip members decoded one at a time, and plain bytes passed
//! through, in whatever order the object holds them. It is not a JSON reader and does no I/O of
//! its own beyond reading the reader it is handed.
//!
//! Why by hand rather than `MultiGzDecoder`: that decoder treats the object as one stream, so a
//! bad checksum, a corrupt member, plain bytes after a member or zero padding end the whole
//! object (and surface as an I/O error, which callers retry). Here each member is inflated on its
//! own with the low-level [`flate2::Decompress`]: a checksum mismatch keeps the data and is
//! reported as a warning, a corrupt member is one [`Event::Corrupt`] and decoding resumes at the
//! next gzip header (`1f 8b 08`) in the raw bytes, and bytes outside members are handed on as
//! they are (the framer treats NUL padding as a separator). Only errors of the reader itself
//! are `io::Error`s.
//!
//! Plain bytes are not searched for headers here: that would be a second pass over every byte
//! of every plain object. A header is looked for only where a run of plain bytes starts (at the
//! start of the object, after a member); one later in a run is found by the framer, which meets
//! it as bytes that are not a record, and hands the run's tail back with [`Unwrap::unread`].
//!
//! Memory: one raw read buffer; while a member is being inflated its first
//! [`KEEP_MEMBER_BYTES`] raw bytes are kept so a damaged member can be searched for the next
//! header from its start.

use std::io::{self, Read};

use flate2::{Crc, Decompress, FlushDecompress, Status};

/// The gzip header's first bytes: ID1, ID2 and CM = deflate.
pub(crate) const MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];
const RAW_CHUNK: usize = 64 * 1024;
const KEEP_MEMBER_BYTES: usize = 4 << 20;
/// A header (with file name, comment and extra field) longer than this is taken as damage.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Something the layer saw that the framer reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// A member inflated completely, but its trailer disagrees (or is cut): the data was kept.
    Checksum {
        raw_offset: u64,
        decompressed_offset: u64,
        detail: &'static str,
    },
    /// A member that could not be inflated: its raw bytes up to the next header are skipped.
    Corrupt {
        raw_offset: u64,
        raw_len: u64,
        decompressed_offset: u64,
        detail: String,
    },
}

impl Event {
    /// Where a corrupt member's output ends in this layer's output: the next member's (or the
    /// plain bytes after it) begins there.
    pub(crate) fn seam(&self) -> Option<u64> {
        match self {
            Event::Corrupt {
                decompressed_offset,
                ..
            } => Some(*decompressed_offset),
            Event::Checksum { .. } => None,
        }
    }

    /// The event placed at `offset` of another stream (see the framer's gzip-in-gzip source).
    pub(crate) fn placed_at(mut self, offset: u64) -> Self {
        match &mut self {
            Event::Checksum {
                decompressed_offset,
                ..
            }
            | Event::Corrupt {
                decompressed_offset,
                ..
            } => *decompressed_offset = offset,
        }
        self
    }
}

enum State {
    /// Outside members: bytes go through unchanged until the next gzip header.
    Plain,
    /// At a gzip header.
    Header,
    Member(Box<Member>),
    /// After a member's deflate data: its 8-byte trailer.
    Trailer(Box<Member>),
    /// After damage: searching the raw bytes for the next header, from `from` (absolute).
    Skip {
        span_start: u64,
        from: u64,
        decompressed_offset: u64,
        detail: String,
    },
}

struct Member {
    inflate: Decompress,
    crc: Crc,
    /// Absolute raw offset of the member's first header byte.
    start: u64,
}

/// Decoded bytes of a reader holding gzip members and/or plain bytes.
pub(crate) struct Unwrap<R> {
    inner: R,
    /// Raw bytes read but not yet used: `raw[pos..]`.
    raw: Vec<u8>,
    pos: usize,
    /// Absolute raw offset of `raw[0]`.
    raw_base: u64,
    inner_eof: bool,
    state: State,
    /// Bytes handed out so far.
    out_total: u64,
    /// Where (in bytes handed out) the current run of plain bytes began.
    plain_since: u64,
    members: u64,
    events: Vec<Event>,
}

impl<R: Read> Unwrap<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self::with_prefix(inner, Vec::new())
    }

    /// As [`Unwrap::new`], with `prefix` read from `inner` already.
    pub(crate) fn with_prefix(inner: R, prefix: Vec<u8>) -> Self {
        Unwrap {
            inner,
            raw: prefix,
            pos: 0,
            raw_base: 0,
            inner_eof: false,
            state: State::Plain,
            out_total: 0,
            plain_since: 0,
            members: 0,
            events: Vec::new(),
        }
    }

    /// How many gzip members have started so far.
    pub(crate) fn members(&self) -> u64 {
        self.members
    }

    /// The reader this layer decodes.
    pub(crate) fn inner_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    pub(crate) fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// How many of the last bytes handed out were plain bytes of the current run (0 while a
    /// member is being decoded).
    pub(crate) fn plain_tail(&self) -> u64 {
        match self.state {
            State::Plain => self.out_total - self.plain_since,
            _ => 0,
        }
    }

    /// Takes back the last `bytes.len()` bytes handed out, plain bytes in which the caller
    /// found a gzip header at the start of `bytes`: they are read again as raw bytes, and
    /// decoded from that header on. False, taking nothing, unless they were all plain bytes of
    /// the current run (see [`Unwrap::plain_tail`]).
    pub(crate) fn unread(&mut self, bytes: &[u8]) -> bool {
        let n = bytes.len() as u64;
        if self.plain_tail() < n {
            return false;
        }
        let mut raw = Vec::with_capacity(bytes.len() + self.raw.len() - self.pos);
        raw.extend_from_slice(bytes);
        raw.extend_from_slice(&self.raw[self.pos..]);
        // `raw_base + pos` is the raw offset of the next byte to hand out.
        self.raw_base = self.raw_base + self.pos as u64 - n;
        self.raw = raw;
        self.pos = 0;
        self.out_total -= n;
        true
    }

    fn read_inner(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(out) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    /// Reads more raw bytes; false at end of input. Drops used bytes first, but keeps bytes
    /// from `keep` (absolute) on while they are not too far behind.
    fn fill_raw(&mut self, keep: Option<u64>) -> io::Result<bool> {
        if self.inner_eof {
            return Ok(false);
        }
        let mut keep_from = self.pos;
        if let Some(keep) = keep
            && keep >= self.raw_base
        {
            let start = (keep - self.raw_base) as usize;
            if start <= self.pos && self.pos - start < KEEP_MEMBER_BYTES {
                keep_from = start;
            }
        }
        // Amortised: move the kept tail only once a chunk's worth is dead.
        if keep_from >= RAW_CHUNK || keep_from == self.raw.len() {
            self.raw.drain(..keep_from);
            self.raw_base += keep_from as u64;
            self.pos -= keep_from;
        }
        let len = self.raw.len();
        self.raw.resize(len + RAW_CHUNK, 0);
        let res = loop {
            match self.inner.read(&mut self.raw[len..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match res {
            Ok(n) => {
                self.raw.truncate(len + n);
                if n == 0 {
                    self.inner_eof = true;
                }
                Ok(n > 0)
            }
            Err(e) => {
                self.raw.truncate(len);
                Err(e)
            }
        }
    }

    fn corrupt(&mut self, start: u64, detail: String) {
        self.state = State::Skip {
            span_start: start,
            from: start + 1,
            decompressed_offset: self.out_total,
            detail,
        };
    }

    fn hand_out(&mut self, n: usize) -> usize {
        self.out_total += n as u64;
        n
    }
}

impl<R: Read> Read for Unwrap<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            match std::mem::replace(&mut self.state, State::Plain) {
                State::Plain => {
                    if self.pos >= self.raw.len() {
                        if self.inner_eof {
                            return Ok(0);
                        }
                        // Nothing buffered: read straight into `out` (plain objects are not
                        // copied twice), unless it may start with a header.
                        self.raw_base += self.raw.len() as u64;
                        self.raw.clear();
                        self.pos = 0;
                        let n = self.read_inner(out)?;
                        if n == 0 {
                            self.inner_eof = true;
                            return Ok(0);
                        }
                        if out[0] != MAGIC[0] {
                            self.raw_base += n as u64;
                            return Ok(self.hand_out(n));
                        }
                        self.raw.extend_from_slice(&out[..n]);
                        continue;
                    }
                    let avail = &self.raw[self.pos..];
                    if avail[0] == MAGIC[0] {
                        if avail.len() < MAGIC.len() && !self.inner_eof {
                            self.fill_raw(None)?;
                            continue;
                        }
                        if avail.starts_with(&MAGIC) {
                            self.state = State::Header;
                            continue;
                        }
                    }
                    let n = avail.len().min(out.len());
                    out[..n].copy_from_slice(&avail[..n]);
                    self.pos += n;
                    return Ok(self.hand_out(n));
                }
                State::Header => {
                    let start = self.raw_base + self.pos as u64;
                    match header_len(&self.raw[self.pos..]) {
                        Ok(Some(len)) => {
                            self.pos += len;
                            self.members += 1;
                            self.state = State::Member(Box::new(Member {
                                inflate: Decompress::new(false),
                                crc: Crc::new(),
                                start,
                            }));
                        }
                        Ok(None) if !self.inner_eof => {
                            self.state = State::Header;
                            self.fill_raw(Some(start))?;
                        }
                        Ok(None) => self.corrupt(start, "gzip header cut short".to_owned()),
                        Err(why) => self.corrupt(start, why.to_owned()),
                    }
                }
                State::Member(mut m) => {
                    if self.pos >= self.raw.len() {
                        let start = m.start;
                        self.state = State::Member(m);
                        if !self.fill_raw(Some(start))? {
                            self.corrupt(start, "gzip member cut short".to_owned());
                        }
                        continue;
                    }
                    let (in0, out0) = (m.inflate.total_in(), m.inflate.total_out());
                    let res =
                        m.inflate
                            .decompress(&self.raw[self.pos..], out, FlushDecompress::None);
                    let used = (m.inflate.total_in() - in0) as usize;
                    let produced = (m.inflate.total_out() - out0) as usize;
                    m.crc.update(&out[..produced]);
                    self.pos += used;
                    let start = m.start;
                    match res {
                        Ok(Status::StreamEnd) => self.state = State::Trailer(m),
                        Ok(_) => {
                            self.state = State::Member(m);
                            if produced == 0 && used == 0 && !self.fill_raw(Some(start))? {
                                self.corrupt(start, "gzip member cut short".to_owned());
                            }
                        }
                        Err(e) => {
                            self.corrupt(start, format!("corrupt deflate data: {e}"));
                            // What it inflated before the error is handed out below: the
                            // damage is after it.
                            if let State::Skip {
                                decompressed_offset,
                                ..
                            } = &mut self.state
                            {
                                *decompressed_offset += produced as u64;
                            }
                        }
                    }
                    if produced > 0 {
                        return Ok(self.hand_out(produced));
                    }
                }
                State::Trailer(m) => {
                    if self.raw.len() - self.pos < 8 && !self.inner_eof {
                        let start = m.start;
                        self.state = State::Trailer(m);
                        self.fill_raw(Some(start))?;
                        continue;
                    }
                    let trailer = &self.raw[self.pos..(self.pos + 8).min(self.raw.len())];
                    let detail = if trailer.len() < 8 {
                        Some("gzip trailer cut short")
                    } else if trailer[..4] != m.crc.sum().to_le_bytes() {
                        Some("gzip CRC32 mismatch")
                    } else if trailer[4..] != m.crc.amount().to_le_bytes() {
                        Some("gzip ISIZE mismatch")
                    } else {
                        None
                    };
                    self.pos += trailer.len();
                    if let Some(detail) = detail {
                        // A cut member may have swallowed the next one's header as deflate
                        // data: then it was damage, and decoding resumes at that header.
                        let from = (m.start + 1).saturating_sub(self.raw_base) as usize;
                        if m.start >= self.raw_base
                            && let Some(k) = memchr::memmem::find(&self.raw[from..self.pos], &MAGIC)
                        {
                            self.events.push(Event::Corrupt {
                                raw_offset: m.start,
                                raw_len: (from + k) as u64 + self.raw_base - m.start,
                                decompressed_offset: self.out_total,
                                detail: format!("{detail}, and the next member's header inside"),
                            });
                            self.pos = from + k;
                            self.state = State::Header;
                            continue;
                        }
                        self.events.push(Event::Checksum {
                            raw_offset: m.start,
                            decompressed_offset: self.out_total,
                            detail,
                        });
                    }
                    self.plain_since = self.out_total;
                }
                State::Skip {
                    span_start,
                    from,
                    decompressed_offset,
                    detail,
                } => {
                    let from_idx =
                        (from.saturating_sub(self.raw_base) as usize).min(self.raw.len());
                    if let Some(k) = memchr::memmem::find(&self.raw[from_idx..], &MAGIC) {
                        let end_idx = from_idx + k;
                        self.events.push(Event::Corrupt {
                            raw_offset: span_start,
                            raw_len: self.raw_base + end_idx as u64 - span_start,
                            decompressed_offset,
                            detail,
                        });
                        self.pos = end_idx;
                        self.state = State::Header;
                        continue;
                    }
                    // Keep the last bytes: a header may straddle the next read.
                    let tail = self.raw.len().saturating_sub(MAGIC.len() - 1);
                    let from = self.raw_base + tail as u64;
                    self.pos = tail;
                    if self.fill_raw(None)? {
                        self.state = State::Skip {
                            span_start,
                            from,
                            decompressed_offset,
                            detail,
                        };
                        continue;
                    }
                    let end = self.raw_base + self.raw.len() as u64;
                    self.events.push(Event::Corrupt {
                        raw_offset: span_start,
                        raw_len: end - span_start,
                        decompressed_offset,
                        detail,
                    });
                    self.pos = self.raw.len();
                    self.plain_since = self.out_total;
                }
            }
        }
    }
}

/// Length of the gzip header at the start of `b` (RFC 1952 section 2.3), `None` when more
/// bytes are needed.
fn header_len(b: &[u8]) -> Result<Option<usize>, &'static str> {
    const FHCRC: u8 = 0x02;
    const FEXTRA: u8 = 0x04;
    const FNAME: u8 = 0x08;
    const FCOMMENT: u8 = 0x10;
    if b.len() < 10 {
        return Ok(None);
    }
    let flags = b[3];
    if flags & 0xE0 != 0 {
        return Err("gzip header with reserved flags set");
    }
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let Some(len) = b.get(at..at + 2) else {
            return Ok(None);
        };
        at += 2 + u16::from_le_bytes([len[0], len[1]]) as usize;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            match b.get(at..).and_then(|rest| memchr::memchr(0, rest)) {
                Some(k) => at += k + 1,
                None if b.len() > MAX_HEADER_BYTES => return Err("gzip header too long"),
                None => return Ok(None),
            }
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    if at > MAX_HEADER_BYTES {
        return Err("gzip header too long");
    }
    Ok((b.len() >= at).then_some(at))
}
