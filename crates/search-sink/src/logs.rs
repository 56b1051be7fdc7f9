//! Keeps credentials out of the logs of every binary, whatever the log level a user picks.
//!
//! The AWS SDK's own events print credentials at verbose levels: aws-sigv4 traces the
//! canonical request and the string to sign (access key id, session token) for every S3,
//! Firehose, Kinesis and STS call; the orchestrator traces each request with its
//! `Authorization` header (access key id, signature) and each response body read into memory
//! (the secret key and session token that STS, IMDS and the container endpoint hand out);
//! aws-config prints profile credentials at INFO. Our own bulk signer already signs with no
//! subscriber ([`crate::SearchClient`]); the SDK clients cannot be shielded that way.
//!
//! [`shield`] is a filter layer that caps those targets at the most verbose level where none
//! of their events carries a credential. It is a layer of its own, not directives added to the
//! `EnvFilter`: a user's `RUST_LOG` (a more specific target such as
//! `aws_sigv4::http_request=trace`, or a span filter such as `[try_attempt]=trace`) can
//! override directives of the same filter, but not a second filter that must also agree.
//! Every binary installs it on top of its own subscriber:
//!
//! ```
//! use tracing_subscriber::prelude::*;
//! let subscriber = tracing_subscriber::fmt()
//!     .with_max_level(tracing::Level::TRACE)
//!     .finish()
//!     .with(search_sink::logs::shield());
//! # drop(subscriber);
//! ```

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, Layer};

/// Targets whose events print a credential, each with the most verbose level at which none
/// does (read from the sources of the SDK versions in `Cargo.lock`; `OFF`: not even errors).
/// Targets match by prefix; the most specific one wins.
pub const SECRET_BEARING_TARGETS: [(&str, LevelFilter); 8] = [
    // TRACE: the canonical request and string to sign of every SDK call (access key id,
    // session token), and of event-stream messages.
    ("aws_sigv4", LevelFilter::OFF),
    // TRACE: "transmitting request" (the `Authorization` header: access key id and signature;
    // `x-amz-security-token`), "read HTTP response body" (the STS / IMDS / container
    // credentials responses: secret key and session token), the runtime components (the
    // credentials provider: access key id).
    (
        "aws_smithy_runtime::client::orchestrator",
        LevelFilter::DEBUG,
    ),
    // TRACE: "resolved identity"; DEBUG: the endpoint parameters, which carry the identity
    // (access key id).
    (
        "aws_smithy_runtime::client::orchestrator::auth",
        LevelFilter::INFO,
    ),
    (
        "aws_smithy_runtime::client::orchestrator::endpoints",
        LevelFilter::INFO,
    ),
    // DEBUG: the endpoint parameters again (with the identity from an earlier attempt).
    ("aws_sdk_s3::endpoint_auth", LevelFilter::INFO),
    // TRACE: signed event-stream messages.
    ("aws_smithy_http::event_stream", LevelFilter::DEBUG),
    // INFO: "loaded base credentials" / "loaded assume role credentials" (access key id);
    // DEBUG: a profile's static keys as the chain's base provider.
    ("aws_config", LevelFilter::WARN),
    // WARN: "invalid auth token" prints the container credentials endpoint's token.
    ("aws_config::ecs", LevelFilter::ERROR),
];

/// The filter layer that caps [`SECRET_BEARING_TARGETS`]; every other target passes at any
/// level (the subscriber's own filter still decides).
pub fn shield() -> Shield {
    Shield(
        Targets::new()
            .with_default(LevelFilter::TRACE)
            .with_targets(SECRET_BEARING_TARGETS),
    )
}

/// See [`shield`]. A layer of its own rather than `Targets` itself: `Targets` hints that it
/// wants TRACE (its default), which would raise the process-wide maximum level to TRACE and
/// make every disabled `trace!` / `debug!` in a hot loop consult its callsite; the shield only
/// ever removes events, so it gives no hint and the subscriber's own filter sets the maximum.
#[derive(Debug, Clone)]
pub struct Shield(Targets);

impl Shield {
    /// Whether an event of `target` at `level` gets through.
    pub fn would_enable(&self, target: &str, level: &tracing::Level) -> bool {
        self.0.would_enable(target, level)
    }
}

impl<S: tracing::Subscriber> Layer<S> for Shield {
    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        <Targets as Layer<S>>::register_callsite(&self.0, metadata)
    }

    fn enabled(&self, metadata: &tracing::Metadata<'_>, ctx: Context<'_, S>) -> bool {
        <Targets as Layer<S>>::enabled(&self.0, metadata, ctx)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn the_shield_caps_each_target_and_lets_the_rest_through() {
        let shield = shield();
        // (target, level, passes)
        let table = [
            ("aws_sigv4::http_request::sign", Level::TRACE, false),
            ("aws_sigv4::http_request::sign", Level::ERROR, false),
            (
                "aws_smithy_runtime::client::orchestrator",
                Level::TRACE,
                false,
            ),
            (
                "aws_smithy_runtime::client::orchestrator::auth",
                Level::TRACE,
                false,
            ),
            (
                "aws_smithy_runtime::client::orchestrator::http",
                Level::DEBUG,
                true,
            ),
            (
                "aws_smithy_runtime::client::orchestrator::endpoints",
                Level::DEBUG,
                false,
            ),
            ("aws_sdk_s3::endpoint_auth", Level::DEBUG, false),
            ("aws_sdk_s3::operation::get_object", Level::TRACE, true),
            ("aws_smithy_runtime::client::retries", Level::TRACE, true),
            ("aws_smithy_http::event_stream::sender", Level::TRACE, false),
            ("aws_config::profile::credentials", Level::INFO, false),
            ("aws_config::meta::credentials::chain", Level::WARN, true),
            ("aws_config::ecs", Level::WARN, false),
            ("aws_config::ecs", Level::ERROR, true),
            ("search_sink::sink", Level::TRACE, true),
            ("hyper_util::client", Level::TRACE, true),
        ];
        for (target, level, passes) in table {
            assert_eq!(
                shield.would_enable(target, &level),
                passes,
                "{target} at {level}"
            );
        }
    }

    #[test]
    fn the_shield_leaves_the_maximum_level_to_the_subscriber() {
        use tracing::Subscriber as _;
        use tracing_subscriber::layer::SubscriberExt as _;
        let info = || {
            tracing_subscriber::fmt()
                .with_max_level(Level::INFO)
                .finish()
        };
        assert_eq!(
            info().with(shield()).max_level_hint(),
            Some(LevelFilter::INFO)
        );
        // What `Targets` as the layer would do.
        let targets = Targets::new().with_default(LevelFilter::TRACE);
        assert_eq!(
            info().with(targets).max_level_hint(),
            Some(LevelFilter::TRACE)
        );
    }
}
