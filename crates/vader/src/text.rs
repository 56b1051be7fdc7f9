//! Stage 1: text to tokens, as `polarity_scores` and `SentiText` prepare it.
//!
//! Emoji code points become their descriptions, the text is split on Python whitespace, each
//! token loses its leading/trailing ASCII punctuation unless that leaves two code points or
//! fewer, and each token is looked up once (lower-cased) to get everything the rules need.

use crate::lexicon::{Lexicon, Word};
use crate::pystr;

/// One entry of `words_and_emoticons`, reduced to what the rules read.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Token {
    /// Lexicon valence of the lower-cased token.
    pub(crate) valence: Option<f64>,
    /// `BOOSTER_DICT` value of the lower-cased token.
    pub(crate) booster: Option<f64>,
    /// `negated([token])`: in `NEGATE`, or contains "n't".
    pub(crate) negated: bool,
    pub(crate) word: Word,
    /// `token.isupper()`.
    pub(crate) upper: bool,
}

impl Token {
    pub(crate) fn in_lexicon(&self) -> bool {
        self.valence.is_some()
    }
}

/// The emoji step of `polarity_scores`: each code point found in the emoji lexicon becomes its
/// description, preceded by a space unless the previous character was an ASCII space, and
/// followed by nothing (so "😀abc" glues the description to "abc", as the reference does).
/// Returns `text` itself when it holds no emoji, else the rewritten text in `buf`.
pub(crate) fn replace_emojis<'a>(text: &'a str, lexicon: &Lexicon, buf: &'a mut String) -> &'a str {
    if text.is_ascii() {
        return text; // no emoji key is ASCII
    }
    let Some(first) = text
        .char_indices()
        .find(|&(_, c)| lexicon.emoji(c).is_some())
        .map(|(i, _)| i)
    else {
        return text;
    };
    buf.clear();
    buf.reserve(text.len() + 64);
    let (head, rest) = text.split_at(first);
    buf.push_str(head);
    // `prev_space` starts True and then means "the last character appended was ' '".
    let mut prev_space = head.chars().next_back().is_none_or(|c| c == ' ');
    for c in rest.chars() {
        if let Some(description) = lexicon.emoji(c) {
            if !prev_space {
                buf.push(' ');
            }
            buf.push_str(description);
            prev_space = false;
        } else {
            buf.push(c);
            prev_space = c == ' ';
        }
    }
    buf
}

/// `_strip_punc_if_word`: strip ASCII punctuation from both ends, but keep the token as it was
/// when two code points or fewer would remain (so ":)" and "ok!" survive unchanged).
pub(crate) fn strip_punc_if_word(token: &str) -> &str {
    let stripped = pystr::strip_punctuation(token);
    if pystr::char_count_exceeds(stripped, 2) {
        stripped
    } else {
        token
    }
}

/// `SentiText(text).words_and_emoticons`, each token resolved against the lexicon.
/// `lowered` is scratch space for the lower-cased form.
pub(crate) fn tokenize(text: &str, lexicon: &Lexicon, lowered: &mut String, out: &mut Vec<Token>) {
    out.clear();
    // `str.split()`: runs of Python whitespace separate tokens; empty tokens never appear.
    // Bytes, decoding a code point only for non-ASCII lead bytes.
    let bytes = text.as_bytes();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (space, width) = if b < 0x80 {
            (pystr::is_space(char::from(b)), 1)
        } else {
            match text[i..].chars().next() {
                Some(c) => (pystr::is_space(c), c.len_utf8()),
                None => break,
            }
        };
        if space {
            if let Some(s) = start.take() {
                out.push(resolve(&text[s..i], lexicon, lowered));
            }
        } else if start.is_none() {
            start = Some(i);
        }
        i += width;
    }
    if let Some(s) = start {
        out.push(resolve(&text[s..], lexicon, lowered));
    }
}

fn resolve(raw: &str, lexicon: &Lexicon, lowered: &mut String) -> Token {
    let token = strip_punc_if_word(raw);
    let fits_stack = token.len() <= ASCII_KEY_BUF || token.len() > lexicon.max_key_len;
    if token.is_ascii() && fits_stack {
        return resolve_ascii(token.as_bytes(), lexicon);
    }
    let upper = pystr::is_upper(token);
    pystr::lower_into(token, lowered);
    let entry = lexicon
        .entry(lowered.as_bytes())
        .copied()
        .unwrap_or_default();
    Token {
        valence: entry.valence(),
        booster: entry.booster(),
        negated: entry.negation || contains_nt(lowered.as_bytes()),
        word: entry.word,
        upper,
    }
}

/// Stack space for lower-casing an ASCII token; a longer one is only looked up when some key
/// is that long (then through the general path).
const ASCII_KEY_BUF: usize = 32;

/// [`resolve`] for ASCII tokens in one pass: case flags and lower case together, no heap.
fn resolve_ascii(bytes: &[u8], lexicon: &Lexicon) -> Token {
    let mut buf = [0u8; ASCII_KEY_BUF];
    let fits = bytes.len() <= ASCII_KEY_BUF;
    let (mut has_upper, mut has_lower) = (false, false);
    for (i, &b) in bytes.iter().enumerate() {
        has_upper |= b.is_ascii_uppercase();
        has_lower |= b.is_ascii_lowercase();
        if fits {
            buf[i] = b.to_ascii_lowercase();
        }
    }
    // `str.isupper()` on ASCII: some upper-case letter and no lower-case one.
    let upper = has_upper && !has_lower;
    if !fits {
        // Longer than every key: only the "n't" rule can still apply.
        return Token {
            negated: contains_nt_ascii(bytes),
            upper,
            ..Token::default()
        };
    }
    let key = &buf[..bytes.len()];
    let entry = lexicon.entry(key).copied().unwrap_or_default();
    Token {
        valence: entry.valence(),
        booster: entry.booster(),
        negated: entry.negation || contains_nt(key),
        word: entry.word,
        upper,
    }
}

/// `"n't" in lowered`, without setting up a substring searcher per token.
fn contains_nt(lowered: &[u8]) -> bool {
    lowered.windows(3).any(|w| w == b"n't")
}

/// `"n't" in token.lower()` for an ASCII token.
fn contains_nt_ascii(bytes: &[u8]) -> bool {
    bytes.windows(3).any(|w| {
        w[0].eq_ignore_ascii_case(&b'n') && w[1] == b'\'' && w[2].eq_ignore_ascii_case(&b't')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexicon::LEXICON;

    fn replaced(text: &str) -> String {
        let mut buf = String::new();
        replace_emojis(text, &LEXICON, &mut buf).to_string()
    }

    #[test]
    fn quirk_emoji_description_glues_to_following_text() {
        assert_eq!(replaced("😀abc"), "grinning faceabc");
        assert_eq!(replaced("a😀"), "a grinning face");
        assert_eq!(replaced("a 😀"), "a grinning face");
        assert_eq!(replaced("😀😀"), "grinning face grinning face");
        // A tab before the emoji is not the ASCII space the reference tests for.
        assert_eq!(replaced("a\t😀"), "a\t grinning face");
    }

    #[test]
    fn quirk_variation_selector_is_kept_as_a_character() {
        // U+FE0F is not in the lexicon: it stays, glued after the description.
        assert_eq!(replaced("❤\u{fe0f} x"), "red heart\u{fe0f} x");
    }

    #[test]
    fn quirk_short_tokens_keep_their_punctuation() {
        assert_eq!(strip_punc_if_word(":)"), ":)");
        assert_eq!(strip_punc_if_word("ok!"), "ok!");
        assert_eq!(strip_punc_if_word("good!"), "good");
        assert_eq!(strip_punc_if_word("!!!"), "!!!");
        assert_eq!(strip_punc_if_word("(é)"), "(é)");
        assert_eq!(strip_punc_if_word("(ééé)"), "ééé");
    }

    #[test]
    fn long_ascii_token_still_sees_nt() {
        let mut lowered = String::new();
        let t = resolve(
            "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXN'T",
            &LEXICON,
            &mut lowered,
        );
        assert!(t.negated && t.upper);
    }
}
