//! Corpus-wide check against the live reference: every tweet text of the shared corpora
//! (`../shared/corpus/*.ndjson`, every string under a `text`/`full_text` key) is scored here
//! and by Python vaderSentiment through `scripts/vader-golden.py --score-stdin`.
//! Needs `TEST_PYTHON` (scripts/test sets it) and ../shared; skipped otherwise, failing
//! instead under REQUIRE_PEERS=1 / REQUIRE_SHARED=1.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use vader::Analyzer;

fn collect_texts(value: &serde_json::Value, out: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match v {
                    serde_json::Value::String(s) if k == "text" || k == "full_text" => {
                        out.insert(s.clone());
                    }
                    _ => collect_texts(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_texts(v, out)),
        _ => {}
    }
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

#[test]
fn shared_corpus_texts_match_live_reference() {
    let Some(shared) = testkit::shared_dir() else {
        return;
    };
    let Some(python) = testkit::python() else {
        return;
    };
    let mut texts = BTreeSet::new();
    for file in [
        "tweets_v1.ndjson",
        "tweets_v2_objects.ndjson",
        "tweets_v2_payloads.ndjson",
    ] {
        let path = shared.join("corpus").join(file);
        let data = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        for line in data.lines().filter(|l| !l.trim().is_empty()) {
            // A line that is not JSON is not this test's business (the tweets crate's is).
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(line) {
                collect_texts(&value, &mut texts);
            }
        }
    }
    let texts: Vec<String> = texts.into_iter().collect();
    assert!(texts.len() > 1000, "only {} texts found", texts.len());

    let script = testkit::repo_root().join("scripts").join("vader-golden.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .arg("--score-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    let input: String = texts.iter().map(|t| escape(t) + "\n").collect();
    let mut stdin = child.stdin.take().expect("python stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("python output");
    writer
        .join()
        .expect("writer thread")
        .expect("writing to python");
    assert!(output.status.success(), "reference script failed");
    let stdout = String::from_utf8(output.stdout).expect("utf-8 from python");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), texts.len(), "one line per text from python");

    let analyzer = Analyzer::new();
    let mut mismatches = Vec::new();
    for (i, (text, line)) in texts.iter().zip(&lines).enumerate() {
        let want: Vec<f64> = line
            .split('\t')
            .map(|f| f.parse().expect("python number"))
            .collect();
        let s = analyzer.polarity_scores(text);
        let got = [s.neg, s.neu, s.pos, s.compound];
        if got.iter().zip(&want).any(|(a, b)| (a - b).abs() > 1e-9) {
            mismatches.push(format!("  text #{i}: got {got:?}, want {want:?}"));
        }
    }
    eprintln!(
        "{} corpus texts, {} disagree with the live reference",
        texts.len(),
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} texts disagree; first ones (index in sorted text set):\n{}",
        mismatches.len(),
        texts.len(),
        mismatches[..mismatches.len().min(5)].join("\n")
    );
}
