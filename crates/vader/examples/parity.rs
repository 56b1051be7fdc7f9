//! How often the `vader_sentiment` crate (0.1.1, a benchmark-only dev-dependency) gives the
//! scores of Python vaderSentiment 3.3.2: the golden files' lines on which all four numbers
//! are within 1e-9 of the reference (the standard `tests/golden.rs` holds this crate to), as
//! they come and rounded as Python rounds them (the crate does not round), those whose rounded
//! compound is, and those whose label (positive / neutral / negative) is the same, per
//! file and in all. The README's Dependencies section cites the total.
//!
//! `cargo run -p vader --example parity`

use std::path::Path;

fn unescape(text: &str) -> String {
    text.replace("\\t", "\t")
        .replace("\\n", "\n")
        .replace("\\r", "\r")
        .replace("\\\\", "\\")
}

/// The label of a compound score, at VADER's thresholds ([`vader::Scores::label`]).
fn label_of(compound: f64) -> vader::Label {
    vader::Scores {
        compound,
        ..Default::default()
    }
    .label()
}

/// `x` rounded to `places` decimals (half away from zero: Python's `round()` differs only
/// on exact halves).
fn round_to(x: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (x * scale).round() / scale
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let theirs = vader_sentiment::SentimentIntensityAnalyzer::new();
    let files = [
        "tweets.tsv",
        "movie_reviews.tsv",
        "amazon_reviews.tsv",
        "nyt_editorials.tsv",
        "emoji_tweets.tsv",
        "edge.tsv",
    ];
    let (mut same_all, mut compound_all, mut label_all, mut lines_all) = (0, 0, 0, 0usize);
    let mut rounded_all = 0;
    for name in files {
        let Ok(data) = std::fs::read_to_string(dir.join(name)) else {
            eprintln!("{name}: not readable, skipped");
            continue;
        };
        let (mut same, mut compound, mut label, mut lines) = (0, 0, 0, 0usize);
        let mut rounded = 0;
        for line in data.lines().filter(|l| !l.starts_with('#')) {
            let fields: Vec<&str> = line.splitn(7, '\t').collect();
            let [_, _, neg, neu, pos, want_compound, text] = fields[..] else {
                continue;
            };
            let want: Vec<f64> = [neg, neu, pos, want_compound]
                .iter()
                .filter_map(|f| f.parse().ok())
                .collect();
            if want.len() != 4 {
                continue;
            }
            let got = theirs.polarity_scores(&unescape(text));
            let got =
                ["neg", "neu", "pos", "compound"].map(|k| got.get(k).copied().unwrap_or(f64::NAN));
            lines += 1;
            if got.iter().zip(&want).all(|(g, w)| (g - w).abs() <= 1e-9) {
                same += 1;
            }
            // Python rounds neg/neu/pos to 3 decimals and compound to 4; the crate does not.
            let places = [3, 3, 3, 4];
            if got
                .iter()
                .zip(&want)
                .zip(places)
                .all(|((g, w), p)| (round_to(*g, p) - w).abs() <= 1e-9)
            {
                rounded += 1;
            }
            if (round_to(got[3], 4) - want[3]).abs() <= 1e-9 {
                compound += 1;
            }
            if label_of(got[3]) == label_of(want[3]) {
                label += 1;
            }
        }
        println!(
            "{name}: {lines} lines: all four {same}, rounded as Python rounds {rounded}, compound (rounded) {compound}, label {label}"
        );
        rounded_all += rounded;
        same_all += same;
        compound_all += compound;
        label_all += label;
        lines_all += lines;
    }
    let percent = |n: usize| 100.0 * n as f64 / lines_all.max(1) as f64;
    println!(
        "all: {lines_all} lines: all four numbers {same_all} ({:.1}%), rounded as Python rounds {rounded_all} ({:.1}%), compound (rounded) {compound_all} ({:.1}%), label {label_all} ({:.1}%)",
        percent(same_all),
        percent(rounded_all),
        percent(compound_all),
        percent(label_all)
    );
}
