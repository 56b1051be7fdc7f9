//! The `tweet-indexer` binary as users run it: dry run (no server), mapping print, and indexing
//! files into osmem-server.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod common;
use common::{bin, samples};

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run tweet-indexer")
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tweet-indexer-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("temp dir");
    }
    std::fs::write(&path, bytes).expect("write temp file");
    path
}

#[test]
fn dry_run_prints_bulk_ndjson_with_ids_and_deletes() {
    let out = run(bin().args(["index", "--dry-run"]).arg(samples()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let mut i = 0;
    let (mut index_ops, mut delete_ops) = (0, 0);
    while i < lines.len() {
        if let Some(action) = lines[i].get("index") {
            let source = &lines[i + 1];
            assert_eq!(action["_index"], "twitter");
            if action["version"] == search_sink::TOMBSTONE_VERSION {
                assert_eq!(action["version_type"], "external");
                // A delete notice: a tombstone under the tweet's id.
                assert!(
                    action["_id"]
                        .as_str()
                        .is_some_and(|id| id.bytes().all(|b| b.is_ascii_digit()))
                );
                assert_eq!(source, &serde_json::json!({"deleted": true}));
                delete_ops += 1;
            } else {
                assert_eq!(action["_id"], source["id_str"], "the _id is the tweet id");
                assert_eq!(action["version_type"], "external_gte");
                // The time, then 16 bits of the record's fingerprint.
                assert_eq!(
                    action["version"].as_u64().map(|v| v >> 16),
                    source["timestamp_ms"].as_u64(),
                    "versioned by time"
                );
                index_ops += 1;
            }
            i += 2;
        } else {
            panic!("unexpected line {i}: {}", lines[i]);
        }
    }
    assert!(index_ops > 50, "{index_ops}");
    assert_eq!(delete_ops, 1, "the sample holds one delete notice");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("-> {index_ops} documents, 1 deletes")),
        "{stderr}"
    );
}

#[test]
fn dry_run_of_gzip_stdin_matches_the_plain_file() {
    let plain = run(bin().args(["index", "--dry-run"]).arg(samples()));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&std::fs::read(samples()).expect("samples"))
        .expect("gzip");
    let gz = gz.finish().expect("gzip");
    let mut child = bin()
        .args(["index", "--dry-run", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&gz)
        .expect("write stdin");
    let piped = child.wait_with_output().expect("wait");
    assert!(piped.status.success());
    assert_eq!(plain.stdout, piped.stdout);
}

#[test]
fn a_bad_record_makes_the_exit_code_non_zero_and_keeps_the_rest() {
    let path = temp_file("bad.ndjson", b"{\"id_str\":\"1\",\"text\":\"ok\",\"user\":{\"id\":1}}\n{\"truncated\": \n{\"id_str\":\"2\",\"text\":\"ok too\",\"user\":{\"id\":2}}\n");
    let out = run(bin().args(["index", "--dry-run"]).arg(&path));
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().count(),
        4,
        "two documents, each an action and a source line"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 invalid"));
}

#[test]
fn mapping_print_is_the_mapping_file() {
    let out = run(bin().args(["mapping", "print"]));
    assert!(out.status.success());
    let file =
        std::fs::read(testkit::repo_root().join("mappings/twitter.json")).expect("mapping file");
    assert_eq!(out.stdout, file);
}

#[test]
fn a_missing_endpoint_is_named_in_the_error() {
    let out = run(bin().args(["index"]).arg(samples()));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ES_ENDPOINT"));
}

#[test]
fn index_a_directory_into_osmem_server() {
    let Some(url) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let records = std::fs::read(samples()).expect("samples");
    let split = records.len() / 2
        + records[records.len() / 2..]
            .iter()
            .position(|b| *b == b'\n')
            .unwrap_or(0)
        + 1;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&records[split..]).expect("gzip");
    let first = temp_file("dir/a.ndjson", &records[..split]);
    temp_file("dir/nested/b.ndjson.gz", &gz.finish().expect("gzip"));
    let dir = first.parent().expect("dir").to_path_buf();

    let out = run(bin()
        .args([
            "index",
            "--endpoint",
            &url,
            "--index",
            "cli-dir",
            "--auth",
            "none",
        ])
        .arg(&dir));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let dry = run(bin().args(["index", "--dry-run"]).arg(samples()));
    let documents = String::from_utf8_lossy(&dry.stdout)
        .lines()
        .filter(|l| l.starts_with("{\"index\"") && !is_tombstone(l))
        .count();
    assert!(stderr.contains("2 objects"), "{stderr}");
    assert!(
        stderr.contains(&format!("indexed {documents},")),
        "{stderr}"
    );

    // Again: idempotent, the count stays.
    let again = run(bin()
        .args(["index", "--endpoint", &url, "--index", "cli-dir"])
        .arg(&dir));
    assert!(again.status.success());
    let ids: std::collections::HashSet<String> = String::from_utf8_lossy(&dry.stdout)
        .lines()
        .filter(|l| !is_tombstone(l))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["index"]["_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        count(&url, "cli-dir"),
        ids.len() as u64 - deleted_among(&dry.stdout, &ids)
    );
}

/// A delete notice's action line: an `index` of a tombstone at the tombstone version.
fn is_tombstone(line: &str) -> bool {
    serde_json::from_str::<Value>(line)
        .is_ok_and(|v| v["index"]["version"].as_u64() == Some(search_sink::TOMBSTONE_VERSION))
}

/// Ids that the same output deletes (a delete notice for an indexed tweet).
fn deleted_among(bulk: &[u8], ids: &std::collections::HashSet<String>) -> u64 {
    String::from_utf8_lossy(bulk)
        .lines()
        .filter(|l| is_tombstone(l))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["index"]["_id"].as_str().map(str::to_owned))
        .filter(|id| ids.contains(id))
        .count() as u64
}

/// The tweet count of `index` (see `common::count`), from a test without a runtime.
fn count(url: &str, index: &str) -> u64 {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(common::count(url, index))
}

#[test]
fn a_missing_input_is_reported_and_the_others_are_still_processed() {
    let good = temp_file(
        "good-among-missing.ndjson",
        &std::fs::read(samples()).expect("samples"),
    );
    let missing = good.with_file_name("no-such-file.ndjson");
    let out = run(bin().args(["index", "--dry-run"]).arg(&missing).arg(&good));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}: no such file or directory", missing.display())),
        "{stderr}"
    );
    let alone = run(bin().args(["index", "--dry-run"]).arg(&good));
    assert_eq!(
        out.stdout, alone.stdout,
        "the good input is processed in full"
    );
}

#[test]
fn inputs_are_checked_before_the_server_is_contacted() {
    // Nothing listens on port 9 of loopback: contacting the server would fail with exit 3.
    let missing = std::env::temp_dir().join("tweet-indexer-cli-surely-missing.ndjson");
    let out = run(bin()
        .args([
            "index",
            "--endpoint",
            "http://127.0.0.1:9",
            "--auth",
            "none",
        ])
        .arg(&missing));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "usage error, nothing sent: {stderr}"
    );
    assert!(stderr.contains("no such file or directory"), "{stderr}");
    assert!(stderr.contains("nothing was done"), "{stderr}");
}

#[test]
fn a_server_that_cannot_be_reached_is_a_delivery_failure() {
    let out = run(bin()
        .args([
            "index",
            "--endpoint",
            "http://127.0.0.1:9",
            "--auth",
            "none",
            "--timeout-secs",
            "5",
        ])
        .arg(samples()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
}

#[test]
fn a_bad_flag_value_names_the_flag_and_exits_2() {
    let out = run(bin()
        .args([
            "index",
            "--endpoint",
            "http://127.0.0.1:9",
            "--auth",
            "none",
            "--bulk-max-bytes",
            "lots",
        ])
        .arg(samples()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--bulk-max-bytes: \"lots\""), "{stderr}");
    assert!(!stderr.contains("BULK_MAX_BYTES"), "{stderr}");
    // From the environment, the variable is named.
    let out = run(bin()
        .env("BULK_MAX_BYTES", "lots")
        .args([
            "index",
            "--endpoint",
            "http://127.0.0.1:9",
            "--auth",
            "none",
        ])
        .arg(samples()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("BULK_MAX_BYTES (environment)"), "{stderr}");
    // An unknown auth kind is refused by the parser, naming the flag and the choices.
    let out = run(bin()
        .args(["index", "--dry-run", "--auth", "token"])
        .arg(samples()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--auth") && stderr.contains("sigv4"),
        "{stderr}"
    );
}

#[test]
fn stderr_has_no_colour_when_it_is_not_a_terminal() {
    let path = temp_file(
        "colour.ndjson",
        b"{\"id_str\":\"1\",\"text\":\"ok\",\"user\":{\"id\":1}}\n{\"truncated\": \n",
    );
    let out = run(bin().args(["index", "--dry-run"]).arg(&path));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid record"),
        "a warning was logged: {stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "no ANSI escape: {stderr:?}");
}

#[test]
fn timeout_secs_bounds_a_dry_run() {
    let mut child = bin()
        .args(["index", "--dry-run", "--timeout-secs", "1", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Keep stdin open and silent: only the timeout can end the run.
    let stdin = child.stdin.take();
    let started = std::time::Instant::now();
    let out = child.wait_with_output().expect("wait");
    drop(stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("deadline"), "{stderr}");
}

#[test]
fn dry_run_applies_the_author_filter_and_keeps_deletes() {
    let all = run(bin().args(["index", "--dry-run"]).arg(samples()));
    assert!(all.status.success());
    let sources: Vec<Value> = String::from_utf8_lossy(&all.stdout)
        .lines()
        .skip(1)
        .step_by(2)
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    // The author of the first tweet, and how many tweets the sample holds by them.
    let author = sources
        .iter()
        .find_map(|s| s["user"]["id"].as_u64())
        .expect("a tweet with an author");
    let by_author = sources
        .iter()
        .filter(|s| s["user"]["id"].as_u64() == Some(author))
        .count();
    let tombstone = serde_json::json!({"deleted": true});
    let tweets = sources.iter().filter(|s| **s != tombstone).count();
    assert!(by_author < tweets, "the sample has other authors too");

    let out = run(bin()
        .args([
            "index",
            "--dry-run",
            "--follow-user-ids",
            &author.to_string(),
        ])
        .arg(samples()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kept: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .step_by(2)
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let (tweets_kept, tombstones): (Vec<&Value>, Vec<&Value>) =
        kept.iter().partition(|s| **s != tombstone);
    assert_eq!(tweets_kept.len(), by_author);
    assert!(
        tweets_kept
            .iter()
            .all(|s| s["user"]["id"].as_u64() == Some(author))
    );
    assert_eq!(tombstones.len(), 1, "delete notices always apply");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{} filtered", tweets - by_author)),
        "{stderr}"
    );
}
