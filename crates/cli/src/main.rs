//! `tweet-indexer`: the command-line front door. Indexes local files, directories and S3
//! prefixes through the same pipeline as the Lambda, prints the bulk requests instead
//! (`index --dry-run`), prints or applies the index mapping (`mapping print|ensure`) and imports
//! the dashboards (`dashboards import`).
//! Settings come from flags or the same environment variables the Lambda reads.

mod dashboards;
mod event;
mod inputs;
mod report;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use pipeline::{AuthorFilter, Indexer, ObjectSummary};
use search_sink::Config;
use tweets::{Extractor, ExtractorOptions};

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

/// How requests are authenticated; shared by every command that talks to a server.
#[derive(Args, Debug)]
pub struct AuthArgs {
    /// sigv4, basic or none (default: sigv4 for *.amazonaws.com, basic with a username, else none).
    #[arg(long, env = "ES_AUTH")]
    auth: Option<String>,
    /// SigV4 service: es (OpenSearch Service and its Dashboards) or aoss (Serverless).
    #[arg(long, env = "ES_SIGV4_SERVICE")]
    sigv4_service: Option<String>,
    #[arg(long, env = "ES_USERNAME")]
    username: Option<String>,
    #[arg(long, env = "ES_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

impl AuthArgs {
    /// The value of one of the auth variables, from its flag; `None` for other names.
    pub fn lookup(&self, name: &str) -> Option<Option<String>> {
        Some(match name {
            "ES_AUTH" => self.auth.clone(),
            "ES_SIGV4_SERVICE" => self.sigv4_service.clone(),
            "ES_USERNAME" => self.username.clone(),
            "ES_PASSWORD" => self.password.clone(),
            _ => return None,
        })
    }
}

impl ServerArgs {
    fn config(&self) -> Result<Config> {
        let config = Config::from_lookup(|name| match name {
            "ES_ENDPOINT" => self.endpoint.clone(),
            "ES_INDEX" => Some(self.index.clone()),
            "ES_AUTH" | "ES_SIGV4_SERVICE" | "ES_USERNAME" | "ES_PASSWORD" => {
                self.auth.lookup(name).flatten()
            }
            "BULK_MAX_BYTES" => self.bulk_max_bytes.clone(),
            "BULK_CONCURRENCY" => self.bulk_concurrency.clone(),
            "BULK_GZIP" => self.bulk_gzip.clone(),
            "DEAD_LETTER_BUCKET" => self.dead_letter_bucket.clone(),
            "DEAD_LETTER_PREFIX" => self.dead_letter_prefix.clone(),
            "DEAD_LETTER_FILE" => self.dead_letter_file.clone(),
            other => std::env::var(other).ok(),
        })?;
        Ok(config)
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Returns whether everything succeeded.
async fn run(cli: Cli) -> Result<bool> {
    match cli.command {
        Command::Mapping {
            action: MappingAction::Print,
        } => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(tweets::MAPPING_JSON.as_bytes())?;
            Ok(true)
        }
        Command::Mapping {
            action: MappingAction::Ensure(server),
        } => {
            let indexer = Indexer::connect(server.config()?).await?;
            let outcome = indexer.ensure_index().await?;
            eprintln!("index {}: {outcome:?}", server.index);
            Ok(true)
        }
        Command::Dashboards {
            action: DashboardsAction::Import(args),
        } => dashboards::import(*args).await,
        Command::Event {
            kind: EventKind::Kinesis(args),
        } => event::kinesis(&args).map(|()| true),
        Command::Index(args) if args.dry_run => dry_run(*args).await,
        Command::Index(args) => index(*args).await,
    }
}

async fn dry_run(args: IndexArgs) -> Result<bool> {
    if AuthorFilter::parse(args.follow_user_ids.as_deref().unwrap_or_default())?.is_active() {
        eprintln!("warning: --follow-user-ids / FOLLOW_USER_IDS is not applied by --dry-run");
    }
    let extractor = std::sync::Arc::new(Extractor::new(ExtractorOptions::default()));
    let inputs = inputs::expand(&args.inputs).await?;
    let mut summaries = Vec::new();
    let mut ok = true;
    for input in inputs {
        let object = input.open().await?;
        let extractor = extractor.clone();
        let index = args.server.index.clone();
        let name = object.name.clone();
        let body = tokio_util::io::SyncIoBridge::new(object.body);
        let result = tokio::task::spawn_blocking(move || {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let summary = pipeline::dry_run::write_bulk(
                &extractor,
                ExtractorOptions::default().framer,
                &index,
                &name,
                body,
                &mut out,
            )?;
            out.flush()?;
            Ok::<_, anyhow::Error>(summary)
        })
        .await
        .context("dry-run thread failed")?;
        match result {
            Ok(summary) => {
                ok &= !summary.has_failures();
                summaries.push(summary);
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ok = false;
            }
        }
    }
    report::print(&summaries, true);
    Ok(ok)
}

async fn index(args: IndexArgs) -> Result<bool> {
    let config = args.server.config()?;
    let follow = AuthorFilter::parse(args.follow_user_ids.as_deref().unwrap_or_default())?;
    let indexer = Indexer::connect(config).await?.with_author_filter(follow);
    indexer
        .ensure_index()
        .await
        .context("preparing the index")?;
    let inputs = inputs::expand(&args.inputs).await?;
    let progress = report::progress(&inputs);
    let mut summaries: Vec<ObjectSummary> = Vec::new();
    let mut ok = true;
    for input in &inputs {
        progress.set_message(input.to_string());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout_secs);
        let outcome = match input.open().await {
            Ok(object) => indexer
                .index(object, deadline)
                .await
                .map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(summary) => {
                ok &= !summary.has_failures();
                summaries.push(summary);
            }
            Err(e) => {
                progress.suspend(|| eprintln!("error: {input}: {e:#}"));
                ok = false;
            }
        }
        progress.inc(input.size().unwrap_or(0));
    }
    progress.finish_and_clear();
    report::print(&summaries, false);
    Ok(ok && summaries.len() == inputs.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_override_environment_names() {
        let cli = Cli::try_parse_from([
            "tweet-indexer",
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
        let Command::Index(args) = cli.command else {
            panic!("expected index");
        };
        let config = args.server.config().unwrap();
        assert_eq!(config.endpoint, "http://127.0.0.1:9200");
        assert_eq!(config.index, "tweets-test");
        assert_eq!(config.bulk_max_bytes, 1000);
        assert_eq!(config.bulk_concurrency, 4);
        assert!(!config.gzip);
        assert!(
            matches!(config.auth, search_sink::Auth::Basic { ref username, .. } if username == "u")
        );
    }
}
