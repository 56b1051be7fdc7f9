//! The brace/string scan of every `{` in a stretch of the stream at once, so that resync
//! scans each byte a bounded number of times however many candidate starts it tries.
//!
//! Scanning one object from its `{` is a walk through a three-state automaton (outside a
//! string, inside one, just after a `\` inside one) with a depth counter. Two walks that are in
//! the same string state at the same byte go on identically, only their depths differ by a
//! constant: so from that byte on they are one *trajectory*, and the `}` that closes a level
//! of one closes the matching level of the other. At any byte there are at most three
//! trajectories (one per state). Walking them side by side, each `{` outside a string pushes a
//! level holding that `{` as an *origin*, and each `}` pops a level: the scan that started at
//! every origin of that level completes there. What the plain scan
//! (`scan.rs`'s `scan_object`) would find for an origin (complete at a `}`, broken by a
//! line break inside a string or by a `{` at a line start, too large, or needing more input)
//! is found here the same way, in one pass shared by all origins: O(1) amortized per byte
//! (merging two trajectories moves the levels of the shallower one, each level once).
//!
//! It is not the framer's main path: undamaged records are scanned the plain way; a memo is
//! made for resynchronisation, and the records just after damage are scanned through it while
//! it covers them (so a damaged record that reappears every few bytes cannot cost a full
//! record-limit scan each time).
//!
//! Memory: 20 bytes per `{` of the covered stretch (at most twice the record limit long).

/// What scanning the object from one origin found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Pending,
    /// Closed by the `}` at this absolute offset.
    Complete(u64),
    Broken(&'static str),
    TooLarge,
}

pub(super) const LINE_BREAK_IN_STRING: &str = "line break inside a string";
pub(super) const NEXT_RECORD_BEGAN: &str = "next record began before this one ended";

const NONE: u32 = u32::MAX;

/// Bytes that change some trajectory (or the line state a `{` is judged by).
const MATTERS: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'{' as usize] = true;
    t[b'}' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'\r' as usize] = true;
    t
};

/// Index of the trajectory after a `\` in [`Memo::slots`].
const ESCAPED: usize = 2;

/// One level of a trajectory's stack: its origins, a linked list through [`Memo::next`].
#[derive(Clone, Copy)]
struct Level {
    head: u32,
    tail: u32,
}

#[derive(Default)]
struct Trajectory {
    levels: Vec<Level>,
}

/// Shared scan of every `{` from `origin` on (see the module docs).
pub(super) struct Memo {
    /// Absolute offset of the first byte covered.
    origin: u64,
    /// Next absolute offset to scan.
    pos: u64,
    max_record_bytes: u64,
    /// The last byte scanned that was not `\r` is a `\n`.
    line_start: bool,
    /// Trajectories by their current state: outside, inside a string, after a `\`.
    slots: [Option<Trajectory>; 3],
    /// Per origin (in stream order): absolute offset, outcome, next origin of its level.
    starts: Vec<u64>,
    outcomes: Vec<Outcome>,
    next: Vec<u32>,
    /// First origin that may still become too large.
    oldest_open: usize,
    /// Bytes scanned (a work measure).
    pub(super) scanned: u64,
}

impl Memo {
    pub(super) fn new(origin: u64, max_record_bytes: usize) -> Memo {
        Memo {
            origin,
            pos: origin,
            max_record_bytes: max_record_bytes as u64,
            line_start: false,
            slots: [None, None, None],
            starts: Vec::new(),
            outcomes: Vec::new(),
            next: Vec::new(),
            oldest_open: 0,
            scanned: 0,
        }
    }

    /// Whether this memo can answer for the object at `at` with the buffer starting at
    /// absolute offset `base`: `at` is within a record limit of its first byte (which bounds
    /// the memo's size and how far it scans) and the bytes it has yet to scan are buffered.
    pub(super) fn covers(&self, at: u64, base: u64) -> bool {
        self.origin <= at && at < self.origin + self.max_record_bytes && self.pos >= base
    }

    /// The outcome for the `{` at absolute offset `at` (covered), scanning `buf` (whose first
    /// byte is at `base`) as far as needed; `Pending` when the buffered bytes do not tell.
    pub(super) fn outcome(&mut self, at: u64, buf: &[u8], base: u64) -> Outcome {
        let end = base + buf.len() as u64;
        if self.pos <= at {
            self.scan(buf, base, at + 1);
        }
        let Ok(id) = self.starts.binary_search(&at) else {
            // Not a `{` (callers only ask for braces) or not buffered yet.
            return Outcome::Pending;
        };
        while self.outcomes[id] == Outcome::Pending && self.pos < end {
            // Far enough to settle it: its limit, else the end of what is buffered.
            let limit = self.starts[id] + self.max_record_bytes;
            let before = self.pos;
            self.scan(buf, base, limit.clamp(self.pos + 1, end));
            if self.outcomes[id] == Outcome::Pending && self.pos >= limit {
                self.outcomes[id] = Outcome::TooLarge;
            }
            debug_assert!(self.pos > before);
        }
        if self.outcomes[id] == Outcome::Pending
            && self.pos >= self.starts[id] + self.max_record_bytes
        {
            self.outcomes[id] = Outcome::TooLarge;
        }
        self.outcomes[id]
    }

    /// Scans up to (not including) absolute offset `to`, e.g. before those bytes are dropped.
    pub(super) fn advance_to(&mut self, to: u64, buf: &[u8], base: u64) {
        let to = to.min(base + buf.len() as u64);
        if self.pos < to {
            self.scan(buf, base, to);
        }
    }

    /// Scans `[self.pos, to)`; bytes that change no trajectory are skipped in runs.
    fn scan(&mut self, buf: &[u8], base: u64, to: u64) {
        let (from, to) = ((self.pos - base) as usize, (to - base) as usize);
        self.scanned += (to - from) as u64;
        let mut i = from;
        while i < to {
            let b = buf[i];
            if !MATTERS[b as usize] && self.slots[ESCAPED].is_none() {
                // A run of plain bytes: only the line state changes.
                let run = buf[i..to].iter().position(|b| MATTERS[*b as usize]);
                i = run.map_or(to, |k| i + k);
                self.line_start = false;
                continue;
            }
            self.step(base + i as u64, b);
            i += 1;
        }
        self.pos = base + to as u64;
    }

    /// Settles the origins whose limit is passed at `at`, before the byte at `at` counts.
    fn settle_too_large(&mut self, at: u64) {
        while self.oldest_open < self.starts.len()
            && self.starts[self.oldest_open] + self.max_record_bytes <= at
        {
            if self.outcomes[self.oldest_open] == Outcome::Pending {
                self.outcomes[self.oldest_open] = Outcome::TooLarge;
            }
            self.oldest_open += 1;
        }
    }

    /// One byte that matters (or any byte after a `\`).
    fn step(&mut self, at: u64, b: u8) {
        self.settle_too_large(at);
        let line_start = self.line_start;
        match b {
            b'\n' => self.line_start = true,
            b'\r' => {}
            _ => self.line_start = false,
        }
        let [out, inside, escaped] = std::mem::take(&mut self.slots);
        let (out, inside, escaped) = match b {
            b'"' => (inside, self.join(out, escaped), None),
            b'\\' => (out, escaped, inside),
            b'\n' => {
                for t in [inside, escaped].into_iter().flatten() {
                    self.break_all(&t, LINE_BREAK_IN_STRING);
                }
                (out, None, None)
            }
            b'{' => {
                let mut out = out;
                if line_start && let Some(t) = out.take() {
                    self.break_all(&t, NEXT_RECORD_BEGAN);
                }
                let id = self.starts.len() as u32;
                self.starts.push(at);
                self.outcomes.push(Outcome::Pending);
                self.next.push(NONE);
                let mut t = out.unwrap_or_default();
                t.levels.push(Level { head: id, tail: id });
                (Some(t), self.join(inside, escaped), None)
            }
            b'}' => {
                let out = out.and_then(|mut t| {
                    if let Some(level) = t.levels.pop() {
                        self.resolve_level(level, Outcome::Complete(at));
                    }
                    (!t.levels.is_empty()).then_some(t)
                });
                (out, self.join(inside, escaped), None)
            }
            _ => (out, self.join(inside, escaped), None),
        };
        self.slots = [out, inside, escaped];
    }

    fn join(&mut self, a: Option<Trajectory>, b: Option<Trajectory>) -> Option<Trajectory> {
        match (a, b) {
            (Some(a), Some(b)) => Some(self.merge(a, b)),
            (a, b) => a.or(b),
        }
    }

    /// Two trajectories in the same state at the same byte: from here on one. Their tops
    /// close together, so levels are joined from the top; the shallower stack's levels move.
    fn merge(&mut self, a: Trajectory, b: Trajectory) -> Trajectory {
        let (shallow, mut deep) = if a.levels.len() <= b.levels.len() {
            (a, b)
        } else {
            (b, a)
        };
        let offset = deep.levels.len() - shallow.levels.len();
        for (k, level) in shallow.levels.into_iter().enumerate() {
            let into = &mut deep.levels[offset + k];
            self.next[into.tail as usize] = level.head;
            into.tail = level.tail;
        }
        deep
    }

    fn resolve_level(&mut self, level: Level, outcome: Outcome) {
        let mut id = level.head;
        while id != NONE {
            let slot = &mut self.outcomes[id as usize];
            if *slot == Outcome::Pending {
                *slot = outcome;
            }
            id = self.next[id as usize];
        }
    }

    fn break_all(&mut self, trajectory: &Trajectory, why: &'static str) {
        for level in &trajectory.levels {
            self.resolve_level(*level, Outcome::Broken(why));
        }
    }
}
