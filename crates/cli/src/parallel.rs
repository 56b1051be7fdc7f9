//! `index --jobs N`: several objects in flight at once. [`Ordered`] runs at most N of them
//! and gives their results back in input order (the summary, and with `--dry-run` the bulk
//! lines, come out as with `--jobs 1`); [`bulk_slots`] splits `BULK_CONCURRENCY` between the
//! objects in flight so that the cap on bulk requests holds for the whole process.
//!
//! It does not parse or send anything itself: each object still runs through the one
//! pipeline path (`Indexer::index_into`, `pipeline::dry_run::write_bulk`).

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::{JoinError, JoinHandle};

/// `--jobs` when not given: one object per core (extraction is the CPU work).
pub fn default_jobs() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

/// How many objects are indexed at once, and the bulk requests each object's sink may have in
/// flight, for `jobs` and `bulk_concurrency` (`BULK_CONCURRENCY`).
///
/// Why a static split and not a shared sink: each object keeps its own `BulkSink`, so its
/// summary (indexed, deleted, dead-lettered, requests...) stays exactly its own and a failing
/// object fails alone, and nothing in the search sink changes; the cap still holds process-wide
/// because `objects x slots <= bulk_concurrency`. The price: when indexing, at most
/// `bulk_concurrency` objects are in flight (each needs a slot); raise `BULK_CONCURRENCY` to
/// index more at once. Memory stays bounded by objects x (channel depth + one filling batch)
/// plus `bulk_concurrency` batches in flight, as with one object. Per-id order across objects
/// needs nothing more: versions are tweet times and a delete is a tombstone above every
/// version, so whichever object's bulk lands first, a delete wins.
pub fn bulk_slots(jobs: NonZeroUsize, bulk_concurrency: usize) -> (NonZeroUsize, usize) {
    let objects = NonZeroUsize::new(bulk_concurrency).map_or(NonZeroUsize::MIN, |c| jobs.min(c));
    (objects, bulk_concurrency.max(1) / objects.get())
}

/// Tasks started in input order, at most `jobs` running at once, their results taken back in
/// the same order. At most `window` tasks are started and not yet taken back: a slow object
/// holds back only that many later ones (with `--dry-run`, each of them holds its bulk lines
/// in a temp file until its turn).
pub struct Ordered<T> {
    running: Arc<Semaphore>,
    started: VecDeque<JoinHandle<T>>,
    window: usize,
}

impl<T: Send + 'static> Ordered<T> {
    pub fn new(jobs: NonZeroUsize, window: usize) -> Self {
        Ordered {
            running: Arc::new(Semaphore::new(jobs.get())),
            started: VecDeque::new(),
            window: window.max(jobs.get()),
        }
    }

    /// True when `window` tasks are started and not taken back: take the oldest
    /// ([`Ordered::next`]) before starting another.
    pub fn is_full(&self) -> bool {
        self.started.len() >= self.window
    }

    /// True when the oldest task has finished: take it back before starting another, so the
    /// next one is the oldest as early as possible.
    pub fn oldest_finished(&self) -> bool {
        self.started.front().is_some_and(JoinHandle::is_finished)
    }

    /// Starts `work` when a job slot is free (the window is the caller's to respect).
    pub async fn start<F>(&mut self, work: F)
    where
        F: Future<Output = T> + Send + 'static,
    {
        let slot = self.slot().await;
        self.start_in(slot, work);
    }

    /// Waits for a free job slot. Dropping the future gives up the wait, nothing else.
    pub async fn slot(&self) -> Slot {
        // The slot is taken before the task is spawned, not in it: tasks start in input
        // order (with one job, objects run one after another in the order given).
        Slot {
            _permit: Arc::clone(&self.running).acquire_owned().await.ok(),
        }
    }

    /// Starts `work` in `slot` (see [`Ordered::slot`]).
    pub fn start_in<F>(&mut self, slot: Slot, work: F)
    where
        F: Future<Output = T> + Send + 'static,
    {
        self.started.push_back(tokio::spawn(async move {
            let result = work.await;
            drop(slot);
            result
        }));
    }

    /// The oldest task's result, waiting for it; `None` when every result was taken.
    pub async fn next(&mut self) -> Option<Result<T, JoinError>> {
        let oldest = self.started.pop_front()?;
        Some(oldest.await)
    }

    /// Like [`Ordered::next`], unless `cancel` resolves first: then the oldest task is left
    /// where it was ([`Next::Cancelled`]).
    pub async fn next_or(&mut self, cancel: impl Future<Output = ()>) -> Next<T> {
        let Some(oldest) = self.started.front_mut() else {
            return Next::Empty;
        };
        tokio::select! {
            biased;
            result = oldest => {
                self.started.pop_front();
                Next::Done(result)
            }
            () = cancel => Next::Cancelled,
        }
    }

    /// Stops every task not taken back yet (they are dropped where they stand).
    pub fn abort_all(&mut self) {
        for task in self.started.drain(..) {
            task.abort();
        }
    }
}

/// A job slot of [`Ordered`], held by the task it was given to.
pub struct Slot {
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// What [`Ordered::next_or`] found.
pub enum Next<T> {
    /// The oldest task's result.
    Done(Result<T, JoinError>),
    /// Every result was taken.
    Empty,
    /// The caller's cancel came first.
    Cancelled,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn jobs(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap()
    }

    #[test]
    fn bulk_slots_never_exceed_the_bulk_concurrency() {
        // (jobs, BULK_CONCURRENCY, objects at once, slots per object)
        let table = [
            (1, 2, 1, 2), // --jobs 1: as before, one object with every slot
            (2, 2, 2, 1),
            (4, 2, 2, 1), // more jobs than slots: objects wait for a slot
            (2, 5, 2, 2),
            (3, 8, 3, 2),
            (8, 1, 1, 1),
            (2, 0, 1, 1), // never zero (the config refuses 0 anyway)
        ];
        for (j, concurrency, objects, slots) in table {
            let (at_once, per_object) = bulk_slots(jobs(j), concurrency);
            let split = (at_once.get(), per_object);
            assert_eq!(
                split,
                (objects, slots),
                "jobs {j}, concurrency {concurrency}"
            );
            assert!(split.0 * split.1 <= concurrency.max(1));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn results_come_back_in_order_with_at_most_jobs_running() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut ordered = Ordered::new(jobs(3), 4);
        let mut results = Vec::new();
        for i in 0..12u64 {
            let (running, most) = (running.clone(), most.clone());
            // Later tasks finish first: only the order of taking back puts them in order.
            let work = async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30 - 2 * (i % 4))).await;
                running.fetch_sub(1, Ordering::SeqCst);
                i
            };
            if ordered.is_full() {
                results.push(ordered.next().await.unwrap().unwrap());
            }
            ordered.start(work).await;
        }
        while let Some(done) = ordered.next().await {
            results.push(done.unwrap());
        }
        assert_eq!(results, (0..12).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }
}
