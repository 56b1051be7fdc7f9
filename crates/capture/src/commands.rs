//! The subcommands (`rules`, `stream`, `compliance-stream`, `comply`), each from its parsed
//! flags to its end: the stop on signals and the check that every record read was delivered.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use capture::comply::jobs::JobsClient;
use capture::comply::{ComplyOptions, Summary, ids, state::State};
use capture::message::classify_compliance;
use capture::rules::{NewRule, RulesClient, sync_plan};
use capture::stream::{HttpStream, StreamConfig};
use capture::{CaptureError, CaptureOptions, Delivery, metrics::Stats};

use crate::args::{
    Command, ComplianceStreamArgs, ComplyArgs, DeliveryArgs, RulesAction, StreamArgs,
};
use crate::config::{http_client, token};

pub(crate) async fn run(api_url: &str, command: Command, stats: &Arc<Stats>) -> Result<()> {
    match command {
        Command::Rules { action } => rules(api_url, action).await,
        Command::Stream(args) => stream(api_url, *args, stats).await,
        Command::ComplianceStream(args) => compliance_stream(api_url, *args, stats).await,
        Command::Comply(args) => comply(api_url, *args, stats).await,
    }
}

async fn rules(api_url: &str, action: RulesAction) -> Result<()> {
    let client = RulesClient::new(http_client()?, api_url, token()?);
    match action {
        RulesAction::List => {
            let rules = client.list().await.context("rules list")?;
            for rule in &rules {
                println!("{}", serde_json::to_string(rule)?);
            }
            tracing::info!(rules = rules.len(), "rules listed");
        }
        RulesAction::Add { rule, tag } => {
            let response = client
                .add(&[NewRule { value: rule, tag }], false)
                .await
                .context("rules add")?;
            report_change(&response);
            let refused = response.errors.len();
            if refused > 0 {
                Err(capture::rules::ChangeError {
                    made: response.data.len(),
                    refused,
                    not_tried: 0,
                })?;
            }
        }
        RulesAction::Delete { ids } => {
            let response = client.delete(&ids, false).await.context("rules delete")?;
            report_change(&response);
            let refused = response.errors.len();
            if refused > 0 {
                Err(capture::rules::ChangeError {
                    made: ids.len().saturating_sub(refused),
                    refused,
                    not_tried: 0,
                })?;
            }
        }
        RulesAction::Sync { file, dry_run } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("{}: cannot read", file.display()))?;
            let wanted: Vec<NewRule> = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{}: expected [{{\"value\": ..., \"tag\": ...}}]",
                    file.display()
                )
            })?;
            let current = client
                .list()
                .await
                .context("rules sync: listing the rules")?;
            let plan = sync_plan(&current, &wanted);
            for rule in &plan.delete {
                println!("{}", serde_json::json!({"delete": rule}));
            }
            for rule in &plan.add {
                println!("{}", serde_json::json!({"add": rule}));
            }
            let report = client
                .sync(&current, &plan, dry_run)
                .await
                .context("rules sync")?;
            for answer in &report.answers {
                report_change(answer);
            }
            tracing::info!(
                added = report.added,
                deleted = report.deleted,
                refused = report.refused.len(),
                held_back = report.held_back.len(),
                dry_run,
                "rules synced"
            );
            report.result()?;
        }
    }
    Ok(())
}

/// Prints the server's answer: the rules it made (stdout), its summary and refusals (stderr).
fn report_change(response: &capture::rules::ChangeResponse) {
    for rule in &response.data {
        if let Ok(line) = serde_json::to_string(rule) {
            println!("{line}");
        }
    }
    eprintln!("{}", serde_json::json!({"meta": response.meta}));
    for error in &response.errors {
        eprintln!("{error}");
    }
}

async fn stream(api_url: &str, args: StreamArgs, stats: &Arc<Stats>) -> Result<()> {
    let token = token()?;
    let connect = HttpStream::filtered(
        http_client()?,
        api_url,
        &token,
        args.reconnect.backfill_minutes,
    )?;
    let mut options = args
        .delivery
        .options(args.reconnect.config(), args.delivery.to.label());
    options.min_tweets_per_minute = args.min_tweets_per_minute;
    options.volume_window = usize::from(args.volume_window);
    read_stream(&connect, &args.delivery, options, stats).await
}

async fn compliance_stream(
    api_url: &str,
    args: ComplianceStreamArgs,
    stats: &Arc<Stats>,
) -> Result<()> {
    let token = token()?;
    let stream = args.kind.stream();
    let connect = HttpStream::compliance(
        http_client()?,
        api_url,
        &token,
        stream,
        args.partition,
        args.reconnect.backfill_minutes,
    )?;
    let config = StreamConfig {
        classify: classify_compliance,
        ..args.reconnect.config()
    };
    // One metrics dimension per partition (four captures may share a destination).
    let label = format!(
        "{} compliance/{}/{}",
        args.delivery.to.label(),
        stream.as_str(),
        args.partition
    );
    let options = args.delivery.options(config, label);
    read_stream(&connect, &args.delivery, options, stats).await
}

/// Reads a stream into the destination until a signal or a fatal answer.
async fn read_stream(
    connect: &HttpStream,
    delivery: &DeliveryArgs,
    options: CaptureOptions,
    stats: &Arc<Stats>,
) -> Result<()> {
    let (stop_rx, abandon_rx) = stop_on_signals();
    // Before anything is read from X: a sink that cannot work stops here.
    let sink = delivery.sink().await?;
    let result = capture::capture(
        connect,
        &options,
        sink,
        Arc::clone(stats),
        stop_rx,
        abandon_rx,
    )
    .await;
    let not_delivered = stats.not_delivered();
    tracing::info!(
        tweets = Stats::get(&stats.tweets),
        compliance = Stats::get(&stats.compliance),
        duplicates = Stats::get(&stats.duplicates),
        deletes = Stats::get(&stats.deletes),
        delivered = Stats::get(&stats.delivered),
        not_delivered,
        dropped = Stats::get(&stats.dropped),
        lost = Stats::get(&stats.lost),
        spooled = Stats::get(&stats.spooled),
        "capture stopped"
    );
    let delivery = result?;
    undelivered(not_delivered, delivery)
}

/// An error when records read were not delivered.
fn undelivered(not_delivered: u64, delivery: Delivery) -> Result<()> {
    if not_delivered > 0 {
        let why = match delivery {
            Delivery::Abandoned => "the run was stopped before the sink delivered them",
            Delivery::Finished => "too large for the sink, or lost from the spool (see the log)",
        };
        bail!("{not_delivered} record(s) read were not delivered: {why}");
    }
    Ok(())
}

/// The first SIGTERM / SIGINT turns the first receiver true (stop reading, deliver what was
/// read), a second one the second (stop at once).
fn stop_on_signals() -> (
    tokio::sync::watch::Receiver<bool>,
    tokio::sync::watch::Receiver<bool>,
) {
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let (abandon, abandon_rx) = tokio::sync::watch::channel(false);
    let mut signals = Signals::new();
    tokio::spawn(async move {
        signals.next().await;
        tracing::info!(
            "signal received: delivering what was read, then exiting (a second signal exits at once)"
        );
        let _ = stop.send(true);
        signals.next().await;
        let _ = abandon.send(true);
    });
    (stop_rx, abandon_rx)
}

async fn comply(api_url: &str, args: ComplyArgs, stats: &Arc<Stats>) -> Result<()> {
    let token = token()?;
    let client = JobsClient::new(http_client()?, api_url, &token)?;
    let kind = args.kind.job();
    let (stop_rx, abandon_rx) = stop_on_signals();
    // The sink first: a destination that cannot work stops the run before X is asked for
    // anything (a job is an hour-long commitment that blocks the next one of its type).
    let sink = args.delivery.sink().await?;
    let (ids_path, fetched) = match ids::s3_location(&args.ids) {
        Some((bucket, key)) => {
            let dir = args.state_dir.clone().unwrap_or_else(std::env::temp_dir);
            let name = key.rsplit('/').next().unwrap_or(key);
            let local = dir.join(format!("tweet-capture-{}-{name}", kind.as_str()));
            let config = search_sink::https::aws_config_loader().load().await;
            let s3 = aws_sdk_s3::Client::new(&config);
            let bytes = ids::fetch_s3(&s3, bucket, key, &local).await?;
            tracing::info!(ids = %args.ids, bytes, "ids file copied from S3");
            (local, true)
        }
        None => (PathBuf::from(&args.ids), false),
    };
    let file_name = ids_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| anyhow!("--ids {}: not a file", args.ids))?;
    let state_dir = match (&args.state_dir, ids_path.parent()) {
        (Some(dir), _) => dir.clone(),
        (None, Some(parent)) if !parent.as_os_str().is_empty() => parent.to_owned(),
        (None, _) => PathBuf::from("."),
    };
    let options = ComplyOptions {
        kind,
        ids: ids_path.clone(),
        state: state_dir.join(format!("{file_name}.{}.comply-state.json", kind.as_str())),
        ids_per_job: usize::try_from(args.max_ids_per_job).unwrap_or(ids::MAX_IDS_PER_JOB),
        poll_interval: args.poll_interval,
        max_wait: args.max_wait,
    };
    let label = format!("{} comply/{}", args.delivery.to.label(), kind.as_str());
    let mut capture_options = args.delivery.options(StreamConfig::default(), label);
    // A sink that cannot take the results (the delivery stream down) does not hold the task
    // past --max-wait: the state stays, the next run delivers them.
    capture_options.drain_timeout = Some(args.max_wait);
    let mut summary: Option<Summary> = None;
    let stopped = stop_rx.clone();
    let read = |tx: capture::queue::QueueTx, stats: Arc<Stats>| {
        let (client, options, summary) = (&client, &options, &mut summary);
        async move {
            *summary = Some(capture::comply::run(client, options, &tx, &stats, stopped).await?);
            Ok::<(), CaptureError>(())
        }
    };
    let result = capture::deliver(
        &capture_options,
        sink,
        Arc::clone(stats),
        stop_rx,
        abandon_rx,
        read,
    )
    .await;
    let not_delivered = stats.not_delivered();
    let summary = summary.unwrap_or_default();
    tracing::info!(
        r#type = kind.as_str(),
        ids = summary.ids,
        jobs = summary.jobs,
        results = ?summary.results,
        clean_users = summary.clean_users,
        delivered = Stats::get(&stats.delivered),
        not_delivered,
        "comply stopped"
    );
    let delivery = result.with_context(|| {
        format!(
            "comply --type {} (state in {})",
            kind.as_str(),
            options.state.display()
        )
    })?;
    undelivered(not_delivered, delivery)?;
    // Every result was delivered: the next run starts afresh.
    State::remove(&options.state)?;
    if fetched && let Err(e) = std::fs::remove_file(&ids_path) {
        tracing::warn!(path = %ids_path.display(), error = %e, "cannot remove the copy of the ids file");
    }
    Ok(())
}

/// SIGTERM and SIGINT, registered once so that no signal is missed between two waits.
struct Signals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let streams = match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(term), Ok(int)) => Some((term, int)),
                _ => None,
            };
            Signals { streams }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some((term, int)) = self.streams.as_mut() {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
