//! The command line: the subcommands and their flags, as clap reads them (what they become
//! for the libraries is [`crate::config`]'s).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The largest `--timeout-secs`: a year (more would mean "never", and a deadline that far
/// would overflow the clock's range).
pub const MAX_TIMEOUT_SECS: u64 = 366 * 24 * 3600;
/// The largest `--jobs`.
pub const MAX_JOBS: u64 = 1024;

#[derive(Parser, Debug)]
#[command(
    name = "tweet-indexer",
    version,
    about = "Index captured tweets into OpenSearch / Elasticsearch"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
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
pub enum RetentionAction {
    /// Delete the partitions whose whole period ends before now - RETENTION (judged by their
    /// names: a backfilled old partition goes on time).
    Apply(Box<RetentionArgs>),
}

#[derive(Args, Debug)]
pub struct RetentionArgs {
    /// Print the partitions that would be deleted, and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// A partitioning to migrate to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PartitionTo {
    Month,
    Day,
}

#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// The partitioning: one index per month (`{index}-YYYY.MM`) or per day.
    #[arg(long, value_enum)]
    pub to: PartitionTo,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Subcommand, Debug)]
pub enum ComplianceAction {
    /// Re-apply every active compliance register to the index (and make tombstones of the
    /// tweets of users deleted more than 30 days ago), then re-check every document that
    /// carries compliance fields; prints what it changed. Safe to run at any time; run daily
    /// after `tweet-capture comply`.
    Sweep(Box<SweepArgs>),
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub archive: ArchiveArgs,
}

/// The DynamoDB archive (`index` writes to it, `compliance sweep` applies its fixes to it).
#[derive(Args, Debug)]
pub struct ArchiveArgs {
    /// DynamoDB table that also keeps every tweet the index accepts (its raw record), and
    /// follows its deletes and compliance events.
    #[arg(long, env = "ARCHIVE_TABLE")]
    pub archive_table: Option<String>,
    /// Archive items expire this long after their tweet (e.g. 2y, 400d; off by default).
    #[arg(long, env = "ARCHIVE_RETENTION")]
    pub archive_retention: Option<String>,
}

#[derive(Args, Debug)]
pub struct IdsArgs {
    /// Author ids instead of tweet ids.
    #[arg(long)]
    pub users: bool,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// A command that reads (and fixes) the whole index: its time limit and the server (its
/// writes, the sweep's fixes, use the default bulk settings and no dead-letter store: a fix the
/// server refuses fails the run).
#[derive(Args, Debug)]
pub struct ReadArgs {
    /// Give up after this many seconds, 1 to a year.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    pub timeout_secs: u64,
    #[command(flatten)]
    pub server: ConnectionArgs,
}

#[derive(Subcommand, Debug)]
pub enum EventKind {
    /// A Kinesis Data Streams event: one record per tweet, or KPL aggregates (`--aggregate N`).
    Kinesis(KinesisArgs),
}

#[derive(Subcommand, Debug)]
pub enum DashboardsAction {
    /// POST them to the saved-objects import API (overwriting earlier versions).
    Import(Box<ImportArgs>),
    /// Run the dashboard's aggregations against the index and write them as one
    /// self-contained HTML page (map, sentiment pie, top emoji, hashtags, tweets over time).
    Preview(Box<PreviewCommand>),
}

#[derive(Args, Debug)]
pub struct PreviewCommand {
    #[command(flatten)]
    pub preview: PreviewArgs,
    #[command(flatten)]
    pub server: ConnectionArgs,
}

/// The search server alone, for commands that only read (no bulk or dead-letter settings);
/// each flag falls back to the Lambda's environment variable.
#[derive(Args, Debug)]
pub struct ConnectionArgs {
    /// Search endpoint URL.
    #[arg(long, env = "ES_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Index name (or alias).
    #[arg(long, env = "ES_INDEX", default_value = "twitter")]
    pub index: String,
    #[command(flatten)]
    pub auth: AuthArgs,
}

#[derive(Subcommand, Debug)]
pub enum MappingAction {
    /// Print mappings/twitter.json (as embedded in this binary).
    Print,
    /// Create the index with it, or check and extend an existing index's mapping.
    Ensure(Box<ServerArgs>),
}

#[derive(Args, Debug)]
pub struct IndexArgs {
    /// Files, directories, s3://bucket/prefix, or - for stdin.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Write the bulk NDJSON to stdout instead of sending it (no server needed).
    #[arg(long)]
    pub dry_run: bool,
    /// Give up on one object after this many seconds, 1 to a year (the Lambda uses its
    /// remaining time).
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    pub timeout_secs: u64,
    /// Objects in flight at once (default: the number of cores; 1: one after another). When
    /// indexing, at most BULK_CONCURRENCY objects, which share its bulk requests.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_JOBS))]
    pub jobs: Option<u64>,
    /// Index only tweets by these user ids (id,id,...); others are counted as filtered.
    ///
    /// [env: FOLLOW_USER_IDS]
    #[arg(long)]
    pub follow_user_ids: Option<String>,
    #[command(flatten)]
    pub archive: ArchiveArgs,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// The search-server settings: the connection and what writing takes; each flag falls back to
/// the Lambda's environment variable.
#[derive(Args, Debug)]
pub struct ServerArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Flush a bulk request at this many bytes (default 5 MiB).
    #[arg(long, env = "BULK_MAX_BYTES")]
    pub bulk_max_bytes: Option<String>,
    /// Bulk requests in flight at once (default 2).
    #[arg(long, env = "BULK_CONCURRENCY")]
    pub bulk_concurrency: Option<String>,
    /// Gzip bulk request bodies (true/false, default true).
    #[arg(long, env = "BULK_GZIP")]
    pub bulk_gzip: Option<String>,
    /// S3 bucket for documents that cannot be indexed.
    #[arg(long, env = "DEAD_LETTER_BUCKET")]
    pub dead_letter_bucket: Option<String>,
    #[arg(long, env = "DEAD_LETTER_PREFIX")]
    pub dead_letter_prefix: Option<String>,
    /// Local NDJSON file for documents that cannot be indexed (when no bucket is given).
    #[arg(long, env = "DEAD_LETTER_FILE")]
    pub dead_letter_file: Option<String>,
    /// One index (none, the default) or one per month / day of the tweets' ids, behind an
    /// alias named --index.
    #[arg(long, env = "INDEX_PARTITION")]
    pub index_partition: Option<String>,
    /// Keep partitions this long (e.g. 13mo, 400d; off by default).
    #[arg(long, env = "RETENTION")]
    pub retention: Option<String>,
    /// Primary shards of each index created (default: the server's).
    #[arg(long, env = "INDEX_SHARDS")]
    pub index_shards: Option<String>,
    /// Replicas of each index created (default: the server's).
    #[arg(long, env = "INDEX_REPLICAS")]
    pub index_replicas: Option<String>,
    /// refresh_interval of each index created (e.g. 30s; default: the server's).
    #[arg(long, env = "INDEX_REFRESH_INTERVAL")]
    pub index_refresh_interval: Option<String>,
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
    pub fn as_setting(self) -> &'static str {
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
    pub auth: Option<AuthKind>,
    /// SigV4 service: es (OpenSearch Service and its Dashboards) or aoss (Serverless).
    #[arg(long, env = "ES_SIGV4_SERVICE")]
    pub sigv4_service: Option<String>,
    #[arg(long, env = "ES_USERNAME")]
    pub username: Option<String>,
    #[arg(long, env = "ES_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Elasticsearch API key: the `encoded` value, or id:api_key.
    #[arg(long, env = "ES_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// A file holding the API key (keeps it out of the command line and the environment).
    #[arg(long, env = "ES_API_KEY_FILE")]
    pub api_key_file: Option<String>,
    /// Send credentials over http:// to a host that is not loopback (in clear text).
    #[arg(long, env = "ES_ALLOW_INSECURE_HTTP", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_insecure_http: bool,
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

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Flavor {
    /// Kibana 7.10+ / 8.x (the map is a Maps-app map).
    Kibana,
    /// OpenSearch Dashboards 1.x-3.x (the map is a coordinate tile map).
    OpensearchDashboards,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Base URL of Kibana or OpenSearch Dashboards (on AWS: https://DOMAIN/_dashboards).
    #[arg(long)]
    pub url: String,
    /// Which saved-objects set to send.
    #[arg(long, value_enum, default_value_t = Flavor::OpensearchDashboards)]
    pub flavor: Flavor,
    /// Send this NDJSON file instead of the embedded set.
    #[arg(long)]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub auth: AuthArgs,
}

#[derive(Args, Debug)]
pub struct KinesisArgs {
    /// A captured stream file (NDJSON, concatenated JSON, length-prefixed, gzip, ...).
    pub file: PathBuf,
    /// Pack this many records into each KPL aggregate (0: plain records only).
    #[arg(long, default_value_t = 0)]
    pub aggregate: usize,
    /// The stream name in `eventSourceARN`.
    #[arg(long, default_value = "tweets")]
    pub stream: String,
    /// The shard id in `eventID`.
    #[arg(long, default_value = "shardId-000000000000")]
    pub shard: String,
}

#[derive(Args, Debug)]
pub struct PreviewArgs {
    /// Where to write the HTML page.
    #[arg(long)]
    pub out: PathBuf,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
