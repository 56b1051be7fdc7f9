//! What the user sees on stderr: the progress bar (on a terminal only, counting bytes of files
//! and S3 objects), log lines printed above it rather than through it, colour only on a
//! terminal (and never with `NO_COLOR`), and the summary at the end: one line per object when
//! there are several, failed objects named with what they did before failing, and totals that
//! include them.

use std::io::{IsTerminal, Write};
use std::sync::RwLock;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pipeline::ObjectSummary;
use pipeline::archive::ArchiveCounts;
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

/// The log filter when `RUST_LOG` is not set: warnings, except the AWS config chain's about
/// IMDS (off EC2 it is simply not there: one multi-line dump per provider asked, before the
/// one error that names the missing region or credentials).
const DEFAULT_FILTER: &str = "warn,aws_config::imds=error";

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
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| DEFAULT_FILTER.into()),
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

/// How one object ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Done,
    /// It failed part-way: why (its counts say what it did before).
    Failed(String),
    /// A signal stopped it: what became of it.
    Interrupted(String),
}

/// One object's outcome for the summary: its counts, and how it ended.
pub struct ObjectOutcome {
    pub summary: ObjectSummary,
    pub ending: Ending,
}

/// What an interrupted run left undone: objects abandoned with requests in flight (what they
/// confirmed is not known) and inputs never started.
#[derive(Debug, Default)]
pub struct Left {
    pub abandoned: Vec<String>,
    pub not_started: Vec<String>,
}

/// The summary lines: one per object when there are several (and always for a failed or
/// interrupted one), what a signal left undone, then the totals over every object that
/// ended, failed ones included.
pub fn lines(outcomes: &[ObjectOutcome], left: &Left, dry_run: bool) -> Vec<String> {
    let failed = count_of(outcomes, |e| matches!(e, Ending::Failed(_)));
    let interrupted = count_of(outcomes, |e| matches!(e, Ending::Interrupted(_)));
    let mut objects = plural(outcomes.len() as u64, "object", "objects");
    let notes: Vec<String> = [(failed, "failed"), (interrupted, "interrupted")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    if !notes.is_empty() {
        objects.push_str(&format!(" ({})", notes.join(", ")));
    }
    let mut total = ObjectSummary::new(objects);
    let mut lines = Vec::new();
    let alone = outcomes.len() == 1 && left.abandoned.is_empty() && left.not_started.is_empty();
    for outcome in outcomes {
        if !alone || outcome.ending != Ending::Done {
            let mut text = line(&outcome.summary, dry_run);
            match &outcome.ending {
                Ending::Done => {}
                Ending::Failed(error) => text.push_str(&format!(" [FAILED: {error}]")),
                Ending::Interrupted(what) => text.push_str(&format!(" [INTERRUPTED: {what}]")),
            }
            lines.push(text);
        }
        total.add(&outcome.summary);
    }
    if !left.abandoned.is_empty() {
        lines.push(format!(
            "abandoned with requests in flight (what they confirmed is not counted; rerunning is safe): {}",
            some_names(&left.abandoned, "object", "objects")
        ));
    }
    if !left.not_started.is_empty() {
        lines.push(format!(
            "not started (interrupted): {}",
            some_names(&left.not_started, "input", "inputs")
        ));
    }
    if alone && outcomes[0].ending == Ending::Done {
        lines.push(line(&total, dry_run).replacen("1 object", &outcomes[0].summary.object, 1));
    } else {
        lines.push(line(&total, dry_run));
    }
    lines
}

/// `7 inputs: a, b, c, d, e and 2 more`.
fn some_names(names: &[String], one: &str, many: &str) -> String {
    const SHOWN: usize = 5;
    let mut shown = names[..names.len().min(SHOWN)].join(", ");
    if names.len() > SHOWN {
        shown.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    format!("{}: {shown}", plural(names.len() as u64, one, many))
}

fn count_of(outcomes: &[ObjectOutcome], which: impl Fn(&Ending) -> bool) -> usize {
    outcomes.iter().filter(|o| which(&o.ending)).count()
}

pub fn print(outcomes: &[ObjectOutcome], left: &Left, dry_run: bool) {
    for line in lines(outcomes, left, dry_run) {
        say(&line);
    }
}

/// `1 record`, `2 records`.
pub fn plural(count: u64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

fn line(s: &ObjectSummary, dry_run: bool) -> String {
    let mut text = format!(
        "{}: {} -> {}, {}, {}, {} invalid, {}",
        s.object,
        plural(s.records, "record", "records"),
        plural(s.documents, "document", "documents"),
        plural(s.deletes, "delete", "deletes"),
        plural(s.control_messages, "control message", "control messages"),
        s.invalid_records,
        plural(s.warnings, "warning", "warnings"),
    );
    if s.filtered > 0 {
        text.push_str(&format!(
            ", {} filtered (not by a followed author)",
            s.filtered
        ));
    }
    if s.past_retention > 0 {
        text.push_str(&format!(", {} past retention", s.past_retention));
    }
    if s.compliance_events > 0 {
        text.push_str(&format!(
            ", {}",
            plural(s.compliance_events, "compliance event", "compliance events")
        ));
    }
    if !dry_run {
        text.push_str(&format!(
            "; indexed {}, deleted {} ({} not found), dead-lettered {}, retried {}, {}",
            s.indexed,
            s.deleted,
            s.not_found,
            s.dead_lettered,
            s.retried,
            plural(s.requests, "request", "requests"),
        ));
        if let Some(compliance) = compliance(s) {
            text.push_str(&format!("; compliance: {compliance}"));
        }
        text.push_str(&archived(&ArchiveCounts {
            puts: s.archive_puts,
            deletes: s.archive_deletes,
            updates: s.archive_updates,
            requests: 0,
            retried: s.archive_retried,
        }));
    }
    text
}

/// What compliance did, when it did anything: events and deletes applied (with the longest
/// `event_at` -> applied), registers written, documents changed on arrival and fixed in the
/// index.
fn compliance(s: &ObjectSummary) -> Option<String> {
    let changed = s.compliance_on_arrival + s.compliance_changed + s.compliance_tombstones;
    if s.compliance_applied == 0 && s.registers_written == 0 && changed == 0 {
        return None;
    }
    let mut text = format!("{} applied", s.compliance_applied);
    if let Some(lag) = s.compliance_lag_ms {
        text.push_str(&format!(" (longest lag {})", duration(lag)));
    }
    text.push_str(&format!(
        ", {} written, {} changed on arrival, {} fixed in place ({} checked), {} made tombstones",
        plural(s.registers_written, "register", "registers"),
        s.compliance_on_arrival,
        s.compliance_changed,
        s.compliance_checked,
        s.compliance_tombstones,
    ));
    Some(text)
}

/// `850 ms`, `12.3 s`, `4.0 h`, `3.2 d`.
pub fn duration(ms: u64) -> String {
    const HOUR: u64 = 3_600_000;
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..HOUR => format!("{:.1} s", ms as f64 / 1_000.0),
        HOUR..86_400_000 => format!("{:.1} h", ms as f64 / HOUR as f64),
        _ => format!("{:.1} d", ms as f64 / 86_400_000.0),
    }
}

/// An error and its causes, `: `-joined, each said once: a cause whose text an outer
/// message already holds (`{path}: {io error}` over the I/O error) is not repeated.
pub fn error_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// What the archive wrote, to end a line with (empty when it wrote nothing).
pub fn archived(counts: &ArchiveCounts) -> String {
    if counts.puts + counts.deletes + counts.updates == 0 {
        return String::new();
    }
    format!(
        "; archive: {} put, {} deleted, {} updated, {} retried",
        counts.puts, counts.deletes, counts.updates, counts.retried
    )
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
    fn the_archive_is_said_only_when_it_wrote() {
        assert!(!line(&ObjectSummary::new("a"), false).contains("archive"));
        let archived = ObjectSummary {
            archive_puts: 5,
            archive_deletes: 2,
            archive_updates: 1,
            archive_retried: 3,
            ..ObjectSummary::new("a")
        };
        let text = line(&archived, false);
        assert!(
            text.ends_with("; archive: 5 put, 2 deleted, 1 updated, 3 retried"),
            "{text}"
        );
    }

    #[test]
    fn compliance_is_said_only_when_something_was_done() {
        let quiet = ObjectSummary::new("a");
        assert!(!line(&quiet, false).contains("compliance"));
        let busy = ObjectSummary {
            compliance_events: 3,
            compliance_applied: 4,
            compliance_lag_ms: Some(2 * 3_600_000),
            registers_written: 1,
            compliance_on_arrival: 2,
            compliance_changed: 5,
            compliance_checked: 9,
            ..ObjectSummary::new("a")
        };
        let text = line(&busy, false);
        assert!(text.contains(", 3 compliance events;"), "{text}");
        assert!(
            text.ends_with("; compliance: 4 applied (longest lag 2.0 h), 1 register written, 2 changed on arrival, 5 fixed in place (9 checked), 0 made tombstones"),
            "{text}"
        );
        let dry = line(&busy, true);
        assert!(dry.ends_with(", 3 compliance events"), "{dry}");
        for (ms, text) in [(999, "999 ms"), (1_500, "1.5 s"), (90_000_000, "1.0 d")] {
            assert_eq!(duration(ms), text);
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
                ObjectOutcome {
                    summary: good,
                    ending: Ending::Done,
                },
                ObjectOutcome {
                    summary: failed,
                    ending: Ending::Failed("server unavailable".into()),
                },
            ],
            &Left::default(),
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
            &[ObjectOutcome {
                summary: only,
                ending: Ending::Done,
            }],
            &Left::default(),
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

    #[test]
    fn one_of_a_kind_is_singular() {
        let one = ObjectSummary {
            records: 1,
            documents: 1,
            deletes: 1,
            control_messages: 1,
            warnings: 1,
            requests: 1,
            ..ObjectSummary::new("small.ndjson")
        };
        let text = line(&one, false);
        assert_eq!(
            text,
            "small.ndjson: 1 record -> 1 document, 1 delete, 1 control message, 0 invalid, 1 warning; indexed 0, deleted 0 (0 not found), dead-lettered 0, retried 0, 1 request"
        );
        let two = ObjectSummary {
            records: 2,
            requests: 2,
            ..ObjectSummary::new("b")
        };
        let text = line(&two, false);
        assert!(
            text.contains("2 records -> 0 documents, 0 deletes"),
            "{text}"
        );
        assert!(text.ends_with("2 requests"), "{text}");
    }

    #[test]
    fn an_interrupted_run_names_what_stopped_and_what_never_started() {
        let done = ObjectSummary {
            documents: 4,
            indexed: 4,
            ..ObjectSummary::new("a.ndjson")
        };
        let stopped = ObjectSummary {
            documents: 2,
            indexed: 2,
            ..ObjectSummary::new("-")
        };
        let names: Vec<String> = (0..7).map(|i| format!("{i}.ndjson")).collect();
        let lines = lines(
            &[
                ObjectOutcome {
                    summary: done,
                    ending: Ending::Done,
                },
                ObjectOutcome {
                    summary: stopped,
                    ending: Ending::Interrupted("reading stopped at byte 10".into()),
                },
            ],
            &Left {
                abandoned: vec!["s3://b/slow".into()],
                not_started: names,
            },
            false,
        );
        assert_eq!(lines.len(), 5, "{lines:#?}");
        assert!(lines[1].ends_with("[INTERRUPTED: reading stopped at byte 10]"));
        assert!(
            lines[2].ends_with("is safe): 1 object: s3://b/slow"),
            "{}",
            lines[2]
        );
        assert_eq!(
            lines[3],
            "not started (interrupted): 7 inputs: 0.ndjson, 1.ndjson, 2.ndjson, 3.ndjson, 4.ndjson and 2 more"
        );
        assert!(
            lines[4].starts_with("2 objects (1 interrupted): "),
            "{}",
            lines[4]
        );
        assert!(lines[4].contains("indexed 6,"), "{}", lines[4]);
    }

    #[test]
    fn an_error_says_each_cause_once() {
        let io = std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "No such file or directory (os error 2)",
        );
        /// Like the sink's dead-letter error: the I/O error in its text and as its source.
        #[derive(Debug)]
        struct Store {
            source: std::io::Error,
        }
        impl std::fmt::Display for Store {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "/x/dead.ndjson: {}", self.source)
            }
        }
        impl std::error::Error for Store {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.source)
            }
        }
        let error =
            anyhow::Error::new(Store { source: io }).context("writing 1 dead letter failed");
        assert_eq!(
            error_text(&error),
            "writing 1 dead letter failed: /x/dead.ndjson: No such file or directory (os error 2)"
        );
        assert!(
            format!("{error:#}").matches("os error 2").count() > 1,
            "anyhow's own form repeats it"
        );
    }
}
