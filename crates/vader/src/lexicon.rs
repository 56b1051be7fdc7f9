//! Stage 0: the word and emoji tables, parsed once from the files embedded at compile time.
//!
//! Every word the rules care about (lexicon words, boosters, negations and the words of the
//! special-case idioms) lives in one hash map, so scoring a token costs one lookup. The map is
//! only ever queried, never iterated, so its hash order cannot leak into results.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use rustc_hash::FxHashMap;

use crate::pystr;

/// `vader_lexicon.txt` from vaderSentiment 3.3.2 (MIT, see `data/LICENSE-vaderSentiment.txt`).
const VADER_LEXICON: &str = include_str!("../data/vader_lexicon.txt");
/// `emoji_utf8_lexicon.txt` from vaderSentiment 3.3.2 (MIT).
const EMOJI_LEXICON: &str = include_str!("../data/emoji_utf8_lexicon.txt");

pub(crate) const B_INCR: f64 = 0.293;
pub(crate) const B_DECR: f64 = -0.293;

/// `NEGATE` of the reference, in its order (order does not matter for membership).
const NEGATE: &[&str] = &[
    "aint",
    "arent",
    "cannot",
    "cant",
    "couldnt",
    "darent",
    "didnt",
    "doesnt",
    "ain't",
    "aren't",
    "can't",
    "couldn't",
    "daren't",
    "didn't",
    "doesn't",
    "dont",
    "hadnt",
    "hasnt",
    "havent",
    "isnt",
    "mightnt",
    "mustnt",
    "neither",
    "don't",
    "hadn't",
    "hasn't",
    "haven't",
    "isn't",
    "mightn't",
    "mustn't",
    "neednt",
    "needn't",
    "never",
    "none",
    "nope",
    "nor",
    "not",
    "nothing",
    "nowhere",
    "oughtnt",
    "shant",
    "shouldnt",
    "uhuh",
    "wasnt",
    "werent",
    "oughtn't",
    "shan't",
    "shouldn't",
    "uh-uh",
    "wasn't",
    "weren't",
    "without",
    "wont",
    "wouldnt",
    "won't",
    "wouldn't",
    "rarely",
    "seldom",
    "despite",
];

/// Single-word keys of the reference `BOOSTER_DICT`. Its three two-word keys ("just enough",
/// "kind of", "sort of") can never equal one whitespace-free token; they only match as
/// bigrams in the idiom check, see [`Word::booster_bigram`].
const BOOSTERS: &[(&str, f64)] = &[
    ("absolutely", B_INCR),
    ("amazingly", B_INCR),
    ("awfully", B_INCR),
    ("completely", B_INCR),
    ("considerable", B_INCR),
    ("considerably", B_INCR),
    ("decidedly", B_INCR),
    ("deeply", B_INCR),
    ("effing", B_INCR),
    ("enormous", B_INCR),
    ("enormously", B_INCR),
    ("entirely", B_INCR),
    ("especially", B_INCR),
    ("exceptional", B_INCR),
    ("exceptionally", B_INCR),
    ("extreme", B_INCR),
    ("extremely", B_INCR),
    ("fabulously", B_INCR),
    ("flipping", B_INCR),
    ("flippin", B_INCR),
    ("frackin", B_INCR),
    ("fracking", B_INCR),
    ("fricking", B_INCR),
    ("frickin", B_INCR),
    ("frigging", B_INCR),
    ("friggin", B_INCR),
    ("fully", B_INCR),
    ("fuckin", B_INCR),
    ("fucking", B_INCR),
    ("fuggin", B_INCR),
    ("fugging", B_INCR),
    ("greatly", B_INCR),
    ("hella", B_INCR),
    ("highly", B_INCR),
    ("hugely", B_INCR),
    ("incredible", B_INCR),
    ("incredibly", B_INCR),
    ("intensely", B_INCR),
    ("major", B_INCR),
    ("majorly", B_INCR),
    ("more", B_INCR),
    ("most", B_INCR),
    ("particularly", B_INCR),
    ("purely", B_INCR),
    ("quite", B_INCR),
    ("really", B_INCR),
    ("remarkably", B_INCR),
    ("so", B_INCR),
    ("substantially", B_INCR),
    ("thoroughly", B_INCR),
    ("total", B_INCR),
    ("totally", B_INCR),
    ("tremendous", B_INCR),
    ("tremendously", B_INCR),
    ("uber", B_INCR),
    ("unbelievably", B_INCR),
    ("unusually", B_INCR),
    ("utter", B_INCR),
    ("utterly", B_INCR),
    ("very", B_INCR),
    ("almost", B_DECR),
    ("barely", B_DECR),
    ("hardly", B_DECR),
    ("kinda", B_DECR),
    ("kindof", B_DECR),
    ("kind-of", B_DECR),
    ("less", B_DECR),
    ("little", B_DECR),
    ("marginal", B_DECR),
    ("marginally", B_DECR),
    ("occasional", B_DECR),
    ("occasionally", B_DECR),
    ("partly", B_DECR),
    ("scarce", B_DECR),
    ("scarcely", B_DECR),
    ("slight", B_DECR),
    ("slightly", B_DECR),
    ("somewhat", B_DECR),
    ("sorta", B_DECR),
    ("sortof", B_DECR),
    ("sort-of", B_DECR),
    // "kind of", "just enough", "sort of": bigrams, see above.
];

/// The words the rules test by name (negation scope, "but", "least", idioms, n-gram boosters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Word {
    #[default]
    Other,
    No,
    Kind,
    Of,
    Or,
    Nor,
    Never,
    So,
    This,
    Without,
    Doubt,
    Least,
    At,
    Very,
    But,
    The,
    Shit,
    Bomb,
    Bad,
    Ass,
    Bus,
    Stop,
    Yeah,
    Right,
    Kiss,
    Death,
    To,
    Die,
    For,
    Beating,
    Heart,
    Just,
    Enough,
    Sort,
}

const NAMED_WORDS: &[(&str, Word)] = &[
    ("no", Word::No),
    ("kind", Word::Kind),
    ("of", Word::Of),
    ("or", Word::Or),
    ("nor", Word::Nor),
    ("never", Word::Never),
    ("so", Word::So),
    ("this", Word::This),
    ("without", Word::Without),
    ("doubt", Word::Doubt),
    ("least", Word::Least),
    ("at", Word::At),
    ("very", Word::Very),
    ("but", Word::But),
    ("the", Word::The),
    ("shit", Word::Shit),
    ("bomb", Word::Bomb),
    ("bad", Word::Bad),
    ("ass", Word::Ass),
    ("bus", Word::Bus),
    ("stop", Word::Stop),
    ("yeah", Word::Yeah),
    ("right", Word::Right),
    ("kiss", Word::Kiss),
    ("death", Word::Death),
    ("to", Word::To),
    ("die", Word::Die),
    ("for", Word::For),
    ("beating", Word::Beating),
    ("heart", Word::Heart),
    ("just", Word::Just),
    ("enough", Word::Enough),
    ("sort", Word::Sort),
];

impl Word {
    /// `SPECIAL_CASES` two-word keys ("the shit", ...). The one-word key "badass" can never
    /// equal a space-joined pair, so it is unreachable in the reference too.
    pub(crate) fn special_pair(a: Word, b: Word) -> Option<f64> {
        use Word::*;
        match (a, b) {
            (The, Shit) | (The, Bomb) => Some(3.0),
            (Bad, Ass) => Some(1.5),
            (Bus, Stop) => Some(0.0),
            (Yeah, Right) => Some(-2.0),
            (Beating, Heart) => Some(3.5),
            _ => None,
        }
    }

    /// `SPECIAL_CASES` three-word keys.
    pub(crate) fn special_triple(a: Word, b: Word, c: Word) -> Option<f64> {
        use Word::*;
        match (a, b, c) {
            (Kiss, Of, Death) => Some(-1.5),
            (To, Die, For) => Some(3.0),
            _ => None,
        }
    }

    /// The two-word `BOOSTER_DICT` keys, all dampeners.
    pub(crate) fn booster_bigram(a: Word, b: Word) -> Option<f64> {
        use Word::*;
        match (a, b) {
            (Just, Enough) | (Kind, Of) | (Sort, Of) => Some(B_DECR),
            _ => None,
        }
    }
}

/// What one lower-cased token means to the rules. Kept to 16 bytes: the map is probed once
/// per token and its size decides how much of it stays in cache.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Entry {
    /// Valence from `vader_lexicon.txt`, when `has_valence`.
    valence: f64,
    has_valence: bool,
    /// `BOOSTER_DICT` value: +1 for B_INCR, -1 for B_DECR, 0 when not a booster.
    booster: i8,
    /// In `NEGATE` (the "n't" substring rule is checked per token, not here).
    pub(crate) negation: bool,
    pub(crate) word: Word,
}

impl Entry {
    pub(crate) fn valence(&self) -> Option<f64> {
        self.has_valence.then_some(self.valence)
    }

    pub(crate) fn booster(&self) -> Option<f64> {
        match self.booster {
            1 => Some(B_INCR),
            -1 => Some(B_DECR),
            _ => None,
        }
    }
}

pub(crate) struct Lexicon {
    /// Keyed by the UTF-8 bytes, so ASCII tokens lower-cased on the stack need no check.
    words: FxHashMap<&'static [u8], Entry>,
    /// Longest key in bytes: longer tokens are not looked up at all.
    pub(crate) max_key_len: usize,
    /// Single-code-point keys of the emoji lexicon, sorted by code point. Multi-code-point keys
    /// (skin tones, ZWJ sequences, flags) are dropped: the reference tests one code point at a
    /// time (`for chr in text: if chr in self.emojis`), so they can never match there either.
    emojis: Vec<(char, &'static str)>,
    /// Smallest emoji code point: everything below skips the search.
    min_emoji: char,
}

pub(crate) static LEXICON: LazyLock<Lexicon> = LazyLock::new(Lexicon::build);

/// The reference's `text.rstrip('\n').split('\n')` then `line.strip().split('\t')[0:2]`.
fn tab_pairs(text: &'static str) -> impl Iterator<Item = (&'static str, &'static str)> {
    text.trim_end_matches('\n').split('\n').filter_map(|line| {
        let mut fields = pystr::strip_whitespace(line).split('\t');
        let key = fields.next()?;
        let value = fields.next()?;
        Some((key, value))
    })
}

impl Lexicon {
    fn build() -> Lexicon {
        let mut words: FxHashMap<&'static [u8], Entry> = FxHashMap::default();
        // `make_lex_dict` skips empty lines; a repeated word keeps its last value (dict insert).
        for (word, measure) in tab_pairs(VADER_LEXICON) {
            if word.is_empty() {
                continue;
            }
            // The embedded file is fixed and every measure parses; a bad one would be a build
            // mistake, caught by the tests that count entries.
            if let Ok(v) = measure.parse::<f64>() {
                let entry = words.entry(word.as_bytes()).or_default();
                entry.valence = v;
                entry.has_valence = true;
            }
        }
        for (word, value) in BOOSTERS {
            // Every BOOSTER_DICT value is B_INCR or B_DECR.
            words.entry(word.as_bytes()).or_default().booster = if *value > 0.0 { 1 } else { -1 };
        }
        for word in NEGATE {
            words.entry(word.as_bytes()).or_default().negation = true;
        }
        for &(name, word) in NAMED_WORDS {
            words.entry(name.as_bytes()).or_default().word = word;
        }
        let max_key_len = words.keys().map(|k| k.len()).max().unwrap_or(0);

        // Later lines win, like the reference's dict; BTreeMap gives the sorted order.
        let mut emoji_map: BTreeMap<char, &'static str> = BTreeMap::new();
        for (key, description) in tab_pairs(EMOJI_LEXICON) {
            let mut chars = key.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                emoji_map.insert(c, description);
            }
        }
        let emojis: Vec<(char, &'static str)> = emoji_map.into_iter().collect();
        let min_emoji = emojis.first().map_or(char::MAX, |e| e.0);
        Lexicon {
            words,
            max_key_len,
            emojis,
            min_emoji,
        }
    }

    #[inline]
    pub(crate) fn entry(&self, lowered: &[u8]) -> Option<&Entry> {
        if lowered.len() > self.max_key_len {
            return None;
        }
        self.words.get(lowered)
    }

    /// The description that replaces `c`, if `c` is an emoji of the lexicon.
    #[inline]
    pub(crate) fn emoji(&self, c: char) -> Option<&'static str> {
        if c < self.min_emoji {
            return None;
        }
        self.emojis
            .binary_search_by(|e| e.0.cmp(&c))
            .ok()
            .map(|i| self.emojis[i].1)
    }

    #[cfg(test)]
    pub(crate) fn valence_count(&self) -> usize {
        self.words.values().filter(|e| e.has_valence).count()
    }

    #[cfg(test)]
    pub(crate) fn emoji_count(&self) -> usize {
        self.emojis.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexicon_sizes_match_the_reference_dicts() {
        // len(SentimentIntensityAnalyzer().lexicon) == 7506 (7520 lines, 14 repeated words);
        // 1212 of the 3570 emoji keys are a single code point.
        assert_eq!(LEXICON.valence_count(), 7506);
        assert_eq!(LEXICON.emoji_count(), 1212);
    }

    #[test]
    fn repeated_lexicon_word_keeps_last_value() {
        // Count occurrences in the raw file and check the map holds the last one.
        let mut last: BTreeMap<&str, f64> = BTreeMap::new();
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (w, m) in tab_pairs(VADER_LEXICON) {
            last.insert(w, m.parse().unwrap());
            *seen.entry(w).or_default() += 1;
        }
        let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(!dups.is_empty());
        for (w, _) in dups {
            assert_eq!(
                LEXICON.entry(w.as_bytes()).and_then(|e| e.valence()),
                last.get(w).copied()
            );
        }
    }

    #[test]
    fn boosters_and_entry_size() {
        assert_eq!(BOOSTERS.len(), 81); // 84 BOOSTER_DICT keys less the 3 two-word ones
        assert!(BOOSTERS.iter().all(|&(_, v)| v == B_INCR || v == B_DECR));
        assert_eq!(
            LEXICON.entry(b"kinda").and_then(|e| e.booster()),
            Some(B_DECR)
        );
        assert_eq!(
            LEXICON.entry(b"very").and_then(|e| e.booster()),
            Some(B_INCR)
        );
        assert_eq!(std::mem::size_of::<Entry>(), 16);
    }

    #[test]
    fn heart_entries_exist() {
        // The `vader_sentiment` crate lacks these, so ❤ scored 0 there.
        assert!(LEXICON.entry(b"heart").and_then(|e| e.valence()).is_some());
        assert_eq!(LEXICON.emoji('❤'), Some("red heart"));
    }
}
