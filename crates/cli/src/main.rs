//! `tweet-indexer`: the command-line front door. Indexes local files, directories and S3
//! prefixes through the same pipeline as the Lambda, prints the bulk requests instead
//! (`index --dry-run`), prints or applies the index mapping (`mapping print|ensure`) and imports
//! the dashboards (`dashboards import`).
//! Settings come from flags or the same environment variables the Lambda reads.
//!
//! Exit codes: 0 everything indexed; 1 data problems (invalid or dead-lettered records, an
//! input that does not exist or cannot be read); 2 configuration or usage errors (nothing was
//! sent); 3 delivery failures (the search server or S3 failed; rerunning is safe).

mod dashboards;
mod event;
mod inputs;
mod ordered_output;
mod parallel;
mod report;

use std::io::Write;
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use pipeline::{AuthorFilter, Indexer, ObjectSummary, PipelineError, SourceError};
use search_sink::{Config, ConfigError, SinkError};
use tweets::{Extractor, ExtractorOptions};

use crate::ordered_output::ObjectOutput;
use crate::report::Outcome;

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
    /// Give up on one object after this many seconds (the Lambda uses its remaining time).
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
    /// Objects in flight at once (default: the number of cores; 1: one after another). When
    /// indexing, at most BULK_CONCURRENCY objects, which share its bulk requests.
    #[arg(long)]
    jobs: Option<NonZeroUsize>,
    /// Index only tweets by these user ids (id,id,...); others are counted as filtered.
    #[arg(long, env = "FOLLOW_USER_IDS")]
    follow_user_ids: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

/// The search-server settings; each flag falls back to the Lambda's environment variable.
#[derive(Args, Debug)]
struct ServerArgs {
    /// Search endpoint URL.
    #[arg(long, env = "ES_ENDPOINT")]
    endpoint: Option<String>,
    /// Index name.
    #[arg(long, env = "ES_INDEX", default_value = "twitter")]
    index: String,
    #[command(flatten)]
    auth: AuthArgs,
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
    #[arg(long, env = "ES_AUTH", value_enum, ignore_case = true)]
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
            "ES_AUTH" => self.auth.map(|a| a.as_setting().to_owned()),
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
const SETTINGS: [(&str, &str, &str); 15] = [
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
    let Some((variable, id, flag)) = SETTINGS.iter().find(|(v, _, _)| *v == error.variable) else {
        return error.into();
    };
    // `try_get_raw` first: `value_source` insists (in debug builds) that the id exists.
    let source = match matches.try_get_raw(id) {
        Ok(Some(_)) => matches.value_source(id),
        _ => None,
    };
    let named = match source {
        Some(ValueSource::CommandLine) => (*flag).to_owned(),
        Some(ValueSource::EnvVariable) => format!("{variable} (environment)"),
        _ => format!("{flag} (or {variable})"),
    };
    anyhow::anyhow!("{named}: {}", error.problem)
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
            "ES_ENDPOINT" => self.endpoint.clone(),
            "ES_INDEX" => Some(self.index.clone()),
            "ES_AUTH"
            | "ES_SIGV4_SERVICE"
            | "ES_USERNAME"
            | "ES_PASSWORD"
            | "ES_API_KEY"
            | "ES_API_KEY_FILE"
            | "ES_ALLOW_INSECURE_HTTP" => self.auth.lookup(name).flatten(),
            "BULK_MAX_BYTES" => self.bulk_max_bytes.clone(),
            "BULK_CONCURRENCY" => self.bulk_concurrency.clone(),
            "BULK_GZIP" => self.bulk_gzip.clone(),
            "DEAD_LETTER_BUCKET" => self.dead_letter_bucket.clone(),
            "DEAD_LETTER_PREFIX" => self.dead_letter_prefix.clone(),
            "DEAD_LETTER_FILE" => self.dead_letter_file.clone(),
            other => std::env::var(other).ok(),
        })
        .map_err(|e| Failure::Usage(config_error(e, innermost(matches))))?;
        Ok(config)
    }
}

/// How a run ended, as an exit code. Ordered by severity: the worst outcome of a run wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Status {
    Ok,
    /// Invalid or dead-lettered records, or inputs that could not be read.
    DataProblems,
    /// The search server or S3 failed: some data was not confirmed.
    DeliveryFailed,
    /// Configuration or usage: nothing was done.
    Usage,
}

impl Status {
    fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::DataProblems => 1,
            Status::Usage => 2,
            Status::DeliveryFailed => 3,
        }
    }
}

/// A run that stopped: why, and so which exit code.
#[derive(Debug)]
enum Failure {
    Usage(anyhow::Error),
    Delivery(anyhow::Error),
}

impl Failure {
    fn status(&self) -> Status {
        match self {
            Failure::Usage(_) => Status::Usage,
            Failure::Delivery(_) => Status::DeliveryFailed,
        }
    }
}

/// A sink error is a usage error when it is about the configuration, else a delivery failure.
fn sink_failure(error: SinkError, context: &str) -> Failure {
    match error {
        SinkError::Config(e) => Failure::Usage(anyhow::Error::from(e).context(context.to_owned())),
        other => Failure::Delivery(anyhow::Error::from(other).context(context.to_owned())),
    }
}

/// The status an object that failed part-way gives the run.
fn pipeline_status(error: &PipelineError) -> Status {
    match error {
        PipelineError::Sink { .. } | PipelineError::Read { .. } => Status::DeliveryFailed,
        // A bug, not the data: report it like a delivery failure (rerunning is safe).
        PipelineError::Extractor { .. } => Status::DeliveryFailed,
    }
}

fn source_status(error: &SourceError) -> Status {
    match error {
        SourceError::NotFound { .. } => Status::DataProblems,
        SourceError::Unavailable { .. } => Status::DeliveryFailed,
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
            return ExitCode::from(Status::DeliveryFailed.code());
        }
    };
    let status = match runtime.block_on(run(cli, &matches)) {
        Ok(status) => status,
        Err(failure) => {
            let status = failure.status();
            let (Failure::Usage(e) | Failure::Delivery(e)) = failure;
            report::say(&format!("error: {e:#}"));
            status
        }
    };
    // Do not wait for blocking reads that can never finish (stdin after a timeout).
    runtime.shutdown_background();
    ExitCode::from(status.code())
}

async fn run(cli: Cli, matches: &ArgMatches) -> Result<Status, Failure> {
    match cli.command {
        Command::Mapping {
            action: MappingAction::Print,
        } => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(tweets::MAPPING_JSON.as_bytes())
                .map_err(|e| Failure::Delivery(e.into()))?;
            Ok(Status::Ok)
        }
        Command::Mapping {
            action: MappingAction::Ensure(server),
        } => {
            let config = server.config(matches)?;
            let indexer = Indexer::connect(config)
                .await
                .map_err(|e| sink_failure(e, "connecting"))?;
            let outcome = indexer
                .ensure_index()
                .await
                .map_err(|e| sink_failure(e, "preparing the index"))?;
            eprintln!("index {}: {outcome:?}", server.index);
            Ok(Status::Ok)
        }
        Command::Dashboards {
            action: DashboardsAction::Import(args),
        } => match dashboards::import(*args).await {
            Ok(true) => Ok(Status::Ok),
            // Some saved objects were refused (reported one by one): a data problem.
            Ok(false) => Ok(Status::DataProblems),
            Err(e) if e.downcast_ref::<ConfigError>().is_some() => Err(Failure::Usage(e)),
            Err(e) => Err(Failure::Delivery(e)),
        },
        Command::Event {
            kind: EventKind::Kinesis(args),
        } => event::kinesis(&args)
            .map(|()| Status::Ok)
            .map_err(Failure::Usage),
        Command::Index(args) if args.dry_run => dry_run(*args).await,
        Command::Index(args) => index(*args, matches).await,
    }
}

/// Expands the inputs and reports the ones that cannot be read. With none left, the run is a
/// usage error and nothing is sent; otherwise the rest is processed and the run ends with at
/// least [`Status::DataProblems`].
async fn checked_inputs(arguments: &[String]) -> Result<(Vec<inputs::Input>, Status), Failure> {
    let expanded = inputs::expand(arguments).await;
    for problem in &expanded.problems {
        report::say(&format!("error: {problem}"));
    }
    if expanded.inputs.is_empty() {
        return Err(Failure::Usage(anyhow::anyhow!(
            "none of the inputs can be read: nothing was done"
        )));
    }
    let status = if expanded.problems.is_empty() {
        Status::Ok
    } else {
        Status::DataProblems
    };
    Ok((expanded.inputs, status))
}

/// What every object of a dry run shares.
struct DryRunJob {
    extractor: Arc<Extractor>,
    follow: AuthorFilter,
    index: String,
    timeout: Duration,
}

/// One object's dry run: its outcome and the status it gives the run.
struct DryRunDone {
    outcome: Outcome,
    status: Status,
}

async fn dry_run(args: IndexArgs) -> Result<Status, Failure> {
    let follow = AuthorFilter::parse(args.follow_user_ids.as_deref().unwrap_or_default())
        .map_err(|e| Failure::Usage(e.into()))?;
    let job = Arc::new(DryRunJob {
        extractor: Arc::new(Extractor::new(ExtractorOptions::default())),
        follow,
        index: args.server.index.clone(),
        timeout: Duration::from_secs(args.timeout_secs),
    });
    let jobs = args.jobs.unwrap_or_else(parallel::default_jobs);
    let (inputs, mut status) = checked_inputs(&args.inputs).await?;
    let mut outcomes = Vec::new();
    if jobs.get() == 1 {
        for input in inputs {
            let done = dry_run_object(job.clone(), input, None).await?;
            status = status.max(done.status);
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
                .map_err(Failure::Delivery)??;
            if let Some(reason) = output.failure() {
                if done.outcome.error.is_none() {
                    let error = format!("writing the bulk output failed: {reason}");
                    report::say(&format!("error: {}: {error}", done.outcome.summary.object));
                    done.outcome.error = Some(error);
                }
                done.status = done.status.max(Status::DeliveryFailed);
            }
            status = status.max(done.status);
            outcomes.push(done.outcome);
            if let Some(head) = outputs.front() {
                promote(head).await?;
            }
        }
    }
    report::print(&outcomes, true);
    Ok(status)
}

/// Makes `output` the head (its spooled lines out first). A failure is the object's, found by
/// [`ObjectOutput::failure`] when it is taken back.
async fn promote(output: &ObjectOutput) -> Result<(), Failure> {
    let output = output.clone();
    let _ = tokio::task::spawn_blocking(move || output.promote())
        .await
        .context("dry-run output thread failed")
        .map_err(Failure::Delivery)?;
    Ok(())
}

/// Writes one object's bulk lines to stdout (`output` None: holding stdout, one object at a
/// time) or to its place in the ordered output.
async fn dry_run_object(
    job: Arc<DryRunJob>,
    input: inputs::Input,
    output: Option<ObjectOutput>,
) -> Result<DryRunDone, Failure> {
    let deadline = tokio::time::Instant::now() + job.timeout;
    let failed = |error: String, status: Status| DryRunDone {
        outcome: Outcome {
            summary: ObjectSummary::new(input.to_string()),
            error: Some(error),
        },
        status,
    };
    let object = match input.open().await {
        Ok(object) => object,
        Err(e) => {
            report::say(&format!("error: {e}"));
            return Ok(failed(e.to_string(), source_status(&e)));
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
                &job.index,
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
    .map_err(Failure::Delivery)?;
    Ok(match result {
        Ok(summary) => DryRunDone {
            status: if summary.has_failures() {
                Status::DataProblems
            } else {
                Status::Ok
            },
            outcome: Outcome {
                summary,
                error: None,
            },
        },
        Err(e) => {
            report::say(&format!("error: {e:#}"));
            failed(format!("{e:#}"), Status::DeliveryFailed)
        }
    })
}

async fn index(args: IndexArgs, matches: &ArgMatches) -> Result<Status, Failure> {
    let mut config = args.server.config(matches)?;
    let jobs = args.jobs.unwrap_or_else(parallel::default_jobs);
    let (objects_at_once, slots) = parallel::bulk_slots(jobs, config.bulk_concurrency);
    config.bulk_concurrency = slots;
    // Every input is checked before the index is created or changed: a mistyped path alone
    // touches nothing on the server.
    let (inputs, mut status) = checked_inputs(&args.inputs).await?;
    let follow = AuthorFilter::parse(args.follow_user_ids.as_deref().unwrap_or_default())
        .map_err(|e| Failure::Usage(e.into()))?;
    let indexer = Indexer::connect(config)
        .await
        .map_err(|e| sink_failure(e, "connecting"))?
        .with_author_filter(follow);
    let timeout = Duration::from_secs(args.timeout_secs);
    // `--timeout-secs` bounds preparing the index too (an unreachable server fails within
    // it), never longer than the sink's own bound.
    let ensure_deadline =
        tokio::time::Instant::now() + timeout.min(search_sink::DEFAULT_ENSURE_TIME);
    indexer
        .ensure_index_before(ensure_deadline)
        .await
        .map_err(|e| sink_failure(e, "preparing the index"))?;
    let progress = report::progress(&inputs);
    // Outcomes are small: no window needed, every object may finish before the first one.
    let mut ordered = parallel::Ordered::new(objects_at_once, usize::MAX);
    let mut results = Vec::new();
    for input in inputs {
        let work = index_object(indexer.clone(), input, timeout, progress.clone());
        ordered.start(work).await;
    }
    while let Some(done) = ordered.next().await {
        results.push(done);
    }
    let mut outcomes = Vec::new();
    for done in results {
        let (outcome, object_status) = done
            .context("indexing task failed")
            .map_err(Failure::Delivery)?;
        status = status.max(object_status);
        outcomes.push(outcome);
    }
    report::finish(&progress);
    report::print(&outcomes, false);
    Ok(status)
}

/// Indexes one object through its own sink: its outcome and the status it gives the run.
async fn index_object(
    indexer: Indexer,
    input: inputs::Input,
    timeout: Duration,
    progress: indicatif::ProgressBar,
) -> (Outcome, Status) {
    progress.set_message(input.to_string());
    let deadline = tokio::time::Instant::now() + timeout;
    let mut status = Status::Ok;
    let mut summary = ObjectSummary::new(input.to_string());
    let error = match input.open().await {
        Ok(object) => match indexer.index_into(object, deadline, &mut summary).await {
            Ok(()) => None,
            Err(e) => {
                status = pipeline_status(&e);
                Some(e.to_string())
            }
        },
        Err(e) => {
            status = source_status(&e);
            Some(e.to_string())
        }
    };
    if let Some(error) = &error {
        report::say(&format!("error: {input}: {error}"));
    }
    if summary.has_failures() {
        status = status.max(Status::DataProblems);
    }
    progress.inc(input.size().unwrap_or(0));
    (Outcome { summary, error }, status)
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
            let (Failure::Usage(e) | Failure::Delivery(e)) = failure;
            let message = e.to_string();
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
        let (Failure::Usage(e) | Failure::Delivery(e)) = failure;
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
        let (Failure::Usage(e) | Failure::Delivery(e)) = failure;
        let message = e.to_string();
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
        assert_eq!(args.server.auth.auth, Some(AuthKind::Sigv4));
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
    fn exit_codes_and_the_worst_outcome_wins() {
        assert_eq!(
            [
                Status::Ok,
                Status::DataProblems,
                Status::Usage,
                Status::DeliveryFailed
            ]
            .map(Status::code),
            [0, 1, 2, 3]
        );
        assert_eq!(
            Status::DataProblems.max(Status::DeliveryFailed),
            Status::DeliveryFailed
        );
        assert_eq!(Status::Ok.max(Status::DataProblems), Status::DataProblems);
        let missing = SourceError::NotFound { name: "x".into() };
        let unavailable = SourceError::Unavailable {
            name: "s3://b/k".into(),
            detail: "SlowDown".into(),
        };
        assert_eq!(source_status(&missing), Status::DataProblems);
        assert_eq!(source_status(&unavailable), Status::DeliveryFailed);
        let read = PipelineError::Read {
            object: "x".into(),
            offset: 1,
            detail: "reset".into(),
        };
        assert_eq!(pipeline_status(&read), Status::DeliveryFailed);
        let config = sink_failure(
            SinkError::Config(Config::from_lookup(|_| None).unwrap_err()),
            "connecting",
        );
        assert_eq!(config.status(), Status::Usage);
    }
}
