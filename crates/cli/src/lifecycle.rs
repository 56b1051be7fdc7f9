//! `retention apply [--dry-run]` and `migrate --to month|day`: the index lifecycle steps
//! ([`pipeline::lifecycle`]), worded for the command line.

use std::time::Duration;

use anyhow::anyhow;
use clap::ArgMatches;
use pipeline::lifecycle::{MigrateOutcome, StepError};
use tokio::time::Instant;
use tweets::partition::Partition;

use crate::args::{MigrateArgs, PartitionTo, RetentionArgs};
use crate::exit::{End, RunFailure};
use crate::exit::{Problem, Status};
use crate::report;

/// Time given to one lifecycle step's requests (a migration's copy runs as long as it needs:
/// each request within it has its own timeout).
const STEP_TIME: Duration = Duration::from_secs(24 * 3600);

pub(super) async fn retention(
    args: RetentionArgs,
    matches: &ArgMatches,
) -> Result<End, RunFailure> {
    let settings = args.server.lifecycle_settings(matches)?;
    let Some(retention) = settings.retention else {
        return Err(RunFailure::usage(anyhow!(
            "--retention (or RETENTION) is not set: there is nothing to apply"
        )));
    };
    let indexer = args.server.indexer(matches, settings).await?;
    let now_ms = pipeline::lifecycle::now_ms();
    let report = pipeline::lifecycle::apply_retention(
        indexer.client(),
        &args.server.connection.index,
        retention,
        now_ms,
        args.dry_run,
        Instant::now() + STEP_TIME,
    )
    .await
    .map_err(|e| RunFailure::sink(e, "applying the retention"))?;
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for name in &report.expired {
        report::say(&format!("{verb} {name} (past {retention})"));
    }
    report::say(&format!(
        "retention {retention}: {verb} {}, kept {}",
        report::plural(report.expired.len() as u64, "partition", "partitions"),
        report::plural(report.kept.len() as u64, "partition", "partitions"),
    ));
    Ok(End::Status(Status::Ok))
}

pub(super) async fn migrate(args: MigrateArgs, matches: &ArgMatches) -> Result<End, RunFailure> {
    let mut settings = args.server.lifecycle_settings(matches)?;
    settings.partition = match args.to {
        PartitionTo::Month => Partition::Month,
        PartitionTo::Day => Partition::Day,
    };
    let to = settings.partition;
    let indexer = args.server.indexer(matches, settings).await?;
    let index = &args.server.connection.index;
    let outcome = pipeline::lifecycle::migrate(
        indexer.client_arc(),
        indexer.lifecycle(),
        Instant::now() + STEP_TIME,
        pipeline::lifecycle::SCROLL_PAGE,
        |progress| {
            report::say(&format!(
                "migrate {index}: {} of {} documents copied",
                progress.copied, progress.total
            ));
            true
        },
    )
    .await
    .map_err(|e| match e {
        StepError::Sink(e) => RunFailure::sink(e, "migrating"),
        StepError::Mismatch(detail) => RunFailure {
            problem: Problem::Transient,
            error: anyhow!(detail),
        },
    })?;
    match outcome {
        MigrateOutcome::Migrated { partitions } => {
            let total: u64 = partitions.values().sum();
            report::say(&format!(
                "migrated {index} into {} ({total} documents); {index} is now their alias: set INDEX_PARTITION={to} (--index-partition {to}) for the writers",
                report::plural(partitions.len() as u64, "partition", "partitions"),
            ));
        }
        MigrateOutcome::Stopped { copied } => report::say(&format!(
            "migrate {index}: stopped after {copied} copies; nothing was swapped (run it again)"
        )),
        MigrateOutcome::AlreadyMigrated { partitions } => report::say(&format!(
            "{index} is already an alias over {}: nothing to migrate (the partition template was installed again)",
            report::plural(partitions.len() as u64, "partition", "partitions"),
        )),
    }
    Ok(End::Status(Status::Ok))
}
