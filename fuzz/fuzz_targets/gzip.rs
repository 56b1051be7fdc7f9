//! The gzip layer: the input's text is cut into gzip members at points the input chooses,
//! one member is damaged (a flipped byte, a cut, or deflate data that inflates to a prefix of
//! its text and then fails) and plain bytes or zero padding are mixed in; the extractor must
//! not panic, items come in offset order, and corrupt compressed data must never be a read
//! error (that is for the reader: the pipeline retries it).
#![no_main]

#[path = "common.rs"]
mod common;

use std::io::Write;
use std::sync::OnceLock;

use flate2::Compression;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;
use tweets::{Extractor, ExtractorOptions, Item};

fn extractor() -> &'static Extractor {
    static EXTRACTOR: OnceLock<Extractor> = OnceLock::new();
    EXTRACTOR.get_or_init(|| Extractor::new(ExtractorOptions::default()))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A member whose deflate data is `prefix` in a stored block and then a block of the reserved
/// type: it inflates to `prefix` and fails there (a seam the next member's bytes follow).
fn corrupt_after_prefix(prefix: &[u8]) -> Vec<u8> {
    let mut member = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0];
    let len = prefix.len() as u16; // at most 255 bytes: `damage_at` is one byte
    member.extend_from_slice(&len.to_le_bytes());
    member.extend_from_slice(&(!len).to_le_bytes());
    member.extend_from_slice(prefix);
    member.push(0b111);
    member
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (params, text) = data.split_at(4);
    let cuts = 1 + params[0] as usize % 4;
    let damage_at = params[1] as usize;
    let mode = params[2] % 5;
    let mut out = Vec::new();
    let step = text.len() / cuts + 1;
    for (i, piece) in text.chunks(step).enumerate() {
        let mut member = gzip(piece);
        if i == 1 && member.len() > 12 {
            let at = 10 + damage_at % (member.len() - 10);
            match mode {
                0 => member[at] ^= params[3] | 1,
                1 => member.truncate(at),
                2 => {
                    out.extend_from_slice(piece);
                    continue;
                }
                4 => member = corrupt_after_prefix(&piece[..damage_at.min(piece.len())]),
                _ => {}
            }
        }
        out.extend(member);
    }
    if mode == 3 {
        out.extend(std::iter::repeat_n(0u8, params[3] as usize * 16));
    }
    common::within_budget(out.len(), || {
        let mut items = extractor().items(&out[..]);
        let mut last = 0;
        for item in items.by_ref() {
            assert!(item.offset() >= last, "out of offset order: {item:?} after {last}");
            last = item.offset();
            if let Item::Document { id, doc, .. } = &item {
                assert_eq!(id, &doc.id_str);
            }
        }
        assert!(items.read_error().is_none(), "corrupt gzip must not be a read error");
        items.offset()
    });
});
