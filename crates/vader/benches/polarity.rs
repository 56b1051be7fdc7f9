//! Texts per second on the VADER paper's 4,200 tweets: this crate vs the `vader_sentiment`
//! 0.1.1 crate, in one run. Python's figure on the same texts comes from
//! `scripts/vader-golden.py --bench`.
//!
//! `cargo bench -p vader -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// The text column of the committed golden file (unescaped).
fn paper_tweets() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/tweets.tsv");
    let data = std::fs::read_to_string(&path).expect("tests/golden/tweets.tsv");
    data.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.splitn(7, '\t').nth(6))
        .map(|t| {
            t.replace("\\t", "\t")
                .replace("\\n", "\n")
                .replace("\\r", "\r")
                .replace("\\\\", "\\")
        })
        .collect()
}

fn polarity(c: &mut Criterion) {
    let texts = paper_tweets();
    assert_eq!(texts.len(), 4200);
    let mut group = c.benchmark_group("paper_tweets");
    group.throughput(Throughput::Elements(texts.len() as u64));

    let ours = vader::Analyzer::new();
    group.bench_function("vader", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for t in &texts {
                sum += ours.polarity_scores(black_box(t)).compound;
            }
            sum
        })
    });

    let theirs = vader_sentiment::SentimentIntensityAnalyzer::new();
    group.bench_function("vader_sentiment_0.1.1", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for t in &texts {
                sum += theirs
                    .polarity_scores(black_box(t))
                    .get("compound")
                    .copied()
                    .unwrap_or(0.0);
            }
            sum
        })
    });
    group.finish();
}

criterion_group!(benches, polarity);
criterion_main!(benches);
