//! Flags and variables into the library's settings: the stream's reconnect settings, the
//! checked sink and the capture's options of a destination's flags, the API URL, the token
//! and the HTTP client.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use capture::CaptureOptions;
use capture::queue::QueueConfig;
use capture::sink::kinesis::KinesisSink;
use capture::sink::{Destination, Sink, dir::DirSink, firehose::FirehoseSink};
use capture::stream::{StreamConfig, Token};
use clap::parser::ValueSource;

use crate::args::{DeliveryArgs, ReconnectArgs};

impl ReconnectArgs {
    pub(crate) fn config(&self) -> StreamConfig {
        StreamConfig {
            stall_timeout: self.stall_timeout,
            max_backoff: self.max_backoff,
            dedup_window: self.dedup_window,
            ..StreamConfig::default()
        }
    }
}

impl DeliveryArgs {
    /// The destination's sink, checked: a sink that cannot work stops here, before anything
    /// is read from X.
    pub(crate) async fn sink(&self) -> Result<Sink> {
        let mut sink = match &self.to {
            Destination::Stdout => Sink::Stdout(tokio::io::stdout()),
            Destination::Dir(path) => Sink::Dir(Box::new(DirSink::new(
                path,
                capture::sink::dir::ROTATE_BYTES,
                capture::sink::dir::ROTATE_AGE,
            )?)),
            Destination::Firehose(name) => {
                Sink::Firehose(FirehoseSink::from_env(name.clone()).await)
            }
            Destination::Kinesis(name) => {
                Sink::Kinesis(KinesisSink::from_env(name.clone(), self.partition_key).await)
            }
        };
        sink.check().await?;
        Ok(sink)
    }

    /// The run's options around `stream`, labelled `label` in the metrics.
    pub(crate) fn options(&self, stream: StreamConfig, label: String) -> CaptureOptions {
        let mut options = CaptureOptions::new(stream, label);
        options.shutdown_timeout = self.shutdown_timeout;
        options.queue = QueueConfig {
            memory_bytes: usize::try_from(u64::from(self.buffer_mib) * 1024 * 1024)
                .unwrap_or(usize::MAX),
            spool_root: Some(self.spool_dir.clone().unwrap_or_else(std::env::temp_dir)),
            spool_bytes: self.spool_mib.saturating_mul(1024 * 1024),
        };
        options
    }
}

/// `--api-url` / `X_API_URL`, checked: an http(s) URL with a host. The message names the
/// variable when the value came from it.
pub(crate) fn api_url(matches: &clap::ArgMatches, value: &str) -> Result<String> {
    let name = match matches.value_source("api_url") {
        Some(ValueSource::EnvVariable) => "X_API_URL",
        _ => "--api-url",
    };
    let url = reqwest::Url::parse(value).map_err(|e| anyhow!("{name} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        bail!("{name} must be an http:// or https:// URL with a host, like https://api.x.com");
    }
    Ok(value.to_owned())
}

pub(crate) fn token() -> Result<Token> {
    if let Ok(token) = std::env::var("X_BEARER_TOKEN")
        && !token.trim().is_empty()
    {
        return Ok(Token::new(token));
    }
    if let Some(path) = std::env::var_os("X_BEARER_TOKEN_FILE") {
        let path = PathBuf::from(path);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("X_BEARER_TOKEN_FILE {}: cannot read", path.display()))?;
        if !text.trim().is_empty() {
            return Ok(Token::new(text));
        }
        bail!("X_BEARER_TOKEN_FILE {}: the file is empty", path.display());
    }
    bail!("set X_BEARER_TOKEN (or X_BEARER_TOKEN_FILE to a file holding it)")
}

pub(crate) fn http_client() -> Result<reqwest::Client> {
    // gzip is decoded by the reader itself, chunk by chunk; automatic decoding is off so the
    // framing sees the same bytes whatever features the workspace enables.
    search_sink::https::reqwest_client_builder()
        .context("setting up TLS")?
        .no_gzip()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("tweet-capture/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")
}
