//! The `tweet-indexer` binary as users run it: dry run (no server), mapping print, and indexing
//! files into osmem-server.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod common;
use common::{FakeServer, Running, bin, run_bounded, samples, tweet_line, tweets_file};

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
            // The index is in the request path (`POST /twitter/_bulk`), never in the lines.
            assert!(action.get("_index").is_none(), "{action}");
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
        stderr.contains(&format!("-> {index_ops} documents, 1 delete,")),
        "{stderr}"
    );
}

/// Partitioned, each run of operations for one partition follows its request line; the
/// operations are the same as unpartitioned, each under the partition its id names.
#[test]
fn a_partitioned_dry_run_names_the_partition_of_each_request() {
    let single = run(bin().args(["index", "--dry-run"]).arg(samples()));
    let out = run(bin()
        .args(["index", "--dry-run", "--index-partition", "month"])
        .arg(samples()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    let mut target = None;
    let mut bulk_lines = Vec::new();
    let mut requests = 0;
    for line in stdout.lines() {
        if let Some(path) = line.strip_prefix("POST /") {
            let index = path.strip_suffix("/_bulk").expect("a bulk request line");
            target = Some(index.to_owned());
            requests += 1;
            continue;
        }
        bulk_lines.push(line);
        let action: Value = serde_json::from_str(line).expect("JSON line");
        if let Some(action) = action.get("index") {
            let id: u64 = action["_id"].as_str().unwrap().parse().unwrap();
            let want = tweets::partition::Partition::Month
                .index_of_id("twitter", &id.to_string())
                .unwrap();
            assert_eq!(target.as_deref(), Some(want.as_str()), "{id}");
        }
    }
    assert!(requests >= 1);
    let single = String::from_utf8(single.stdout).unwrap();
    assert_eq!(
        bulk_lines,
        single.lines().collect::<Vec<_>>(),
        "the same operations"
    );
    let bad = run(bin()
        .args(["index", "--dry-run", "--index-partition", "week"])
        .arg(samples()));
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--index-partition: \"week\""));
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

/// Stdin kept open and silent: only `--timeout-secs` can end the run. Should the timeout not
/// apply, the run is killed after [`common::RUN_LIMIT`] and the test fails saying so (it
/// used to wait for the child for ever).
#[test]
fn timeout_secs_bounds_a_dry_run() {
    let mut running = Running::start(
        bin()
            .args(["index", "--dry-run", "--timeout-secs", "1", "-"])
            .stdin(Stdio::piped()),
    );
    let stdin = running.child.stdin.take();
    let ran = running.finish(common::RUN_LIMIT);
    drop(stdin);
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(ran.stderr.contains("deadline"), "{}", ran.stderr);
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

/// `dir` holding a.ndjson, b.ndjson and c.ndjson where b cannot be read by anyone, root
/// included (a dangling symlink), plus, when not running as root, b-locked.ndjson with mode
/// 000; a symlink to a file elsewhere (followed) and a symlink loop (reported). Returns the
/// readable files in the order the directory lists them, and the names that must be
/// reported.
fn directory_with_unreadable_files(
    dir: &std::path::Path,
    elsewhere: &std::path::Path,
) -> (Vec<PathBuf>, Vec<PathBuf>) {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let write = |path: PathBuf, first: usize| {
        let lines: String = (first..first + 3)
            .map(|i| tweet_line(&i.to_string()))
            .collect();
        std::fs::write(&path, lines).unwrap();
        path
    };
    let a = write(dir.join("a.ndjson"), 1);
    symlink(dir.join("gone.ndjson"), dir.join("b.ndjson")).unwrap();
    let mut unreadable = vec![dir.join("b.ndjson")];
    if common::running_as_root() {
        eprintln!(
            "running as root: a mode 000 file is readable, so only the dangling symlink (and the loop) stand for unreadable files"
        );
    } else {
        let locked = write(dir.join("b-locked.ndjson"), 100);
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        unreadable.push(locked);
    }
    let c = write(dir.join("c.ndjson"), 4);
    let far = write(elsewhere.join("far.ndjson"), 7);
    symlink(&far, dir.join("d-link.ndjson")).unwrap();
    symlink(dir, dir.join("loop")).unwrap();
    unreadable.push(dir.join("loop"));
    (vec![a, c, far], unreadable)
}

#[test]
fn a_directory_with_an_unreadable_file_processes_the_others_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let (readable, unreadable) = directory_with_unreadable_files(dir.path(), elsewhere.path());
    let ran = run_bounded(bin().args(["index", "--dry-run"]).arg(dir.path()));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let alone = run_bounded(
        bin()
            .args(["index", "--dry-run", "--jobs", "1"])
            .args(&readable),
    );
    assert_eq!(alone.code, Some(0), "{}", alone.stderr);
    assert!(!alone.stdout.is_empty());
    assert!(ran.stdout == alone.stdout, "every readable file, in order");
    for path in &unreadable {
        let line = ran
            .stderr
            .lines()
            .find(|l| l.starts_with(&format!("error: {}: ", path.display())))
            .unwrap_or_else(|| panic!("{} not reported: {}", path.display(), ran.stderr));
        assert!(
            line.contains("dangling symlink")
                || line.contains("symlink loop")
                || line.contains("permission denied"),
            "{line}"
        );
    }
    assert!(
        ran.stderr.contains("3 objects: 9 records"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_directory_with_an_unreadable_file_indexes_the_other_two() {
    let Some(url) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    directory_with_unreadable_files(dir.path(), elsewhere.path());
    // Only a, b and c: the held-out check's directory.
    std::fs::remove_file(dir.path().join("d-link.ndjson")).unwrap();
    std::fs::remove_file(dir.path().join("loop")).unwrap();
    let ran = run_bounded(
        bin()
            .args(["index", "--auth", "none", "--index", "cli-unreadable"])
            .args(["--endpoint", &url])
            .arg(dir.path()),
    );
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("b.ndjson: a dangling symlink"),
        "{}",
        ran.stderr
    );
    assert_eq!(count(&url, "cli-unreadable"), 6, "a's and c's tweets");
}

#[test]
fn one_of_a_kind_is_singular_in_the_summary() {
    let (_dir, path) = tweets_file("one.ndjson", 1);
    let ran = run_bounded(bin().args(["index", "--dry-run"]).arg(&path));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(
        ran.stderr.trim_end(),
        format!(
            "{}: 1 record -> 1 document, 0 deletes, 0 control messages, 0 invalid, 0 warnings",
            path.display()
        )
    );
}

/// The object's path once per line: the error line and the summary line each name it once.
#[test]
fn a_failed_object_is_named_once_per_line() {
    let server = common::search_server_with_bulk(|| {
        Some((
            400,
            "application/json",
            r#"{"error":{"type":"illegal_argument_exception","reason":"bad request"},"status":400}"#
                .into(),
        ))
    });
    let (_dir, path) = tweets_file("small.ndjson", 2);
    let ran = run_bounded(
        bin()
            .args(["index", "--auth", "none", "--endpoint", &server.url])
            .arg(&path),
    );
    assert_eq!(ran.code, Some(4), "{}", ran.stderr);
    let name = path.display().to_string();
    let error = ran
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {}", ran.stderr));
    assert_eq!(error.matches(&name).count(), 1, "{error}");
    assert!(
        error.contains(": HTTP 400 Bad Request: illegal_argument_exception: bad request; 2 operations were not confirmed"),
        "{error}"
    );
    let summary = ran
        .stderr
        .lines()
        .find(|l| l.contains("[FAILED"))
        .unwrap_or_else(|| panic!("no summary line: {}", ran.stderr));
    assert_eq!(summary.matches(&name).count(), 1, "{summary}");
    assert!(summary.contains(", 1 request [FAILED: POST "), "{summary}");
}

#[test]
fn mapping_ensure_says_what_it_did_in_words() {
    let server = FakeServer::start(|method, path| match (method, path) {
        ("HEAD", "/twitter") => Some((404, "application/json", String::new())),
        _ => Some((200, "application/json", "{}".into())),
    });
    let ran = run_bounded(bin().args([
        "mapping",
        "ensure",
        "--auth",
        "none",
        "--endpoint",
        &server.url,
    ]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(
        ran.stderr.trim_end(),
        "index twitter: created with the mapping"
    );
}

#[test]
fn a_truncated_gzip_says_its_records_were_kept() {
    let records = std::fs::read(samples()).expect("samples");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&records).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let path = temp_file("truncated.ndjson.gz", &gz[..gz.len() * 2 / 3]);
    let ran = run_bounded(bin().args(["index", "--dry-run"]).arg(&path));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let warning = ran
        .stderr
        .lines()
        .find(|l| l.contains("corrupt gzip member"))
        .unwrap_or_else(|| panic!("no warning: {}", ran.stderr));
    assert!(
        warning.contains("what it held before the damage is kept"),
        "{warning}"
    );
    assert!(!warning.contains("skipped"), "{warning}");
    assert!(ran.stderr.contains(", 1 invalid, "), "{}", ran.stderr);
}

/// A bad value is named the way it was given: the flag, or the variable.
#[test]
fn settings_are_named_as_the_user_gave_them() {
    let ran = run_bounded(
        bin()
            .env("ES_AUTH", "foo")
            .args(["index", "--endpoint", "http://127.0.0.1:9"])
            .arg(samples()),
    );
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr
            .starts_with("error: ES_AUTH (environment): \"foo\" is not one of"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("--auth"), "{}", ran.stderr);

    let ran = run_bounded(
        bin()
            .args(["index", "--dry-run", "--follow-user-ids", "abc"])
            .arg(samples()),
    );
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr
            .starts_with("error: --follow-user-ids: \"abc\" is not a numeric user id"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("FOLLOW_USER_IDS"), "{}", ran.stderr);

    // The archive's settings are checked before anything is connected.
    let ran = run_bounded(
        bin()
            .args([
                "index",
                "--endpoint",
                "http://127.0.0.1:9",
                "--archive-retention",
                "2y",
            ])
            .arg(samples()),
    );
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr
            .starts_with("error: --archive-retention: needs ARCHIVE_TABLE"),
        "{}",
        ran.stderr
    );
    let ran = run_bounded(
        bin()
            .env("ARCHIVE_TABLE", "tweets")
            .env("ARCHIVE_RETENTION", "2")
            .args(["index", "--endpoint", "http://127.0.0.1:9"])
            .arg(samples()),
    );
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr
            .starts_with("error: ARCHIVE_RETENTION (environment): \"2\" is not a retention"),
        "{}",
        ran.stderr
    );

    let ran = run_bounded(
        bin()
            .env("FOLLOW_USER_IDS", "abc")
            .args(["index", "--dry-run"])
            .arg(samples()),
    );
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr
            .starts_with("error: FOLLOW_USER_IDS (environment): \"abc\""),
        "{}",
        ran.stderr
    );
    // From the environment, valid ids still filter.
    let ran = run_bounded(
        bin()
            .env("FOLLOW_USER_IDS", "1")
            .args(["index", "--dry-run"])
            .arg(samples()),
    );
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(" filtered (not by a followed author)"),
        "{}",
        ran.stderr
    );
}

/// SigV4 with no region anywhere: one line naming AWS_REGION, no dump of each failed
/// provider (IMDS is pointed at a closed port, as off EC2).
#[test]
fn no_region_is_one_line_without_imds_dumps() {
    let home = tempfile::tempdir().unwrap();
    let imds = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let imds = format!("http://{}", imds.local_addr().unwrap());
    let mut cmd = bin();
    for var in [
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_EC2_METADATA_DISABLED",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home.path())
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds)
        .args([
            "index",
            "--auth",
            "sigv4",
            "--endpoint",
            "http://127.0.0.1:9",
        ])
        .arg(samples());
    let ran = run_bounded(&mut cmd);
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    let lines: Vec<&str> = ran.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", ran.stderr);
    assert!(lines[0].contains("AWS_REGION"), "{}", lines[0]);
}

/// A dead-letter file that cannot be written: its OS error is said once.
#[test]
fn an_os_error_is_said_once() {
    let server = common::search_server_with_bulk(|| {
        Some((
            200,
            "application/json",
            r#"{"errors":true,"items":[{"index":{"_id":"1","status":400,"error":{"type":"mapper_parsing_exception","reason":"bad field"}}}]}"#.into(),
        ))
    });
    let (dir, path) = tweets_file("one.ndjson", 1);
    let letters = dir.path().join("no-such-dir/letters.ndjson");
    let ran = run_bounded(
        bin()
            .args(["index", "--auth", "none", "--endpoint", &server.url])
            .arg("--dead-letter-file")
            .arg(&letters)
            .arg(&path),
    );
    assert_ne!(ran.code, Some(0), "{}", ran.stderr);
    let error = ran
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {}", ran.stderr));
    assert!(error.contains(&letters.display().to_string()), "{error}");
    assert_eq!(error.matches("os error 2").count(), 1, "{error}");
}
