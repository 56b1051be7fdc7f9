//! Turns the reference's lexicon files into Rust tables (`$OUT_DIR/lexicon_tables.rs`), read
//! the reference's way (`src/lexicon_files.rs`): parsing 11,000 lines of text cost every
//! process about 3 ms at start. Plain arrays rather than a perfect-hash crate: the lexicon's
//! FxHashMap, filled from them at first use, looks words up faster than phf's SipHash would.

use std::fmt::Write as _;
use std::path::Path;

#[path = "src/pystr.rs"]
#[allow(dead_code)]
mod pystr;

#[path = "src/lexicon_files.rs"]
mod lexicon_files;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for input in [
        "data/vader_lexicon.txt",
        "data/emoji_utf8_lexicon.txt",
        "src/lexicon_files.rs",
        "src/pystr.rs",
    ] {
        println!("cargo::rerun-if-changed={input}");
    }
    let vader = std::fs::read_to_string("data/vader_lexicon.txt")?;
    let emoji = std::fs::read_to_string("data/emoji_utf8_lexicon.txt")?;

    let mut out = String::new();
    let valences = lexicon_files::valences(&vader)?;
    writeln!(
        out,
        "/// `make_lex_dict` of `vader_lexicon.txt`, sorted by word."
    )?;
    writeln!(
        out,
        "pub(crate) static VALENCES: [(&str, f64); {}] = [",
        valences.len()
    )?;
    for (word, value) in &valences {
        // `{:?}` of an f64 is the shortest text that reads back as the same value.
        writeln!(out, "    ({word:?}, {value:?}),")?;
    }
    writeln!(out, "];")?;
    let emojis = lexicon_files::single_char_emojis(&emoji);
    writeln!(
        out,
        "/// Single-code-point keys of `make_emoji_dict`, sorted by code point."
    )?;
    writeln!(
        out,
        "pub(crate) static EMOJIS: [(char, &str); {}] = [",
        emojis.len()
    )?;
    for (c, description) in &emojis {
        writeln!(out, "    ({c:?}, {description:?}),")?;
    }
    writeln!(out, "];")?;

    let dir = std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?;
    std::fs::write(Path::new(&dir).join("lexicon_tables.rs"), out)?;
    Ok(())
}
