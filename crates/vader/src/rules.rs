//! Stage 2: one valence per token, by the reference's rules in the reference's order
//! (`polarity_scores` loop, `sentiment_valence`, `_negation_check`, `_special_idioms_check`,
//! `_least_check`, then `_but_check`). Floating-point operations are kept in the same order so
//! the results are bit-identical.

use std::collections::{BTreeSet, HashMap};

use crate::lexicon::{B_DECR, Word};
use crate::text::Token;

const C_INCR: f64 = 0.733;
const N_SCALAR: f64 = -0.74;

/// Fills `out` with one valence per token (the reference's `sentiments` list).
pub(crate) fn sentiments(tokens: &[Token], out: &mut Vec<f64>) {
    out.clear();
    let cap_diff = allcap_differential(tokens);
    for (i, token) in tokens.iter().enumerate() {
        if token.booster.is_some() {
            out.push(0.0);
            continue;
        }
        if i + 1 < tokens.len() && token.word == Word::Kind && tokens[i + 1].word == Word::Of {
            out.push(0.0);
            continue;
        }
        out.push(sentiment_valence(tokens, i, cap_diff));
    }
    but_check(tokens, out);
}

/// True when some, but not all, tokens are ALL CAPS.
fn allcap_differential(tokens: &[Token]) -> bool {
    let upper = tokens.iter().filter(|t| t.upper).count();
    let differential = tokens.len() - upper;
    0 < differential && differential < tokens.len()
}

fn sentiment_valence(tokens: &[Token], i: usize, cap_diff: bool) -> f64 {
    let item = &tokens[i];
    let Some(base) = item.valence else {
        return 0.0;
    };
    let n = tokens.len();
    let word = |j: usize| tokens[j].word;
    let mut valence = base;
    // "no" before another lexicon word is a negation, not a word of its own.
    if item.word == Word::No && i != n - 1 && tokens[i + 1].in_lexicon() {
        valence = 0.0;
    }
    // "no X", "no _ X", "no _ or/nor X": recomputed from the lexicon value, so it also
    // overrides the 0.0 above ("no no good").
    if (i > 0 && word(i - 1) == Word::No)
        || (i > 1 && word(i - 2) == Word::No)
        || (i > 2 && word(i - 3) == Word::No && matches!(word(i - 1), Word::Or | Word::Nor))
    {
        valence = base * N_SCALAR;
    }
    if item.upper && cap_diff {
        // A zero valence goes down here (the reference tests `> 0`, else subtracts).
        if valence > 0.0 {
            valence += C_INCR;
        } else {
            valence -= C_INCR;
        }
    }
    for start_i in 0..3 {
        // Only words outside the lexicon modify; negation and idioms are checked only then.
        if i > start_i && !tokens[i - (start_i + 1)].in_lexicon() {
            let mut s = scalar_inc_dec(&tokens[i - (start_i + 1)], valence, cap_diff);
            if start_i == 1 && s != 0.0 {
                s *= 0.95;
            }
            if start_i == 2 && s != 0.0 {
                s *= 0.9;
            }
            valence += s;
            valence = negation_check(valence, tokens, start_i, i);
            if start_i == 2 {
                valence = special_idioms_check(valence, tokens, i);
            }
        }
    }
    least_check(valence, tokens, i)
}

fn scalar_inc_dec(token: &Token, valence: f64, cap_diff: bool) -> f64 {
    let Some(booster) = token.booster else {
        return 0.0;
    };
    let mut scalar = booster;
    if valence < 0.0 {
        scalar = -scalar;
    }
    if token.upper && cap_diff {
        if valence > 0.0 {
            scalar += C_INCR;
        } else {
            scalar -= C_INCR;
        }
    }
    scalar
}

fn is_so_or_this(w: Word) -> bool {
    matches!(w, Word::So | Word::This)
}

fn negation_check(valence: f64, tokens: &[Token], start_i: usize, i: usize) -> f64 {
    let word = |j: usize| tokens[j].word;
    match start_i {
        0 => {
            if tokens[i - 1].negated {
                return valence * N_SCALAR;
            }
        }
        1 => {
            if word(i - 2) == Word::Never && is_so_or_this(word(i - 1)) {
                return valence * 1.25;
            } else if word(i - 2) == Word::Without && word(i - 1) == Word::Doubt {
                return valence;
            } else if tokens[i - 2].negated {
                return valence * N_SCALAR;
            }
        }
        _ => {
            // Python precedence: `a and b or c` is `(a and b) or c`, so "so"/"this" right
            // before the word boosts it even without "never".
            if (word(i - 3) == Word::Never && is_so_or_this(word(i - 2)))
                || is_so_or_this(word(i - 1))
            {
                return valence * 1.25;
            } else if word(i - 3) == Word::Without
                && (word(i - 2) == Word::Doubt || word(i - 1) == Word::Doubt)
            {
                return valence;
            } else if tokens[i - 3].negated {
                return valence * N_SCALAR;
            }
        }
    }
    valence
}

/// Called only with `i >= 3`.
fn special_idioms_check(mut valence: f64, tokens: &[Token], i: usize) -> f64 {
    let w = |j: usize| tokens[j].word;
    // onezero, twoonezero, twoone, threetwoone, threetwo: the first hit wins.
    let first_hit = Word::special_pair(w(i - 1), w(i))
        .or_else(|| Word::special_triple(w(i - 2), w(i - 1), w(i)))
        .or_else(|| Word::special_pair(w(i - 2), w(i - 1)))
        .or_else(|| Word::special_triple(w(i - 3), w(i - 2), w(i - 1)))
        .or_else(|| Word::special_pair(w(i - 3), w(i - 2)));
    if let Some(v) = first_hit {
        valence = v;
    }
    let n = tokens.len();
    if n - 1 > i
        && let Some(v) = Word::special_pair(w(i), w(i + 1))
    {
        valence = v;
    }
    if n - 1 > i + 1
        && let Some(v) = Word::special_triple(w(i), w(i + 1), w(i + 2))
    {
        valence = v;
    }
    // Booster n-grams threetwoone, threetwo, twoone; no booster key has three words.
    for (a, b) in [(w(i - 3), w(i - 2)), (w(i - 2), w(i - 1))] {
        if let Some(v) = Word::booster_bigram(a, b) {
            debug_assert_eq!(v, B_DECR);
            valence += v;
        }
    }
    valence
}

fn least_check(valence: f64, tokens: &[Token], i: usize) -> f64 {
    let prev_is_least = |j: usize| !tokens[j].in_lexicon() && tokens[j].word == Word::Least;
    if i > 1 && prev_is_least(i - 1) {
        // "at least X" and "very least X" are not negations.
        if tokens[i - 2].word != Word::At && tokens[i - 2].word != Word::Very {
            return valence * N_SCALAR;
        }
    } else if i > 0 && prev_is_least(i - 1) {
        return valence * N_SCALAR;
    }
    valence
}

/// Above this many tokens the literal `list.index` scan (quadratic) gives way to an index.
const BUT_SCAN_LIMIT: usize = 128;

/// `_but_check`, reproduced with its quirk: for each sentiment in turn it rescales the *first*
/// position holding an equal value (`sentiments.index(sentiment)`), which is not always the
/// position being visited: values before the first "but" are halved, values after it are
/// multiplied by 1.5, except that a later value equal to an already rescaled earlier one
/// rescales that earlier one again.
fn but_check(tokens: &[Token], sentiments: &mut [f64]) {
    let Some(bi) = tokens.iter().position(|t| t.word == Word::But) else {
        return;
    };
    if sentiments.len() <= BUT_SCAN_LIMIT {
        but_check_scan(bi, sentiments);
    } else {
        but_check_indexed(bi, sentiments);
    }
}

fn rescale(si: usize, bi: usize, value: f64) -> Option<f64> {
    match si.cmp(&bi) {
        std::cmp::Ordering::Less => Some(value * 0.5),
        std::cmp::Ordering::Greater => Some(value * 1.5),
        std::cmp::Ordering::Equal => None,
    }
}

fn but_check_scan(bi: usize, sentiments: &mut [f64]) {
    for k in 0..sentiments.len() {
        let value = sentiments[k];
        // The first equal value is at or before k.
        let si = sentiments[..=k]
            .iter()
            .position(|&x| x == value)
            .unwrap_or(k);
        if let Some(v) = rescale(si, bi, value) {
            sentiments[si] = v;
        }
    }
}

/// `+0.0` and `-0.0` compare equal, so they share a key.
fn key(x: f64) -> u64 {
    (x + 0.0).to_bits()
}

/// Same result as [`but_check_scan`] in O(n log n): positions `0..=k` are indexed by their
/// current value, and only positions up to `k` are ever rewritten.
fn but_check_indexed(bi: usize, sentiments: &mut [f64]) {
    let mut by_value: HashMap<u64, BTreeSet<usize>> = HashMap::new();
    for k in 0..sentiments.len() {
        let value = sentiments[k];
        let set = by_value.entry(key(value)).or_default();
        set.insert(k);
        let si = set.first().copied().unwrap_or(k);
        if let Some(v) = rescale(si, bi, value) {
            if key(v) != key(value) {
                if let Some(old) = by_value.get_mut(&key(value)) {
                    old.remove(&si);
                }
                by_value.entry(key(v)).or_default().insert(si);
            }
            sentiments[si] = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quirk_but_check_rescales_first_equal_value() {
        // "good but ok"-like: [1.0, 0, 0.5], "but" at 1. Position 0 is halved to 0.5; then
        // position 2 (0.5) finds position 0 first and halves it again, staying unscaled.
        let mut s = [1.0, 0.0, 0.5];
        but_check_scan(1, &mut s);
        assert_eq!(s, [0.25, 0.0, 0.5]);
    }

    #[test]
    fn but_check_indexed_equals_scan() {
        // Deterministic pseudo-random vectors with many repeated values.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let palette = [
            0.0, -0.0, 1.0, 0.5, 0.25, 2.0, 1.5, 0.75, -1.0, -0.5, 3.0, 4.5,
        ];
        for _ in 0..300 {
            let n = (next() % 60 + 1) as usize;
            let v: Vec<f64> = (0..n)
                .map(|_| palette[(next() % palette.len() as u64) as usize])
                .collect();
            let bi = (next() % n as u64) as usize;
            let mut a = v.clone();
            let mut b = v.clone();
            but_check_scan(bi, &mut a);
            but_check_indexed(bi, &mut b);
            assert_eq!(a, b, "input {v:?} bi {bi}");
        }
    }
}
