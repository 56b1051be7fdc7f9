//! `tweet-capture`: manages the X API v2 filtered stream's rules and captures the stream into
//! Firehose, a directory of gzip NDJSON files or stdout. The API base URL comes from
//! `X_API_URL`, the token from `X_BEARER_TOKEN` (or the file named by `X_BEARER_TOKEN_FILE`).
//! Logs are JSON on stderr; SIGTERM / SIGINT deliver what was read, close the sink and exit 0.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use capture::rules::{NewRule, RulesClient, sync_plan};
use capture::sink::kinesis::{KinesisSink, PartitionKey};
use capture::sink::{Destination, Sink, dir::DirSink, firehose::FirehoseSink};
use capture::stream::{StreamConfig, Token};
use capture::{CaptureOptions, metrics::Stats};
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "tweet-capture",
    version,
    about = "Capture the X API v2 filtered stream into Firehose, files or stdout"
)]
struct Cli {
    /// API base URL.
    #[arg(
        long,
        env = "X_API_URL",
        default_value = "https://api.x.com",
        global = true
    )]
    api_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List, add, delete or sync the stream's rules.
    Rules {
        #[command(subcommand)]
        action: RulesAction,
    },
    /// Read the stream and deliver every line to a destination.
    Stream(Box<StreamArgs>),
}

#[derive(Subcommand, Debug)]
enum RulesAction {
    /// Print the current rules (one JSON object per line).
    List,
    /// Add a rule.
    Add {
        rule: String,
        #[arg(long)]
        tag: Option<String>,
    },
    /// Delete rules by id.
    Delete {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Make the server's rules equal to a JSON file's: `[{"value": "...", "tag": "..."}]`.
    Sync {
        file: PathBuf,
        /// Print the plan and validate additions (`dry_run`) without changing anything.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Args, Debug)]
struct StreamArgs {
    /// firehose://NAME, kinesis://NAME, dir://PATH or - (stdout).
    #[arg(long)]
    to: Destination,
    /// Kinesis partition key: `author` (the author id) or `tweet` (the tweet id).
    #[arg(long, default_value = "author")]
    partition_key: PartitionKey,
    /// Ask for up to this many minutes of missed tweets on each connection (1-5; needs an
    /// access level that allows it).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
    backfill_minutes: Option<u8>,
    /// Reconnect when nothing, not even a keep-alive, arrived for this long.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    stall_timeout: Duration,
    /// The longest reconnect delay (a server-sent rate-limit reset is still honoured).
    #[arg(long, default_value = "320s", value_parser = humantime::parse_duration)]
    max_backoff: Duration,
    /// Tweet ids seen within this window are forwarded once (0s: off).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    dedup_window: Duration,
    /// Warn when fewer tweets than this arrive per minute for --volume-window (0: off).
    #[arg(long, default_value_t = 0)]
    min_tweets_per_minute: u64,
    /// Minutes of low volume before the warning.
    #[arg(long, default_value_t = 5)]
    volume_window: usize,
}

fn main() -> ExitCode {
    init_logs();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "tweet-capture failed");
            ExitCode::FAILURE
        }
    }
}

fn init_logs() {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .finish()
        .with(search_sink::logs::shield()) // no credential from the AWS SDK at any level
        .init();
}

fn token() -> Result<Token> {
    if let Ok(token) = std::env::var("X_BEARER_TOKEN")
        && !token.trim().is_empty()
    {
        return Ok(Token::new(token));
    }
    if let Some(path) = std::env::var_os("X_BEARER_TOKEN_FILE") {
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "X_BEARER_TOKEN_FILE {}: cannot read",
                PathBuf::from(&path).display()
            )
        })?;
        if !text.trim().is_empty() {
            return Ok(Token::new(text));
        }
    }
    bail!("set X_BEARER_TOKEN (or X_BEARER_TOKEN_FILE to a file holding it)")
}

fn http_client() -> Result<reqwest::Client> {
    // gzip is decoded by the reader itself, chunk by chunk; automatic decoding is off so the
    // framing sees the same bytes whatever features the workspace enables.
    search_sink::https::reqwest_client_builder()
        .context("setting up TLS")?
        .no_gzip()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("tweet-capture/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Rules { action } => rules(&cli.api_url, action).await,
        Command::Stream(args) => stream(&cli.api_url, *args).await,
    }
}

async fn rules(api_url: &str, action: RulesAction) -> Result<()> {
    let client = RulesClient::new(http_client()?, api_url, token()?);
    match action {
        RulesAction::List => {
            for rule in client.list().await? {
                println!("{}", serde_json::to_string(&rule)?);
            }
        }
        RulesAction::Add { rule, tag } => {
            let response = client.add(&[NewRule { value: rule, tag }], false).await?;
            report_change(&response)?;
        }
        RulesAction::Delete { ids } => {
            let response = client.delete(&ids, false).await?;
            report_change(&response)?;
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
            let plan = sync_plan(&client.list().await?, &wanted);
            for rule in &plan.delete {
                println!("{}", serde_json::json!({"delete": rule}));
            }
            for rule in &plan.add {
                println!("{}", serde_json::json!({"add": rule}));
            }
            if !plan.delete.is_empty() {
                let ids: Vec<String> = plan.delete.iter().map(|r| r.id.clone()).collect();
                report_change(&client.delete(&ids, dry_run).await?)?;
            }
            if !plan.add.is_empty() {
                report_change(&client.add(&plan.add, dry_run).await?)?;
            }
            tracing::info!(
                deleted = plan.delete.len(),
                added = plan.add.len(),
                dry_run,
                "rules synced"
            );
        }
    }
    Ok(())
}

/// Prints the server's answer; refused rules (invalid syntax, duplicates) make it fail.
fn report_change(response: &capture::rules::ChangeResponse) -> Result<()> {
    for rule in &response.data {
        println!("{}", serde_json::to_string(rule)?);
    }
    eprintln!("{}", serde_json::json!({"meta": response.meta}));
    if !response.errors.is_empty() {
        for error in &response.errors {
            eprintln!("{error}");
        }
        bail!("{} rule change(s) refused", response.errors.len());
    }
    Ok(())
}

async fn stream(api_url: &str, args: StreamArgs) -> Result<()> {
    let token = token()?;
    let client = http_client()?;
    let mut config = StreamConfig::new(api_url);
    config.backfill_minutes = args.backfill_minutes;
    config.stall_timeout = args.stall_timeout;
    config.max_backoff = args.max_backoff;
    config.dedup_window = args.dedup_window;
    let mut options = CaptureOptions::new(config, args.to.label());
    options.min_tweets_per_minute = args.min_tweets_per_minute;
    options.volume_window = args.volume_window;
    let sink = match &args.to {
        Destination::Stdout => Sink::Stdout(tokio::io::stdout()),
        Destination::Dir(path) => Sink::Dir(Box::new(DirSink::new(
            path,
            capture::sink::dir::ROTATE_BYTES,
            capture::sink::dir::ROTATE_AGE,
        )?)),
        Destination::Firehose(name) => Sink::Firehose(FirehoseSink::from_env(name.clone()).await),
        Destination::Kinesis(name) => {
            Sink::Kinesis(KinesisSink::from_env(name.clone(), args.partition_key).await)
        }
    };
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received: delivering what was read, then exiting");
        let _ = stop.send(true);
    });
    let stats = Arc::new(Stats::default());
    capture::capture(
        &client,
        &options,
        &token,
        sink,
        Arc::clone(&stats),
        shutdown,
    )
    .await?;
    tracing::info!(
        tweets = Stats::get(&stats.tweets),
        duplicates = Stats::get(&stats.duplicates),
        deletes = Stats::get(&stats.deletes),
        delivered = Stats::get(&stats.delivered),
        dropped = Stats::get(&stats.dropped),
        "capture stopped"
    );
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
