//! Progress on a terminal (hidden otherwise) and the summary printed at the end (stderr).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pipeline::ObjectSummary;

use crate::inputs::Input;

pub fn progress(inputs: &[Input]) -> ProgressBar {
    let total: u64 = inputs.iter().filter_map(Input::size).sum();
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {elapsed} {wide_msg}")
    {
        bar.set_style(style);
    }
    bar
}

/// Prints the totals (and one line per object when there are several) to stderr.
pub fn print(summaries: &[ObjectSummary], dry_run: bool) {
    let mut total = ObjectSummary::new(format!("{} objects", summaries.len()));
    for s in summaries {
        if summaries.len() > 1 {
            eprintln!("{}", line(s, dry_run));
        }
        total.add(s);
    }
    eprintln!("{}", line(&total, dry_run));
}

fn line(s: &ObjectSummary, dry_run: bool) -> String {
    let mut text = format!(
        "{}: {} records -> {} documents, {} deletes, {} control messages, {} invalid, {} warnings",
        s.object,
        s.records,
        s.documents,
        s.deletes,
        s.control_messages,
        s.invalid_records,
        s.warnings
    );
    if s.filtered > 0 {
        text.push_str(&format!(
            ", {} filtered (not by a followed author)",
            s.filtered
        ));
    }
    if !dry_run {
        text.push_str(&format!(
            "; indexed {}, deleted {} ({} not found), dead-lettered {}, retried {}, {} requests",
            s.indexed, s.deleted, s.not_found, s.dead_lettered, s.retried, s.requests
        ));
    }
    text
}
