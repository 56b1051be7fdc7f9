//! VADER sentiment (Hutto & Gilbert, 2014), reproducing Python `vaderSentiment` 3.3.2 score for
//! score, quirks included: the golden tests hold every output within 1e-9 of the reference on
//! the paper's 24k rated texts and on emoji-bearing tweets. Pure: the lexicons are embedded at
//! compile time and nothing here does I/O (the `vader-score` binary reads stdin).
//!
//! Not a tokenizer, language detector or general NLP toolkit, and not an "improved" VADER:
//! where the reference has a quirk, it is reproduced and named in a test.
//!
//! Data flows through one module per stage: `lexicon` (tables, built once), `text` (emoji
//! step and tokens), `rules` (one valence per token), `score` (sum, proportions, rounding)
//! into `scores` (the result types, below every stage).
//!
//! ```
//! let analyzer = vader::Analyzer::new();
//! let scores = analyzer.polarity_scores("VADER is smart, handsome, and funny!");
//! assert_eq!(scores.compound, 0.8439);
//! assert_eq!(scores.label(), vader::Label::Positive);
//! ```

mod lexicon;
#[cfg(test)]
mod lexicon_files;
mod pystr;
mod rules;
mod score;
mod scores;
mod text;

use std::cell::RefCell;

use lexicon::{LEXICON, Lexicon};
pub use scores::{Label, Scores};
use text::Token;

/// Scores texts. A handle on the process-wide lexicon (built on first use), so it is
/// `Copy`, `Send + Sync` and free to create or share.
#[derive(Clone, Copy)]
pub struct Analyzer {
    lexicon: &'static Lexicon,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer").finish_non_exhaustive()
    }
}

impl Default for Analyzer {
    fn default() -> Self {
        Self::new()
    }
}

/// Buffers reused from call to call on the same thread, so steady-state scoring allocates
/// nothing.
#[derive(Default)]
struct Scratch {
    text: String,
    lowered: String,
    tokens: Vec<Token>,
    sentiments: Vec<f64>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Analyzer {
    pub fn new() -> Self {
        Analyzer { lexicon: &LEXICON }
    }

    /// The reference's `polarity_scores(text)`.
    pub fn polarity_scores(&self, text: &str) -> Scores {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.score_with(text, &mut scratch),
            // Only reachable if scoring re-entered itself on this thread; stay correct.
            Err(_) => self.score_with(text, &mut Scratch::default()),
        })
    }

    fn score_with(&self, text: &str, scratch: &mut Scratch) -> Scores {
        let Scratch {
            text: text_buf,
            lowered,
            tokens,
            sentiments,
        } = scratch;
        let text = text::replace_emojis(text, self.lexicon, text_buf);
        text::tokenize(text, self.lexicon, lowered, tokens);
        rules::sentiments(tokens, sentiments);
        let (mut exclamations, mut questions) = (0, 0);
        for &b in text.as_bytes() {
            exclamations += usize::from(b == b'!');
            questions += usize::from(b == b'?');
        }
        score::score_valence(sentiments, exclamations, questions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn analyzer_is_send_sync() {
        assert_send_sync::<Analyzer>();
    }

    #[test]
    fn labels_use_standard_thresholds() {
        let s = |compound| Scores {
            compound,
            ..Scores::default()
        };
        assert_eq!(s(0.05).label(), Label::Positive);
        assert_eq!(s(0.0499).label(), Label::Neutral);
        assert_eq!(s(-0.05).label(), Label::Negative);
        assert_eq!(s(-0.0499).label(), Label::Neutral);
        assert_eq!(Label::Negative.as_str(), "Negative");
    }
}
