//! Shared by the fuzz targets: the slow-input check (an input may take at most
//! `FUZZ_MS_PER_KIB` ms per KiB, default 10; a slow run is timed again before it counts, since
//! the machine may be busy). The KiB are those of the stream the framer reads: the input, or
//! what it inflates to when it holds gzip (a few KiB of deflate data inflate to megabytes, and
//! the work is linear in the inflated bytes, not in the input's).

use std::time::{Duration, Instant};

/// Runs `run` (which returns how many bytes of decompressed stream it framed) and checks it
/// kept to the budget for `max(len, those bytes)`.
pub fn within_budget(len: usize, mut run: impl FnMut() -> u64) {
    let per_kib: u64 = std::env::var("FUZZ_MS_PER_KIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let budget = |framed: u64| {
        let kib = framed.max(len as u64).div_ceil(1024).max(1);
        Duration::from_millis(per_kib * kib)
    };
    let started = Instant::now();
    let framed = run();
    if started.elapsed() <= budget(framed) {
        return;
    }
    let again = Instant::now();
    let framed = run();
    let took = again.elapsed();
    assert!(
        took <= budget(framed),
        "slow input: {len} bytes ({framed} decompressed) took {took:?} (budget {:?})",
        budget(framed)
    );
}
