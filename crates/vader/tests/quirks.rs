//! One test per reference quirk that `vader` reproduces on purpose, so nobody "fixes" one by
//! accident. Every expected value is what Python vaderSentiment 3.3.2 returns for the text
//! (`SentimentIntensityAnalyzer().polarity_scores(text)`), copied from its output; the second
//! assertion in each test shows what a "fixed" implementation would give instead.

use vader::{Analyzer, Scores};

/// `[neg, neu, pos, compound]` as the reference prints them.
fn reference(text: &str, want: [f64; 4]) -> Scores {
    let got = Analyzer::new().polarity_scores(text);
    let want_scores = Scores {
        neg: want[0],
        neu: want[1],
        pos: want[2],
        compound: want[3],
    };
    assert_eq!(got, want_scores, "text {text:?}");
    got
}

fn compound(text: &str) -> f64 {
    Analyzer::new().polarity_scores(text).compound
}

#[test]
fn quirk_but_check_rescales_the_first_equal_value() {
    // `_but_check` finds each sentiment's position with `sentiments.index(value)`. "amazing"
    // (2.8) is halved to 1.4 before "but"; "excited" (1.4) after "but" then finds that 1.4
    // first and halves it again, and is itself left unscaled (0.7 + 1.4 = 2.1).
    reference(
        "The food was amazing but I am excited",
        [0.0, 0.594, 0.406, 0.4767],
    );
    // With "happy" (2.7) instead, no value collides and both rules apply (1.4 + 4.05).
    reference(
        "The food was amazing but I am happy",
        [0.0, 0.446, 0.554, 0.8151],
    );
}

#[test]
fn quirk_variation_selector_hides_the_heart() {
    // "❤\u{fe0f}" becomes "red heart\u{fe0f}": the token "heart\u{fe0f}" is not in the lexicon.
    reference("I ❤\u{fe0f} you", [0.0, 1.0, 0.0, 0.0]);
    reference("I ❤ you", [0.0, 0.417, 0.583, 0.6369]);
}

#[test]
fn quirk_emoji_description_glues_to_the_next_word() {
    // "😀abc" -> "grinning faceabc": only "grinning" scores.
    reference("😀abc", [0.0, 0.286, 0.714, 0.3612]);
}

#[test]
fn quirk_so_or_this_before_a_word_boosts_without_never() {
    // `a and b or c` in `_negation_check(start_i=2)`: "so" right before "good" multiplies by
    // 1.25 even without "never" (after also acting as a booster).
    reference("it is so good", [0.0, 0.445, 0.555, 0.5777]);
    reference("never so good", [0.0, 0.348, 0.652, 0.5777]);
    reference("very good", [0.0, 0.238, 0.762, 0.4927]);
}

#[test]
fn quirk_zero_valence_caps_word_goes_negative() {
    // "no" before a lexicon word gets valence 0.0; in caps (with other words not in caps) the
    // reference then subtracts C_INCR because it only adds for valence > 0.
    reference("NO good thing", [0.805, 0.195, 0.0, -0.4835]);
    reference("no good thing", [0.546, 0.454, 0.0, -0.3412]);
}

#[test]
fn no_negates_the_next_words() {
    // "no X": missing in the `vader_sentiment` crate.
    reference("no problem", [0.0, 0.307, 0.693, 0.3089]);
    reference("problem", [1.0, 0.0, 0.0, -0.4019]);
}

#[test]
fn quirk_emoticons_and_bangs_are_not_all_caps() {
    // `str.isupper()` needs a cased letter: ":)", "<3", "!!" are not caps, so "GOOD" is a
    // caps word among non-caps ones and gets C_INCR.
    reference("GOOD :)", [0.0, 0.0, 1.0, 0.7672]);
    reference("GOOD <3", [0.0, 0.0, 1.0, 0.7603]);
    reference("GOOD !!", [0.0, 0.192, 0.808, 0.639]);
    assert_eq!(compound("GOOD"), 0.4404);
}

#[test]
fn quirk_titlecase_letter_is_not_upper() {
    // U+01C5 (Dž, titlecase) is neither upper nor lower: `"ǅ".isupper()` is False, so "GOOD"
    // is emphasised; U+01C4 (DŽ) is upper, so all words are caps and nothing is.
    reference("GOOD \u{1c5}", [0.0, 0.216, 0.784, 0.5622]);
    reference("GOOD \u{1c4}", [0.0, 0.256, 0.744, 0.4404]);
}

#[test]
fn quirk_single_question_mark_adds_nothing() {
    assert_eq!(compound("good?"), compound("good"));
    reference("good??", [0.0, 0.0, 1.0, 0.504]);
    reference("good???", [0.0, 0.0, 1.0, 0.533]);
    reference("good????", [0.0, 0.0, 1.0, 0.594]);
}

#[test]
fn exclamation_marks_count_up_to_four() {
    reference("good!!!!", [0.0, 0.0, 1.0, 0.6209]);
    reference("good!!!!!!", [0.0, 0.0, 1.0, 0.6209]);
}

#[test]
fn quirk_zero_sum_ignores_punctuation() {
    // Punctuation emphasis only pushes a non-zero sum further from zero.
    reference("the table!!!", [0.0, 1.0, 0.0, 0.0]);
    reference("!!!", [0.0, 1.0, 0.0, 0.0]);
}

#[test]
fn boosters_match_whole_tokens_only() {
    // "so" inside "also" is no booster (the crate matched substrings).
    reference("also good", [0.0, 0.256, 0.744, 0.4404]);
    assert!(compound("so good") > compound("also good"));
}

#[test]
fn quirk_short_words_keep_their_punctuation() {
    // `_strip_punc_if_word` keeps the token when two or fewer code points would remain:
    // "ok!" stays "ok!" and is not found, while "good!" becomes "good".
    reference("ok!", [0.0, 1.0, 0.0, 0.0]);
    assert!(compound("good!") > 0.0);
}

#[test]
fn quirk_python_whitespace_includes_information_separators() {
    // `str.split()` splits on U+001C..U+001F (Rust's `split_whitespace` does not) but not on
    // U+200B ZERO WIDTH SPACE.
    reference("good\u{1c}bad", [0.547, 0.0, 0.453, -0.1531]);
    reference("good\u{200b}bad", [0.0, 1.0, 0.0, 0.0]);
}

#[test]
fn quirk_kelvin_sign_lowercases_to_ascii() {
    // `str.lower()` maps U+212A KELVIN SIGN to "k", so "\u{212a}ind" is the word "kind"; it
    // is also upper, so with "GOOD." (stripped to "GOOD") every word is caps: no emphasis.
    reference("GOOD. \u{212a}ind", [0.0, 0.0, 1.0, 0.7925]);
}

#[test]
fn quirk_special_idioms_need_three_words_before() {
    // `_special_idioms_check` runs only for the third preceding word (start_i == 2), so
    // "the shit" alone is just "shit", while "this is the shit" is the idiom (+3).
    reference("the shit", [0.783, 0.217, 0.0, -0.5574]);
    reference("this is the shit", [0.0, 0.429, 0.571, 0.6124]);
}

#[test]
fn quirk_badass_special_case_is_unreachable() {
    // SPECIAL_CASES has "badass": 1.5, but only space-joined n-grams are looked up, so the
    // lexicon value (1.4 -> 0.34) is used.
    reference("badass", [0.0, 0.0, 1.0, 0.34]);
    reference("he was a badass", [0.0, 0.556, 0.444, 0.34]);
}

#[test]
fn least_negates_unless_at_or_very_least() {
    reference("least good", [0.706, 0.294, 0.0, -0.3412]);
    reference("at least good", [0.0, 0.408, 0.592, 0.4404]);
    reference("very least good", [0.0, 0.386, 0.614, 0.4902]);
}

#[test]
fn never_and_without_doubt() {
    reference("never good", [0.706, 0.294, 0.0, -0.3412]);
    reference("without doubt good", [0.0, 0.166, 0.834, 0.6136]);
}

#[test]
fn quirk_kind_of_zeroes_kind_but_does_not_dampen() {
    // "kind" (a lexicon word) is set to 0 before "of"; the "kind of" dampener only applies as
    // the third-word bigram, so "kind of good" scores exactly like "good" among neutrals.
    reference("kind of good", [0.0, 0.408, 0.592, 0.4404]);
}
