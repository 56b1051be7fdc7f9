//! What scoring returns: the four numbers and the label they give.

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

/// The four numbers `SentimentIntensityAnalyzer.polarity_scores` returns, rounded as it rounds
/// them (neg/neu/pos to 3 decimals, compound to 4, with Python's `round()`).
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
