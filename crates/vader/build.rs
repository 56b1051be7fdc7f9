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
    // The words go into one string, the table holds their ranges: the lexicon's hash map keys
    // then point into 60 KB of words instead of 7,506 literals spread over the binary's
    // read-only data (each lookup compares the key's bytes: a cache miss either way, fewer here).
    let mut words = String::new();
    let mut rows = Vec::with_capacity(valences.len());
    for (word, value) in &valences {
        let start = words.len();
        words.push_str(word);
        // `{:?}` of an f64 is the shortest text that reads back as the same value.
        rows.push(format!("({start}, {}, {value:?})", words.len()));
    }
    writeln!(out, "/// The words of `VALENCES`, one after another.")?;
    writeln!(out, "pub(crate) static WORDS: &str = {words:?};")?;
    table(
        &mut out,
        "`make_lex_dict` of `vader_lexicon.txt` as (start, end) in `WORDS` and valence, sorted by word.",
        "VALENCES: [(usize, usize, f64)",
        &rows,
    )?;
    let emojis = lexicon_files::single_char_emojis(&emoji);
    let emojis: Vec<String> = emojis
        .iter()
        .map(|(c, d)| format!("({c:?}, {d:?})"))
        .collect();
    table(
        &mut out,
        "Single-code-point keys of `make_emoji_dict`, sorted by code point.",
        "EMOJIS: [(char, &str)",
        &emojis,
    )?;

    let dir = std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?;
    std::fs::write(Path::new(&dir).join("lexicon_tables.rs"), out)?;
    Ok(())
}

/// Appends `pub(crate) static NAME: [T; rows.len()] = [rows];` (`declaration` is `NAME: [T`).
fn table(out: &mut String, doc: &str, declaration: &str, rows: &[String]) -> std::fmt::Result {
    writeln!(out, "/// {doc}")?;
    writeln!(out, "pub(crate) static {declaration}; {}] = [", rows.len())?;
    for row in rows {
        writeln!(out, "    {row},")?;
    }
    writeln!(out, "];")
}
