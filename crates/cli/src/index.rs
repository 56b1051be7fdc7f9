//! `index`: every input checked first, then the objects indexed in parallel through one
//! connected indexer, each with its own deadline; a signal stops the reading and the requests
//! in flight get their grace.

use std::time::Duration;

use anyhow::Context;
use clap::ArgMatches;
use pipeline::{Indexer, ObjectSummary};

use crate::args::IndexArgs;
use crate::config::{UNREACHABLE_ATTEMPTS, deadline_after, with_archive};
use crate::exit::{self, End, Problem, RunFailure};
use crate::interrupt::{self, Interrupt};
use crate::report::{self, Ending, ObjectOutcome};
use crate::{inputs, parallel};

/// Expands the inputs and reports the ones that cannot be used. With none left nothing is
/// sent, and the run fails with the worst of their problems (a mistyped path alone is a
/// usage error, S3 out of reach a transient failure); otherwise the rest is processed and
/// their problems count in the run's exit code.
pub async fn checked_inputs(
    arguments: &[String],
) -> Result<(Vec<inputs::Input>, Vec<Problem>), RunFailure> {
    let expanded = inputs::expand(arguments).await;
    for unusable in &expanded.unusable {
        report::say(&format!("error: {unusable}"));
    }
    let problems: Vec<Problem> = expanded.unusable.iter().map(|u| u.problem).collect();
    if expanded.inputs.is_empty() {
        let worst = problems
            .iter()
            .copied()
            .max_by_key(|p| exit::status(*p, true))
            .unwrap_or(Problem::Usage);
        return Err(RunFailure {
            problem: worst,
            error: anyhow::anyhow!("none of the inputs can be used: nothing was done"),
        });
    }
    Ok((expanded.inputs, problems))
}

pub async fn index(args: IndexArgs, matches: &ArgMatches) -> Result<End, RunFailure> {
    // From here on a signal ends the run with a summary instead of killing the process.
    let interrupt = Interrupt::install()
        .context("installing the signal handlers")
        .map_err(RunFailure::transient)?;
    let timeout = Duration::from_secs(args.timeout_secs);
    let setup = async {
        let settings = args.server.lifecycle(matches)?;
        let mut config = args.server.config(matches)?;
        config.unreachable_attempts = Some(UNREACHABLE_ATTEMPTS);
        let (objects_at_once, slots) = parallel::bulk_slots(args.jobs(), config.bulk_concurrency);
        config.bulk_concurrency = slots;
        // Every input is checked before the index is created or changed: a mistyped path
        // alone touches nothing on the server.
        let (inputs, problems) = checked_inputs(&args.inputs).await?;
        let follow = args.author_filter(matches)?;
        let archive = args.archive.settings(matches)?;
        let indexer = Indexer::connect(config)
            .await
            .map_err(|e| RunFailure::sink(e, "connecting"))?
            .with_author_filter(follow)
            .with_lifecycle(settings);
        let indexer = with_archive(indexer, archive).await;
        // `--timeout-secs` bounds preparing the index too (an unreachable server fails
        // within it), never longer than the sink's own bound.
        let ensure_deadline = deadline_after(timeout.min(search_sink::DEFAULT_ENSURE_TIME));
        indexer
            .ensure_index_before(ensure_deadline)
            .await
            .map_err(|e| RunFailure::sink(e, "preparing the index"))?;
        Ok::<_, RunFailure>((inputs, problems, indexer, objects_at_once))
    };
    let (inputs, mut problems, indexer, objects_at_once) = tokio::select! {
        ready = setup => ready?,
        () = interrupt.stopped() => {
            report::say("interrupted before any object was read: nothing was indexed");
            return Ok(End::Signal(interrupt.signal().unwrap_or(SIGINT)));
        }
    };
    tokio::spawn({
        let interrupt = interrupt.clone();
        async move {
            interrupt.stopped().await;
            report::say(&format!(
                "interrupted: reading stopped; requests in flight have {} s to be confirmed (a second signal abandons them)",
                interrupt::GRACE.as_secs()
            ));
        }
    });
    let progress = report::progress(&inputs);
    // Outcomes are small: no window needed, every object may finish before the first one.
    let mut ordered = parallel::Ordered::new(objects_at_once, usize::MAX);
    let mut names = std::collections::VecDeque::new();
    let mut left = report::Left::default();
    let mut inputs = inputs.into_iter();
    while let Some(input) = inputs.next() {
        let slot = tokio::select! {
            biased;
            () = interrupt.stopped() => None,
            slot = ordered.slot() => Some(slot),
        };
        let Some(slot) = slot else {
            left.not_started.push(input.to_string());
            left.not_started
                .extend(inputs.by_ref().map(|i| i.to_string()));
            break;
        };
        names.push_back(input.to_string());
        let work = index_object(
            indexer.clone(),
            input,
            timeout,
            progress.clone(),
            interrupt.clone(),
        );
        ordered.start_in(slot, work);
    }
    let mut outcomes = Vec::new();
    loop {
        match ordered.next_or(interrupt.abandoned()).await {
            parallel::Next::Empty => break,
            parallel::Next::Done(done) => {
                let name = names.pop_front().unwrap_or_default();
                let (outcome, object_problems) = done.unwrap_or_else(|e| {
                    let error = format!("indexing task failed: {e}");
                    report::say(&format!("error: {name}: {error}"));
                    let summary = ObjectSummary::new(name);
                    let ending = Ending::Failed(error);
                    (ObjectOutcome { summary, ending }, vec![Problem::Transient])
                });
                problems.extend(object_problems);
                outcomes.push(outcome);
            }
            parallel::Next::Cancelled => {
                ordered.abort_all();
                left.abandoned.extend(names.drain(..));
                break;
            }
        }
    }
    report::finish(&progress);
    report::print(&outcomes, &left, false);
    Ok(match interrupt.signal() {
        Some(signal) => End::Signal(signal),
        None => End::Status(exit::run_status(&problems, false)),
    })
}

/// SIGINT's number, for an interrupt whose signal could not be read back.
pub const SIGINT: i32 = 2;

/// Indexes one object through its own sink: its outcome and the problems it gives the run.
pub async fn index_object(
    indexer: Indexer,
    input: inputs::Input,
    timeout: Duration,
    progress: indicatif::ProgressBar,
    interrupt: Interrupt,
) -> (ObjectOutcome, Vec<Problem>) {
    progress.set_message(input.to_string());
    let deadline = deadline_after(timeout);
    let mut problems = Vec::new();
    let mut summary = ObjectSummary::new(input.to_string());
    let ending = match input.open().await {
        Ok(mut object) => {
            object.body = interrupt.stoppable(object.body);
            match indexer.index_into(object, deadline, &mut summary).await {
                Ok(()) => Ending::Done,
                Err(pipeline::PipelineError::Read { offset, detail, .. })
                    if detail.contains(interrupt::STOPPED) =>
                {
                    Ending::Interrupted(format!(
                        "reading stopped at byte {offset}; what was read before is counted"
                    ))
                }
                Err(e) => {
                    problems.push(exit::pipeline_problem(&e));
                    Ending::Failed(exit::pipeline_detail(&e))
                }
            }
        }
        Err(e) => {
            problems.push(exit::source_problem(input.is_s3(), &e));
            Ending::Failed(exit::source_detail(&e))
        }
    };
    if let Ending::Failed(error) = &ending {
        report::say(&format!("error: {input}: {error}"));
    }
    if summary.has_failures() {
        problems.push(Problem::BadRecords);
    }
    progress.inc(input.size().unwrap_or(0));
    (ObjectOutcome { summary, ending }, problems)
}
