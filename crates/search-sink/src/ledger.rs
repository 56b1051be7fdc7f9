//! The confirmation ledger of one sink: where every operation pushed into it stands, so that
//! "how far is the input confirmed" has one answer. [`BulkSink::first_unconfirmed`], the
//! report's outcome counts and the unconfirmed counts of errors all read it (the Kinesis
//! checkpoint, summaries and metrics read those in turn).
//!
//! Operations are numbered in push order (invalid records the caller rejects included). Each
//! one is:
//!
//! - **pending**: being pushed (not yet in a batch), or in a batch being filled: the sink
//!   fills one batch per target index, so pending operations of several batches interleave;
//! - **in flight**: in a batch handed to a delivery, or in one stopped by a failure;
//! - **confirmed**: the server answered done (created, updated, deleted, not found, superseded);
//! - **letter held**: failed for good, its dead letter still in memory (or no store to put it
//!   in);
//! - **letter stored**: the store confirmed the dead letter's write.
//!
//! Only confirmed and letter stored are settled. An input may be acknowledged up to, not
//! including, [`Ledger::first_unconfirmed`]: the earliest operation not settled, whatever its
//! batch or index. A letter in memory holds the line like an operation in flight, since a
//! failure before it is written would lose it.
//!
//! Pure and bounded: counters, the first operation and size of each batch being filled (the
//! sink caps how many are open), the first operation of each batch not yet settled (at most
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

/// A batch, filling or handed to a delivery and not settled: its first operation (the others
/// are later, interleaved with other batches' and with letters), `count` of its own not
/// settled.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Span {
    number: u64,
    first: Seq,
    count: u64,
}

/// Where the operations of one sink stand (module docs).
#[derive(Debug, Clone, Default)]
pub(crate) struct Ledger {
    pushed: u64,
    /// Pushed and not yet placed in a batch nor held (the one being pushed).
    loose: Vec<Seq>,
    /// Batches being filled.
    filling: Vec<Span>,
    /// Batches in flight or stopped by a failure, in launch order.
    spans: Vec<Span>,
    in_flight: u64,
    held: BTreeSet<Seq>,
    confirmed: Confirmed,
    stored: u64,
}

impl Ledger {
    /// A new operation, pending (loose until [`Ledger::fill`] or [`Ledger::hold_pending`]).
    pub(crate) fn push(&mut self) -> Seq {
        let seq = self.pushed;
        self.pushed += 1;
        self.loose.push(seq);
        seq
    }

    fn unloose(&mut self, seq: Seq) {
        let at = self.loose.iter().position(|s| *s == seq);
        debug_assert!(at.is_some(), "{seq} is not being pushed");
        if let Some(at) = at {
            self.loose.swap_remove(at);
        }
    }

    /// A pushed operation that failed before it was sent (it cannot be encoded, or the
    /// caller rejects an input): its letter is held.
    pub(crate) fn hold_pending(&mut self, seq: Seq) {
        self.unloose(seq);
        self.held.insert(seq);
    }

    /// A pushed operation goes into the filling batch `number` (opened by its first one).
    pub(crate) fn fill(&mut self, seq: Seq, number: u64) {
        self.unloose(seq);
        match self.filling.iter_mut().find(|s| s.number == number) {
            Some(span) => span.count += 1,
            None => self.filling.push(Span {
                number,
                first: seq,
                count: 1,
            }),
        }
    }

    /// The filling batch `number` goes to a delivery; returns its operation count.
    pub(crate) fn launch(&mut self, number: u64) -> u64 {
        let Some(at) = self.filling.iter().position(|s| s.number == number) else {
            debug_assert!(false, "batch {number} is not filling");
            return 0;
        };
        let span = self.filling.swap_remove(at);
        self.in_flight += span.count;
        let count = span.count;
        self.spans.push(span);
        count
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
            span.count = span.count.saturating_sub(settled);
            debug_assert!(stopped || span.count == 0, "batch {number}: {span:?}");
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
        let batches = self.spans.iter().chain(&self.filling).map(|s| s.first);
        let loose = self.loose.iter().copied();
        batches.chain(loose).chain(self.held.first().copied()).min()
    }

    /// Operations not settled: pending, in flight, or with a letter held.
    pub(crate) fn unconfirmed(&self) -> u64 {
        self.pending() + self.in_flight + self.held.len() as u64
    }

    /// Operations being pushed or in batches being filled.
    pub(crate) fn pending(&self) -> u64 {
        self.loose.len() as u64 + self.filling.iter().map(|s| s.count).sum::<u64>()
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

    /// One step of a table row.
    #[derive(Debug, Clone)]
    enum Event {
        /// Push this many operations into filling batch `number`.
        Push(u64, u64),
        /// Push one operation and leave it loose (being pushed).
        Loose,
        /// Push one operation and hold it (encode error, rejected input).
        Reject,
        /// Launch filling batch `number`.
        Launch(u64),
        /// Batch `number` ends: created, letters, stopped.
        Settle(u64, u64, &'static [Seq], bool),
        /// These letters were stored.
        Stored(&'static [Seq]),
    }
    use Event::*;

    fn run(events: &[Event]) -> Ledger {
        let mut ledger = Ledger::default();
        for event in events {
            match *event {
                Push(n, number) => (0..n).for_each(|_| {
                    let seq = ledger.push();
                    ledger.fill(seq, number);
                }),
                Loose => {
                    ledger.push();
                }
                Reject => {
                    let seq = ledger.push();
                    ledger.hold_pending(seq);
                }
                Launch(number) => {
                    ledger.launch(number);
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
            ("pushed, not sent", &[Push(3, 0)], Some(0), 3, 0),
            ("in flight", &[Push(3, 0), Launch(0)], Some(0), 3, 0),
            (
                "all confirmed",
                &[Push(3, 0), Launch(0), Settle(0, 3, &[], false)],
                None,
                0,
                0,
            ),
            (
                "a letter held stops the line at its operation",
                &[Push(4, 0), Launch(0), Settle(0, 3, &[1], false)],
                Some(1),
                1,
                0,
            ),
            (
                "once stored it no longer does",
                &[
                    Push(4, 0),
                    Launch(0),
                    Settle(0, 3, &[1], false),
                    Stored(&[1]),
                ],
                None,
                0,
                1,
            ),
            (
                "the last operation's letter held: not past the end",
                &[Push(4, 0), Launch(0), Settle(0, 3, &[3], false)],
                Some(3),
                1,
                0,
            ),
            (
                "a held letter before a later batch that failed",
                &[
                    Push(2, 0),
                    Launch(0),
                    Push(2, 1),
                    Launch(1),
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
                    Push(2, 0),
                    Launch(0),
                    Push(2, 1),
                    Launch(1),
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
                    Push(2, 0),
                    Launch(0),
                    Push(2, 1),
                    Launch(1),
                    Settle(1, 2, &[], false),
                ],
                Some(0),
                2,
                0,
            ),
            (
                "a batch stopped by a failure stays unconfirmed whole",
                &[Push(4, 0), Launch(0), Settle(0, 3, &[], true)],
                Some(0),
                1,
                0,
            ),
            (
                "an operation in the next batch stays pending",
                &[Push(3, 0), Push(1, 1), Launch(0), Settle(0, 3, &[], false)],
                Some(3),
                1,
                0,
            ),
            (
                "an encode failure is held where it was pushed",
                &[
                    Push(1, 0),
                    Reject,
                    Push(1, 0),
                    Launch(0),
                    Settle(0, 2, &[], false),
                ],
                Some(1),
                1,
                0,
            ),
            (
                "its letter stored, everything is settled",
                &[
                    Push(1, 0),
                    Reject,
                    Push(1, 0),
                    Launch(0),
                    Settle(0, 2, &[], false),
                    Stored(&[1]),
                ],
                None,
                0,
                1,
            ),
            (
                "a rejected input with nothing else pending",
                &[Reject],
                Some(0),
                1,
                0,
            ),
            (
                "stored twice counts once",
                &[Reject, Stored(&[0]), Stored(&[0])],
                None,
                0,
                1,
            ),
            (
                "an aborted batch (never settled) stays in flight",
                &[
                    Push(2, 0),
                    Launch(0),
                    Push(2, 1),
                    Launch(1),
                    Settle(0, 0, &[], true),
                ],
                Some(0),
                4,
                0,
            ),
            (
                "an operation being pushed holds the line",
                &[Push(2, 0), Launch(0), Settle(0, 2, &[], false), Loose],
                Some(2),
                1,
                0,
            ),
            // Two indices fill a batch each; their operations interleave.
            (
                "the later batch confirmed first: the line stays at the earlier one's first",
                &[
                    Push(1, 0),
                    Push(1, 1),
                    Push(1, 0),
                    Launch(1),
                    Settle(1, 1, &[], false),
                ],
                Some(0),
                2,
                0,
            ),
            (
                "the earlier batch confirmed: the line moves to the filling one's first",
                &[
                    Push(1, 0),
                    Push(1, 1),
                    Push(1, 0),
                    Launch(0),
                    Settle(0, 2, &[], false),
                ],
                Some(1),
                1,
                0,
            ),
            (
                "three interleaved batches, the middle one stopped",
                &[
                    Push(1, 0),
                    Push(1, 1),
                    Push(1, 2),
                    Push(1, 0),
                    Launch(0),
                    Launch(1),
                    Launch(2),
                    Settle(0, 2, &[], false),
                    Settle(2, 1, &[], false),
                    Settle(1, 0, &[], true),
                ],
                Some(1),
                1,
                0,
            ),
            (
                "a letter of one index's batch before another index's pending operation",
                &[Push(1, 0), Push(2, 1), Launch(0), Settle(0, 0, &[0], false)],
                Some(0),
                3,
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
            for i in 0..5000 {
                let seq = ledger.push();
                // Two indices' batches interleave.
                ledger.fill(seq, 2 * batch + i % 2);
            }
            for number in [2 * batch, 2 * batch + 1] {
                ledger.launch(number);
            }
            let confirmed = Confirmed {
                created: 2499,
                ..Confirmed::default()
            };
            ledger.settle(2 * batch, confirmed, &[first + 6], false);
            ledger.stored([first + 6]);
            let confirmed = Confirmed {
                created: 2500,
                ..Confirmed::default()
            };
            ledger.settle(2 * batch + 1, confirmed, &[], false);
        }
        assert_eq!(ledger.pushed(), 5_000_000);
        assert_eq!(
            (ledger.spans.len(), ledger.filling.len(), ledger.held.len()),
            (0, 0, 0)
        );
        assert_eq!(ledger.first_unconfirmed(), None);
        assert_eq!(ledger.letters_stored(), 1000);
    }
}
