//! Gzip seams: where the gzip layer's damage meets the framer's steps. A member that is corrupt
//! or cut is an error of the gzip layer (`gzip.rs`), found while bytes are read; here it waits
//! for its place among the steps, which come in offset order: inside a damaged span (or
//! between the span and the record that ends it) it becomes the span's reason, before a step it
//! is returned first. The *seam* it leaves, where its output ends in the records' stream and the
//! next member's begins, is remembered so that no record is framed across it.
//!
//! Not the gzip decoding (`gzip.rs`), nor finding gzip headers among plain bytes and reading
//! (`framer.rs`): only this bookkeeping.

use std::collections::VecDeque;

use super::gzip::Event;
use super::{FrameError, FrameErrorKind, Step, damage_only};

/// The gzip layer's damage not yet reported, and the seams not framed past yet.
#[derive(Default)]
pub(super) struct GzipDamage {
    /// Errors found below the framer (gzip), reported before the next record.
    pending: VecDeque<FrameError>,
    /// Where the output of a corrupt member ends in the records' stream (and the next
    /// member's begins), for the ones not framed past yet: no record spans one.
    seams: VecDeque<u64>,
    /// A step framed already, to hand out after the gzip error that came before it.
    held: Option<Step>,
}

impl GzipDamage {
    /// Remembers the seams of these events of the gzip layer (of the records' stream).
    pub(super) fn note_seams(&mut self, events: &[Event]) {
        self.seams.extend(events.iter().filter_map(Event::seam));
    }

    /// Takes in the events of one read: a corrupt member waits for its place among the steps;
    /// a trailer that does not match is logged (its data is kept).
    pub(super) fn report(&mut self, events: Vec<Event>) {
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
    }

    /// The stream turned out to be gzip inside gzip: damage of the object's own layer seen so
    /// far is counted in the stream now inflated again, where it is at the start; its seams
    /// are none of the records' stream.
    pub(super) fn restart(&mut self) {
        for e in &mut self.pending {
            e.offset = 0;
        }
        self.seams.clear();
    }

    /// Forgets everything (the stream is rejected as a whole).
    pub(super) fn clear(&mut self) {
        self.pending.clear();
        self.seams.clear();
    }

    /// The step held back by [`Self::order`], to hand out now.
    pub(super) fn take_held(&mut self) -> Option<Step> {
        self.held.take()
    }

    /// The next error when it is at or before `framed` (where framing stands: nothing unframed
    /// is before it).
    pub(super) fn due(&mut self, framed: u64) -> Option<FrameError> {
        if self.pending.front().is_some_and(|e| e.offset <= framed) {
            return self.pending.pop_front();
        }
        None
    }

    /// The next error, wherever it is (at the end of the stream).
    pub(super) fn next(&mut self) -> Option<FrameError> {
        self.pending.pop_front()
    }

    /// Places the gzip errors found while `step` was framed (`framed`: where framing stands
    /// after it): one inside its damaged span (or between the span and the record that ends
    /// it) becomes the span's reason, so a member cut or corrupt mid-record is one damaged
    /// span, not the cut record and then the member; one before the step is returned first
    /// (the step is held for the next call, see [`Self::take_held`]; its buffer range stays
    /// valid, nothing is read meanwhile); later ones wait for their turn.
    pub(super) fn order(&mut self, mut step: Step, framed: u64) -> Step {
        if let Some(damage) = &mut step.damage {
            let reach = step.record.map_or(framed, |(offset, ..)| offset);
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

    /// Whether a corrupt gzip member's output ends inside `from..to` (offsets in the records'
    /// stream; `framed`: where framing stands, behind which no seam matters any more).
    pub(super) fn spans_seam(&mut self, framed: u64, from: u64, to: u64) -> bool {
        // Seams before the framing position are behind every object still to be framed.
        while self.seams.front().is_some_and(|&seam| seam <= framed) {
            self.seams.pop_front();
        }
        self.seams.iter().any(|&seam| from < seam && seam < to)
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
