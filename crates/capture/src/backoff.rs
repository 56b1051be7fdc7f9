//! The reconnect policy of the X streaming guide, as a pure function of the failure, how many
//! failures of that kind came in a row, the server's rate-limit reset and a jitter draw.
//!
//! It does not sleep, read clocks or draw random numbers: the stream loop does that and passes
//! the results in, so the policy is tested as a table.

use std::time::Duration;

/// Why the last connection (or connection attempt) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// An established stream ended: zero-length chunk, `operational-disconnect` payload, read
    /// error or stall. The guide says: reconnect at once; if that fails, back off by the
    /// error the *attempt* gets.
    Disconnected,
    /// The attempt failed below HTTP (connect refused, reset, DNS, TLS).
    Network,
    /// The attempt got an HTTP error worth retrying (5xx, and 4xx other than 429 that are not
    /// fatal, e.g. 409 "stream already being reconnected").
    Http,
    /// 429 or a `TooManyConnections` payload.
    RateLimited,
}

impl Failure {
    /// The label used in logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Failure::Disconnected => "disconnected",
            Failure::Network => "network",
            Failure::Http => "http",
            Failure::RateLimited => "rate_limited",
        }
    }
}

/// TCP/IP errors: +250 ms per attempt, at most 16 s.
pub const NETWORK_STEP: Duration = Duration::from_millis(250);
pub const NETWORK_MAX: Duration = Duration::from_secs(16);
/// HTTP errors: 5 s doubling, at most 320 s.
pub const HTTP_START: Duration = Duration::from_secs(5);
pub const HTTP_MAX: Duration = Duration::from_secs(320);
/// 429: 60 s doubling (the guide gives no cap; `--max-backoff` is the cap).
pub const RATE_LIMIT_START: Duration = Duration::from_secs(60);
/// Jitter adds up to this fraction of the delay, so that many clients (or restarts of one
/// task) do not reconnect in lockstep.
pub const JITTER_FRACTION: f64 = 0.1;

/// The delay before the next attempt.
///
/// - `attempt`: failures of this kind in a row, 1 for the first.
/// - `rate_limit_reset`: time until `x-rate-limit-reset`, when the server sent it.
/// - `max_backoff`: the `--max-backoff` cap on the computed delay.
/// - `jitter`: a draw in `[0, 1)`; adds `jitter * JITTER_FRACTION` of the delay.
///
/// A known rate-limit reset is honoured even beyond `max_backoff`: reconnecting earlier is
/// certain to be refused and counts against the limit again.
pub fn reconnect_delay(
    failure: Failure,
    attempt: u32,
    rate_limit_reset: Option<Duration>,
    max_backoff: Duration,
    jitter: f64,
) -> Duration {
    let attempt = attempt.max(1);
    let base = match failure {
        // The first reconnect after a drop is immediate; a drop right after a reconnect
        // (attempt 2+) is treated like a network error so a flapping stream cannot spin.
        Failure::Disconnected => NETWORK_STEP.saturating_mul(attempt - 1).min(NETWORK_MAX),
        Failure::Network => NETWORK_STEP.saturating_mul(attempt).min(NETWORK_MAX),
        Failure::Http => doubling(HTTP_START, attempt).min(HTTP_MAX),
        Failure::RateLimited => doubling(RATE_LIMIT_START, attempt),
    };
    let jitter = jitter.clamp(0.0, 1.0);
    let with_jitter = base + base.mul_f64(jitter * JITTER_FRACTION);
    let capped = with_jitter.min(max_backoff);
    match (failure, rate_limit_reset) {
        (Failure::RateLimited, Some(reset)) => capped.max(reset),
        _ => capped,
    }
}

fn doubling(start: Duration, attempt: u32) -> Duration {
    // 2^(attempt-1), saturating well before overflow.
    let factor = 1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX);
    start.saturating_mul(factor)
}

/// Counts failures of one kind in a row; a connection that delivered data resets it.
#[derive(Debug, Default, Clone)]
pub struct Backoff {
    last: Option<Failure>,
    attempt: u32,
}

impl Backoff {
    /// Records a failure and returns its attempt number (1 for the first of its kind in a row).
    /// A change of kind restarts the count: after a drop the reconnect is immediate, and if
    /// that attempt gets a 503 the HTTP schedule starts at its first step.
    pub fn record(&mut self, failure: Failure) -> u32 {
        self.attempt = match self.last {
            Some(last) if last == failure => self.attempt + 1,
            _ => 1,
        };
        self.last = Some(failure);
        self.attempt
    }

    /// The stream delivered data: the next failure starts from attempt 1.
    pub fn reset(&mut self) {
        self.last = None;
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;
    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn reconnect_delay_table() {
        let big = S(10_000);
        #[rustfmt::skip]
        type Row = (Failure, u32, Option<Duration>, Duration, f64, Duration);
        let table: &[Row] = &[
            // failure, attempt, reset, max_backoff, jitter, expected
            (Failure::Disconnected, 1, None, big, 0.0, S(0)),
            (Failure::Disconnected, 1, None, big, 0.99, S(0)),
            (Failure::Disconnected, 2, None, big, 0.0, MS(250)),
            (Failure::Network, 1, None, big, 0.0, MS(250)),
            (Failure::Network, 2, None, big, 0.0, MS(500)),
            (Failure::Network, 64, None, big, 0.0, S(16)),
            (Failure::Network, 65, None, big, 0.0, S(16)),
            (Failure::Network, 1000, None, big, 0.5, MS(16_800)),
            (Failure::Http, 1, None, big, 0.0, S(5)),
            (Failure::Http, 2, None, big, 0.0, S(10)),
            (Failure::Http, 7, None, big, 0.0, S(320)),
            (Failure::Http, 8, None, big, 0.0, S(320)),
            (Failure::Http, 100, None, big, 0.0, S(320)),
            (Failure::Http, 1, None, big, 1.0, MS(5_500)),
            (Failure::Http, 1, Some(S(900)), big, 0.0, S(5)), // reset only matters for 429
            (Failure::RateLimited, 1, None, big, 0.0, S(60)),
            (Failure::RateLimited, 2, None, big, 0.0, S(120)),
            (Failure::RateLimited, 4, None, big, 0.0, S(480)),
            (Failure::RateLimited, 1, Some(S(90)), big, 0.0, S(90)),
            (Failure::RateLimited, 3, Some(S(90)), big, 0.0, S(240)),
            // --max-backoff caps everything but a known reset.
            (Failure::Http, 5, None, S(30), 0.0, S(30)),
            (Failure::RateLimited, 5, None, S(30), 0.0, S(30)),
            (Failure::RateLimited, 5, Some(S(45)), S(30), 0.0, S(45)),
            (Failure::Network, 3, None, MS(100), 0.0, MS(100)),
            // attempt 0 is read as 1; jitter outside [0, 1] is clamped.
            (Failure::Http, 0, None, big, 0.0, S(5)),
            (Failure::Http, 1, None, big, 7.0, MS(5_500)),
            (Failure::RateLimited, u32::MAX, None, S(3600), 0.0, S(3600)),
        ];
        for &(failure, attempt, reset, max, jitter, expected) in table {
            assert_eq!(
                reconnect_delay(failure, attempt, reset, max, jitter),
                expected,
                "{failure:?} attempt {attempt} reset {reset:?} max {max:?} jitter {jitter}"
            );
        }
    }

    #[test]
    fn backoff_counts_runs_of_one_kind() {
        let mut b = Backoff::default();
        assert_eq!(b.record(Failure::Http), 1);
        assert_eq!(b.record(Failure::Http), 2);
        assert_eq!(b.record(Failure::RateLimited), 1);
        assert_eq!(b.record(Failure::RateLimited), 2);
        b.reset();
        assert_eq!(b.record(Failure::RateLimited), 1);
        assert_eq!(b.record(Failure::Disconnected), 1);
        assert_eq!(b.record(Failure::Disconnected), 2);
    }
}
