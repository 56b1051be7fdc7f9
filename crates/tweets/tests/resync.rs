//! Resynchronisation costs work linear in the damaged span, whatever the damage: counted in
//! bytes the framer scans ([`Framer::scanned_bytes`]), not in wall time. Each pathological
//! input is framed at size N and 4N; quadratic work (each candidate start scanned up to the
//! record limit, as before the memo) would grow 16x. Also the two slow inputs the fuzzer found
//! (`fuzz/regressions/`), with their exact outcome.

use std::path::PathBuf;

use tweets::framing::{Framer, FramerOptions};
use tweets::{Extractor, ExtractorOptions, Item};

/// Frames `bytes` with a judge that refuses every object (so resync tries every candidate)
/// or accepts every one; returns the framer's work and the steps' offsets.
fn work(bytes: &[u8], refuse: bool) -> u64 {
    let mut framer = Framer::new(bytes);
    let mut judge = |_, _: &[u8]| {
        if refuse {
            Err("refused".to_owned())
        } else {
            Ok(())
        }
    };
    while let Some(step) = framer.next_judged(&mut judge) {
        step.expect("a slice reads");
    }
    framer.scanned_bytes()
}

/// Damage patterns, each a unit repeated to the wanted size.
const PATTERNS: &[(&str, &[u8])] = &[
    // Every `{"` is a candidate; nothing closes.
    ("open quotes", br#"{""#),
    // Candidates in both string phases.
    ("odd quotes", br#"{"a"{""#),
    // `\"` outside a string merges the two phases: a new phase at each unit.
    ("escaped quotes", br#"{"\"{""#),
    // A record that never closes, then a good one: the next damaged record starts right
    // after each recovered one.
    ("unclosed then good", br#"{"x" {"id_str":"1"} "#),
    // Candidates after `:` (they must be followed by a record).
    ("nested values", br#"{"a":{"b":"#),
    // Blank lines and line-start braces.
    ("line starts", b"{\"a\":\"b\n{\"c\" \n"),
];

#[test]
fn resync_work_grows_linearly_with_the_damage() {
    const N: usize = 8 * 1024;
    for (name, unit) in PATTERNS {
        for refuse in [true, false] {
            let small = unit.repeat(N / unit.len());
            let large = unit.repeat(4 * N / unit.len());
            let (w1, w4) = (work(&small, refuse), work(&large, refuse));
            assert!(
                w4 <= 5 * w1,
                "{name} (refuse {refuse}): {w1} bytes scanned for {} bytes, {w4} for 4x",
                small.len()
            );
            assert!(
                w4 <= 8 * large.len() as u64,
                "{name} (refuse {refuse}): {w4} bytes scanned for {} bytes",
                large.len()
            );
        }
    }
}

/// Nested candidates that all complete and are all invalid UTF-8: each byte is checked once.
#[test]
fn utf8_checks_of_nested_candidates_are_not_repeated() {
    let depth = 4096;
    let mut bytes = br#"{"a""#.repeat(depth);
    bytes.extend_from_slice(b"\xff");
    bytes.extend(std::iter::repeat_n(b'}', depth));
    let large = {
        let mut b = br#"{"a""#.repeat(4 * depth);
        b.extend_from_slice(b"\xff");
        b.extend(std::iter::repeat_n(b'}', 4 * depth));
        b
    };
    let (w1, w4) = (work(&bytes, false), work(&large, false));
    assert!(
        w4 <= 5 * w1 && w4 <= 8 * large.len() as u64,
        "{w1} then {w4}"
    );
    let items: Vec<_> = Framer::new(&bytes[..]).collect();
    assert_eq!(items.len(), 1, "one damaged span: {items:?}");
    let span = items[0].as_ref().expect_err("damage");
    assert_eq!((span.offset, span.len), (0, bytes.len() as u64));
}

fn regression(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `(offset, length or -1 for a record, reason or "")` of every step, as the fuzz target's
/// framer (4 KiB record limit) sees the input.
fn framed(bytes: &[u8], max_record_bytes: usize) -> (Vec<(u64, u64, String)>, u64) {
    let opts = FramerOptions {
        max_record_bytes,
        ..FramerOptions::default()
    };
    let mut framer = Framer::with_options(bytes, opts);
    let steps = framer
        .by_ref()
        .map(|step| match step {
            Ok(r) => (r.offset, r.bytes.len() as u64, String::new()),
            Err(e) => (e.offset, e.len, e.kind.to_string()),
        })
        .collect();
    (steps, framer.scanned_bytes())
}

fn extracted(bytes: &[u8], max_record_bytes: usize) -> Vec<(u64, String)> {
    let ex = Extractor::new(ExtractorOptions {
        framer: FramerOptions {
            max_record_bytes,
            ..FramerOptions::default()
        },
    });
    ex.items(bytes)
        .map(|item| match item {
            Item::Invalid { offset, reason } => (offset, reason),
            other => (other.offset(), format!("{other:?}")),
        })
        .collect()
}

/// A gzip member whose corrupt deflate data inflates to ~15 KB full of `{"`: 318 ms in the
/// fuzz build before the memo (budget 10 ms per KiB), ~2 scans per decompressed byte now.
#[test]
fn fuzz_regression_framer_slow_1() {
    let bytes = regression("framer-slow-1");
    let (steps, scanned) = framed(&bytes, 4096);
    let s = |o, l, r: &str| (o, l, r.to_owned());
    assert_eq!(
        steps,
        [
            s(1, 11682, "invalid UTF-8 in record"),
            s(11683, 23, ""),
            s(11706, 1015, "truncated JSON record (end of input)"),
            s(12721, 16, ""),
            s(12737, 2739, "garbage between records"),
        ]
    );
    let decompressed = 12737 + 2739;
    assert!(scanned <= 4 * decompressed, "{scanned} bytes scanned");
    // The record parser refuses the framed objects: the whole stream is one damaged span.
    assert_eq!(
        extracted(&bytes, 16 * 1024),
        [(1, "invalid UTF-8 in record (15475 bytes)".to_owned())]
    );
}

#[test]
fn fuzz_regression_items_slow_1() {
    let bytes = regression("items-slow-1");
    let (steps, scanned) = framed(&bytes, 16 * 1024);
    let offsets: Vec<(u64, u64)> = steps.iter().map(|(o, l, _)| (*o, *l)).collect();
    assert_eq!(
        offsets,
        [
            (0, 9385),
            (9385, 1452),
            (10838, 44),
            (10882, 123),
            (11005, 12363),
            (23368, 16),
            (23384, 331),
            (23715, 16),
            (23731, 482),
            (24213, 17),
            (24230, 2090),
            (26320, 57),
            (26377, 85),
            (26462, 8),
        ]
    );
    assert_eq!(
        steps[0].2,
        "truncated JSON record (line break inside a string)"
    );
    assert!(scanned <= 4 * 26470, "{scanned} bytes scanned");
    assert_eq!(
        extracted(&bytes, 16 * 1024),
        [(
            0,
            "truncated JSON record (line break inside a string) (26470 bytes)".to_owned()
        )]
    );
}

/// Found by the first campaign after the memo: a mutated gzip seed that inflates to ~15 KB
/// of damage; one span, ~2 scans per byte (it was over the budget on a loaded machine only).
#[test]
fn fuzz_regression_framer_slow_2() {
    let bytes = regression("framer-slow-2");
    let (steps, scanned) = framed(&bytes, 4096);
    assert_eq!(steps.len(), 1, "{steps:?}");
    let (offset, len, reason) = &steps[0];
    assert_eq!(
        (*offset, *len, reason.as_str()),
        (1, 15487, "invalid UTF-8 in record")
    );
    assert!(scanned <= 4 * 15488, "{scanned} bytes scanned");
    let items = extracted(&bytes, 16 * 1024);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].0, 1);
}
