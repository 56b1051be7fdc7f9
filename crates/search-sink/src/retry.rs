//! Backoff between retries: a capped exponential schedule from `backon`, with *full* jitter
//! (a uniform pick in `[0, schedule delay]`) applied here, because backon's own jitter adds
//! to the delay instead (AWS's "full jitter" spreads concurrent Lambdas best).

use backon::{BackoffBuilder, ExponentialBuilder};
use std::time::Duration;

/// Exponential backoff with full jitter (module docs): one state per caller that retries.
pub struct Backoff {
    schedule: backon::ExponentialBackoff,
    initial: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            schedule: schedule(initial, max),
            initial,
            max,
        }
    }

    /// Back to the first, shortest delay (after a request that needed no retry).
    pub fn reset(&mut self) {
        self.schedule = schedule(self.initial, self.max);
    }

    /// The next delay: uniform in `[0, min(max, initial * 2^attempt)]`.
    pub fn next_delay(&mut self) -> Duration {
        let cap = self.schedule.next().unwrap_or(self.max);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }
}

/// The pause after quick attempt `attempt` (1, 2, ...) at a request that could not connect
/// ([`crate::Config::unreachable_attempts`]): 200 ms, then 400 ms, doubling; no jitter, since
/// these are a handful of attempts by one caller, not a crowd backing off.
pub(crate) fn unreachable_delay(attempt: u32) -> Duration {
    Duration::from_millis(200) * 2u32.saturating_pow(attempt.saturating_sub(1).min(5))
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
}
