//! `tweet-capture`'s command line: the subcommands, their flags and the `--help` texts (the
//! variables each command reads and the exit codes).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use capture::comply::jobs::JobType;
use capture::sink::Destination;
use capture::sink::kinesis::PartitionKey;
use capture::stream::ComplianceStream;
use clap::{Args, Parser, Subcommand, ValueEnum};

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
pub(crate) const ALL_HELP: &str = concat!(x_variables!(), stream_variables!(), exit_codes!());
pub(crate) const RULES_HELP: &str = concat!(x_variables!(), exit_codes!());

#[derive(Parser, Debug)]
#[command(
    name = "tweet-capture",
    version,
    about = "Capture the X API v2 filtered stream and compliance streams, and run batch compliance jobs, into Firehose, Kinesis, files or stdout",
    after_help = ALL_HELP
)]
pub(crate) struct Cli {
    /// X API base URL.
    #[arg(
        long,
        env = "X_API_URL",
        default_value = "https://api.x.com",
        global = true,
        value_name = "URL"
    )]
    pub(crate) api_url: String,
    /// Log format on stderr (auto: text on a terminal, json otherwise).
    #[arg(long, value_enum, default_value_t = LogFormat::Auto, global = true)]
    pub(crate) log_format: LogFormat,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Auto,
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
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
pub(crate) enum ComplianceType {
    Tweets,
    Users,
}

impl ComplianceType {
    pub(crate) fn stream(self) -> ComplianceStream {
        match self {
            ComplianceType::Tweets => ComplianceStream::Tweets,
            ComplianceType::Users => ComplianceStream::Users,
        }
    }

    pub(crate) fn job(self) -> JobType {
        match self {
            ComplianceType::Tweets => JobType::Tweets,
            ComplianceType::Users => JobType::Users,
        }
    }
}

#[derive(Subcommand, Debug)]
pub(crate) enum RulesAction {
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
pub(crate) struct StreamArgs {
    #[command(flatten)]
    pub(crate) delivery: DeliveryArgs,
    #[command(flatten)]
    pub(crate) reconnect: ReconnectArgs,
    /// Warn when fewer tweets than this arrive per minute for --volume-window (0: off).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=100_000_000))]
    pub(crate) min_tweets_per_minute: u64,
    /// Minutes of low volume before the warning (1-1440).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=1440))]
    pub(crate) volume_window: u16,
}

#[derive(Args, Debug)]
pub(crate) struct ComplianceStreamArgs {
    /// Which compliance stream: `tweets` (delete, tweet_edit, withheld, drop, undrop) or
    /// `users` (user_delete, user_protect, user_suspend, user_withheld, scrub_geo, ... and
    /// their reversals).
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub(crate) kind: ComplianceType,
    /// The partition to read (1-4): X splits each compliance stream in 4, and only the 4
    /// connections together carry every event.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=4))]
    pub(crate) partition: u8,
    #[command(flatten)]
    pub(crate) delivery: DeliveryArgs,
    #[command(flatten)]
    pub(crate) reconnect: ReconnectArgs,
}

#[derive(Args, Debug)]
pub(crate) struct ComplyArgs {
    /// Which job: `tweets` (the ids are tweet ids) or `users` (user ids).
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub(crate) kind: ComplianceType,
    /// The ids, one a line (a local file, or s3://BUCKET/KEY).
    #[arg(long, value_name = "FILE")]
    pub(crate) ids: String,
    /// Where the state that lets a rerun resume the jobs is kept [default: beside the ids
    /// file; for s3:// ids, the system's temp directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// The most ids one job takes (1-6000000; X takes 128 MB per upload): larger files are
    /// split into jobs run one after the other. The upload of one job is held in memory.
    #[arg(long, default_value_t = 5_000_000, value_parser = clap::value_parser!(u64).range(1..=6_000_000))]
    pub(crate) max_ids_per_job: u64,
    /// The first delay between two polls of a job (1s-10m); it doubles up to 4 times that
    /// while the job's status does not change.
    #[arg(long, default_value = "30s", value_parser = duration_in(1, 600))]
    pub(crate) poll_interval: Duration,
    /// How long one job may be waited for (processing, another active job of the type,
    /// retries) before the run stops (exit 3; the next run resumes it), and how long the
    /// destination may then take to accept the results (exit 1). 1m-7d.
    #[arg(long, default_value = "12h", value_parser = duration_in(60, 7 * 24 * 3600))]
    pub(crate) max_wait: Duration,
    #[command(flatten)]
    pub(crate) delivery: DeliveryArgs,
}

/// Where records go and how they wait on the way.
#[derive(Args, Debug)]
pub(crate) struct DeliveryArgs {
    /// firehose://NAME, kinesis://NAME, dir://PATH or - (stdout).
    #[arg(long)]
    pub(crate) to: Destination,
    /// Kinesis partition key: `author` (the author's or user's id) or `tweet` (the tweet
    /// id).
    #[arg(long, default_value = "author")]
    pub(crate) partition_key: PartitionKey,
    /// MiB of records held in memory between the reader and the sink (1-4096).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub(crate) buffer_mib: u32,
    /// Where records go once the memory is full, while the sink is slow or down (a directory
    /// of its own is made there and removed at the end) [default: the system's temp
    /// directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) spool_dir: Option<PathBuf>,
    /// MiB the spool may hold (0: no spool; when memory and spool are full, reading waits).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(0..=16 * 1024 * 1024))]
    pub(crate) spool_mib: u64,
    /// After the first SIGTERM / SIGINT (or a fatal answer), how long the sink may take to
    /// deliver what was read (1s-1h); what is left then is counted as not delivered.
    #[arg(long, default_value = "50s", value_parser = duration_in(1, 3600))]
    pub(crate) shutdown_timeout: Duration,
}

/// How a streaming connection is kept up.
#[derive(Args, Debug)]
pub(crate) struct ReconnectArgs {
    /// Ask for up to this many minutes of missed records on each connection (1-5; needs an
    /// access level that allows it).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub(crate) backfill_minutes: Option<u8>,
    /// Reconnect when nothing, not even a keep-alive, arrived for this long (20s-1h; X sends
    /// a keep-alive every 20 s).
    #[arg(long, default_value = "30s", value_parser = duration_in(20, 3600))]
    pub(crate) stall_timeout: Duration,
    /// The longest reconnect delay (1s-1h; a server-sent rate-limit reset is still
    /// honoured).
    #[arg(long, default_value = "320s", value_parser = duration_in(1, 3600))]
    pub(crate) max_backoff: Duration,
    /// Records seen within this window are forwarded once: tweets by id, compliance events
    /// by kind, subject and event_at (0s: off; at most 24h).
    #[arg(long, default_value = "10m", value_parser = duration_in(0, 24 * 3600))]
    pub(crate) dedup_window: Duration,
}

/// A `humantime` duration between `min` and `max` seconds (clap reports the flag).
pub(crate) fn duration_in(min: u64, max: u64) -> impl Fn(&str) -> Result<Duration, String> + Clone {
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
