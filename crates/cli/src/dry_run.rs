//! `index --dry-run`: the bulk request lines on stdout in the order of the inputs (objects
//! read in parallel spool until their turn), nothing sent.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::ArgMatches;
use pipeline::{AuthorFilter, ObjectSummary};
use tweets::{Extractor, ExtractorOptions};

use crate::args::IndexArgs;
use crate::config::deadline_after;
use crate::exit::{self, End, Problem, RunFailure};
use crate::index::checked_inputs;
use crate::ordered_output::ObjectOutput;
use crate::report::{self, Ending, ObjectOutcome};
use crate::{inputs, parallel};

/// What every object of a dry run shares.
pub struct DryRunJob {
    pub extractor: Arc<Extractor>,
    pub follow: AuthorFilter,
    pub index: String,
    pub partition: tweets::partition::Partition,
    pub retention: Option<tweets::partition::Retention>,
    pub timeout: Duration,
}

/// One object's dry run: its outcome and the problems it gives the run.
pub struct DryRunDone {
    pub outcome: ObjectOutcome,
    pub problems: Vec<Problem>,
}

pub async fn dry_run(args: IndexArgs, matches: &ArgMatches) -> Result<End, RunFailure> {
    let follow = args.author_filter(matches)?;
    let settings = args.server.lifecycle(matches)?;
    let job = Arc::new(DryRunJob {
        extractor: Arc::new(Extractor::new(ExtractorOptions::default())),
        follow,
        index: args.server.connection.index.clone(),
        partition: settings.partition,
        retention: settings.retention,
        timeout: Duration::from_secs(args.timeout_secs),
    });
    let jobs = args.jobs();
    let (inputs, mut problems) = checked_inputs(&args.inputs).await?;
    let mut outcomes = Vec::new();
    if jobs.get() == 1 {
        for input in inputs {
            let done = dry_run_object(job.clone(), input, None).await?;
            problems.extend(done.problems);
            outcomes.push(done.outcome);
        }
    } else {
        // The head object writes to stdout, later ones spool until their turn
        // (`ordered_output`); the window bounds the objects spooling behind a slow one.
        let mut ordered = parallel::Ordered::new(jobs, 2 * jobs.get());
        let mut outputs = std::collections::VecDeque::new();
        let mut inputs = inputs.into_iter();
        loop {
            // A finished head is taken back first: the next object streams from then on.
            let next = if ordered.is_full() || ordered.oldest_finished() {
                None
            } else {
                inputs.next()
            };
            if let Some(input) = next {
                let output = ObjectOutput::default();
                if outputs.is_empty() {
                    promote(&output).await?;
                }
                outputs.push_back(output.clone());
                ordered
                    .start(dry_run_object(job.clone(), input, Some(output)))
                    .await;
                continue;
            }
            let (Some(done), Some(output)) = (ordered.next().await, outputs.pop_front()) else {
                break;
            };
            let mut done = done
                .context("dry-run task failed")
                .map_err(RunFailure::transient)??;
            if let Some(reason) = output.failure() {
                if done.outcome.ending == Ending::Done {
                    let error = format!("writing the bulk output failed: {reason}");
                    report::say(&format!("error: {}: {error}", done.outcome.summary.object));
                    done.outcome.ending = Ending::Failed(error);
                }
                done.problems.push(Problem::Transient);
            }
            problems.extend(done.problems);
            outcomes.push(done.outcome);
            if let Some(head) = outputs.front() {
                promote(head).await?;
            }
        }
    }
    report::print(&outcomes, &report::Left::default(), true);
    Ok(End::Status(exit::run_status(&problems, false)))
}

/// Makes `output` the head (its spooled lines out first). A failure is the object's, found by
/// [`ObjectOutput::failure`] when it is taken back.
pub async fn promote(output: &ObjectOutput) -> Result<(), RunFailure> {
    let output = output.clone();
    let _ = tokio::task::spawn_blocking(move || output.promote())
        .await
        .context("dry-run output thread failed")
        .map_err(RunFailure::transient)?;
    Ok(())
}

/// Writes one object's bulk lines to stdout (`output` None: holding stdout, one object at a
/// time) or to its place in the ordered output.
pub async fn dry_run_object(
    job: Arc<DryRunJob>,
    input: inputs::Input,
    output: Option<ObjectOutput>,
) -> Result<DryRunDone, RunFailure> {
    let deadline = deadline_after(job.timeout);
    let failed = |error: String, problem: Problem| {
        report::say(&format!("error: {input}: {error}"));
        DryRunDone {
            outcome: ObjectOutcome {
                summary: ObjectSummary::new(input.to_string()),
                ending: Ending::Failed(error),
            },
            problems: vec![problem],
        }
    };
    let object = match input.open().await {
        Ok(object) => object,
        Err(e) => {
            let problem = exit::source_problem(input.is_s3(), &e);
            return Ok(failed(exit::source_detail(&e), problem));
        }
    };
    let name = object.name.clone();
    // `--timeout-secs` bounds a dry run too: a stalled read (S3, a pipe) fails the object.
    let body = object.body.into_blocking_reader(deadline);
    let result = tokio::task::spawn_blocking(move || {
        let write = |out: &mut dyn Write| {
            let summary = pipeline::dry_run::write_bulk(
                &job.extractor,
                ExtractorOptions::default().framer,
                &job.follow,
                pipeline::dry_run::Routing {
                    index: &job.index,
                    partition: job.partition,
                    retention: job.retention.map(|r| (r, pipeline::lifecycle::now_ms())),
                },
                &name,
                body,
                &mut &mut *out,
            )?;
            out.flush()?;
            Ok::<_, anyhow::Error>(summary)
        };
        // `write_bulk` writes whole chunks of lines (one lock of the route and of stdout
        // each): no buffer of our own in between.
        match output {
            None => write(&mut std::io::stdout().lock()),
            Some(mut output) => write(&mut output),
        }
    })
    .await
    .context("dry-run thread failed")
    .map_err(RunFailure::transient)?;
    Ok(match result {
        Ok(summary) => DryRunDone {
            problems: if summary.has_failures() {
                vec![Problem::BadRecords]
            } else {
                Vec::new()
            },
            outcome: ObjectOutcome {
                summary,
                ending: Ending::Done,
            },
        },
        Err(e) => failed(report::error_text(&e), Problem::Transient),
    })
}
