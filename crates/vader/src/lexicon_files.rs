//! How the reference reads its two lexicon files, shared by `build.rs` (which turns them into
//! the tables [`crate::lexicon`] is built from, so no process parses text at start) and by the
//! tests that hold those tables to the files.

use std::collections::BTreeMap;

use crate::pystr;

/// The reference's `text.rstrip('\n').split('\n')` then `line.strip().split('\t')[0:2]`.
pub(crate) fn tab_pairs(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.trim_end_matches('\n').split('\n').filter_map(|line| {
        let mut fields = pystr::strip_whitespace(line).split('\t');
        let key = fields.next()?;
        let value = fields.next()?;
        Some((key, value))
    })
}

/// `make_lex_dict`: each word's measure, sorted by word. Empty words are skipped and a repeated
/// word keeps its last measure (a dict insert); a measure that does not parse is an error
/// naming its line, so a bad data file fails the build instead of dropping a word.
pub(crate) fn valences(text: &str) -> Result<Vec<(&str, f64)>, String> {
    let mut words = BTreeMap::new();
    for (word, measure) in tab_pairs(text) {
        if word.is_empty() {
            continue;
        }
        let value: f64 = measure
            .parse()
            .map_err(|e| format!("measure {measure:?} of {word:?}: {e}"))?;
        words.insert(word, value);
    }
    Ok(words.into_iter().collect())
}

/// The single-code-point keys of `make_emoji_dict` with their descriptions, later lines
/// winning, sorted by code point. Multi-code-point keys (skin tones, ZWJ sequences, flags) are
/// dropped: the reference tests one code point at a time (`for chr in text: if chr in
/// self.emojis`), so they can never match there either.
pub(crate) fn single_char_emojis(text: &str) -> Vec<(char, &str)> {
    let mut emojis = BTreeMap::new();
    for (key, description) in tab_pairs(text) {
        let mut chars = key.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            emojis.insert(c, description);
        }
    }
    emojis.into_iter().collect()
}
