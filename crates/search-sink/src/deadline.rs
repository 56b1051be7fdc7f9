//! Fitting a retry into the caller's deadline: the retry policy's last step, used by every
//! stage that retries (bulk deliveries, ensuring an index, reads).

use std::time::Duration;

/// Shortest attempt worth making after a backoff.
const MIN_ATTEMPT: Duration = Duration::from_millis(50);

/// The backoff to sleep with `remaining` time left: `delay`, shortened so that at least half
/// of what is left (and [`MIN_ATTEMPT`]) remains for the attempt; `None` when no attempt fits.
pub(crate) fn fit_delay(delay: Duration, remaining: Duration) -> Option<Duration> {
    if remaining < MIN_ATTEMPT * 2 {
        return None;
    }
    Some(delay.min(remaining / 2))
}
