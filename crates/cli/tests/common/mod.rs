//! Helpers shared by the CLI's integration tests (each test file includes this module; not all
//! use every helper).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// `tweet-indexer`, with every variable a flag falls back to removed: flags under test must
/// not be overridden by the caller's environment.
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tweet-indexer"));
    for var in [
        "ES_ENDPOINT",
        "ES_INDEX",
        "ES_AUTH",
        "ES_SIGV4_SERVICE",
        "ES_USERNAME",
        "ES_PASSWORD",
        "DEAD_LETTER_BUCKET",
        "DEAD_LETTER_PREFIX",
        "DEAD_LETTER_FILE",
        "BULK_GZIP",
        "BULK_CONCURRENCY",
        "BULK_MAX_BYTES",
        "FOLLOW_USER_IDS",
        "ARCHIVE_TABLE",
        "ARCHIVE_RETENTION",
        "INDEX_PARTITION",
        "RETENTION",
        "INDEX_SHARDS",
        "INDEX_REPLICAS",
        "INDEX_REFRESH_INTERVAL",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// The captured sample tweets of the repository.
pub fn samples() -> PathBuf {
    testkit::repo_root().join("tests/samples/captured.ndjson")
}

/// The tweet count of `index` (delete tombstones have no `timestamp_ms`), after a refresh,
/// through the sink's own client.
pub async fn count(url: &str, index: &str) -> u64 {
    let client = search_sink::SearchClient::connect(search_sink::Config::new(url))
        .await
        .expect("client");
    client
        .request(
            search_sink::Method::Post,
            &format!("{index}/_refresh"),
            None,
        )
        .await
        .expect("refresh");
    let response = client
        .request(
            search_sink::Method::Post,
            &format!("{index}/_count"),
            Some(br#"{"query":{"exists":{"field":"timestamp_ms"}}}"#),
        )
        .await
        .expect("count");
    let body: Value = serde_json::from_slice(&response.body).expect("count JSON");
    body["count"].as_u64().expect("count number")
}

/// A finished run of the binary: its status and what it printed.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// How long a run may take before the test fails (a hang is a failure, not a stuck test).
pub const RUN_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// A spawned run whose output is drained as it comes (so a full pipe never blocks it).
pub struct Running {
    pub child: std::process::Child,
    stdout: std::thread::JoinHandle<Vec<u8>>,
    stderr: std::thread::JoinHandle<Vec<u8>>,
}

impl Running {
    /// Starts `cmd` with piped stdout and stderr; stdin is the caller's to set.
    pub fn start(cmd: &mut Command) -> Running {
        use std::io::Read;
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn tweet-indexer");
        let mut out = child.stdout.take().expect("stdout");
        let mut err = child.stderr.take().expect("stderr");
        let stdout = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            bytes
        });
        let stderr = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = err.read_to_end(&mut bytes);
            bytes
        });
        Running {
            child,
            stdout,
            stderr,
        }
    }

    /// Sends `signal` (`INT`, `TERM`) to the run.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(sent.success(), "kill -{signal}");
    }

    /// Waits at most `limit`; a run still going then is killed and fails the test with what
    /// it printed.
    pub fn finish(mut self, limit: std::time::Duration) -> Ran {
        use wait_timeout::ChildExt;
        drop(self.child.stdin.take());
        let status = self.child.wait_timeout(limit).expect("wait");
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let stdout = self.stdout.join().unwrap_or_default();
        let stderr = String::from_utf8_lossy(&self.stderr.join().unwrap_or_default()).into_owned();
        let Some(status) = status else {
            panic!("tweet-indexer still ran after {limit:?}; killed. stderr:\n{stderr}");
        };
        Ran {
            code: status.code(),
            stdout,
            stderr,
        }
    }
}

/// Runs `cmd` with stdin closed, bounded by [`RUN_LIMIT`].
pub fn run_bounded(cmd: &mut Command) -> Ran {
    Running::start(cmd.stdin(std::process::Stdio::null())).finish(RUN_LIMIT)
}

#[allow(unused_imports)] // not every test file uses the fake
pub use testkit::fake_search::{Answer, FakeServer, search_server_with_bulk};

/// A file of `tweets` small tweets under a new temp directory (returned with it).
pub fn tweets_file(name: &str, tweets: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    let lines: String = (1..=tweets).map(|i| tweet_line(&i.to_string())).collect();
    std::fs::write(&path, lines).expect("write");
    (dir, path)
}

/// One small v1.1 tweet with this id, as a line.
pub fn tweet_line(id: &str) -> String {
    format!(
        "{{\"id_str\":\"{id}\",\"text\":\"tweet {id}\",\"timestamp_ms\":\"1700000000000\",\"user\":{{\"id\":1,\"id_str\":\"1\"}}}}\n"
    )
}

/// Whether this process runs as root (where a mode 000 file can still be read).
pub fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
