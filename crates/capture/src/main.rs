//! `tweet-capture`: manages the X API v2 filtered stream's rules, captures the stream or one
//! partition of a compliance stream, and runs batch compliance jobs, into Firehose, Kinesis, a
//! directory of gzip NDJSON files or stdout. The API base URL comes from
//! `X_API_URL`, the token from `X_BEARER_TOKEN` (or the file named by `X_BEARER_TOKEN_FILE`).
//! Logs go to stderr, as text on a terminal and JSON otherwise (`--log-format`). The first
//! SIGTERM / SIGINT stops reading and delivers what was read; a second one exits at once.
//! The exit code follows `capture::exit` (the README's table).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use capture::comply::jobs::{JobType, JobsClient};
use capture::comply::{ComplyOptions, Summary, ids, state::State};
use capture::exit::CommandOutcome;
use capture::message::classify_compliance;
use capture::queue::QueueConfig;
use capture::rules::{NewRule, RulesClient, sync_plan};
use capture::sink::kinesis::{KinesisSink, PartitionKey};
use capture::sink::{Destination, Sink, dir::DirSink, firehose::FirehoseSink};
use capture::stream::{ComplianceStream, HttpStream, StreamConfig, Token};
use capture::{CaptureError, CaptureOptions, Delivery, metrics::Stats};
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

// Every variable a command reads, and the exit codes, shown under each `--help`.
macro_rules! x_variables {
    () => {
        "Environment:
  X_BEARER_TOKEN         the app's bearer token (never logged)
  X_BEARER_TOKEN_FILE    a file holding the token, read when X_BEARER_TOKEN is unset or empty
  X_API_URL              the API base URL (as --api-url; default https://api.x.com)
  SSL_CERT_FILE, SSL_CERT_DIR
                         trust these CA certificates instead of the system's
  RUST_LOG               log filter (default info), e.g. RUST_LOG=debug
"
    };
}
macro_rules! stream_variables {
    () => {
        "  AWS_REGION, AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, ...
                         the AWS default chain, for firehose:// and kinesis:// (never logged)
  AWS_ENDPOINT_URL_FIREHOSE, AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL
                         another Firehose / Kinesis / S3 endpoint (a local one, e.g. moto)
  TMPDIR                 the default --spool-dir
"
    };
}
macro_rules! exit_codes {
    () => {
        "
Exit codes:
  0  done: every record read was delivered, or the rules command did all it was asked
  1  partly done: some records read were not delivered, or some rule changes were refused
  2  nothing usable: usage or configuration error (flag, token, variable, file,
     directory, AWS region or credentials)
  3  transient: X or the sink unreachable, timed out, throttled or failing (5xx); rerun
  4  refused for good: X's 400/401/403/404 or another 4xx, a refused rule, a missing
     delivery stream, access denied, an untrusted certificate; fix, then rerun"
    };
}
const ALL_HELP: &str = concat!(x_variables!(), stream_variables!(), exit_codes!());
const RULES_HELP: &str = concat!(x_variables!(), exit_codes!());

#[derive(Parser, Debug)]
#[command(
    name = "tweet-capture",
    version,
    about = "Capture the X API v2 filtered stream and compliance streams, and run batch compliance jobs, into Firehose, Kinesis, files or stdout",
    after_help = ALL_HELP
)]
struct Cli {
    /// X API base URL.
    #[arg(
        long,
        env = "X_API_URL",
        default_value = "https://api.x.com",
        global = true,
        value_name = "URL"
    )]
    api_url: String,
    /// Log format on stderr (auto: text on a terminal, json otherwise).
    #[arg(long, value_enum, default_value_t = LogFormat::Auto, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Auto,
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List, add, delete or sync the stream's rules.
    #[command(after_help = RULES_HELP)]
    Rules {
        #[command(subcommand)]
        action: RulesAction,
    },
    /// Read the stream and deliver every line to a destination.
    #[command(after_help = ALL_HELP)]
    Stream(Box<StreamArgs>),
    /// Read one partition of X's tweets or users compliance stream (Enterprise access) and
    /// deliver every event to a destination; run one for each of the 4 partitions.
    #[command(after_help = ALL_HELP)]
    ComplianceStream(Box<ComplianceStreamArgs>),
    /// Run a batch compliance job over a file of tweet or user ids (`tweet-indexer ids`
    /// prints one) and deliver its results to a destination.
    #[command(after_help = ALL_HELP)]
    Comply(Box<ComplyArgs>),
}

/// What a compliance stream or job is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ComplianceType {
    Tweets,
    Users,
}

impl ComplianceType {
    fn stream(self) -> ComplianceStream {
        match self {
            ComplianceType::Tweets => ComplianceStream::Tweets,
            ComplianceType::Users => ComplianceStream::Users,
        }
    }

    fn job(self) -> JobType {
        match self {
            ComplianceType::Tweets => JobType::Tweets,
            ComplianceType::Users => JobType::Users,
        }
    }
}

#[derive(Subcommand, Debug)]
enum RulesAction {
    /// Print the current rules, every page of them (one JSON object per line).
    #[command(after_help = RULES_HELP)]
    List,
    /// Add a rule.
    #[command(after_help = RULES_HELP)]
    Add {
        /// The rule, in X's rule syntax, e.g. 'cats has:media lang:en'.
        rule: String,
        /// A label of your choice, returned with every tweet the rule matches
        /// (`matching_rules[].tag`).
        #[arg(long)]
        tag: Option<String>,
    },
    /// Delete rules by id.
    #[command(after_help = RULES_HELP)]
    Delete {
        /// Rule ids, as `rules list` prints them.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Make the server's rules equal to a file's: additions first, deletions only once every
    /// addition was accepted (no rule is lost).
    #[command(after_help = RULES_HELP)]
    Sync {
        /// A JSON file: [{"value": "...", "tag": "..."}, ...] (tag optional).
        file: PathBuf,
        /// Print the plan and validate additions (`dry_run`) without changing anything.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Args, Debug)]
struct StreamArgs {
    #[command(flatten)]
    delivery: DeliveryArgs,
    #[command(flatten)]
    reconnect: ReconnectArgs,
    /// Warn when fewer tweets than this arrive per minute for --volume-window (0: off).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=100_000_000))]
    min_tweets_per_minute: u64,
    /// Minutes of low volume before the warning (1-1440).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=1440))]
    volume_window: u16,
}

#[derive(Args, Debug)]
struct ComplianceStreamArgs {
    /// Which compliance stream: `tweets` (delete, tweet_edit, withheld, drop, undrop) or
    /// `users` (user_delete, user_protect, user_suspend, user_withheld, scrub_geo, ... and
    /// their reversals).
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    kind: ComplianceType,
    /// The partition to read (1-4): X splits each compliance stream in 4, and only the 4
    /// connections together carry every event.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=4))]
    partition: u8,
    #[command(flatten)]
    delivery: DeliveryArgs,
    #[command(flatten)]
    reconnect: ReconnectArgs,
}

#[derive(Args, Debug)]
struct ComplyArgs {
    /// Which job: `tweets` (the ids are tweet ids) or `users` (user ids).
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    kind: ComplianceType,
    /// The ids, one a line (a local file, or s3://BUCKET/KEY).
    #[arg(long, value_name = "FILE")]
    ids: String,
    /// Where the state that lets a rerun resume the jobs is kept [default: beside the ids
    /// file; for s3:// ids, the system's temp directory].
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// The most ids one job takes (1-6000000; X takes 128 MB per upload): larger files are
    /// split into jobs run one after the other. The upload of one job is held in memory.
    #[arg(long, default_value_t = 5_000_000, value_parser = clap::value_parser!(u64).range(1..=6_000_000))]
    max_ids_per_job: u64,
    /// The first delay between two polls of a job (1s-10m); it doubles up to 4 times that
    /// while the job's status does not change.
    #[arg(long, default_value = "30s", value_parser = duration_in(1, 600))]
    poll_interval: Duration,
    /// How long one job may be waited for (processing, another active job of the type,
    /// retries) before the run stops (exit 3; the next run resumes it), and how long the
    /// destination may then take to accept the results (exit 1). 1m-7d.
    #[arg(long, default_value = "12h", value_parser = duration_in(60, 7 * 24 * 3600))]
    max_wait: Duration,
    #[command(flatten)]
    delivery: DeliveryArgs,
}

/// Where records go and how they wait on the way.
#[derive(Args, Debug)]
struct DeliveryArgs {
    /// firehose://NAME, kinesis://NAME, dir://PATH or - (stdout).
    #[arg(long)]
    to: Destination,
    /// Kinesis partition key: `author` (the author's or user's id) or `tweet` (the tweet
    /// id).
    #[arg(long, default_value = "author")]
    partition_key: PartitionKey,
    /// MiB of records held in memory between the reader and the sink (1-4096).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    buffer_mib: u32,
    /// Where records go once the memory is full, while the sink is slow or down (a directory
    /// of its own is made there and removed at the end) [default: the system's temp
    /// directory].
    #[arg(long, value_name = "DIR")]
    spool_dir: Option<PathBuf>,
    /// MiB the spool may hold (0: no spool; when memory and spool are full, reading waits).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(0..=16 * 1024 * 1024))]
    spool_mib: u64,
    /// After the first SIGTERM / SIGINT (or a fatal answer), how long the sink may take to
    /// deliver what was read (1s-1h); what is left then is counted as not delivered.
    #[arg(long, default_value = "50s", value_parser = duration_in(1, 3600))]
    shutdown_timeout: Duration,
}

/// How a streaming connection is kept up.
#[derive(Args, Debug)]
struct ReconnectArgs {
    /// Ask for up to this many minutes of missed records on each connection (1-5; needs an
    /// access level that allows it).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
    backfill_minutes: Option<u8>,
    /// Reconnect when nothing, not even a keep-alive, arrived for this long (20s-1h; X sends
    /// a keep-alive every 20 s).
    #[arg(long, default_value = "30s", value_parser = duration_in(20, 3600))]
    stall_timeout: Duration,
    /// The longest reconnect delay (1s-1h; a server-sent rate-limit reset is still
    /// honoured).
    #[arg(long, default_value = "320s", value_parser = duration_in(1, 3600))]
    max_backoff: Duration,
    /// Records seen within this window are forwarded once: tweets by id, compliance events
    /// by kind, subject and event_at (0s: off; at most 24h).
    #[arg(long, default_value = "10m", value_parser = duration_in(0, 24 * 3600))]
    dedup_window: Duration,
}

impl ReconnectArgs {
    fn config(&self) -> StreamConfig {
        StreamConfig {
            stall_timeout: self.stall_timeout,
            max_backoff: self.max_backoff,
            dedup_window: self.dedup_window,
            ..StreamConfig::default()
        }
    }
}

impl DeliveryArgs {
    /// The destination's sink, checked: a sink that cannot work stops here, before anything
    /// is read from X.
    async fn sink(&self) -> Result<Sink> {
        let mut sink = match &self.to {
            Destination::Stdout => Sink::Stdout(tokio::io::stdout()),
            Destination::Dir(path) => Sink::Dir(Box::new(DirSink::new(
                path,
                capture::sink::dir::ROTATE_BYTES,
                capture::sink::dir::ROTATE_AGE,
            )?)),
            Destination::Firehose(name) => {
                Sink::Firehose(FirehoseSink::from_env(name.clone()).await)
            }
            Destination::Kinesis(name) => {
                Sink::Kinesis(KinesisSink::from_env(name.clone(), self.partition_key).await)
            }
        };
        sink.check().await?;
        Ok(sink)
    }

    /// The run's options around `stream`, labelled `label` in the metrics.
    fn options(&self, stream: StreamConfig, label: String) -> CaptureOptions {
        let mut options = CaptureOptions::new(stream, label);
        options.shutdown_timeout = self.shutdown_timeout;
        options.queue = QueueConfig {
            memory_bytes: usize::try_from(u64::from(self.buffer_mib) * 1024 * 1024)
                .unwrap_or(usize::MAX),
            spool_root: Some(self.spool_dir.clone().unwrap_or_else(std::env::temp_dir)),
            spool_bytes: self.spool_mib.saturating_mul(1024 * 1024),
        };
        options
    }
}

/// A `humantime` duration between `min` and `max` seconds (clap reports the flag).
fn duration_in(min: u64, max: u64) -> impl Fn(&str) -> Result<Duration, String> + Clone {
    move |text: &str| {
        let d = humantime::parse_duration(text).map_err(|e| e.to_string())?;
        let (lo, hi) = (Duration::from_secs(min), Duration::from_secs(max));
        if d < lo || d > hi {
            return Err(format!(
                "must be between {} and {}",
                humantime::format_duration(lo),
                humantime::format_duration(hi)
            ));
        }
        Ok(d)
    }
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let json = match cli.log_format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    init_logs(json);
    let stats = Arc::new(Stats::default());
    let result = match api_url(&matches, &cli.api_url) {
        Ok(api_url) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the runtime")
            .and_then(|runtime| runtime.block_on(run(&api_url, cli.command, &stats))),
        Err(e) => Err(e),
    };
    let undelivered = stats.not_delivered();
    let error = result.as_ref().err();
    let outcome = CommandOutcome::of(undelivered, error.map(|e| e.as_ref() as _));
    let code = outcome.exit_code();
    if let Some(e) = error {
        let message = format!("{e:#}");
        if json {
            tracing::error!(error = %message, exit_code = code, "tweet-capture failed");
        } else {
            eprintln!("error: {message}");
        }
    }
    ExitCode::from(code)
}

fn init_logs(json: bool) {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // No credential from the AWS SDK at any level (search_sink::logs::shield).
    if json {
        logs.json()
            .finish()
            .with(search_sink::logs::shield())
            .init();
    } else {
        logs.with_target(false)
            .finish()
            .with(search_sink::logs::shield())
            .init();
    }
}

/// `--api-url` / `X_API_URL`, checked: an http(s) URL with a host. The message names the
/// variable when the value came from it.
fn api_url(matches: &clap::ArgMatches, value: &str) -> Result<String> {
    let name = match matches.value_source("api_url") {
        Some(ValueSource::EnvVariable) => "X_API_URL",
        _ => "--api-url",
    };
    let url = reqwest::Url::parse(value).map_err(|e| anyhow!("{name} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        bail!("{name} must be an http:// or https:// URL with a host, like https://api.x.com");
    }
    Ok(value.to_owned())
}

fn token() -> Result<Token> {
    if let Ok(token) = std::env::var("X_BEARER_TOKEN")
        && !token.trim().is_empty()
    {
        return Ok(Token::new(token));
    }
    if let Some(path) = std::env::var_os("X_BEARER_TOKEN_FILE") {
        let path = PathBuf::from(path);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("X_BEARER_TOKEN_FILE {}: cannot read", path.display()))?;
        if !text.trim().is_empty() {
            return Ok(Token::new(text));
        }
        bail!("X_BEARER_TOKEN_FILE {}: the file is empty", path.display());
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

async fn run(api_url: &str, command: Command, stats: &Arc<Stats>) -> Result<()> {
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
