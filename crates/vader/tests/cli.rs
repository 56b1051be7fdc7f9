//! The `vader-score` binary's interface: one `compound\tpos\tneu\tneg` line per stdin line,
//! Rust `{}` float formatting, trailing `\r` removed. Expected numbers are the reference's.

use std::io::Write;
use std::process::{Command, Stdio};

fn run(args: &[&str], stdin: &[u8]) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vader-score"))
        .args(args)
        .env("VADER_BENCH_SECONDS", "0.2")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vader-score");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait vader-score");
    (
        out.status.success(),
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn scores_each_line_in_compound_pos_neu_neg_order() {
    // CRLF, an empty line, a non-ASCII line, and a last line without a newline.
    let input = "VADER is smart, handsome, and funny!\r\n\nI ❤ you\nnot good";
    let (ok, stdout, stderr) = run(&[], input.as_bytes());
    assert!(ok, "stderr: {stderr}");
    assert_eq!(
        stdout,
        "0.8439\t0.752\t0.248\t0\n\
         0\t0\t0\t0\n\
         0.6369\t0.583\t0.417\t0\n\
         -0.3412\t0\t0.294\t0.706\n"
    );
}

#[test]
fn trailing_cr_is_removed_before_scoring() {
    // With the \r kept, "good!\r" would be one token whose punctuation is not stripped.
    let (_, crlf, _) = run(&[], b"so good!\r\n");
    let (_, lf, _) = run(&[], b"so good!\n");
    assert_eq!(crlf, lf);
}

#[test]
fn invalid_utf8_becomes_replacement_characters() {
    let (ok, stdout, _) = run(&[], b"good \xff\xfe day\n");
    assert!(ok);
    let want = vader::Analyzer::new().polarity_scores("good \u{fffd}\u{fffd} day");
    assert_eq!(
        stdout,
        format!(
            "{}\t{}\t{}\t{}\n",
            want.compound, want.pos, want.neu, want.neg
        )
    );
}

#[test]
fn bench_prints_texts_per_second() {
    let dir = std::env::temp_dir().join(format!("vader-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("texts.txt");
    std::fs::write(&file, "good\nbad\r\nnot so bad :)\n").expect("write texts");
    let path = file.to_string_lossy().into_owned();
    let (ok, stdout, stderr) = run(&["--bench", &path], b"");
    std::fs::remove_dir_all(&dir).ok();
    assert!(ok, "stderr: {stderr}");
    let rate: f64 = stdout
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rate in {stdout:?}"));
    assert!(rate > 0.0 && stdout.contains("texts/s"), "{stdout}");
}

#[test]
fn bad_arguments_fail() {
    let (ok, _, stderr) = run(&["--nope"], b"");
    assert!(!ok);
    assert!(stderr.contains("usage"), "{stderr}");
}
