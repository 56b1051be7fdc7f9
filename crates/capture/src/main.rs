//! `tweet-capture`: manages the X API v2 filtered stream's rules, captures the stream or one
//! partition of a compliance stream, and runs batch compliance jobs, into Firehose, Kinesis, a
//! directory of gzip NDJSON files or stdout. The API base URL comes from
//! `X_API_URL`, the token from `X_BEARER_TOKEN` (or the file named by `X_BEARER_TOKEN_FILE`).
//! Logs go to stderr, as text on a terminal and JSON otherwise (`--log-format`). The first
//! SIGTERM / SIGINT stops reading and delivers what was read; a second one exits at once.
//! The exit code follows `capture::exit` (the README's table).

mod args;
mod commands;
mod config;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use capture::exit::CommandOutcome;
use capture::metrics::Stats;
use clap::{CommandFactory, FromArgMatches};

use args::{Cli, LogFormat};
use commands::run;
use config::api_url;

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
