//! Logs for CloudWatch: one JSON object per line, fields at the top level (so Logs Insights can
//! filter on `key`, `documents`, ...), no ANSI colours, no timestamp (CloudWatch adds one).
//! The level comes from `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls), else
//! `RUST_LOG`, else `info`.

use lambda_runtime::tracing::subscriber::{EnvFilter, fmt};

pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned());
    let filter =
        EnvFilter::try_new(level.to_ascii_lowercase()).unwrap_or_else(|_| EnvFilter::new("info"));
    fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_env_filter(filter)
        .init();
}
