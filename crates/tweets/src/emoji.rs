//! Emoji: every emoji of a text in order, one entry per emoji sequence (ZWJ sequences, skin
//! tones, flags, keycaps, tag sequences), normalised to the fully-qualified form.
//!
//! The text is split into extended grapheme clusters (`unicode-segmentation`) and each cluster
//! is looked up in the Unicode emoji data of the `emojis` crate, which also maps unqualified
//! and minimally-qualified forms (`❤`) to the fully-qualified one (`❤️`). A cluster that is
//! not one known sequence (an emoji followed by a stray combining mark, a non-standard ZWJ
//! combination, a text-presentation selector) is searched for the longest known sequences it
//! contains, so its emoji are still found.

use std::sync::OnceLock;

use unicode_segmentation::{GraphemeCursor, UnicodeSegmentation};

const VS15: char = '\u{FE0E}';

/// Appends the emoji of `text` to `out`, fully qualified, in text order.
pub fn extract_into(text: &str, out: &mut Vec<String>) {
    // Cheap tests first: most texts (and all ASCII ones) have no emoji code point at all.
    if text.is_ascii() {
        return;
    }
    // Only the clusters that hold a candidate are segmented: the one holding each candidate
    // is found from the whole text (`GraphemeCursor`), and read from its start, as
    // segmentation restarted at a cluster boundary gives the same clusters as segmenting from
    // the start of the text. Clusters follow each other, so `from` is always a boundary.
    let mut from = 0;
    while let Some(at) = next_candidate(text, from) {
        let start = cluster_start(text, at);
        let Some(cluster) = text[start..].graphemes(true).next() else {
            break;
        };
        from = start + cluster.len();
        if let Some(e) = emojis::get(cluster) {
            out.push(e.as_str().to_owned());
            continue;
        }
        scan_cluster(cluster, out);
    }
}

/// Whether `c` can be part of an emoji sequence other than as an ASCII keycap base or a
/// joiner/selector (every emoji sequence has at least one such code point: keycaps end in
/// U+20E3, flags and tags use U+1F1E6.. and U+E0020..). Checked against every sequence of
/// `emoji-test.txt` by the corpus test.
fn may_be_emoji(c: char) -> bool {
    match c as u32 {
        // Punctuation, arrows and symbols: only some of them are emoji (`’`, `…`, `•` are
        // not, and are common), so ask the emoji data.
        n @ 0x2000..=0x2BFF => {
            let i = (n - 0x2000) as usize;
            general_punctuation_emoji()[i / 64] & (1 << (i % 64)) != 0
        }
        n => matches!(
            n,
            0xA9 | 0xAE | 0x3030 | 0x303D | 0x3297 | 0x3299 | 0x1F000..
        ),
    }
}

/// Whether `b` can lead the UTF-8 encoding of a [`may_be_emoji`] code point: U+A9, U+AE
/// (`C2`), U+2000..=U+2BFF (`E2`), U+3030..=U+3299 (`E3`), U+1F000.. (`F0`..=`F4`). A lead
/// byte is never a continuation byte, so a match is always the start of a code point.
fn may_lead_emoji(b: u8) -> bool {
    matches!(b, 0xC2 | 0xE2 | 0xE3 | 0xF0..=0xF4)
}

/// `text[from..].find(may_be_emoji)` (as an index into `text`), testing bytes instead of
/// decoding every character.
fn next_candidate(text: &str, mut from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    while let Some(i) = bytes[from..].iter().position(|&b| may_lead_emoji(b)) {
        let at = from + i;
        let c = text.get(at..)?.chars().next()?;
        if may_be_emoji(c) {
            return Some(at);
        }
        from = at + c.len_utf8();
    }
    None
}

/// Bit set of the code points in U+2000..=U+2BFF that occur in any emoji sequence (every
/// skin tone; unqualified forms only drop U+FE0F), from the `emojis` data.
fn general_punctuation_emoji() -> &'static [u64; 48] {
    static SET: OnceLock<[u64; 48]> = OnceLock::new();
    SET.get_or_init(|| {
        let mut set = [0u64; 48];
        let all = emojis::iter().flat_map(|e| {
            let tones = e.skin_tones().into_iter().flatten();
            std::iter::once(e).chain(tones)
        });
        for e in all {
            for c in e.as_str().chars() {
                if let n @ 0x2000..=0x2BFF = c as u32 {
                    let i = (n - 0x2000) as usize;
                    set[i / 64] |= 1 << (i % 64);
                }
            }
        }
        set
    })
}

/// The start of the grapheme cluster that holds byte `at` of `text`.
fn cluster_start(text: &str, at: usize) -> usize {
    let mut cursor = GraphemeCursor::new(at, text.len(), true);
    if cursor.is_boundary(text, 0).unwrap_or(true) {
        return at;
    }
    let mut cursor = GraphemeCursor::new(at, text.len(), true);
    cursor.prev_boundary(text, 0).ok().flatten().unwrap_or(0)
}

/// The emoji of `text`, fully qualified, in text order.
pub fn extract(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    extract_into(text, &mut out);
    out
}

/// Longest-match search inside a cluster that is not itself a known sequence.
fn scan_cluster(cluster: &str, out: &mut Vec<String>) {
    let bounds: Vec<usize> = cluster
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(cluster.len()))
        .collect();
    let mut a = 0;
    while a + 1 < bounds.len() {
        let start = bounds[a];
        let mut found = None;
        for b in (a + 1..bounds.len()).rev() {
            let piece = &cluster[start..bounds[b]];
            // A text-presentation selector asks for the glyph, not a different character.
            let piece = piece.strip_suffix(VS15).unwrap_or(piece);
            if piece.is_empty() || (piece.len() == 1 && piece.is_ascii()) {
                continue;
            }
            if let Some(e) = emojis::get(piece) {
                found = Some((e, b));
                break;
            }
        }
        match found {
            Some((e, b)) => {
                out.push(e.as_str().to_owned());
                a = b;
            }
            None => a += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_are_one_entry_each_in_order() {
        let text = "hi 👩🏽‍💻 and 👨‍👩‍👧‍👦 in 🇯🇵 press 1️⃣ #️⃣ 🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F} 👍🏿!";
        assert_eq!(
            extract(text),
            [
                "👩🏽‍💻",
                "👨‍👩‍👧‍👦",
                "🇯🇵",
                "1️⃣",
                "#️⃣",
                "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
                "👍🏿"
            ]
        );
    }

    #[test]
    fn unqualified_forms_are_normalised() {
        assert_eq!(extract("I ❤ you ❤️"), ["❤️", "❤️"]);
        assert_eq!(extract("1\u{20E3}"), ["1️⃣"]);
        assert_eq!(extract("❤\u{FE0E}"), ["❤️"]);
    }

    #[test]
    fn plain_text_has_none() {
        assert!(extract("plain ascii 123 #tag @x").is_empty());
        assert!(extract("日本語のテキスト, ça va? é").is_empty());
    }

    #[test]
    fn only_emoji_code_points_of_the_symbol_blocks_are_candidates() {
        for c in ['❤', '\u{200D}', '\u{20E3}', '➖', '✨', '™', '↔'] {
            assert!(may_be_emoji(c), "{c:?}");
        }
        for c in ['’', '…', '•', '“', '—', '€'] {
            assert!(!may_be_emoji(c), "{c:?}");
        }
    }

    #[test]
    fn clusters_between_first_and_last_candidate_are_all_seen() {
        assert_eq!(
            extract("’quoted…’ 1\u{20E3} then 👍🏽 — and ❤ • end"),
            ["1️⃣", "👍🏽", "❤️"]
        );
        assert_eq!(extract("🇯🇵🇺🇸 x🇫🇷"), ["🇯🇵", "🇺🇸", "🇫🇷"]);
    }

    #[test]
    fn byte_scan_finds_the_same_candidates_as_decoding() {
        let texts = [
            "",
            "ascii only",
            "©®‼ x",
            "’quoted…’ 1\u{20E3} then 👍🏽 — and ❤ • end",
            "日本語 〰 〽 ㊗ ㊙ 𠀋 \u{E0067} é ß",
            "€ … •",
        ];
        for text in texts {
            for (from, _) in text.char_indices() {
                let want = text[from..].find(may_be_emoji).map(|i| from + i);
                assert_eq!(next_candidate(text, from), want, "{text:?} {from}");
            }
        }
        // Every non-ASCII code point, one at a time.
        let mut buf = [b'a'; 6];
        for c in (0x80..=0x10FFFF).filter_map(char::from_u32) {
            let n = c.encode_utf8(&mut buf[1..]).len();
            buf[n + 1] = b'b';
            let text = std::str::from_utf8(&buf[..n + 2]).expect("UTF-8");
            assert_eq!(
                next_candidate(text, 0),
                may_be_emoji(c).then_some(1),
                "{c:?}"
            );
        }
    }

    /// The previous way: segment every cluster from the first candidate's to the last's.
    fn extract_by_segmenting_all(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for cluster in text.graphemes(true) {
            if !cluster.chars().any(may_be_emoji) {
                continue;
            }
            match emojis::get(cluster) {
                Some(e) => out.push(e.as_str().to_owned()),
                None => scan_cluster(cluster, &mut out),
            }
        }
        out
    }

    #[test]
    fn only_candidate_clusters_are_segmented_with_the_same_result() {
        let texts = [
            "🇯🇵🇺🇸 x🇫🇷 🇦🇦🇦 🇺🇸",
            "a\u{301}❤\u{FE0F}\u{301} 👩\u{200D}\u{1F4BB}\u{200D} ‼️",
            "क्‍ष 😀\u{0301}\u{0302} 1\u{FE0F}\u{20E3}\u{20E3} ©\u{FE0E}",
            "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}🏴 \u{E0067}",
            "\r\n❤\r\n👍🏽👍\u{1F3FD}\u{1F3FD} 👨‍👩‍👧‍👦‍",
        ];
        for text in texts {
            assert_eq!(extract(text), extract_by_segmenting_all(text), "{text:?}");
        }
        // Every emoji sequence of the data, alone, repeated and between letters and marks.
        for e in emojis::iter() {
            let s = e.as_str();
            for text in [
                s.to_owned(),
                format!("{s}{s}"),
                format!("x{s}\u{301}y"),
                format!("🇯{s}🇵"),
            ] {
                assert_eq!(extract(&text), extract_by_segmenting_all(&text), "{text:?}");
            }
        }
    }

    #[test]
    fn emoji_inside_a_larger_cluster_is_found() {
        // An emoji followed by a combining mark forms one cluster.
        assert_eq!(extract("😀\u{0301}"), ["😀"]);
    }
}
