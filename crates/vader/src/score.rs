//! Stage 3: `score_valence`: sum, punctuation emphasis, normalisation, proportions, rounding.

use crate::pystr::py_round;
use crate::scores::Scores;

/// `normalize(score, alpha=15)`.
fn normalize(score: f64) -> f64 {
    let norm = score / (score * score + 15.0).sqrt();
    norm.clamp(-1.0, 1.0)
}

/// `_punctuation_emphasis`: up to four "!" at 0.292 each; two or three "?" at 0.18 each,
/// four or more 0.96, a single "?" nothing. Counted over the whole (emoji-replaced) text.
fn punctuation_emphasis(exclamations: usize, questions: usize) -> f64 {
    let ep = exclamations.min(4) as f64 * 0.292;
    let qm = match questions {
        0 | 1 => 0.0,
        2 | 3 => questions as f64 * 0.18,
        _ => 0.96,
    };
    ep + qm
}

pub(crate) fn score_valence(sentiments: &[f64], exclamations: usize, questions: usize) -> Scores {
    if sentiments.is_empty() {
        return Scores::default();
    }
    // Python's sum(): left to right, starting from 0.
    let mut sum_s = sentiments.iter().fold(0.0, |acc, &s| acc + s);
    let punct = punctuation_emphasis(exclamations, questions);
    if sum_s > 0.0 {
        sum_s += punct;
    } else if sum_s < 0.0 {
        sum_s -= punct;
    }
    let compound = normalize(sum_s);

    // `_sift_sentiment_scores`: +1/-1 compensate for neutral words counting as 1.
    let mut pos_sum = 0.0;
    let mut neg_sum = 0.0;
    let mut neu_count = 0usize;
    for &s in sentiments {
        if s > 0.0 {
            pos_sum += s + 1.0;
        }
        if s < 0.0 {
            neg_sum += s - 1.0;
        }
        if s == 0.0 {
            neu_count += 1;
        }
    }
    if pos_sum > f64::abs(neg_sum) {
        pos_sum += punct;
    } else if pos_sum < f64::abs(neg_sum) {
        neg_sum -= punct;
    }
    let total = pos_sum + f64::abs(neg_sum) + neu_count as f64;
    Scores {
        neg: py_round(f64::abs(neg_sum / total), 1000.0),
        neu: py_round(f64::abs(neu_count as f64 / total), 1000.0),
        pos: py_round(f64::abs(pos_sum / total), 1000.0),
        compound: py_round(compound, 10000.0),
    }
}
