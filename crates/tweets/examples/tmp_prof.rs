// TEMPORARY (not to be committed): one pass of the bench work, for callgrind.
fn main() {
    let mode = std::env::args().nth(1).unwrap();
    let bytes = std::fs::read("/work/shared/corpus/tweets_v1.ndjson").unwrap();
    let iters: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1);
    let ex = tweets::Extractor::new(tweets::ExtractorOptions::default());
    let lines: Vec<&[u8]> = if mode == "full" {
        Vec::new()
    } else {
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect()
    };
    let t = std::time::Instant::now();
    let mut n = 0usize;
    for _ in 0..iters {
        match mode.as_str() {
            "full" => {
                for item in ex.items(&bytes[..]) {
                    if let tweets::Item::Document { doc, .. } = item {
                        n += doc.to_json().len();
                    }
                }
            }
            "ignored" => {
                for l in &lines {
                    let _: serde::de::IgnoredAny = serde_json::from_slice(l).unwrap();
                    n += 1;
                }
            }
            "classify" => {
                for l in &lines {
                    if tweets::record::classify(l).is_ok() {
                        n += 1;
                    }
                }
            }
            _ => panic!(),
        }
    }
    eprintln!("{mode}: {:?} per iter ({n})", t.elapsed() / iters as u32);
}
