//! Shared by the fuzz targets: the slow-input check (an input may take at most
//! `FUZZ_MS_PER_KIB` ms per KiB, default 10). The time is the thread's CPU time, not the wall
//! clock: on a busy machine (a build beside the campaign) wall time measured the load, and
//! flagged inputs that took under 1 ms of CPU. A slow run is timed again before it counts. The
//! KiB are those of the stream the framer reads: the input, or what it inflates to when it
//! holds gzip (a few KiB of deflate data inflate to megabytes, and the work is linear in the
//! inflated bytes, not in the input's).

use std::time::Duration;

/// CPU time used by this thread so far.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` only writes the `timespec` it is given, which outlives the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "CLOCK_THREAD_CPUTIME_ID is available on Linux");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

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
    let started = thread_cpu_time();
    let framed = run();
    if thread_cpu_time() - started <= budget(framed) {
        return;
    }
    let again = thread_cpu_time();
    let framed = run();
    let took = thread_cpu_time() - again;
    assert!(
        took <= budget(framed),
        "slow input: {len} bytes ({framed} decompressed) took {took:?} of CPU (budget {:?})",
        budget(framed)
    );
}
