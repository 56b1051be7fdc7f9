//! VADER sentiment (Hutto & Gilbert, 2014), reproducing Python `vaderSentiment` 3.3.2 score for
//! score. Pure: the lexicons are embedded at compile time and nothing here does I/O.
//!
//! Interim API shell: the real implementation lands with issue 2. The public surface below is
//! the contract other crates build against.

/// Sentiment label with the standard VADER thresholds on the compound score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Label {
    Positive,
    Neutral,
    Negative,
}

impl Label {
    /// `"Positive"`, `"Neutral"` or `"Negative"`: the keyword stored in the index.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Positive => "Positive",
            Label::Neutral => "Neutral",
            Label::Negative => "Negative",
        }
    }
}

/// The four numbers `SentimentIntensityAnalyzer.polarity_scores` returns.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Scores {
    pub neg: f64,
    pub neu: f64,
    pub pos: f64,
    pub compound: f64,
}

impl Scores {
    /// Positive when compound >= 0.05, Negative when compound <= -0.05, else Neutral.
    pub fn label(&self) -> Label {
        if self.compound >= 0.05 {
            Label::Positive
        } else if self.compound <= -0.05 {
            Label::Negative
        } else {
            Label::Neutral
        }
    }
}

/// Holds the lexicons; cheap to share (`Send + Sync`), build once per process.
#[derive(Debug, Default)]
pub struct Analyzer {}

impl Analyzer {
    pub fn new() -> Self {
        Analyzer {}
    }

    /// Interim: neutral for every text until the implementation lands.
    pub fn polarity_scores(&self, _text: &str) -> Scores {
        Scores {
            neu: 0.0,
            ..Scores::default()
        }
    }
}
