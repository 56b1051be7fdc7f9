//! What the user sees on stderr: the progress bar (on a terminal only, counting bytes of files
//! and S3 objects), log lines printed above it rather than through it, colour only on a
//! terminal (and never with `NO_COLOR`), and the summary at the end: one line per object when
//! there are several, failed objects named with what they did before failing, and totals that
//! include them.

use std::io::{IsTerminal, Write};
use std::sync::RwLock;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pipeline::ObjectSummary;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

use crate::inputs::Input;

/// The bar on screen, if any: log lines are printed "under" it (`suspend`) so they do not
/// garble it.
static BAR: RwLock<Option<ProgressBar>> = RwLock::new(None);

/// Whether stderr gets ANSI colours: only on a terminal, and not when `NO_COLOR` is set to
/// anything non-empty (<https://no-color.org>).
pub fn colour(stderr_is_terminal: bool, no_color: Option<&str>) -> bool {
    stderr_is_terminal && no_color.is_none_or(str::is_empty)
}

/// Sets up `tracing` on stderr, printing above the progress bar; the AWS SDK's traces of
/// credentials stay off whatever `RUST_LOG` says ([`search_sink::logs::shield`]).
pub fn init_logging() {
    let ansi = colour(
        std::io::stderr().is_terminal(),
        std::env::var("NO_COLOR").ok().as_deref(),
    );
    tracing_subscriber::fmt()
        .with_writer(AboveTheBar)
        .with_ansi(ansi)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_target(false)
        .finish()
        .with(search_sink::logs::shield())
        .init();
}

/// Prints one line to stderr above the progress bar.
pub fn say(line: &str) {
    write_above_the_bar(format!("{line}\n").as_bytes());
}

fn write_above_the_bar(bytes: &[u8]) {
    let write = || {
        let _ = std::io::stderr().lock().write_all(bytes);
    };
    match BAR.read().ok().and_then(|bar| bar.clone()) {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

/// `tracing`'s writer: one buffer per event, written in one go when the event is done.
struct AboveTheBar;

impl<'a> MakeWriter<'a> for AboveTheBar {
    type Writer = EventBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        EventBuffer(Vec::new())
    }
}

struct EventBuffer(Vec<u8>);

impl Write for EventBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventBuffer {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            write_above_the_bar(&self.0);
        }
    }
}

/// A byte-counting bar over every input with a known size (hidden when stderr is not a
/// terminal). Log lines go above it until [`finish`].
pub fn progress(inputs: &[Input]) -> ProgressBar {
    let total: u64 = inputs.iter().filter_map(Input::size).sum();
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {elapsed} {wide_msg}")
    {
        bar.set_style(style);
    }
    if let Ok(mut slot) = BAR.write() {
        *slot = Some(bar.clone());
    }
    bar
}

pub fn finish(bar: &ProgressBar) {
    bar.finish_and_clear();
    if let Ok(mut slot) = BAR.write() {
        *slot = None;
    }
}

/// One object's outcome for the summary: its counts, and the error if it failed part-way.
pub struct Outcome {
    pub summary: ObjectSummary,
    pub error: Option<String>,
}

/// The summary lines: one per object when there are several (and always for a failed one),
/// then the totals over every object, failed ones included.
pub fn lines(outcomes: &[Outcome], dry_run: bool) -> Vec<String> {
    let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
    let objects = match (outcomes.len(), failed) {
        (1, _) => "1 object".to_owned(),
        (n, 0) => format!("{n} objects"),
        (n, f) => format!("{n} objects ({f} failed)"),
    };
    let mut total = ObjectSummary::new(objects);
    let mut lines = Vec::new();
    for outcome in outcomes {
        if outcomes.len() > 1 || outcome.error.is_some() {
            let mut text = line(&outcome.summary, dry_run);
            if let Some(error) = &outcome.error {
                text.push_str(&format!(" [FAILED: {error}]"));
            }
            lines.push(text);
        }
        total.add(&outcome.summary);
    }
    if outcomes.len() != 1 || failed > 0 {
        lines.push(line(&total, dry_run));
    } else {
        lines.push(line(&total, dry_run).replacen("1 object", &outcomes[0].summary.object, 1));
    }
    lines
}

pub fn print(outcomes: &[Outcome], dry_run: bool) {
    for line in lines(outcomes, dry_run) {
        say(&line);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        // (stderr is a terminal, NO_COLOR, colour)
        for (terminal, no_color, expected) in [
            (true, None, true),
            (true, Some(""), true),
            (true, Some("1"), false),
            (false, None, false),
            (false, Some("1"), false),
        ] {
            assert_eq!(
                colour(terminal, no_color),
                expected,
                "{terminal} {no_color:?}"
            );
        }
    }

    #[test]
    fn a_failed_object_is_named_with_its_counts_and_counted_in_the_totals() {
        let good = ObjectSummary {
            records: 5,
            documents: 5,
            indexed: 5,
            ..ObjectSummary::new("a.ndjson")
        };
        let failed = ObjectSummary {
            records: 0,
            documents: 20,
            indexed: 12,
            ..ObjectSummary::new("b.ndjson.gz")
        };
        let lines = lines(
            &[
                Outcome {
                    summary: good,
                    error: None,
                },
                Outcome {
                    summary: failed,
                    error: Some("server unavailable".into()),
                },
            ],
            false,
        );
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(lines[1].starts_with("b.ndjson.gz: "), "{}", lines[1]);
        assert!(lines[1].contains("indexed 12,"), "{}", lines[1]);
        assert!(
            lines[1].ends_with("[FAILED: server unavailable]"),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].starts_with("2 objects (1 failed): "),
            "{}",
            lines[2]
        );
        assert!(lines[2].contains("-> 25 documents"), "{}", lines[2]);
        assert!(lines[2].contains("indexed 17,"), "{}", lines[2]);
    }

    #[test]
    fn one_good_object_is_one_line_under_its_name() {
        let only = ObjectSummary {
            documents: 3,
            ..ObjectSummary::new("x.ndjson")
        };
        let lines = lines(
            &[Outcome {
                summary: only,
                error: None,
            }],
            true,
        );
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("x.ndjson: 0 records -> 3 documents"),
            "{}",
            lines[0]
        );
        assert!(!lines[0].contains("indexed"), "dry run: no server counts");
    }
}
