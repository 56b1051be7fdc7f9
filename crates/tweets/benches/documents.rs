//! Throughput over the shared v1.1 corpus (`../shared/corpus/tweets_v1.ndjson`), in one run:
//! - `framing+parse+enrich`: bytes -> framed records -> documents (VADER, emoji, geo) -> JSON;
//! - `serde_json IgnoredAny`: raw parsing of the same records, the limit we compare against.
//!
//! Throughput is reported as elements = tweets (documents/s).
//!
//! `cargo bench -p tweets -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde::de::IgnoredAny;
use tweets::{Extractor, ExtractorOptions, Item};

fn corpus() -> Option<Vec<u8>> {
    let dir = testkit::shared_dir()?;
    std::fs::read(dir.join("corpus/tweets_v1.ndjson")).ok()
}

fn bench(c: &mut Criterion) {
    let Some(bytes) = corpus() else {
        eprintln!("skipped: no shared corpus");
        return;
    };
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
            let mut n = 0u64;
            let mut out_bytes = 0usize;
            for item in ex.items(&bytes[..]) {
                if let Item::Document { doc, .. } = item {
                    out_bytes += doc.to_json().len();
                    n += 1;
                }
            }
            assert_eq!(n, tweets);
            out_bytes
        })
    });
    // Diagnostics: the same framing the extractor uses (line fast path), without enrichment.
    let fast = tweets::FramerOptions {
        line_fast_path: true,
        validate_utf8: false,
        ..tweets::FramerOptions::default()
    };
    g.bench_function("framing+parse (no enrich)", |b| {
        b.iter(|| {
            let mut n = 0u64;
            let mut framer = tweets::Framer::with_options(&bytes[..], fast);
            while let Some(rec) = framer.next_borrowed() {
                let (_, rec) = rec.expect("record");
                if tweets::record::classify(rec).is_ok() {
                    n += 1;
                }
            }
            assert_eq!(n, tweets);
        })
    });
    g.bench_function("framing only (careful scan, no fast path)", |b| {
        b.iter(|| {
            tweets::Framer::new(&bytes[..])
                .filter(Result::is_ok)
                .count()
        })
    });
    g.bench_function("framing only", |b| {
        b.iter(|| {
            tweets::Framer::with_options(&bytes[..], fast)
                .filter(Result::is_ok)
                .count()
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
