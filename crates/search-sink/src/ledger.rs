//! The confirmation ledger of one sink: where every operation pushed into it stands, so that
//! "how far is the input confirmed" has one answer. [`BulkSink::first_unconfirmed`], the
//! report's outcome counts and the unconfirmed counts of errors all read it (the Kinesis
//! checkpoint, summaries and metrics read those in turn).
//!
//! Operations are numbered in push order (invalid records the caller rejects included). Each
//! one is:
//!
//! - **pending**: in the batch being filled (or waiting for it);
//! - **in flight**: in a batch handed to a delivery, or in one stopped by a failure;
//! - **confirmed**: the server answered done (created, updated, deleted, not found, superseded);
//! - **letter held**: failed for good, its dead letter still in memory (or no store to put it
//!   in);
//! - **letter stored**: the store confirmed the dead letter's write.
//!
//! Only confirmed and letter stored are settled. An input may be acknowledged up to, not
//! including, [`Ledger::first_unconfirmed`]: a letter in memory holds the line like an
//! operation in flight, since a failure before it is written would lose it.
//!
//! Pure and bounded: counters, the span of each batch not yet settled (at most
//! `bulk_concurrency` in flight, plus those a failure stopped) and the numbers of the held
//! letters (bounded like the letters: written at 8 MiB), never one entry per operation.
//!
//! [`BulkSink::first_unconfirmed`]: crate::BulkSink::first_unconfirmed

use std::collections::BTreeSet;

/// An operation's number: its position in push order, from 0.
pub(crate) type Seq = u64;

/// Confirmed operations by what the server did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Confirmed {
    pub(crate) created: u64,
    pub(crate) updated: u64,
    pub(crate) deleted: u64,
    pub(crate) not_found: u64,
    pub(crate) superseded: u64,
}

impl Confirmed {
    fn total(&self) -> u64 {
        self.created + self.updated + self.deleted + self.not_found + self.superseded
    }

    fn add(&mut self, other: &Confirmed) {
        self.created += other.created;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.not_found += other.not_found;
        self.superseded += other.superseded;
    }
}

/// A batch handed to a delivery and not settled: operations `first..end` (some of them may be
/// letters pushed while it filled), `unsettled` of its own still in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Span {
    number: u64,
    first: Seq,
    end: Seq,
    unsettled: u64,
}

/// Where the operations of one sink stand (module docs).
#[derive(Debug, Clone, Default)]
pub(crate) struct Ledger {
    pushed: u64,
    pending: u64,
    /// No later than the first pending operation (those in between are held letters).
    pending_from: Option<Seq>,
    /// Batches in flight or stopped by a failure, in launch order.
    spans: Vec<Span>,
    in_flight: u64,
    held: BTreeSet<Seq>,
    confirmed: Confirmed,
    stored: u64,
}

impl Ledger {
    /// A new operation, pending.
    pub(crate) fn push(&mut self) -> Seq {
        let seq = self.pushed;
        self.pushed += 1;
        self.pending += 1;
        self.pending_from.get_or_insert(seq);
        seq
    }

    /// A pending operation that failed before it was sent (it cannot be encoded, or the
    /// caller rejects an input): its letter is held.
    pub(crate) fn hold_pending(&mut self, seq: Seq) {
        debug_assert!(
            self.pending > 0 && seq < self.pushed,
            "{seq} is not pending"
        );
        self.pending = self.pending.saturating_sub(1);
        if self.pending == 0 {
            self.pending_from = None;
        }
        self.held.insert(seq);
    }

    /// The pending operations `first..end` (`count` of them: the rest are held letters) go to
    /// delivery `number`. An operation pushed since (waiting for this launch) stays pending.
    pub(crate) fn launch(&mut self, number: u64, first: Seq, end: Seq, count: u64) {
        debug_assert!(count <= self.pending && first < end && end <= self.pushed);
        self.pending = self.pending.saturating_sub(count);
        self.pending_from = (self.pending > 0).then(|| self.pending_from.unwrap_or(end).max(end));
        self.in_flight += count;
        self.spans.push(Span {
            number,
            first,
            end,
            unsettled: count,
        });
    }

    /// Delivery `number` ended: `confirmed` of its operations are done, those numbered in
    /// `letters` failed for good (their letters are held). When it `stopped` early, its other
    /// operations stay in flight: the batch remains unconfirmed.
    pub(crate) fn settle(
        &mut self,
        number: u64,
        confirmed: Confirmed,
        letters: &[Seq],
        stopped: bool,
    ) {
        let settled = confirmed.total() + letters.len() as u64;
        self.confirmed.add(&confirmed);
        self.held.extend(letters.iter().copied());
        self.in_flight = self.in_flight.saturating_sub(settled);
        if let Some(at) = self.spans.iter().position(|s| s.number == number) {
            let span = &mut self.spans[at];
            span.unsettled = span.unsettled.saturating_sub(settled);
            debug_assert!(stopped || span.unsettled == 0, "batch {number}: {span:?}");
            if !stopped {
                self.spans.remove(at);
            }
        } else {
            debug_assert!(false, "batch {number} was never launched");
        }
    }

    /// The store confirmed these held letters.
    pub(crate) fn stored(&mut self, seqs: impl IntoIterator<Item = Seq>) {
        for seq in seqs {
            if self.held.remove(&seq) {
                self.stored += 1;
            }
        }
    }

    /// The first operation not settled: every operation before it is confirmed or its letter
    /// stored. `None` when all are.
    pub(crate) fn first_unconfirmed(&self) -> Option<Seq> {
        let spans = self.spans.iter().map(|s| s.first).min();
        [spans, self.held.first().copied(), self.pending_from]
            .into_iter()
            .flatten()
            .min()
    }

    /// Operations not settled: pending, in flight, or with a letter held.
    pub(crate) fn unconfirmed(&self) -> u64 {
        self.pending + self.in_flight + self.held.len() as u64
    }

    pub(crate) fn pushed(&self) -> u64 {
        self.pushed
    }

    pub(crate) fn confirmed(&self) -> &Confirmed {
        &self.confirmed
    }

    /// Letters the store confirmed.
    pub(crate) fn letters_stored(&self) -> u64 {
        self.stored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One step of a table row. Launches number batches 0, 1, ... in order.
    #[derive(Debug, Clone)]
    enum Event {
        /// Push this many operations.
        Push(u64),
        /// The pending operation with this number is held (encode error, rejected input).
        Hold(Seq),
        /// Launch the pending operations `first..end`, `count` of them.
        Launch(Seq, Seq, u64),
        /// Batch `number` ends: created, letters, stopped.
        Settle(u64, u64, &'static [Seq], bool),
        /// These letters were stored.
        Stored(&'static [Seq]),
    }
    use Event::*;

    fn run(events: &[Event]) -> Ledger {
        let mut ledger = Ledger::default();
        let mut launched = 0;
        for event in events {
            match *event {
                Push(n) => (0..n).for_each(|_| {
                    ledger.push();
                }),
                Hold(seq) => ledger.hold_pending(seq),
                Launch(first, end, count) => {
                    ledger.launch(launched, first, end, count);
                    launched += 1;
                }
                Settle(number, created, letters, stopped) => {
                    let confirmed = Confirmed {
                        created,
                        ..Confirmed::default()
                    };
                    ledger.settle(number, confirmed, letters, stopped);
                }
                Stored(seqs) => ledger.stored(seqs.iter().copied()),
            }
        }
        ledger
    }

    #[test]
    fn the_first_unconfirmed_operation_and_the_unconfirmed_count() {
        // (what happened, events, first unconfirmed, unconfirmed, stored)
        type Row = (&'static str, &'static [Event], Option<Seq>, u64, u64);
        let table: &[Row] = &[
            ("nothing pushed", &[], None, 0, 0),
            ("pushed, not sent", &[Push(3)], Some(0), 3, 0),
            ("in flight", &[Push(3), Launch(0, 3, 3)], Some(0), 3, 0),
            (
                "all confirmed",
                &[Push(3), Launch(0, 3, 3), Settle(0, 3, &[], false)],
                None,
                0,
                0,
            ),
            (
                "a letter held stops the line at its operation",
                &[Push(4), Launch(0, 4, 4), Settle(0, 3, &[1], false)],
                Some(1),
                1,
                0,
            ),
            (
                "once stored it no longer does",
                &[
                    Push(4),
                    Launch(0, 4, 4),
                    Settle(0, 3, &[1], false),
                    Stored(&[1]),
                ],
                None,
                0,
                1,
            ),
            (
                "the last operation's letter held: not past the end",
                &[Push(4), Launch(0, 4, 4), Settle(0, 3, &[3], false)],
                Some(3),
                1,
                0,
            ),
            (
                "a held letter before a later batch that failed",
                &[
                    Push(2),
                    Launch(0, 2, 2),
                    Push(2),
                    Launch(2, 4, 2),
                    Settle(0, 1, &[0], false),
                    Settle(1, 1, &[], true),
                ],
                Some(0),
                2,
                0,
            ),
            (
                "the held letter stored: the failed batch is the line",
                &[
                    Push(2),
                    Launch(0, 2, 2),
                    Push(2),
                    Launch(2, 4, 2),
                    Settle(0, 1, &[0], false),
                    Settle(1, 1, &[], true),
                    Stored(&[0]),
                ],
                Some(2),
                1,
                1,
            ),
            (
                "a later batch settled before an earlier one",
                &[
                    Push(2),
                    Launch(0, 2, 2),
                    Push(2),
                    Launch(2, 4, 2),
                    Settle(1, 2, &[], false),
                ],
                Some(0),
                2,
                0,
            ),
            (
                "a batch stopped by a failure stays unconfirmed whole",
                &[Push(4), Launch(0, 4, 4), Settle(0, 3, &[], true)],
                Some(0),
                1,
                0,
            ),
            (
                "an operation waiting for a launch stays pending",
                &[Push(4), Launch(0, 3, 3), Settle(0, 3, &[], false)],
                Some(3),
                1,
                0,
            ),
            (
                "an encode failure is held where it was pushed",
                &[
                    Push(2),
                    Hold(1),
                    Push(1),
                    Launch(0, 3, 2),
                    Settle(0, 2, &[], false),
                ],
                Some(1),
                1,
                0,
            ),
            (
                "its letter stored, everything is settled",
                &[
                    Push(2),
                    Hold(1),
                    Push(1),
                    Launch(0, 3, 2),
                    Settle(0, 2, &[], false),
                    Stored(&[1]),
                ],
                None,
                0,
                1,
            ),
            (
                "a rejected input with nothing else pending",
                &[Push(1), Hold(0)],
                Some(0),
                1,
                0,
            ),
            (
                "stored twice counts once",
                &[Push(1), Hold(0), Stored(&[0]), Stored(&[0])],
                None,
                0,
                1,
            ),
            (
                "an aborted batch (never settled) stays in flight",
                &[
                    Push(2),
                    Launch(0, 2, 2),
                    Push(2),
                    Launch(2, 4, 2),
                    Settle(0, 0, &[], true),
                ],
                Some(0),
                4,
                0,
            ),
        ];
        for (what, events, first, unconfirmed, stored) in table {
            let ledger = run(events);
            assert_eq!(ledger.first_unconfirmed(), *first, "{what}: first");
            assert_eq!(ledger.unconfirmed(), *unconfirmed, "{what}: unconfirmed");
            assert_eq!(ledger.letters_stored(), *stored, "{what}: stored");
            // Every operation is in exactly one state.
            assert_eq!(
                ledger.pushed(),
                ledger.unconfirmed() + ledger.confirmed().total() + ledger.letters_stored(),
                "{what}: states add up"
            );
        }
    }

    #[test]
    fn memory_is_per_batch_and_per_held_letter_not_per_operation() {
        let mut ledger = Ledger::default();
        for batch in 0..1000u64 {
            let first = ledger.pushed();
            for _ in 0..5000 {
                ledger.push();
            }
            ledger.launch(batch, first, first + 5000, 5000);
            let confirmed = Confirmed {
                created: 4999,
                ..Confirmed::default()
            };
            ledger.settle(batch, confirmed, &[first + 7], false);
            ledger.stored([first + 7]);
        }
        assert_eq!(ledger.pushed(), 5_000_000);
        assert_eq!((ledger.spans.len(), ledger.held.len()), (0, 0));
        assert_eq!(ledger.first_unconfirmed(), None);
        assert_eq!(ledger.letters_stored(), 1000);
    }
}
