//! Throughput over the shared v1.1 corpus (`../shared/corpus/tweets_v1.ndjson`), in one run:
//! - `framing+parse+enrich`: bytes -> framed records -> documents (VADER, emoji, geo) -> JSON;
//! - `serde_json IgnoredAny`: raw parsing of the same records, the limit we compare against.
//!
//! Diagnostics, each one required piece alone over the same tweets, to say where the time goes:
//! - `parse only`: [`tweets::record::classify`] of each pre-split line (typed view, no framing;
//!   `classify` boxes the view, which the extractor keeps on the stack);
//! - `vader only`, `emoji only`: the scoring / emoji extraction the extractor does, over the
//!   documents' texts (built beforehand, outside the timed loop);
//! - `to_json only`: [`tweets::Document::to_json`] of pre-built documents.
//!
//! Enrichment alone (parsed record -> document) has no public entry point (the builder takes the
//! crate-private parsed view), so it is read as `framing+parse+enrich` - `framing+parse`.
//!
//! Throughput is reported as elements = tweets (documents/s).
//!
//! `cargo bench -p tweets -- --warm-up-time 1 --measurement-time 3`
//!
//! Instruction counts (independent of the machine's load, unlike wall time): with
//! `BENCH_ONCE=1` the binary runs each framing workload once instead of measuring (`BENCH_ONCE=fast`,
//! `careful`, `parse` or `extract`: that one alone), e.g.
//! `BENCH_ONCE=1 valgrind --tool=callgrind --toggle-collect='*once_extract*' <bench binary>`
//! counts `framing+parse+enrich` alone (`once_frame_parse`, `once_frame_careful`,
//! `once_frame_fast` for the others). The timed loops call the same functions.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde::de::IgnoredAny;
use tweets::{Extractor, ExtractorOptions, Item};

fn corpus() -> Option<Vec<u8>> {
    let dir = testkit::shared_dir()?;
    std::fs::read(dir.join("corpus/tweets_v1.ndjson")).ok()
}

/// `framing+parse+enrich`: documents and their JSON bytes.
#[inline(never)]
fn once_extract(ex: &Extractor, bytes: &[u8]) -> (u64, usize) {
    let mut n = 0u64;
    let mut out_bytes = 0usize;
    for item in ex.items(bytes) {
        if let Item::Document { doc, .. } = item {
            out_bytes += doc.to_json().len();
            n += 1;
        }
    }
    (n, out_bytes)
}

/// The framing the extractor uses (line fast path, no UTF-8 check by the framer).
const FAST: tweets::FramerOptions = tweets::FramerOptions {
    line_fast_path: true,
    validate_utf8: false,
    max_record_bytes: tweets::framing::DEFAULT_MAX_RECORD_BYTES,
};

/// `framing+parse (no enrich)`: records classified as tweets.
#[inline(never)]
fn once_frame_parse(bytes: &[u8]) -> u64 {
    let mut n = 0u64;
    let mut framer = tweets::Framer::with_options(bytes, FAST);
    while let Some(rec) = framer.next_borrowed() {
        let (_, rec) = rec.expect("record");
        if tweets::record::classify(rec).is_ok() {
            n += 1;
        }
    }
    n
}

/// `framing only (careful scan, no fast path)`.
#[inline(never)]
fn once_frame_careful(bytes: &[u8]) -> usize {
    tweets::Framer::new(bytes).filter(Result::is_ok).count()
}

/// `framing only`.
#[inline(never)]
fn once_frame_fast(bytes: &[u8]) -> usize {
    tweets::Framer::with_options(bytes, FAST)
        .filter(Result::is_ok)
        .count()
}

fn bench(c: &mut Criterion) {
    let Some(bytes) = corpus() else {
        eprintln!("skipped: no shared corpus");
        return;
    };
    if let Some(which) = std::env::var_os("BENCH_ONCE") {
        // `BENCH_ONCE=fast` (or `careful`, `parse`, `extract`) runs that workload alone, which
        // keeps a callgrind run short; any other value runs all four.
        let which = which.to_string_lossy().into_owned();
        let wanted = |name: &str| {
            !["fast", "careful", "parse", "extract"].contains(&which.as_str()) || which == name
        };
        if wanted("extract") {
            let ex = Extractor::new(ExtractorOptions::default());
            eprintln!("once: {} documents", once_extract(&ex, &bytes).0);
        }
        if wanted("parse") {
            eprintln!("once: {} parsed", once_frame_parse(&bytes));
        }
        if wanted("careful") {
            eprintln!("once: {} framed (careful)", once_frame_careful(&bytes));
        }
        if wanted("fast") {
            eprintln!("once: {} framed (fast path)", once_frame_fast(&bytes));
        }
        return;
    }
    let lines: Vec<&[u8]> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let tweets = lines.len() as u64;
    let ex = Extractor::new(ExtractorOptions::default());

    let mut g = c.benchmark_group("tweets_v1");
    g.throughput(Throughput::Elements(tweets));
    g.bench_function("framing+parse+enrich (documents/s)", |b| {
        b.iter(|| {
            let (n, out_bytes) = once_extract(&ex, &bytes);
            assert_eq!(n, tweets);
            out_bytes
        })
    });
    // Diagnostics: the same framing the extractor uses (line fast path), without enrichment.
    g.bench_function("framing+parse (no enrich)", |b| {
        b.iter(|| assert_eq!(once_frame_parse(&bytes), tweets))
    });
    g.bench_function("framing only (careful scan, no fast path)", |b| {
        b.iter(|| once_frame_careful(&bytes))
    });
    g.bench_function("framing only", |b| b.iter(|| once_frame_fast(&bytes)));
    // The required pieces, each alone over the same tweets.
    g.bench_function("parse only (typed RawTweet, no framing)", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for l in &lines {
                if let Ok(tweets::record::Classified::Tweet(_)) = tweets::record::classify(l) {
                    n += 1;
                }
            }
            assert_eq!(n, tweets);
        })
    });
    let docs: Vec<tweets::Document> = ex
        .items(&bytes[..])
        .filter_map(|item| match item {
            Item::Document { doc, .. } => Some(*doc),
            _ => None,
        })
        .collect();
    assert_eq!(docs.len() as u64, tweets);
    let analyzer = vader::Analyzer::new();
    g.bench_function("vader only (the documents' texts)", |b| {
        b.iter(|| {
            let same = docs
                .iter()
                .filter(|d| analyzer.polarity_scores(&d.text).label().as_str() == d.sentiments)
                .count();
            assert_eq!(same as u64, tweets);
        })
    });
    let emoji_count: usize = docs.iter().map(|d| d.emoticons.len()).sum();
    assert!(emoji_count > 0);
    g.bench_function("emoji only (the documents' texts)", |b| {
        let mut found = Vec::new();
        b.iter(|| {
            let mut n = 0;
            for d in &docs {
                found.clear();
                tweets::emoji::extract_into(&d.text, &mut found);
                n += found.len();
            }
            assert_eq!(n, emoji_count);
        })
    });
    let json_bytes: usize = docs.iter().map(|d| d.to_json().len()).sum();
    g.bench_function("to_json only (pre-built documents)", |b| {
        b.iter(|| {
            let n: usize = docs.iter().map(|d| d.to_json().len()).sum();
            assert_eq!(n, json_bytes);
        })
    });
    g.bench_function("serde_json IgnoredAny (limit)", |b| {
        b.iter(|| {
            for l in &lines {
                let _: IgnoredAny = serde_json::from_slice(l).expect("JSON");
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
