//! The yardstick of the per-core goal: a raw `serde_json` parse of NDJSON, one record per line,
//! to `IgnoredAny` (no values kept), read from a file (or stdin) through a buffered reader the
//! way `tweet-indexer index --dry-run` reads its inputs. Prints the records parsed and failed.
//!
//! `cargo build --release -p tweets --example raw_parse`;
//! `taskset -c 0 target/release/examples/raw_parse FILE` (see `scripts/bench/per-core`).

use std::io::{BufRead, BufReader, Read};

use serde::de::IgnoredAny;

fn main() -> std::io::Result<()> {
    let input: Box<dyn Read> = match std::env::args_os().nth(1) {
        Some(path) => Box::new(std::fs::File::open(path)?),
        None => Box::new(std::io::stdin()),
    };
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut line = Vec::with_capacity(1 << 16);
    let (mut parsed, mut failed) = (0u64, 0u64);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let record = line.strip_suffix(b"\n").unwrap_or(&line);
        if record.is_empty() {
            continue;
        }
        match serde_json::from_slice::<IgnoredAny>(record) {
            Ok(IgnoredAny) => parsed += 1,
            Err(_) => failed += 1,
        }
    }
    eprintln!("raw_parse: {parsed} parsed, {failed} failed");
    Ok(())
}
