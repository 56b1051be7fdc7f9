//! Backoff between retries, the one policy of the workspace (the sink's requests, the capture's
//! reconnects to X, its Firehose / Kinesis resends and its compliance-job polls):
//!
//! - [`Schedule`]: a capped delay by attempt, exact (doubling or linear), for the rules a
//!   service documents (X's reconnect guide) and for retries of one caller;
//! - [`Backoff`]: a schedule walked one attempt after another, with a `reset` after progress:
//!   [`Backoff::new`] the sink's capped exponential schedule from `backon` with *full* jitter
//!   (a uniform pick in `[0, schedule delay]`) applied here, because backon's own jitter adds to
//!   the delay instead (AWS's "full jitter" spreads concurrent Lambdas best);
//!   [`Backoff::exact`] a [`Schedule`] without jitter.
//!
//! [`Schedule`] is computed here rather than by backon: backon's exponential steps multiply
//! through `f32` (200 ms doubles to 400.000006 ms) and it has no delay for attempt `n`, while
//! the documented schedules are exact and tested as tables.

use backon::{BackoffBuilder, ExponentialBuilder};
use std::time::Duration;

/// A capped delay by attempt, without jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// `start`, doubling with each attempt, at most `max`.
    Doubling { start: Duration, max: Duration },
    /// `step` times the attempt, at most `max`.
    Linear { step: Duration, max: Duration },
}

impl Schedule {
    /// The delay before attempt `attempt` (1 for the first retry; 0 is read as 1). Saturates:
    /// never overflows, whatever the attempt.
    pub fn delay(self, attempt: u32) -> Duration {
        let attempt = attempt.max(1);
        match self {
            Schedule::Doubling { start, max } => {
                // 2^(attempt-1), saturating well before overflow.
                let factor = 1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX);
                start.saturating_mul(factor).min(max)
            }
            Schedule::Linear { step, max } => step.saturating_mul(attempt).min(max),
        }
    }
}

/// A schedule walked one attempt after another.
pub struct Backoff {
    kind: Kind,
}

enum Kind {
    /// The sink's: backon's capped exponential schedule, full jitter.
    FullJitter {
        schedule: backon::ExponentialBackoff,
        initial: Duration,
        max: Duration,
    },
    /// A [`Schedule`] as it is, and the attempts made since the last reset.
    Exact { schedule: Schedule, attempt: u32 },
}

impl Backoff {
    /// Exponential from `initial`, doubling, at most `max`, each delay a uniform pick below it.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            kind: Kind::FullJitter {
                schedule: schedule(initial, max),
                initial,
                max,
            },
        }
    }

    /// `schedule`'s delays one after another, without jitter.
    pub fn exact(schedule: Schedule) -> Self {
        Self {
            kind: Kind::Exact {
                schedule,
                attempt: 0,
            },
        }
    }

    /// Back to the first, shortest delay (after a request that needed no retry).
    pub fn reset(&mut self) {
        match &mut self.kind {
            Kind::FullJitter {
                schedule: current,
                initial,
                max,
            } => *current = schedule(*initial, *max),
            Kind::Exact { attempt, .. } => *attempt = 0,
        }
    }

    /// The next delay: with full jitter, uniform in `[0, min(max, initial * 2^attempt)]`;
    /// exact, the schedule's delay for the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        match &mut self.kind {
            Kind::FullJitter { schedule, max, .. } => {
                let cap = schedule.next().unwrap_or(*max);
                let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
                Duration::from_nanos(fastrand::u64(0..=nanos))
            }
            Kind::Exact { schedule, attempt } => {
                *attempt = attempt.saturating_add(1);
                schedule.delay(*attempt)
            }
        }
    }
}

/// The quick attempts at a server that refuses connections: 200 ms, doubling, at most 6.4 s.
const UNREACHABLE: Schedule = Schedule::Doubling {
    start: Duration::from_millis(200),
    max: Duration::from_millis(6400),
};

/// The pause after quick attempt `attempt` (1, 2, ...) at a request that could not connect
/// ([`crate::Config::unreachable_attempts`]): 200 ms, then 400 ms, doubling; no jitter, since
/// these are a handful of attempts by one caller, not a crowd backing off.
pub(crate) fn unreachable_delay(attempt: u32) -> Duration {
    UNREACHABLE.delay(attempt)
}

fn schedule(initial: Duration, max: Duration) -> backon::ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(initial)
        .with_max_delay(max)
        .with_factor(2.0)
        .without_max_times()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_under_the_growing_cap() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(80));
        let caps = [10, 20, 40, 80, 80, 80];
        for cap in caps {
            let d = b.next_delay();
            assert!(d <= Duration::from_millis(cap), "{d:?} > {cap} ms");
        }
    }

    #[test]
    fn reset_starts_the_schedule_over() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_secs(10));
        for _ in 0..8 {
            b.next_delay();
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(10));
    }

    #[test]
    fn quick_attempts_at_an_unreachable_server_take_about_a_second() {
        let ms = Duration::from_millis;
        let delays: Vec<Duration> = (1..=4).map(unreachable_delay).collect();
        assert_eq!(delays, [ms(200), ms(400), ms(800), ms(1600)]);
        // Three attempts (the CLI's): two pauses.
        assert_eq!(delays[..2].iter().sum::<Duration>(), ms(600));
        assert_eq!(unreachable_delay(60), ms(6400), "capped, never overflows");
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(1));
        let delays: std::collections::HashSet<Duration> = (0..20).map(|_| b.next_delay()).collect();
        assert!(delays.len() > 10, "delays are not jittered: {delays:?}");
    }

    #[test]
    fn schedules_are_exact_capped_and_never_overflow() {
        let ms = Duration::from_millis;
        let doubling = Schedule::Doubling {
            start: ms(200),
            max: ms(30_000),
        };
        let got: Vec<Duration> = (0..=9).map(|a| doubling.delay(a)).collect();
        let want = [200, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000].map(ms);
        assert_eq!(got, want, "attempt 0 is read as 1");
        assert_eq!(doubling.delay(u32::MAX), ms(30_000));
        let linear = Schedule::Linear {
            step: ms(250),
            max: ms(16_000),
        };
        assert_eq!(linear.delay(1), ms(250));
        assert_eq!(linear.delay(63), ms(15_750));
        assert_eq!(linear.delay(u32::MAX), ms(16_000));
        // Walked one attempt after another, without jitter; a reset starts over.
        let mut b = Backoff::exact(doubling);
        assert_eq!(
            [b.next_delay(), b.next_delay(), b.next_delay()],
            [200, 400, 800].map(ms)
        );
        b.reset();
        assert_eq!(b.next_delay(), ms(200));
    }
}
