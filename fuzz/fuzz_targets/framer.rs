//! The framer alone over arbitrary bytes: no panic, spans and records inside the stream, in
//! offset order (also around gzip damage), records never overlapping.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use tweets::{Framer, FramerOptions};

fuzz_target!(|data: &[u8]| {
    common::within_budget(data.len(), || {
        let opts = FramerOptions {
            max_record_bytes: 4096,
            ..FramerOptions::default()
        };
        let plain = !data.starts_with(&[0x1f, 0x8b]) && !data.windows(2).any(|w| w == [0x1f, 0x8b]);
        let mut end = 0u64;
        let mut last = 0u64;
        let mut framer = Framer::with_options(data, opts);
        for frame in framer.by_ref() {
            let offset = frame.as_ref().map_or_else(|e| e.offset, |r| r.offset);
            assert!(offset >= last, "out of offset order: {offset} after {last}");
            last = offset;
            match frame {
                Ok(record) => {
                    assert!(record.offset >= end, "record before the previous end");
                    assert!(record.bytes.starts_with(b"{") && record.bytes.ends_with(b"}"));
                    end = record.offset + record.bytes.len() as u64;
                    if plain {
                        let at = record.offset as usize;
                        assert_eq!(&data[at..at + record.bytes.len()], &record.bytes[..]);
                    }
                }
                Err(e) => {
                    if plain {
                        assert!(e.offset + e.len <= data.len() as u64, "span past the end");
                    }
                }
            }
        }
        framer.offset()
    });
});
