//! Bulk encoding throughput: documents/s and MB/s of `bulk::encode`, with and without gzip
//! (the sink's fast level). Run: `cargo bench -p search-sink -- --warm-up-time 1 --measurement-time 3`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use search_sink::{Operation, bulk, gzip_bytes};
use std::hint::black_box;

/// Synthetic documents shaped like the pipeline's (~700 bytes of mixed text, numbers, arrays),
/// not real posts.
fn documents(n: usize) -> Vec<Operation> {
    (0..n)
        .map(|i| {
            let source = serde_json::json!({
                "id_str": format!("{}", 1_700_000_000_000_000_000u64 + i as u64),
                "created_at": "2026-11-23T14:00:00Z",
                "text": format!("Sample status number {i} about the weather, trains and coffee; nothing else to see here #tag{} @user{}", i % 50, i % 300),
                "lang": "en",
                "user": { "id_str": format!("{}", 10_000 + i % 997), "screen_name": format!("user{}", i % 300), "followers_count": i * 7 % 10_000 },
                "sentiment": { "compound": (i % 200) as f64 / 100.0 - 1.0, "pos": 0.2, "neu": 0.7, "neg": 0.1, "label": "neutral" },
                "hashtags": [format!("tag{}", i % 50), "news"],
                "mentions": [format!("user{}", i % 300)],
                "emoji": ["☕", "🚆"],
                "coordinates": { "lat": 48.85 + (i % 100) as f64 / 1000.0, "lon": 2.35 },
                "retweet_count": i % 40,
                "favorite_count": i % 90,
            });
            Operation::Index { id: format!("{}", 1_700_000_000_000_000_000u64 + i as u64), source: serde_json::to_vec(&source).unwrap(), version: 1_700_000_000_000 + i as u64 }
        })
        .collect()
}

fn encode_all(ops: &[Operation], out: &mut Vec<u8>) {
    out.clear();
    for op in ops {
        bulk::encode(op, out).unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let ops = documents(5_000);
    let mut out = Vec::new();
    encode_all(&ops, &mut out);
    let ndjson_bytes = out.len() as u64;
    let gz = gzip_bytes(&out).len();
    eprintln!(
        "{} documents, {ndjson_bytes} bytes of NDJSON, {gz} bytes gzipped (ratio {:.2})",
        ops.len(),
        ndjson_bytes as f64 / gz as f64
    );

    for (name, throughput) in [
        ("docs", Throughput::Elements(ops.len() as u64)),
        ("bytes", Throughput::Bytes(ndjson_bytes)),
    ] {
        let mut group = c.benchmark_group(format!("bulk_encode_{name}"));
        group.throughput(throughput);
        group.sample_size(20);
        group.bench_function(BenchmarkId::new("plain", ops.len()), |b| {
            b.iter(|| {
                encode_all(black_box(&ops), &mut out);
                black_box(out.len())
            })
        });
        group.bench_function(BenchmarkId::new("gzip", ops.len()), |b| {
            b.iter(|| {
                encode_all(black_box(&ops), &mut out);
                black_box(gzip_bytes(&out).len())
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
