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
//!
//! The modules, bottom up: [`args`] (the command line as clap reads it), [`config`] (flags and
//! their variables into the libraries' settings), [`exit`] (the statuses), the subcommands
//! ([`index`], [`dry_run`], [`lifecycle`], [`dashboards`], ...), and [`run`], which dispatches.

mod args;
mod config;
mod dashboards;
mod dry_run;
mod event;
mod exit;
mod index;
mod inputs;
mod interrupt;
mod lifecycle;
mod ordered_output;
mod parallel;
mod preview;
mod report;
mod run;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::args::Cli;
use crate::exit::Status;

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
    let code = match runtime.block_on(run::run(cli, &matches)) {
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
