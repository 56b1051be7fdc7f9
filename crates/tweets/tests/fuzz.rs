//! Bounded fuzzing of framing + parsing + enrichment: random bytes and mutations of real
//! records, plain and gzipped. The property: no panic, and every item is accounted for.

use arbitrary::{Arbitrary, Unstructured};
use proptest::prelude::*;
use tweets::{Extractor, ExtractorOptions, FramerOptions, Item};

const V1: &str = include_str!("fixtures/v1.ndjson");
const V2: &str = include_str!("fixtures/v2_payloads.ndjson");
const CONTROL: &str = include_str!("fixtures/control.ndjson");

fn run(ex: &Extractor, bytes: &[u8]) -> usize {
    let mut n = 0;
    for item in ex.items(bytes) {
        if let Item::Document { id, doc, .. } = &item {
            assert_eq!(id, &doc.id_str);
            let _ = doc.to_json();
        }
        n += 1;
    }
    n
}

#[derive(Debug, Arbitrary)]
enum Mutation {
    Flip { at: u16, byte: u8 },
    Insert { at: u16, bytes: Vec<u8> },
    Delete { at: u16, len: u8 },
    Duplicate { from: u16, len: u16, to: u16 },
}

fn mutate(mut data: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let len = data.len().max(1);
        match m {
            Mutation::Flip { at, byte } => {
                if !data.is_empty() {
                    let i = *at as usize % len;
                    data[i] = *byte;
                }
            }
            Mutation::Insert { at, bytes } => {
                let i = (*at as usize % len).min(data.len());
                data.splice(i..i, bytes.iter().copied());
            }
            Mutation::Delete { at, len: n } => {
                let i = (*at as usize % len).min(data.len());
                let j = (i + *n as usize).min(data.len());
                data.drain(i..j);
            }
            Mutation::Duplicate { from, len: n, to } => {
                let i = (*from as usize % len).min(data.len());
                let j = (i + *n as usize).min(data.len());
                let piece = data[i..j].to_vec();
                let t = (*to as usize % len).min(data.len());
                data.splice(t..t, piece);
            }
        }
    }
    data
}

fn corpus() -> Vec<u8> {
    format!("{V1}{V2}{CONTROL}").into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let ex = Extractor::new(ExtractorOptions { framer: FramerOptions { max_record_bytes: 2048, ..FramerOptions::default() } });
        run(&ex, &bytes);
    }

    #[test]
    fn mutated_real_records_never_panic(seed in proptest::collection::vec(any::<u8>(), 64..512), gz in any::<bool>()) {
        let mut u = Unstructured::new(&seed);
        let muts: Vec<Mutation> = Vec::arbitrary(&mut u).unwrap_or_default();
        let base = corpus();
        // One real record window, so each case is small.
        let start = (seed[0] as usize * 97) % base.len();
        let window = base[start..(start + 6000).min(base.len())].to_vec();
        let mut data = mutate(window, &muts);
        if gz {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&data).unwrap();
            data = e.finish().unwrap();
            // Corrupt the compressed stream too, now and then.
            if seed[1] % 3 == 0 && data.len() > 20 {
                let i = 10 + seed[2] as usize % (data.len() - 10);
                data[i] ^= 0x5a;
            }
        }
        let ex = Extractor::new(ExtractorOptions::default());
        run(&ex, &data);
    }
}

/// A longer deterministic sweep: many single-byte corruptions of the whole fixture set,
/// counting executions (reported on stderr).
#[test]
fn single_byte_corruption_sweep() {
    let ex = Extractor::new(ExtractorOptions::default());
    let base = corpus();
    let mut executions = 0usize;
    let mut items = 0usize;
    let step = (base.len() / 600).max(1);
    for (k, i) in (0..base.len()).step_by(step).enumerate() {
        for byte in [b'"', b'{', b'}', b'\\', b'\n', 0xff, b'[', b':'] {
            let mut data = base.clone();
            data[i] = byte;
            let lo = i.saturating_sub(4000);
            let hi = (i + 4000).min(data.len());
            items += run(&ex, &data[lo..hi]);
            executions += 1;
        }
        let _ = k;
    }
    eprintln!("fuzz sweep: {executions} executions, {items} items, no panic");
    assert!(executions > 4_000);
}
