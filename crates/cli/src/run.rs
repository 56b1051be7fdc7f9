//! Runs a parsed command line: the subcommands that read the index or print (`index` is
//! [`crate::index`]'s, its dry run [`crate::dry_run`]'s, `retention` and `migrate`
//! [`crate::lifecycle`]'s).

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use clap::ArgMatches;
use pipeline::Indexer;
use search_sink::EnsureOutcome;
use tokio::time::Instant;

use crate::args::{
    Cli, Command, ComplianceAction, DashboardsAction, EventKind, IdsArgs, MappingAction, ReadArgs,
    RetentionAction, SweepArgs,
};
use crate::config::{UNREACHABLE_ATTEMPTS, deadline_after, with_archive};
use crate::exit::{End, RunFailure, Status};
use crate::{dashboards, dry_run, event, index, lifecycle, preview, report};

pub async fn run(cli: Cli, matches: &ArgMatches) -> Result<End, RunFailure> {
    match cli.command {
        Command::Mapping {
            action: MappingAction::Print,
        } => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(tweets::MAPPING_JSON.as_bytes())
                .map_err(RunFailure::transient)?;
            Ok(End::Status(Status::Ok))
        }
        Command::Mapping {
            action: MappingAction::Ensure(server),
        } => {
            let settings = server.lifecycle(matches)?;
            let partition = settings.partition;
            let indexer = server.indexer(matches, settings).await?;
            let outcome = indexer
                .ensure_index()
                .await
                .map_err(|e| RunFailure::sink(e, "preparing the index"))?;
            if partition == tweets::partition::Partition::None {
                report::say(&ensured(&server.connection.index, &outcome));
            } else {
                report::say(&format!(
                    "alias {index}: template {template} installed for {index}-* (one index per {partition}, created as tweets reach it)",
                    index = server.connection.index,
                    template = pipeline::lifecycle::template_name(&server.connection.index),
                ));
            }
            Ok(End::Status(Status::Ok))
        }
        Command::Dashboards {
            action: DashboardsAction::Import(args),
        } => match dashboards::import(*args).await {
            Ok(true) => Ok(End::Status(Status::Ok)),
            // Some saved objects were refused (reported one by one): a data problem.
            Ok(false) => Ok(End::Status(Status::Partial)),
            Err(error) => Err(RunFailure {
                problem: dashboards::problem(&error),
                error,
            }),
        },
        Command::Dashboards {
            action: DashboardsAction::Preview(args),
        } => {
            let mut config = args.server.config(matches)?;
            config.unreachable_attempts = Some(UNREACHABLE_ATTEMPTS);
            let client = search_sink::SearchClient::connect(config)
                .await
                .map_err(|e| RunFailure::sink(e, "connecting"))?;
            let out = &args.preview.out;
            let figures = preview::write(&client, &args.server.index, out)
                .await
                .map_err(|error| RunFailure {
                    problem: dashboards::problem(&error),
                    error,
                })?;
            report::say(&format!(
                "wrote {}: {} tweets ({} geotagged) from index {}",
                out.display(),
                figures.tweets,
                figures.geotagged,
                args.server.index
            ));
            Ok(End::Status(Status::Ok))
        }
        Command::Event {
            kind: EventKind::Kinesis(args),
        } => event::kinesis(&args)
            .map(|()| End::Status(Status::Ok))
            .map_err(RunFailure::usage),
        Command::Retention {
            action: RetentionAction::Apply(args),
        } => lifecycle::retention(*args, matches).await,
        Command::Migrate(args) => lifecycle::migrate(*args, matches).await,
        Command::Index(args) if args.dry_run => dry_run::dry_run(*args, matches).await,
        Command::Index(args) => index::index(*args, matches).await,
        Command::Ids(args) => ids(*args, matches).await,
        Command::Compliance {
            action: ComplianceAction::Sweep(args),
        } => sweep(*args, matches).await,
    }
}

/// Connects for a command that reads the index: the client, and its deadline.
pub async fn reader(
    args: &ReadArgs,
    matches: &ArgMatches,
) -> Result<(Indexer, Instant), RunFailure> {
    let mut config = args.server.config(matches)?;
    config.unreachable_attempts = Some(UNREACHABLE_ATTEMPTS);
    let indexer = Indexer::connect(config)
        .await
        .map_err(|e| RunFailure::sink(e, "connecting"))?;
    Ok((
        indexer,
        deadline_after(Duration::from_secs(args.timeout_secs)),
    ))
}

/// `ids [--users]`: the ids on stdout, page after page (bounded memory), a count on stderr.
pub async fn ids(args: IdsArgs, matches: &ArgMatches) -> Result<End, RunFailure> {
    let (indexer, deadline) = reader(&args.read, matches).await?;
    let mut pages = indexer.stored_ids(args.users);
    let mut count = 0u64;
    let mut text = String::new();
    while let Some(page) = pages
        .next(indexer.client(), deadline)
        .await
        .map_err(|e| RunFailure::sink(e, "reading the ids"))?
    {
        text.clear();
        for id in &page {
            text.push_str(id);
            text.push('\n');
        }
        count += page.len() as u64;
        // A pipe's reader may be slow: the write blocks this worker, not the runtime.
        tokio::task::block_in_place(|| std::io::stdout().lock().write_all(text.as_bytes()))
            .context("writing the ids to stdout")
            .map_err(RunFailure::transient)?;
    }
    tokio::task::block_in_place(|| std::io::stdout().lock().flush())
        .context("writing the ids to stdout")
        .map_err(RunFailure::transient)?;
    let what = if args.users {
        report::plural(count, "author id", "author ids")
    } else {
        report::plural(count, "tweet id", "tweet ids")
    };
    report::say(&format!(
        "{what} of {} (deleted tweets left out)",
        args.read.server.index
    ));
    Ok(End::Status(Status::Ok))
}

/// `compliance sweep`: what it changed, on stderr.
pub async fn sweep(args: SweepArgs, matches: &ArgMatches) -> Result<End, RunFailure> {
    let archive = args.archive.settings(matches)?;
    let (indexer, deadline) = reader(&args.read, matches).await?;
    let indexer = with_archive(indexer, archive).await;
    let report = indexer
        .compliance_sweep(deadline)
        .await
        .map_err(|e| RunFailure::sweep(e, "sweeping"))?;
    report::say(&swept(indexer.compliance_index(), &report));
    Ok(End::Status(Status::Ok))
}

/// What a sweep did, in words.
pub fn swept(compliance_index: &str, report: &pipeline::SweepReport) -> String {
    let fixed = &report.fixed;
    format!(
        "sweep: {} in {compliance_index}; {} checked, {} changed, {} made tombstones, {} overtaken by a newer copy{}",
        report::plural(report.registers, "active register", "active registers"),
        report::plural(fixed.checked, "document", "documents"),
        fixed.changed,
        fixed.tombstones,
        fixed.superseded,
        report
            .archive
            .as_ref()
            .map(report::archived)
            .unwrap_or_default(),
    )
}

/// What `mapping ensure` found or did, in words.
pub fn ensured(index: &str, outcome: &EnsureOutcome) -> String {
    match outcome {
        EnsureOutcome::Created => format!("index {index}: created with the mapping"),
        EnsureOutcome::Existing { added_fields } if added_fields.is_empty() => {
            format!("index {index}: exists, and its mapping has every field")
        }
        EnsureOutcome::Existing { added_fields } => format!(
            "index {index}: exists; added {}: {}",
            report::plural(added_fields.len() as u64, "field", "fields"),
            added_fields.join(", ")
        ),
        EnsureOutcome::AlreadyEnsured => format!("index {index}: already ensured"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_ensure_says_what_it_did_in_words() {
        let table = [
            (EnsureOutcome::Created, "index t: created with the mapping"),
            (
                EnsureOutcome::Existing {
                    added_fields: vec![],
                },
                "index t: exists, and its mapping has every field",
            ),
            (
                EnsureOutcome::Existing {
                    added_fields: vec!["deleted".into()],
                },
                "index t: exists; added 1 field: deleted",
            ),
        ];
        for (outcome, want) in table {
            assert_eq!(ensured("t", &outcome), want);
        }
    }
}
