//! SIGINT / SIGTERM during `index`: reading stops, what was read is confirmed and counted in
//! the summary, inputs not started are named, requests that never end are abandoned after
//! the grace period, and the exit code is 128 + the signal's number.

use std::io::Write;
use std::process::Stdio;

mod common;
use common::{RUN_LIMIT, Running, bin, tweet_line, tweets_file};

/// The tweet count of `index` in osmem-server.
fn count(url: &str, index: &str) -> u64 {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(common::count(url, index))
}

/// The tweet count of `index`, 0 while it does not exist yet.
fn count_so_far(url: &str, index: &str) -> u64 {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = search_sink::SearchClient::connect(search_sink::Config::new(url))
            .await
            .expect("client");
        let post = search_sink::Method::Post;
        let _ = client
            .request(post, &format!("{index}/_refresh"), None)
            .await;
        let query = br#"{"query":{"exists":{"field":"timestamp_ms"}}}"#;
        let response = client
            .request(post, &format!("{index}/_count"), Some(query))
            .await
            .expect("count");
        serde_json::from_slice::<serde_json::Value>(&response.body)
            .ok()
            .and_then(|v| v["count"].as_u64())
            .unwrap_or(0)
    })
}

/// Waits, bounded, until `index` holds `want` tweets: the run has read and confirmed them.
fn wait_for_count(url: &str, index: &str, want: u64) {
    let started = std::time::Instant::now();
    loop {
        let now = count_so_far(url, index);
        if now == want {
            return;
        }
        assert!(
            started.elapsed() < RUN_LIMIT,
            "{index} holds {now} tweets, not {want}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_signal_stops_reading_and_the_summary_says_what_was_confirmed() {
    let Some(url) = testkit::peer("OSMEM_URL") else {
        return;
    };
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let index = format!(
            "cli-interrupt-{}-{}",
            signal.to_lowercase(),
            std::process::id()
        );
        let (_a_dir, a) = tweets_file("a.ndjson", 4);
        let (_c_dir, c) = tweets_file("c.ndjson", 5);
        // One object at a time, and a bulk request per tweet: what stdin gave is confirmed
        // as it comes, and a and c wait for stdin to end.
        let mut running = Running::start(
            bin()
                .args([
                    "index",
                    "--auth",
                    "none",
                    "--endpoint",
                    &url,
                    "--index",
                    &index,
                ])
                .args(["--jobs", "1", "--bulk-max-bytes", "1", "-"])
                .arg(&a)
                .arg(&c)
                .stdin(Stdio::piped()),
        );
        let mut stdin = running.child.stdin.take().expect("stdin");
        for id in ["9001", "9002", "9003"] {
            stdin.write_all(tweet_line(id).as_bytes()).expect("stdin");
        }
        stdin.flush().expect("stdin");
        wait_for_count(&url, &index, 3);
        running.signal(signal);
        // Stdin stays open: only the signal can end the run.
        let ran = running.finish(RUN_LIMIT);
        drop(stdin);
        assert_eq!(ran.code, Some(code), "SIG{signal}: {}", ran.stderr);
        let stopped = ran
            .stderr
            .lines()
            .find(|l| l.starts_with("-: "))
            .unwrap_or_else(|| panic!("no line for stdin: {}", ran.stderr));
        assert!(
            stopped.starts_with("-: 3 records -> 3 documents"),
            "{stopped}"
        );
        assert!(stopped.contains("; indexed 3,"), "{stopped}");
        assert!(
            stopped.contains("[INTERRUPTED: reading stopped at byte "),
            "{stopped}"
        );
        assert!(
            ran.stderr.contains(&format!(
                "not started (interrupted): 2 inputs: {}, {}",
                a.display(),
                c.display()
            )),
            "{}",
            ran.stderr
        );
        assert!(!ran.stderr.contains("[FAILED"), "{}", ran.stderr);
        assert!(
            ran.stderr.contains("1 object (1 interrupted): "),
            "{}",
            ran.stderr
        );
        assert_eq!(count(&url, &index), 3, "a and c were not started");
    }
}

/// A bulk request the server never answers: after the grace period it is abandoned, the run
/// says so and ends (it used to die at once with no summary; without the grace period it
/// would wait for the request's timeout and its retries).
#[test]
fn requests_that_never_end_are_abandoned_after_the_grace_period() {
    let server = common::search_server_with_bulk(|| None);
    let (_dir, path) = tweets_file("b.ndjson", 2);
    let mut running = Running::start(
        bin()
            .args(["index", "--auth", "none", "--endpoint", &server.url])
            .args(["--jobs", "2", "--bulk-max-bytes", "1", "-"])
            .arg(&path)
            .stdin(Stdio::piped()),
    );
    let mut stdin = running.child.stdin.take().expect("stdin");
    stdin.write_all(tweet_line("1").as_bytes()).expect("stdin");
    stdin.flush().expect("stdin");
    // A bulk request of each object is in flight (stdin's tweet was read, b's first one).
    server.wait_for("_bulk");
    server.wait_for("_bulk");
    running.signal("INT");
    let ran = running.finish(RUN_LIMIT);
    drop(stdin);
    assert_eq!(ran.code, Some(130), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("interrupted: reading stopped; requests in flight have 5 s"),
        "{}",
        ran.stderr
    );
    let abandoned = ran
        .stderr
        .lines()
        .find(|l| l.starts_with("abandoned with requests in flight"))
        .unwrap_or_else(|| panic!("nothing abandoned: {}", ran.stderr));
    // Both objects started (two jobs, and BULK_CONCURRENCY 2 gives each a slot).
    assert!(abandoned.contains(": 2 objects: -, "), "{abandoned}");
}
