//! Shared by the fuzz targets: the slow-input check (an input may take at most
//! `FUZZ_MS_PER_KIB` ms per KiB, default 10; a slow run is timed again before it counts, since
//! the machine may be busy).

use std::time::{Duration, Instant};

pub fn within_budget(len: usize, mut run: impl FnMut()) {
    let per_kib: u64 = std::env::var("FUZZ_MS_PER_KIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let budget = Duration::from_millis(per_kib * (len as u64).div_ceil(1024).max(1));
    let started = Instant::now();
    run();
    if started.elapsed() <= budget {
        return;
    }
    let again = Instant::now();
    run();
    let took = again.elapsed();
    assert!(
        took <= budget,
        "slow input: {} bytes took {took:?} (budget {budget:?})",
        len
    );
}
