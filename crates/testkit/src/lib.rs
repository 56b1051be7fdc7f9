//! Test-only helpers shared by the workspace's test suites: where the repository and the
//! read-only `../shared` corpus live, and which loopback peers (osmem-server, moto S3, the
//! Python oracles' venv) `scripts/test` started; and the fakes and readers several crates'
//! tests share (fault proxies, an X API fake, a fake search server, the template's saved Logs
//! Insights queries, a moto of a test's own with IAM enforced for the permission tests), and
//! the module dependency graph of a crate ([`modules`]: no import cycles).
//!
//! Not for production code: nothing outside `[dev-dependencies]` should depend on it.
//!
//! Skipping rules: a test that needs a peer or the shared corpus calls [`peer`] or
//! [`shared_dir`]; when the thing is missing it is skipped with a line on stderr, unless
//! `REQUIRE_PEERS=1` (or `REQUIRE_SHARED=1`) is set, as `.ci/run` does, in which case the
//! test fails instead. CI therefore cannot go green by skipping.

pub mod aws_faults;
pub mod compliance;
pub mod fake_search;
pub mod faults;
pub mod iam_moto;
pub mod logs_insights;
pub mod modules;
pub mod secrets;
pub mod tls;
pub mod xfake;

use std::path::{Path, PathBuf};

/// The repository root (the folder holding the workspace `Cargo.toml`).
pub fn repo_root() -> PathBuf {
    // crates/testkit -> repo root
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// The URL of a loopback peer that `scripts/test` exports in `var` (e.g. `OSMEM_URL`,
/// `S3_ENDPOINT_URL`). `None` means: skip this test. Panics when `REQUIRE_PEERS=1`.
pub fn peer(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if required("REQUIRE_PEERS") => {
            panic!("{var} is not set but REQUIRE_PEERS=1: start the peers with scripts/test")
        }
        _ => {
            eprintln!("skipped: {var} is not set (run scripts/test to start the peers)");
            None
        }
    }
}

/// The Python interpreter of the test venv (`TEST_PYTHON`, set by `scripts/test`), used to
/// run reference oracles such as botocore. Same skip rules as [`peer`].
pub fn python() -> Option<PathBuf> {
    peer("TEST_PYTHON").map(PathBuf::from)
}

/// The read-only `../shared` folder beside the checkout, or `SHARED_DIR` when set.
/// `None` means: skip this corpus test. Panics when `REQUIRE_SHARED=1`.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("..").join("shared"));
    if dir.join("corpus").is_dir() {
        return Some(dir);
    }
    if required("REQUIRE_SHARED") {
        panic!("{} is missing but REQUIRE_SHARED=1", dir.display());
    }
    eprintln!(
        "skipped: {} not found (corpus tests need ../shared)",
        dir.display()
    );
    None
}

/// A name no other test (of this run or another process) uses: `{prefix}-{pid}-{n}-{nanos}`,
/// lowercase when `prefix` is, so fit for an index on a shared server.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}
