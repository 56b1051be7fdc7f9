//! `tweet-indexer`: the command-line front door. Indexes local files, directories and S3
//! prefixes through the same pipeline as the Lambda, prints the bulk requests instead
//! (`index --dry-run`), prints or applies the index mapping (`mapping print|ensure`), imports
//! the dashboards (`dashboards import`) or draws them as one HTML page (`dashboards preview`),
//! removes partitions past retention (`retention apply`), moves a single index into time
//! partitions (`migrate --to month|day`), exports the stored ids for a batch compliance job
//! (`ids [--users]`) and re-applies the compliance registers (`compliance sweep`).
//! Settings come from flags or the same environment variables the Lambda reads.
//!
//! Exit codes ([`exit`] has the table and the one classification behind it): 0 everything
//! done; 1 some records invalid or some inputs unusable, the rest done; 2 usage or
//! configuration errors, or no usable input (nothing was done); 3 a transient failure,
//! worth rerunning as it is; 4 a permanent refusal (certificate, credentials, mapping
//! conflict, 4xx but 408/429); 130 / 143 interrupted by SIGINT / SIGTERM during `index`.

mod dashboards;
mod event;
mod exit;
mod inputs;
mod interrupt;
mod lifecycle;
mod ordered_output;
mod parallel;
mod preview;
mod report;

use std::io::Write;
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use pipeline::archive::Archive;
use pipeline::lifecycle::Settings;
use pipeline::{AuthorFilter, Indexer, ObjectSummary};
use search_sink::{Config, ConfigError, EnsureOutcome, SinkError};
use tokio::time::Instant;
use tweets::{Extractor, ExtractorOptions};

use crate::exit::{Problem, Status};
use crate::interrupt::Interrupt;
use crate::ordered_output::ObjectOutput;
use crate::report::{Ending, Outcome};

/// The largest `--timeout-secs`: a year (more would mean "never", and a deadline that far
/// would overflow the clock's range).
const MAX_TIMEOUT_SECS: u64 = 366 * 24 * 3600;
/// The largest `--jobs`.
const MAX_JOBS: u64 = 1024;
/// Quick attempts at a server that refuses connections before the run says so
/// ([`Config::unreachable_attempts`]): a blink of a restarting node is covered, a server that
/// is down is reported in about a second, and rerunning is the user's call.
const UNREACHABLE_ATTEMPTS: u32 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "tweet-indexer",
    version,
    about = "Index captured tweets into OpenSearch / Elasticsearch"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Index files, directories (recursively) or s3://bucket/prefix; `-` reads stdin.
    Index(Box<IndexArgs>),
    /// The index body (settings + mappings) created for the documents.
    Mapping {
        #[command(subcommand)]
        action: MappingAction,
    },
    /// Kibana / OpenSearch Dashboards saved objects (index pattern, visualizations, dashboard).
    Dashboards {
        #[command(subcommand)]
        action: DashboardsAction,
    },
    /// Build a Lambda test event from a captured stream (for `cargo lambda invoke --data-file`).
    Event {
        #[command(subcommand)]
        kind: EventKind,
    },
    /// Print every stored tweet id (--users: every author id) that is not deleted, one per
    /// line, in ascending order: the input of `tweet-capture comply --ids FILE`.
    Ids(Box<IdsArgs>),
    /// What X requires of stored copies (deleted, withheld, protected, suspended, edited, ...).
    Compliance {
        #[command(subcommand)]
        action: ComplianceAction,
    },
    /// Time partitions past RETENTION (for servers without ISM / ILM: run it daily).
    Retention {
        #[command(subcommand)]
        action: RetentionAction,
    },
    /// Move the single index into time partitions behind an alias of the same name: copy,
    /// verify the counts, then swap in one atomic call. Pause the writers first; safe to
    /// interrupt and rerun.
    Migrate(Box<MigrateArgs>),
}

#[derive(Subcommand, Debug)]
enum RetentionAction {
    /// Delete the partitions whose whole period ends before now - RETENTION (judged by their
    /// names: a backfilled old partition goes on time).
    Apply(Box<RetentionArgs>),
}

#[derive(Args, Debug)]
struct RetentionArgs {
    /// Print the partitions that would be deleted, and delete nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// A partitioning to migrate to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PartitionTo {
    Month,
    Day,
}

#[derive(Args, Debug)]
struct MigrateArgs {
    /// The partitioning: one index per month (`{index}-YYYY.MM`) or per day.
    #[arg(long, value_enum)]
    to: PartitionTo,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Subcommand, Debug)]
enum ComplianceAction {
    /// Re-apply every active compliance register to the index (and make tombstones of the
    /// tweets of users deleted more than 30 days ago), then re-check every document that
    /// carries compliance fields; prints what it changed. Safe to run at any time; run daily
    /// after `tweet-capture comply`.
    Sweep(Box<ReadArgs>),
}

#[derive(Args, Debug)]
struct IdsArgs {
    /// Author ids instead of tweet ids.
    #[arg(long)]
    users: bool,
    #[command(flatten)]
    read: ReadArgs,
}

/// A command that reads (and fixes) the whole index: its time limit and the server (its
/// writes, the sweep's fixes, use the default bulk settings and no dead-letter store: a fix the
/// server refuses fails the run).
#[derive(Args, Debug)]
struct ReadArgs {
    /// Give up after this many seconds, 1 to a year.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    timeout_secs: u64,
    #[command(flatten)]
    server: ConnectionArgs,
}

#[derive(Subcommand, Debug)]
enum EventKind {
    /// A Kinesis Data Streams event: one record per tweet, or KPL aggregates (`--aggregate N`).
    Kinesis(event::KinesisArgs),
}

#[derive(Subcommand, Debug)]
enum DashboardsAction {
    /// POST them to the saved-objects import API (overwriting earlier versions).
    Import(Box<dashboards::ImportArgs>),
    /// Run the dashboard's aggregations against the index and write them as one
    /// self-contained HTML page (map, sentiment pie, top emoji, hashtags, tweets over time).
    Preview(Box<PreviewCommand>),
}

#[derive(Args, Debug)]
struct PreviewCommand {
    #[command(flatten)]
    preview: preview::PreviewArgs,
    #[command(flatten)]
    server: ConnectionArgs,
}

/// The search server alone, for commands that only read (no bulk or dead-letter settings);
/// each flag falls back to the Lambda's environment variable.
#[derive(Args, Debug)]
struct ConnectionArgs {
    /// Search endpoint URL.
    #[arg(long, env = "ES_ENDPOINT")]
    endpoint: Option<String>,
    /// Index name (or alias).
    #[arg(long, env = "ES_INDEX", default_value = "twitter")]
    index: String,
    #[command(flatten)]
    auth: AuthArgs,
}

impl ConnectionArgs {
    /// The value of a connection or auth variable, from its flag; `None` for other names.
    fn lookup(&self, name: &str) -> Option<Option<String>> {
        Some(match name {
            "ES_ENDPOINT" => self.endpoint.clone(),
            "ES_INDEX" => Some(self.index.clone()),
            other => return self.auth.lookup(other),
        })
    }

    fn config(&self, matches: &ArgMatches) -> Result<Config, Failure> {
        Config::from_lookup(|name| match name {
            // Writing settings do not apply: their variables are not read.
            "BULK_MAX_BYTES" | "BULK_CONCURRENCY" | "BULK_GZIP" | "DEAD_LETTER_BUCKET"
            | "DEAD_LETTER_PREFIX" | "DEAD_LETTER_FILE" => None,
            other => self
                .lookup(other)
                .unwrap_or_else(|| std::env::var(other).ok()),
        })
        .map_err(|e| Failure::usage(config_error(e, innermost(matches))))
    }
}

#[derive(Subcommand, Debug)]
enum MappingAction {
    /// Print mappings/twitter.json (as embedded in this binary).
    Print,
    /// Create the index with it, or check and extend an existing index's mapping.
    Ensure(Box<ServerArgs>),
}

#[derive(Args, Debug)]
struct IndexArgs {
    /// Files, directories, s3://bucket/prefix, or - for stdin.
    #[arg(required = true)]
    inputs: Vec<String>,
    /// Write the bulk NDJSON to stdout instead of sending it (no server needed).
    #[arg(long)]
    dry_run: bool,
    /// Give up on one object after this many seconds, 1 to a year (the Lambda uses its
    /// remaining time).
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    timeout_secs: u64,
    /// Objects in flight at once (default: the number of cores; 1: one after another). When
    /// indexing, at most BULK_CONCURRENCY objects, which share its bulk requests.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_JOBS))]
    jobs: Option<u64>,
    /// Index only tweets by these user ids (id,id,...); others are counted as filtered.
    ///
    /// [env: FOLLOW_USER_IDS]
    #[arg(long)]
    follow_user_ids: Option<String>,
    /// DynamoDB table that also keeps every tweet the index accepts (its raw record), and
    /// follows its deletes and compliance events.
    #[arg(long, env = "ARCHIVE_TABLE")]
    archive_table: Option<String>,
    /// Archive items expire this long after their tweet (e.g. 2y, 400d; off by default).
    #[arg(long, env = "ARCHIVE_RETENTION")]
    archive_retention: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

/// The search-server settings: the connection and what writing takes; each flag falls back to
/// the Lambda's environment variable.
#[derive(Args, Debug)]
struct ServerArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Flush a bulk request at this many bytes (default 5 MiB).
    #[arg(long, env = "BULK_MAX_BYTES")]
    bulk_max_bytes: Option<String>,
    /// Bulk requests in flight at once (default 2).
    #[arg(long, env = "BULK_CONCURRENCY")]
    bulk_concurrency: Option<String>,
    /// Gzip bulk request bodies (true/false, default true).
    #[arg(long, env = "BULK_GZIP")]
    bulk_gzip: Option<String>,
    /// S3 bucket for documents that cannot be indexed.
    #[arg(long, env = "DEAD_LETTER_BUCKET")]
    dead_letter_bucket: Option<String>,
    #[arg(long, env = "DEAD_LETTER_PREFIX")]
    dead_letter_prefix: Option<String>,
    /// Local NDJSON file for documents that cannot be indexed (when no bucket is given).
    #[arg(long, env = "DEAD_LETTER_FILE")]
    dead_letter_file: Option<String>,
    /// One index (none, the default) or one per month / day of the tweets' ids, behind an
    /// alias named --index.
    #[arg(long, env = "INDEX_PARTITION")]
    index_partition: Option<String>,
    /// Keep partitions this long (e.g. 13mo, 400d; off by default).
    #[arg(long, env = "RETENTION")]
    retention: Option<String>,
    /// Primary shards of each index created (default: the server's).
    #[arg(long, env = "INDEX_SHARDS")]
    index_shards: Option<String>,
    /// Replicas of each index created (default: the server's).
    #[arg(long, env = "INDEX_REPLICAS")]
    index_replicas: Option<String>,
    /// refresh_interval of each index created (e.g. 30s; default: the server's).
    #[arg(long, env = "INDEX_REFRESH_INTERVAL")]
    index_refresh_interval: Option<String>,
}

/// How requests are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthKind {
    /// AWS Signature V4 (Amazon OpenSearch Service and Serverless).
    Sigv4,
    /// HTTP basic auth (`--username`, `--password`).
    Basic,
    /// Elasticsearch API key (`--api-key` or `--api-key-file`).
    Apikey,
    /// No authentication.
    None,
}

impl AuthKind {
    /// The value `ES_AUTH` takes for it.
    fn as_setting(self) -> &'static str {
        match self {
            AuthKind::Sigv4 => "sigv4",
            AuthKind::Basic => "basic",
            AuthKind::Apikey => "apikey",
            AuthKind::None => "none",
        }
    }
}

/// How requests are authenticated; shared by every command that talks to a server. `Debug`
/// prints `***` for the password and the API key.
#[derive(Args)]
pub struct AuthArgs {
    /// Default: sigv4 for *.amazonaws.com, basic with a username, apikey with an API key, else
    /// none.
    ///
    /// [env: ES_AUTH]
    // Not clap's `env`: clap would report a bad ES_AUTH as a bad `--auth`. The variable is
    // read in `lookup` and checked by the sink's config, which names it.
    #[arg(long, value_enum, ignore_case = true)]
    auth: Option<AuthKind>,
    /// SigV4 service: es (OpenSearch Service and its Dashboards) or aoss (Serverless).
    #[arg(long, env = "ES_SIGV4_SERVICE")]
    sigv4_service: Option<String>,
    #[arg(long, env = "ES_USERNAME")]
    username: Option<String>,
    #[arg(long, env = "ES_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Elasticsearch API key: the `encoded` value, or id:api_key.
    #[arg(long, env = "ES_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// A file holding the API key (keeps it out of the command line and the environment).
    #[arg(long, env = "ES_API_KEY_FILE")]
    api_key_file: Option<String>,
    /// Send credentials over http:// to a host that is not loopback (in clear text).
    #[arg(long, env = "ES_ALLOW_INSECURE_HTTP", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    allow_insecure_http: bool,
}

impl std::fmt::Debug for AuthArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| "***");
        f.debug_struct("AuthArgs")
            .field("auth", &self.auth)
            .field("sigv4_service", &self.sigv4_service)
            .field("username", &self.username)
            .field("password", &redacted(&self.password))
            .field("api_key", &redacted(&self.api_key))
            .field("api_key_file", &self.api_key_file)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish()
    }
}

impl AuthArgs {
    /// The value of one of the auth variables, from its flag; `None` for other names.
    pub fn lookup(&self, name: &str) -> Option<Option<String>> {
        Some(match name {
            "ES_AUTH" => self
                .auth
                .map(|a| a.as_setting().to_owned())
                .or_else(|| std::env::var("ES_AUTH").ok()),
            "ES_SIGV4_SERVICE" => self.sigv4_service.clone(),
            "ES_USERNAME" => self.username.clone(),
            "ES_PASSWORD" => self.password.clone(),
            "ES_API_KEY" => self.api_key.clone(),
            "ES_API_KEY_FILE" => self.api_key_file.clone(),
            "ES_ALLOW_INSECURE_HTTP" => Some(self.allow_insecure_http.to_string()),
            _ => return None,
        })
    }
}

/// Each setting's environment variable, the id of its clap argument, and its flag.
const SETTINGS: [(&str, &str, &str); 21] = [
    (
        "ARCHIVE_RETENTION",
        "archive_retention",
        "--archive-retention",
    ),
    ("INDEX_PARTITION", "index_partition", "--index-partition"),
    ("RETENTION", "retention", "--retention"),
    ("INDEX_SHARDS", "index_shards", "--index-shards"),
    ("INDEX_REPLICAS", "index_replicas", "--index-replicas"),
    (
        "INDEX_REFRESH_INTERVAL",
        "index_refresh_interval",
        "--index-refresh-interval",
    ),
    ("ES_ENDPOINT", "endpoint", "--endpoint"),
    ("ES_INDEX", "index", "--index"),
    ("ES_AUTH", "auth", "--auth"),
    ("ES_SIGV4_SERVICE", "sigv4_service", "--sigv4-service"),
    ("ES_USERNAME", "username", "--username"),
    ("ES_PASSWORD", "password", "--password"),
    ("ES_API_KEY", "api_key", "--api-key"),
    ("ES_API_KEY_FILE", "api_key_file", "--api-key-file"),
    (
        "ES_ALLOW_INSECURE_HTTP",
        "allow_insecure_http",
        "--allow-insecure-http",
    ),
    ("BULK_MAX_BYTES", "bulk_max_bytes", "--bulk-max-bytes"),
    ("BULK_CONCURRENCY", "bulk_concurrency", "--bulk-concurrency"),
    ("BULK_GZIP", "bulk_gzip", "--bulk-gzip"),
    (
        "DEAD_LETTER_BUCKET",
        "dead_letter_bucket",
        "--dead-letter-bucket",
    ),
    (
        "DEAD_LETTER_PREFIX",
        "dead_letter_prefix",
        "--dead-letter-prefix",
    ),
    ("DEAD_LETTER_FILE", "dead_letter_file", "--dead-letter-file"),
];

/// A configuration error worded for the command line: the flag when the faulty value came
/// from it, the variable when it came from the environment, both when it is missing.
fn config_error(error: ConfigError, matches: &ArgMatches) -> anyhow::Error {
    setting_error(error.variable, &error.problem, matches).unwrap_or_else(|| error.into())
}

/// A lifecycle setting's error as a usage failure, named by its flag or variable.
fn setting_failure(e: &pipeline::lifecycle::SettingError, matches: &ArgMatches) -> Failure {
    let error = setting_error(e.variable, &e.problem, innermost(matches))
        .unwrap_or_else(|| anyhow::anyhow!("{e}"));
    Failure::usage(error)
}

fn setting_error(variable: &str, problem: &str, matches: &ArgMatches) -> Option<anyhow::Error> {
    let (variable, id, flag) = SETTINGS.iter().find(|(v, _, _)| *v == variable)?;
    Some(anyhow::anyhow!(
        "{}: {problem}",
        named(matches, id, flag, variable)
    ))
}

/// How to name a setting in a message: `--flag` when the value was given as a flag,
/// `VARIABLE (environment)` when it came from there, else `--flag (or VARIABLE)`.
fn named(matches: &ArgMatches, id: &str, flag: &str, variable: &str) -> String {
    // `try_get_raw` first: `value_source` insists (in debug builds) that the id exists.
    let source = match matches.try_get_raw(id) {
        Ok(Some(_)) => matches.value_source(id),
        _ => None,
    };
    let in_environment = std::env::var_os(variable).is_some_and(|v| !v.is_empty());
    match source {
        Some(ValueSource::CommandLine) => flag.to_owned(),
        Some(ValueSource::EnvVariable) => format!("{variable} (environment)"),
        _ if in_environment => format!("{variable} (environment)"),
        _ => format!("{flag} (or {variable})"),
    }
}

/// The innermost subcommand's matches (where the flags of `index`, `mapping ensure`, ... are).
fn innermost(matches: &ArgMatches) -> &ArgMatches {
    match matches.subcommand() {
        Some((_, sub)) => innermost(sub),
        None => matches,
    }
}

impl ServerArgs {
    fn config(&self, matches: &ArgMatches) -> Result<Config, Failure> {
        let config = Config::from_lookup(|name| match name {
            "BULK_MAX_BYTES" => self.bulk_max_bytes.clone(),
            "BULK_CONCURRENCY" => self.bulk_concurrency.clone(),
            "BULK_GZIP" => self.bulk_gzip.clone(),
            "DEAD_LETTER_BUCKET" => self.dead_letter_bucket.clone(),
            "DEAD_LETTER_PREFIX" => self.dead_letter_prefix.clone(),
            "DEAD_LETTER_FILE" => self.dead_letter_file.clone(),
            other => self
                .connection
                .lookup(other)
                .unwrap_or_else(|| std::env::var(other).ok()),
        })
        .map_err(|e| Failure::usage(config_error(e, innermost(matches))))?;
        Ok(config)
    }

    /// Partitioning, retention and sizing for writing, from the flags or their variables.
    fn lifecycle(&self, matches: &ArgMatches) -> Result<Settings, Failure> {
        let settings = self.lifecycle_settings(matches)?;
        settings
            .check_for_writes()
            .map_err(|e| setting_failure(&e, matches))?;
        Ok(settings)
    }

    /// Like [`ServerArgs::lifecycle`], each setting checked alone (`retention apply`,
    /// `migrate`, whose partitioning comes from elsewhere).
    fn lifecycle_settings(&self, matches: &ArgMatches) -> Result<Settings, Failure> {
        use pipeline::lifecycle as l;
        Settings::from_lookup(|name| match name {
            l::INDEX_PARTITION => self.index_partition.clone(),
            l::RETENTION => self.retention.clone(),
            l::INDEX_SHARDS => self.index_shards.clone(),
            l::INDEX_REPLICAS => self.index_replicas.clone(),
            l::INDEX_REFRESH_INTERVAL => self.index_refresh_interval.clone(),
            _ => None,
        })
        .map_err(|e| setting_failure(&e, matches))
    }

    /// A connected indexer with these settings (quick attempts at an unreachable server).
    async fn indexer(&self, matches: &ArgMatches, settings: Settings) -> Result<Indexer, Failure> {
        let mut config = self.config(matches)?;
        config.unreachable_attempts = Some(UNREACHABLE_ATTEMPTS);
        Ok(Indexer::connect(config)
            .await
            .map_err(|e| Failure::sink(e, "connecting"))?
            .with_lifecycle(settings))
    }
}

impl IndexArgs {
    /// `--follow-user-ids`, else `FOLLOW_USER_IDS`; a bad id is reported under the name it
    /// was given by.
    fn author_filter(&self, matches: &ArgMatches) -> Result<AuthorFilter, Failure> {
        let list = match &self.follow_user_ids {
            Some(list) => list.clone(),
            None => std::env::var(pipeline::filter::FOLLOW_USER_IDS).unwrap_or_default(),
        };
        AuthorFilter::parse(&list).map_err(|e| {
            let name = named(
                innermost(matches),
                "follow_user_ids",
                "--follow-user-ids",
                pipeline::filter::FOLLOW_USER_IDS,
            );
            Failure::usage(anyhow::anyhow!(
                "{name}: {:?} is not a numeric user id (expected id,id,...)",
                e.value
            ))
        })
    }

    fn jobs(&self) -> NonZeroUsize {
        self.jobs
            .and_then(|j| usize::try_from(j).ok())
            .and_then(NonZeroUsize::new)
            .unwrap_or_else(parallel::default_jobs)
    }
}

/// `timeout` from now; a year from now at most (clap keeps `--timeout-secs` below that, and
/// an `Instant` cannot hold every `Duration`).
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(MAX_TIMEOUT_SECS)))
        .unwrap_or(now)
}

/// A run that stopped before its end: why, and its problem for the exit code.
#[derive(Debug)]
struct Failure {
    problem: Problem,
    error: anyhow::Error,
}

impl Failure {
    fn usage(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            problem: Problem::Usage,
            error: error.into(),
        }
    }

    fn transient(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            problem: Problem::Transient,
            error: error.into(),
        }
    }

    /// A sink error, classified by [`exit::sink_problem`], with what was being done.
    fn sink(error: SinkError, doing: &str) -> Self {
        Failure {
            problem: exit::sink_problem(&error),
            error: anyhow::Error::from(error).context(doing.to_owned()),
        }
    }

    /// Nothing was done: unusable inputs count as a usage error.
    fn status(&self) -> Status {
        exit::status(self.problem, true)
    }
}

/// How a run ended.
enum End {
    /// Every object was tried: the worst of its problems.
    Status(Status),
    /// A signal stopped it (its number).
    Signal(i32),
}

impl End {
    fn code(&self) -> u8 {
        match self {
            End::Status(status) => status.code(),
            End::Signal(signal) => exit::signal_code(*signal),
        }
    }
}

fn main() -> ExitCode {
    report::init_logging();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    pipeline::memory::keep_large_buffers_out_of_the_heap();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(Status::Transient.code());
        }
    };
    let code = match runtime.block_on(run(cli, &matches)) {
        Ok(end) => end.code(),
        Err(failure) => {
            report::say(&format!("error: {}", report::error_text(&failure.error)));
            failure.status().code()
        }
    };
    // Do not wait for blocking reads that can never finish (stdin after a timeout).
    runtime.shutdown_background();
    ExitCode::from(code)
}

async fn run(cli: Cli, matches: &ArgMatches) -> Result<End, Failure> {
    match cli.command {
        Command::Mapping {
            action: MappingAction::Print,
        } => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(tweets::MAPPING_JSON.as_bytes())
                .map_err(Failure::transient)?;
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
                .map_err(|e| Failure::sink(e, "preparing the index"))?;
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
            Err(error) => Err(Failure {
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
                .map_err(|e| Failure::sink(e, "connecting"))?;
            let out = &args.preview.out;
            let figures = preview::write(&client, &args.server.index, out)
                .await
                .map_err(|error| Failure {
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
            .map_err(Failure::usage),
        Command::Retention {
            action: RetentionAction::Apply(args),
        } => lifecycle::retention(*args, matches).await,
        Command::Migrate(args) => lifecycle::migrate(*args, matches).await,
        Command::Index(args) if args.dry_run => dry_run(*args, matches).await,
        Command::Index(args) => index(*args, matches).await,
        Command::Ids(args) => ids(*args, matches).await,
        Command::Compliance {
            action: ComplianceAction::Sweep(args),
        } => sweep(*args, matches).await,
    }
}

/// Connects for a command that reads the index: the client, and its deadline.
async fn reader(args: &ReadArgs, matches: &ArgMatches) -> Result<(Indexer, Instant), Failure> {
    let mut config = args.server.config(matches)?;
    config.unreachable_attempts = Some(UNREACHABLE_ATTEMPTS);
    let indexer = Indexer::connect(config)
        .await
        .map_err(|e| Failure::sink(e, "connecting"))?;
    Ok((
        indexer,
        deadline_after(Duration::from_secs(args.timeout_secs)),
    ))
}

/// `ids [--users]`: the ids on stdout, page after page (bounded memory), a count on stderr.
async fn ids(args: IdsArgs, matches: &ArgMatches) -> Result<End, Failure> {
    let (indexer, deadline) = reader(&args.read, matches).await?;
    let mut pages = indexer.stored_ids(args.users);
    let mut count = 0u64;
    let mut text = String::new();
    while let Some(page) = pages
        .next(indexer.client(), deadline)
        .await
        .map_err(|e| Failure::sink(e, "reading the ids"))?
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
            .map_err(Failure::transient)?;
    }
    tokio::task::block_in_place(|| std::io::stdout().lock().flush())
        .context("writing the ids to stdout")
        .map_err(Failure::transient)?;
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
async fn sweep(args: ReadArgs, matches: &ArgMatches) -> Result<End, Failure> {
    let (indexer, deadline) = reader(&args, matches).await?;
    let report = indexer
        .compliance_sweep(deadline)
        .await
        .map_err(|e| Failure::sink(e, "sweeping"))?;
    report::say(&swept(indexer.compliance_index(), &report));
    Ok(End::Status(Status::Ok))
}

/// What a sweep did, in words.
fn swept(compliance_index: &str, report: &pipeline::SweepReport) -> String {
    let fixed = &report.fixed;
    format!(
        "sweep: {} in {compliance_index}; {} checked, {} changed, {} made tombstones, {} overtaken by a newer copy",
        report::plural(report.registers, "active register", "active registers"),
        report::plural(fixed.checked, "document", "documents"),
        fixed.changed,
        fixed.tombstones,
        fixed.superseded,
    )
}

/// What `mapping ensure` found or did, in words.
fn ensured(index: &str, outcome: &EnsureOutcome) -> String {
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

/// Expands the inputs and reports the ones that cannot be used. With none left nothing is
/// sent, and the run fails with the worst of their problems (a mistyped path alone is a
/// usage error, S3 out of reach a transient failure); otherwise the rest is processed and
/// their problems count in the run's exit code.
async fn checked_inputs(
    arguments: &[String],
) -> Result<(Vec<inputs::Input>, Vec<Problem>), Failure> {
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
        return Err(Failure {
            problem: worst,
            error: anyhow::anyhow!("none of the inputs can be used: nothing was done"),
        });
    }
    Ok((expanded.inputs, problems))
}

/// What every object of a dry run shares.
struct DryRunJob {
    extractor: Arc<Extractor>,
    follow: AuthorFilter,
    index: String,
    partition: tweets::partition::Partition,
    retention: Option<tweets::partition::Retention>,
    timeout: Duration,
}

/// One object's dry run: its outcome and the problems it gives the run.
struct DryRunDone {
    outcome: Outcome,
    problems: Vec<Problem>,
}

async fn dry_run(args: IndexArgs, matches: &ArgMatches) -> Result<End, Failure> {
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
                .map_err(Failure::transient)??;
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
async fn promote(output: &ObjectOutput) -> Result<(), Failure> {
    let output = output.clone();
    let _ = tokio::task::spawn_blocking(move || output.promote())
        .await
        .context("dry-run output thread failed")
        .map_err(Failure::transient)?;
    Ok(())
}

/// Writes one object's bulk lines to stdout (`output` None: holding stdout, one object at a
/// time) or to its place in the ordered output.
async fn dry_run_object(
    job: Arc<DryRunJob>,
    input: inputs::Input,
    output: Option<ObjectOutput>,
) -> Result<DryRunDone, Failure> {
    let deadline = deadline_after(job.timeout);
    let failed = |error: String, problem: Problem| {
        report::say(&format!("error: {input}: {error}"));
        DryRunDone {
            outcome: Outcome {
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
    .map_err(Failure::transient)?;
    Ok(match result {
        Ok(summary) => DryRunDone {
            problems: if summary.has_failures() {
                vec![Problem::BadRecords]
            } else {
                Vec::new()
            },
            outcome: Outcome {
                summary,
                ending: Ending::Done,
            },
        },
        Err(e) => failed(report::error_text(&e), Problem::Transient),
    })
}

async fn index(args: IndexArgs, matches: &ArgMatches) -> Result<End, Failure> {
    // From here on a signal ends the run with a summary instead of killing the process.
    let interrupt = Interrupt::install()
        .context("installing the signal handlers")
        .map_err(Failure::transient)?;
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
        let archive = pipeline::archive::ArchiveSettings::from_lookup(|name| match name {
            pipeline::archive::ARCHIVE_TABLE => args.archive_table.clone(),
            pipeline::archive::ARCHIVE_RETENTION => args.archive_retention.clone(),
            _ => None,
        })
        .map_err(|e| setting_failure(&e, matches))?;
        let indexer = Indexer::connect(config)
            .await
            .map_err(|e| Failure::sink(e, "connecting"))?
            .with_author_filter(follow)
            .with_lifecycle(settings);
        let indexer = match archive {
            Some(settings) => indexer.with_archive(Archive::from_env(settings).await),
            None => indexer,
        };
        // `--timeout-secs` bounds preparing the index too (an unreachable server fails
        // within it), never longer than the sink's own bound.
        let ensure_deadline = deadline_after(timeout.min(search_sink::DEFAULT_ENSURE_TIME));
        indexer
            .ensure_index_before(ensure_deadline)
            .await
            .map_err(|e| Failure::sink(e, "preparing the index"))?;
        Ok::<_, Failure>((inputs, problems, indexer, objects_at_once))
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
                    (Outcome { summary, ending }, vec![Problem::Transient])
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
const SIGINT: i32 = 2;

/// Indexes one object through its own sink: its outcome and the problems it gives the run.
async fn index_object(
    indexer: Indexer,
    input: inputs::Input,
    timeout: Duration,
    progress: indicatif::ProgressBar,
    interrupt: Interrupt,
) -> (Outcome, Vec<Problem>) {
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
    (Outcome { summary, ending }, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Parses like `main` does; the environment is not read for these names unless given.
    fn parse(args: &[&str]) -> (Cli, ArgMatches) {
        let matches = Cli::command()
            .try_get_matches_from(std::iter::once("tweet-indexer").chain(args.iter().copied()))
            .unwrap();
        (Cli::from_arg_matches(&matches).unwrap(), matches)
    }

    fn server_config(args: &[&str]) -> Result<Config, Failure> {
        let (cli, matches) = parse(args);
        let Command::Index(index) = cli.command else {
            panic!("expected index");
        };
        index.server.config(&matches)
    }

    #[test]
    fn flags_override_environment_names() {
        let config = server_config(&[
            "index",
            "--endpoint",
            "http://127.0.0.1:9200",
            "--auth",
            "basic",
            "--username",
            "u",
            "--password",
            "p",
            "--bulk-max-bytes",
            "1000",
            "--bulk-gzip",
            "false",
            "--bulk-concurrency",
            "4",
            "--index",
            "tweets-test",
            "f.ndjson",
        ])
        .unwrap();
        assert_eq!(config.endpoint, "http://127.0.0.1:9200");
        assert_eq!(config.index, "tweets-test");
        assert_eq!(config.bulk_max_bytes, 1000);
        assert_eq!(config.bulk_concurrency, 4);
        assert!(!config.gzip);
        assert!(
            matches!(config.auth, search_sink::Auth::Basic { ref username, .. } if username == "u")
        );
    }

    #[test]
    fn a_bad_flag_value_is_named_by_its_flag_and_is_a_usage_error() {
        // (flag, value, expected start of the message)
        let table = [
            (
                "--bulk-max-bytes",
                "lots",
                "--bulk-max-bytes: \"lots\" is not a positive",
            ),
            (
                "--bulk-concurrency",
                "0",
                "--bulk-concurrency: \"0\" is not a positive",
            ),
            (
                "--bulk-gzip",
                "maybe",
                "--bulk-gzip: \"maybe\" is not true or false",
            ),
            (
                "--index",
                "Upper",
                "--index: \"Upper\" is not a valid index name",
            ),
            (
                "--endpoint",
                "ftp://x",
                "--endpoint: \"ftp://x\" is not an http(s) URL",
            ),
        ];
        for (flag, value, expected) in table {
            let mut args = vec!["index", "--auth", "none"];
            if flag != "--endpoint" {
                args.extend(["--endpoint", "http://127.0.0.1:9200"]);
            }
            args.extend([flag, value, "f.ndjson"]);
            let failure = server_config(&args).unwrap_err();
            assert_eq!(failure.status(), Status::Usage, "{flag}");
            let message = failure.error.to_string();
            assert!(message.starts_with(expected), "{flag}: {message}");
            assert!(
                !message.contains("BULK_") && !message.contains("ES_"),
                "{message}"
            );
        }
        // Basic auth without a username: the missing setting is named both ways.
        let failure = server_config(&[
            "index",
            "--endpoint",
            "http://127.0.0.1:9200",
            "--auth",
            "basic",
            "f.ndjson",
        ])
        .unwrap_err();
        let e = failure.error;
        assert!(
            e.to_string().starts_with("--username (or ES_USERNAME): "),
            "{e}"
        );
    }

    #[test]
    fn api_keys_the_clear_text_refusal_and_its_override_from_flags() {
        let key = "QjEta2V5LWlkOmFwaWtleS1CMS1uZXZlci1pbi1hbnktbG9n";
        let config = server_config(&[
            "index",
            "--endpoint",
            "https://es.example.com",
            "--api-key",
            key,
            "f",
        ])
        .unwrap();
        assert!(matches!(config.auth, search_sink::Auth::ApiKey { key: ref k } if k == key));
        let remote = ["index", "--endpoint", "http://es.example.com:9200"];
        let with = |extra: &[&'static str]| {
            let mut args = remote.to_vec();
            args.extend_from_slice(extra);
            args.push("f");
            server_config(&args)
        };
        let failure = with(&["--auth", "apikey", "--api-key", key]).unwrap_err();
        assert_eq!(failure.status(), Status::Usage);
        let message = failure.error.to_string();
        assert!(
            message.starts_with("--endpoint: \"http://es.example.com:9200\" is plain http"),
            "{message}"
        );
        assert!(!message.contains(key), "{message}");
        let config = with(&["--api-key", key, "--allow-insecure-http"]).unwrap();
        assert!(config.allow_insecure_http);
        // Debug (e.g. of the parsed command line) never shows the password or the key.
        let (cli, _) = parse(&[
            "index",
            "--username",
            "u",
            "--password",
            "pw-flag",
            "--api-key",
            key,
            "f",
        ]);
        let shown = format!("{cli:?}");
        assert!(shown.contains("***"), "{shown}");
        assert!(
            !shown.contains("pw-flag") && !shown.contains(key),
            "{shown}"
        );
    }

    #[test]
    fn auth_is_one_of_the_listed_values() {
        let (cli, _) = parse(&["index", "--auth", "SIGV4", "f"]);
        let Command::Index(args) = cli.command else {
            panic!("expected index");
        };
        assert_eq!(args.server.connection.auth.auth, Some(AuthKind::Sigv4));
        let error = Cli::command()
            .try_get_matches_from(["tweet-indexer", "index", "--auth", "token", "f"])
            .unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::InvalidValue);
        let text = error.to_string();
        assert!(text.contains("--auth") && text.contains("sigv4"), "{text}");
        // clap's own usage errors exit 2, like ours.
        assert_eq!(error.exit_code(), i32::from(Status::Usage.code()));
    }

    #[test]
    fn flag_ranges_are_checked_by_the_parser() {
        // (arguments, a word of clap's message)
        let table: [(&[&str], &str); 5] = [
            (&["--jobs", "0"], "1..=1024"),
            (&["--jobs", "many"], "invalid digit"),
            (&["--timeout-secs", "0"], "1..=31622400"),
            (&["--timeout-secs", "18446744073709551615"], "1..=31622400"),
            (&["--timeout-secs", "99999999999999999999"], "too large"),
        ];
        for (args, word) in table {
            let error = Cli::command()
                .try_get_matches_from(
                    ["tweet-indexer", "index", "--dry-run"]
                        .iter()
                        .chain(args)
                        .chain(&["f"]),
                )
                .unwrap_err();
            let text = error.to_string();
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{text}"
            );
            assert!(text.contains(args[0]) && text.contains(word), "{text}");
            assert!(!text.contains("non-zero type"), "{text}");
            assert_eq!(error.exit_code(), i32::from(Status::Usage.code()));
        }
        let (cli, _) = parse(&["index", "--jobs", "1024", "--timeout-secs", "31622400", "f"]);
        let Command::Index(args) = cli.command else {
            panic!("expected index");
        };
        assert_eq!(args.jobs().get(), 1024);
        assert!(deadline_after(Duration::from_secs(args.timeout_secs)) > Instant::now());
        assert!(
            deadline_after(Duration::MAX) > Instant::now(),
            "no overflow"
        );
    }

    #[test]
    fn a_sink_failure_keeps_its_class() {
        let config = Failure::sink(
            SinkError::Config(Config::from_lookup(|_| None).unwrap_err()),
            "connecting",
        );
        assert_eq!(config.status(), Status::Usage);
        let conflict = Failure::sink(
            SinkError::MappingConflict {
                index: "twitter".into(),
                field: "user.id".into(),
                existing: "long".into(),
                wanted: "keyword".into(),
            },
            "preparing the index",
        );
        assert_eq!(conflict.status(), Status::Refused);
        assert!(report::error_text(&conflict.error).starts_with("preparing the index: index"));
    }

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
