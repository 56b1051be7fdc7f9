//! The process's heap policy for streaming objects (glibc only; a no-op elsewhere).
//!
//! glibc serves an allocation from `mmap` when it is at least `M_MMAP_THRESHOLD` (128 KiB at
//! start) and returns it to the kernel when freed, but the first time such a block is freed it
//! raises the threshold to the block's size (up to 32 MiB). From then on the pipeline's large
//! buffers (5 MiB bulk bodies, response bodies, read buffers) come from the heap arenas, whose
//! freed space is reused imperfectly across threads: peak RSS kept growing with the object's
//! size (the Lambda binary: +4.4 MiB from a 64 to a 256 MiB object). A fixed threshold keeps
//! large buffers in `mmap` and memory flat (`scripts/bench/rss-pair`, issue 14).

/// Buffers at least this large are mapped and unmapped on their own.
const MMAP_THRESHOLD_BYTES: i32 = 256 * 1024;

/// Fixes glibc's mmap threshold (which also stops its dynamic raise). Call once at start,
/// before the buffers of the first object are allocated. Returns whether it took effect.
pub fn keep_large_buffers_out_of_the_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; it takes glibc's own locks and
        // is safe to call at any time from any thread.
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = MMAP_THRESHOLD_BYTES;
        false
    }
}
