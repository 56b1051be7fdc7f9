//! From the command line to the libraries' settings: each flag, else its environment variable
//! (the Lambda's), into the sink's [`Config`] and the lifecycle's [`Settings`]; a faulty value
//! named by the flag or the variable it came from.

use std::num::NonZeroUsize;
use std::time::Duration;

use clap::ArgMatches;
use clap::parser::ValueSource;
use pipeline::archive::{Archive, ArchiveSettings};
use pipeline::lifecycle::Settings;
use pipeline::{AuthorFilter, Indexer};
use search_sink::{Config, ConfigError};
use tokio::time::Instant;

use crate::args::{ArchiveArgs, AuthArgs, ConnectionArgs, IndexArgs, MAX_TIMEOUT_SECS, ServerArgs};
use crate::exit::RunFailure;
use crate::parallel;

/// Quick attempts at a server that refuses connections before the run says so
/// ([`Config::unreachable_attempts`]): a blink of a restarting node is covered, a server that
/// is down is reported in about a second, and rerunning is the user's call.
pub const UNREACHABLE_ATTEMPTS: u32 = 3;

/// Each setting's environment variable and the id of its clap argument (its flag is the id
/// spelled with dashes: [`flag_of`]).
pub const SETTINGS: [(&str, &str); 21] = [
    ("ARCHIVE_RETENTION", "archive_retention"),
    ("INDEX_PARTITION", "index_partition"),
    ("RETENTION", "retention"),
    ("INDEX_SHARDS", "index_shards"),
    ("INDEX_REPLICAS", "index_replicas"),
    ("INDEX_REFRESH_INTERVAL", "index_refresh_interval"),
    ("ES_ENDPOINT", "endpoint"),
    ("ES_INDEX", "index"),
    ("ES_AUTH", "auth"),
    ("ES_SIGV4_SERVICE", "sigv4_service"),
    ("ES_USERNAME", "username"),
    ("ES_PASSWORD", "password"),
    ("ES_API_KEY", "api_key"),
    ("ES_API_KEY_FILE", "api_key_file"),
    ("ES_ALLOW_INSECURE_HTTP", "allow_insecure_http"),
    ("BULK_MAX_BYTES", "bulk_max_bytes"),
    ("BULK_CONCURRENCY", "bulk_concurrency"),
    ("BULK_GZIP", "bulk_gzip"),
    ("DEAD_LETTER_BUCKET", "dead_letter_bucket"),
    ("DEAD_LETTER_PREFIX", "dead_letter_prefix"),
    ("DEAD_LETTER_FILE", "dead_letter_file"),
];

/// A configuration error worded for the command line: the flag when the faulty value came
/// from it, the variable when it came from the environment, both when it is missing.
pub fn config_error(error: ConfigError, matches: &ArgMatches) -> anyhow::Error {
    setting_error(error.variable, &error.problem, matches).unwrap_or_else(|| error.into())
}

/// A lifecycle setting's error as a usage failure, named by its flag or variable.
pub fn setting_failure(e: &pipeline::lifecycle::SettingError, matches: &ArgMatches) -> RunFailure {
    let error = setting_error(e.variable, &e.problem, innermost(matches))
        .unwrap_or_else(|| anyhow::anyhow!("{e}"));
    RunFailure::usage(error)
}

pub fn setting_error(variable: &str, problem: &str, matches: &ArgMatches) -> Option<anyhow::Error> {
    let (variable, id) = SETTINGS.iter().find(|(v, _)| *v == variable)?;
    Some(anyhow::anyhow!(
        "{}: {problem}",
        named(matches, id, &flag_of(id), variable)
    ))
}

/// The flag of a clap argument: `--` and its id, dashes for underscores.
pub fn flag_of(id: &str) -> String {
    format!("--{}", id.replace('_', "-"))
}

/// How to name a setting in a message: `--flag` when the value was given as a flag,
/// `VARIABLE (environment)` when it came from there, else `--flag (or VARIABLE)`.
pub fn named(matches: &ArgMatches, id: &str, flag: &str, variable: &str) -> String {
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
pub fn innermost(matches: &ArgMatches) -> &ArgMatches {
    match matches.subcommand() {
        Some((_, sub)) => innermost(sub),
        None => matches,
    }
}

impl ServerArgs {
    pub fn config(&self, matches: &ArgMatches) -> Result<Config, RunFailure> {
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
        .map_err(|e| RunFailure::usage(config_error(e, innermost(matches))))?;
        Ok(config)
    }

    /// Partitioning, retention and sizing for writing, from the flags or their variables.
    pub fn lifecycle(&self, matches: &ArgMatches) -> Result<Settings, RunFailure> {
        let settings = self.lifecycle_settings(matches)?;
        settings
            .check_for_writes()
            .map_err(|e| setting_failure(&e, matches))?;
        Ok(settings)
    }

    /// Like [`ServerArgs::lifecycle`], each setting checked alone (`retention apply`,
    /// `migrate`, whose partitioning comes from elsewhere).
    pub fn lifecycle_settings(&self, matches: &ArgMatches) -> Result<Settings, RunFailure> {
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
    pub async fn indexer(
        &self,
        matches: &ArgMatches,
        settings: Settings,
    ) -> Result<Indexer, RunFailure> {
        let mut config = self.config(matches)?;
        config.unreachable_attempts = Some(UNREACHABLE_ATTEMPTS);
        Ok(Indexer::connect(config)
            .await
            .map_err(|e| RunFailure::sink(e, "connecting"))?
            .with_lifecycle(settings))
    }
}

impl IndexArgs {
    /// `--follow-user-ids`, else `FOLLOW_USER_IDS`; a bad id is reported under the name it
    /// was given by.
    pub fn author_filter(&self, matches: &ArgMatches) -> Result<AuthorFilter, RunFailure> {
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
            RunFailure::usage(anyhow::anyhow!(
                "{name}: {:?} is not a numeric user id (expected id,id,...)",
                e.value
            ))
        })
    }

    pub fn jobs(&self) -> NonZeroUsize {
        self.jobs
            .and_then(|j| usize::try_from(j).ok())
            .and_then(NonZeroUsize::new)
            .unwrap_or_else(parallel::default_jobs)
    }
}

impl ArchiveArgs {
    /// The archive's settings: each flag, else its variable (`ARCHIVE_TABLE`,
    /// `ARCHIVE_RETENTION`); `None` without a table. A faulty value is a usage failure named
    /// by where it came from.
    pub fn settings(&self, matches: &ArgMatches) -> Result<Option<ArchiveSettings>, RunFailure> {
        ArchiveSettings::from_lookup(|name| match name {
            pipeline::archive::ARCHIVE_TABLE => self.archive_table.clone(),
            pipeline::archive::ARCHIVE_RETENTION => self.archive_retention.clone(),
            _ => None,
        })
        .map_err(|e| setting_failure(&e, matches))
    }
}

/// `indexer`, writing to the archive of `settings` too (its endpoint and credentials from the
/// standard AWS variables) when there is one.
pub async fn with_archive(indexer: Indexer, settings: Option<ArchiveSettings>) -> Indexer {
    match settings {
        Some(settings) => indexer.with_archive(Archive::from_env(settings).await),
        None => indexer,
    }
}

impl ConnectionArgs {
    /// The value of a connection or auth variable, from its flag; `None` for other names.
    pub fn lookup(&self, name: &str) -> Option<Option<String>> {
        Some(match name {
            "ES_ENDPOINT" => self.endpoint.clone(),
            "ES_INDEX" => Some(self.index.clone()),
            other => return self.auth.lookup(other),
        })
    }

    pub fn config(&self, matches: &ArgMatches) -> Result<Config, RunFailure> {
        Config::from_lookup(|name| match name {
            // Writing settings do not apply: their variables are not read.
            "BULK_MAX_BYTES" | "BULK_CONCURRENCY" | "BULK_GZIP" | "DEAD_LETTER_BUCKET"
            | "DEAD_LETTER_PREFIX" | "DEAD_LETTER_FILE" => None,
            other => self
                .lookup(other)
                .unwrap_or_else(|| std::env::var(other).ok()),
        })
        .map_err(|e| RunFailure::usage(config_error(e, innermost(matches))))
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

/// `timeout` from now; a year from now at most (clap keeps `--timeout-secs` below that, and
/// an `Instant` cannot hold every `Duration`).
pub fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(MAX_TIMEOUT_SECS)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;
    use crate::args::{AuthKind, Cli, Command};
    use crate::exit::Status;

    /// Parses like `main` does; the environment is not read for these names unless given.
    fn parse(args: &[&str]) -> (Cli, ArgMatches) {
        let matches = Cli::command()
            .try_get_matches_from(std::iter::once("tweet-indexer").chain(args.iter().copied()))
            .unwrap();
        (Cli::from_arg_matches(&matches).unwrap(), matches)
    }

    fn server_config(args: &[&str]) -> Result<Config, RunFailure> {
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
    fn every_setting_is_a_flag_of_index_spelled_from_its_id() {
        let cli = Cli::command();
        let index = cli.find_subcommand("index").unwrap();
        for (variable, id) in SETTINGS {
            let arg = index
                .get_arguments()
                .find(|a| a.get_id() == id)
                .unwrap_or_else(|| panic!("{variable}: no argument {id}"));
            let long = arg.get_long().unwrap_or_default();
            assert_eq!(format!("--{long}"), flag_of(id), "{variable}");
        }
    }
}
