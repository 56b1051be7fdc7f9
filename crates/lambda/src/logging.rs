//! Logs for CloudWatch: one JSON object per line, fields at the top level (so Logs Insights can
//! filter on `key`, `documents`, ...), no ANSI colours, no timestamp (CloudWatch adds one).
//! The level comes from `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls), else
//! `RUST_LOG`, else `info`.
//!
//! Not `lambda_runtime::tracing::init_default_subscriber`: it writes plain text unless the
//! function also sets `AWS_LAMBDA_LOG_FORMAT=JSON` (we want JSON whatever the console says),
//! nests event fields under `fields` (Logs Insights queries in `docs/deploy.md` use top-level
//! names), and reads `AWS_LAMBDA_LOG_LEVEL=FATAL` (or any typo) as INFO without a word.
//!
//! Whatever the level, [`search_sink::logs::shield`] keeps the AWS SDK's traces of
//! credentials (access key id, session token, signatures) out of the logs.

use lambda_runtime::tracing::subscriber::layer::SubscriberExt as _;
use lambda_runtime::tracing::subscriber::util::SubscriberInitExt as _;
use lambda_runtime::tracing::subscriber::{EnvFilter, fmt};

/// The filter directives to use and, when a setting was not understood, what to warn about.
#[derive(Debug, PartialEq, Eq)]
pub struct LevelChoice {
    pub directives: String,
    pub warning: Option<String>,
}

/// Picks the level from Lambda's `AWS_LAMBDA_LOG_LEVEL` (TRACE, DEBUG, INFO, WARN, ERROR,
/// FATAL) or else `RUST_LOG` (any `EnvFilter` directives). `tracing` has no FATAL level: it
/// maps to ERROR, the closest that still shows fatal errors. Anything else falls back to INFO
/// with a warning, never silently.
pub fn choose_level(aws_lambda_log_level: Option<&str>, rust_log: Option<&str>) -> LevelChoice {
    let aws = aws_lambda_log_level
        .map(str::trim)
        .filter(|v| !v.is_empty());
    if let Some(level) = aws {
        let mapped = match level.to_ascii_uppercase().as_str() {
            "TRACE" => Some("trace"),
            "DEBUG" => Some("debug"),
            "INFO" => Some("info"),
            "WARN" | "WARNING" => Some("warn"),
            "ERROR" | "FATAL" => Some("error"),
            _ => None,
        };
        return match mapped {
            Some(directives) => LevelChoice {
                directives: directives.to_owned(),
                warning: None,
            },
            None => LevelChoice {
                directives: "info".to_owned(),
                warning: Some(format!(
                    "AWS_LAMBDA_LOG_LEVEL={level:?} is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL; logging at INFO"
                )),
            },
        };
    }
    match rust_log.map(str::trim).filter(|v| !v.is_empty()) {
        Some(directives) if EnvFilter::try_new(directives).is_ok() => LevelChoice {
            directives: directives.to_owned(),
            warning: None,
        },
        Some(directives) => LevelChoice {
            directives: "info".to_owned(),
            warning: Some(format!(
                "RUST_LOG={directives:?} is not a valid filter; logging at INFO"
            )),
        },
        None => LevelChoice {
            directives: "info".to_owned(),
            warning: None,
        },
    }
}

pub fn init() {
    let choice = choose_level(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let filter = EnvFilter::try_new(&choice.directives).unwrap_or_else(|_| EnvFilter::new("info"));
    fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_env_filter(filter)
        .finish()
        .with(search_sink::logs::shield())
        .init();
    if let Some(warning) = choice.warning {
        lambda_runtime::tracing::warn!("{warning}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_levels_map_to_tracing_levels_and_unknown_ones_warn() {
        // (AWS_LAMBDA_LOG_LEVEL, RUST_LOG, directives, warns)
        let table: &[(Option<&str>, Option<&str>, &str, bool)] = &[
            (Some("FATAL"), None, "error", false),
            (Some("fatal"), Some("debug"), "error", false),
            (Some("ERROR"), None, "error", false),
            (Some("WARN"), None, "warn", false),
            (Some("INFO"), Some("trace"), "info", false),
            (Some("DEBUG"), None, "debug", false),
            (Some("TRACE"), None, "trace", false),
            (Some("VERBOSE"), None, "info", true),
            (Some(""), Some("debug"), "debug", false),
            (
                None,
                Some("tweet_indexer_lambda=debug,warn"),
                "tweet_indexer_lambda=debug,warn",
                false,
            ),
            (None, Some("=!="), "info", true),
            (None, None, "info", false),
        ];
        for (aws, rust_log, directives, warns) in table {
            let choice = choose_level(*aws, *rust_log);
            assert_eq!(choice.directives, *directives, "{aws:?} {rust_log:?}");
            assert_eq!(
                choice.warning.is_some(),
                *warns,
                "{aws:?} {rust_log:?}: {choice:?}"
            );
        }
        let warning = choose_level(Some("VERBOSE"), None).warning.unwrap();
        assert!(
            warning.contains("VERBOSE") && warning.contains("FATAL"),
            "{warning}"
        );
    }
}
