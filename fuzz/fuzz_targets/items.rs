//! The whole extractor (framer + record parser + documents) over arbitrary bytes: no panic,
//! every document's id is its `id_str`, and its JSON is produced.
#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tweets::{Extractor, ExtractorOptions, FramerOptions, Item};

fn extractor() -> &'static Extractor {
    static EXTRACTOR: OnceLock<Extractor> = OnceLock::new();
    EXTRACTOR.get_or_init(|| {
        Extractor::new(ExtractorOptions {
            framer: FramerOptions {
                max_record_bytes: 16 * 1024,
                ..FramerOptions::default()
            },
        })
    })
}

fuzz_target!(|data: &[u8]| {
    common::within_budget(data.len(), || {
        let mut items = extractor().items(data);
        for item in items.by_ref() {
            if let Item::Document { id, doc, .. } = &item {
                assert_eq!(id, &doc.id_str);
                let _ = doc.to_json();
            }
        }
        assert!(items.read_error().is_none(), "a slice cannot fail to read");
        items.offset()
    });
});
