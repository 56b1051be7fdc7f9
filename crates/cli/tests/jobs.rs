//! `index --jobs N`: several objects in flight give the same output, summaries and index
//! contents as one after another, and a failing object fails alone.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod common;
use common::{Ran, Running, bin, samples};

/// The samples cut at line boundaries into `parts` objects (the last one gzipped), in a new
/// directory: each tweet id is in one object only.
fn objects(parts: usize) -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(samples()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let per_part = lines.len().div_ceil(parts);
    let mut paths = Vec::new();
    for (i, chunk) in lines.chunks(per_part).enumerate() {
        let body = format!("{}\n", chunk.join("\n"));
        let path = if i + 1 == parts {
            let path = dir.path().join(format!("part-{i}.ndjson.gz"));
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(body.as_bytes()).unwrap();
            std::fs::write(&path, gz.finish().unwrap()).unwrap();
            path
        } else {
            let path = dir.path().join(format!("part-{i}.ndjson"));
            std::fs::write(&path, body).unwrap();
            path
        };
        paths.push(path);
    }
    (dir, paths)
}

/// The summary lines of stderr (log lines carry a timestamp, error lines say so).
fn summary(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| !l.starts_with("20") && !l.starts_with("error"))
        .map(str::to_owned)
        .collect()
}

fn dry_run(jobs: &str, inputs: &[PathBuf]) -> Output {
    bin()
        .args(["index", "--dry-run", "--jobs", jobs])
        .args(inputs)
        .output()
        .unwrap()
}

#[test]
fn dry_run_output_is_the_same_bytes_whatever_the_jobs() {
    let (_dir, mut inputs) = objects(5);
    // The same object twice: its lines appear twice, each copy in one piece.
    inputs.push(inputs[1].clone());
    let one = dry_run("1", &inputs);
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    let lines = one.stdout.iter().filter(|b| **b == b'\n').count();
    assert!(lines > 100, "{lines} lines");
    for jobs in ["2", "3"] {
        let many = dry_run(jobs, &inputs);
        assert!(many.status.success(), "jobs {jobs}");
        assert!(
            one.stdout == many.stdout,
            "jobs {jobs}: bulk output differs"
        );
        assert_eq!(summary(&one), summary(&many), "jobs {jobs}");
    }
    assert_eq!(summary(&one).len(), inputs.len() + 1);
}

/// `inputs` with `-` (stdin, kept open and silent) among them: that object can only end by
/// its `--timeout-secs`.
/// Bounded: a run the timeout does not end fails the test after [`common::RUN_LIMIT`].
fn with_a_stalled_stdin(cmd: &mut Command) -> Ran {
    let mut running = Running::start(cmd.stdin(Stdio::piped()));
    let stdin = running.child.stdin.take();
    let ran = running.finish(common::RUN_LIMIT);
    drop(stdin);
    ran
}

#[test]
fn a_failing_object_among_several_is_named_and_the_others_complete() {
    let (_dir, inputs) = objects(3);
    let expected = dry_run("1", &inputs);
    for jobs in ["1", "2"] {
        let output = with_a_stalled_stdin(
            bin()
                .args(["index", "--dry-run", "--timeout-secs", "2", "--jobs", jobs])
                .arg(&inputs[0])
                .arg("-")
                .args(&inputs[1..]),
        );
        let stderr = &output.stderr;
        // A transient failure (the read timed out), as with one object.
        assert_eq!(output.code, Some(3), "jobs {jobs}: {stderr}");
        let failed: Vec<&str> = stderr.lines().filter(|l| l.contains("[FAILED")).collect();
        assert_eq!(failed.len(), 1, "jobs {jobs}: {stderr}");
        assert!(failed[0].starts_with("-: "), "{}", failed[0]);
        assert!(failed[0].contains("deadline"), "{}", failed[0]);
        assert!(stderr.contains("4 objects (1 failed)"), "{stderr}");
        // The others complete, and their lines are the same bytes, in the same order.
        assert!(
            output.stdout == expected.stdout,
            "jobs {jobs}: output differs"
        );
    }
}

#[test]
fn jobs_must_be_a_positive_number() {
    for bad in ["0", "1.5", "many", "100000"] {
        let output = bin()
            .args(["index", "--dry-run", "--jobs", bad])
            .arg(samples())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "--jobs {bad}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("invalid value '{bad}' for '--jobs <JOBS>'")),
            "{stderr}"
        );
        assert!(!stderr.contains("non-zero type"), "{stderr}");
        if bad == "0" || bad == "100000" {
            assert!(stderr.contains("is not in 1..=1024"), "{stderr}");
        }
    }
}

fn index(url: &str, index: &str, jobs: &str, inputs: &[PathBuf]) -> Output {
    bin()
        .args([
            "index",
            "--endpoint",
            url,
            "--auth",
            "none",
            "--index",
            index,
        ])
        .args(["--jobs", jobs, "--bulk-max-bytes", "20000"])
        .args(inputs)
        .output()
        .unwrap()
}

/// Every document of `index` (tombstones included): id -> (version, source).
fn contents(url: &str, index: &str) -> std::collections::BTreeMap<String, (Value, Value)> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = search_sink::SearchClient::connect(search_sink::Config::new(url))
            .await
            .unwrap();
        let post = search_sink::Method::Post;
        client
            .request(post, &format!("{index}/_refresh"), None)
            .await
            .unwrap();
        let query = br#"{"size":10000,"version":true,"query":{"match_all":{}}}"#;
        let response = client
            .request(post, &format!("{index}/_search"), Some(query))
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        body["hits"]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|hit| {
                let id = hit["_id"].as_str().unwrap().to_owned();
                (id, (hit["_version"].clone(), hit["_source"].clone()))
            })
            .collect()
    })
}

#[test]
fn jobs_1_and_2_give_the_same_index_and_summaries() {
    let Some(url) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let (dir, inputs) = objects(4);
    let one = index(&url, "cli-jobs-1", "1", &inputs);
    let two = index(&url, "cli-jobs-2", "2", &inputs);
    for output in [&one, &two] {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(summary(&one), summary(&two));
    assert_eq!(summary(&two).len(), inputs.len() + 1);
    let indexed = contents(&url, "cli-jobs-1");
    assert!(indexed.len() > 50, "{} documents", indexed.len());
    assert_eq!(indexed, contents(&url, "cli-jobs-2"));

    // A later object deletes a tweet of the first one, both in flight at once: the delete
    // wins whichever bulk lands first.
    let first: Value = std::fs::read_to_string(&inputs[0])
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|tweet| tweet["id_str"].is_string() && tweet["retweeted_status"].is_null())
        .unwrap();
    let id = first["id_str"].as_str().unwrap();
    let delete = dir.path().join("z-delete.ndjson");
    std::fs::write(
        &delete,
        format!(r#"{{"delete":{{"status":{{"id":{id},"id_str":"{id}","user_id":1,"user_id_str":"1"}}}}}}"#),
    )
    .unwrap();
    let replay = [inputs[0].clone(), delete];
    for (name, jobs) in [("cli-jobs-1", "1"), ("cli-jobs-2", "2")] {
        let output = index(&url, name, jobs, &replay);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let after = contents(&url, "cli-jobs-1");
    assert_eq!(after, contents(&url, "cli-jobs-2"));
    let (version, _) = &after[id];
    assert_eq!(version.as_u64(), Some(search_sink::TOMBSTONE_VERSION));
}

#[test]
fn an_indexing_failure_in_one_object_leaves_the_others_indexed() {
    let Some(url) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let (_dir, inputs) = objects(2);
    let output = with_a_stalled_stdin(
        bin()
            .args(["index", "--endpoint", &url, "--auth", "none"])
            .args([
                "--index",
                "cli-jobs-fail",
                "--jobs",
                "2",
                "--timeout-secs",
                "2",
            ])
            .arg("-")
            .args(&inputs),
    );
    let stderr = &output.stderr;
    assert_eq!(output.code, Some(3), "{stderr}");
    let failed: Vec<&str> = stderr.lines().filter(|l| l.contains("[FAILED")).collect();
    assert_eq!(failed.len(), 1, "{stderr}");
    assert!(failed[0].starts_with("-: "), "{}", failed[0]);
    assert!(stderr.contains("3 objects (1 failed)"), "{stderr}");
    let tweets = contents(&url, "cli-jobs-fail")
        .values()
        .filter(|(version, _)| version.as_u64() != Some(search_sink::TOMBSTONE_VERSION))
        .count();
    assert_eq!(tweets, 58, "every tweet of the other objects is indexed");
}
