//! Remembers the tweet ids forwarded during the last `window` so that a tweet delivered twice
//! (a reconnect with `backfill_minutes`, or the server's at-least-once delivery) is forwarded
//! once. Order does not matter: out-of-order tweets are forwarded as they come.
//!
//! Memory is bounded by the ids seen in one window (about 100 bytes each).

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct DedupWindow {
    window: Duration,
    seen: HashSet<String>,
    order: VecDeque<(Instant, String)>,
}

impl DedupWindow {
    /// A zero window turns deduplication off.
    pub fn new(window: Duration) -> Self {
        DedupWindow {
            window,
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// `true` when `id` is new (forward it), `false` for a duplicate within the window.
    pub fn first_sighting(&mut self, id: &str, now: Instant) -> bool {
        if self.window.is_zero() {
            return true;
        }
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) < self.window {
                break;
            }
            if let Some((_, old)) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        if self.seen.contains(id) {
            return false;
        }
        self.seen.insert(id.to_owned());
        self.order.push_back((now, id.to_owned()));
        true
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_within_the_window_are_caught_and_old_ids_forgotten() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut d = DedupWindow::new(s(60));
        let steps: &[(&str, u64, bool)] = &[
            ("1", 0, true),
            ("2", 1, true),
            ("1", 2, false),
            ("3", 30, true),
            ("2", 59, false),
            ("1", 60, true), // seen at 0: out of the window at 60
            ("2", 61, true),
            ("3", 62, false),
        ];
        for &(id, at, expected) in steps {
            assert_eq!(d.first_sighting(id, t0 + s(at)), expected, "{id} at {at}s");
        }
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn zero_window_forwards_everything() {
        let mut d = DedupWindow::new(Duration::ZERO);
        let now = Instant::now();
        assert!(d.first_sighting("1", now));
        assert!(d.first_sighting("1", now));
        assert!(d.is_empty());
    }
}
