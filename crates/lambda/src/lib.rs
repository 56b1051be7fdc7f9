//! The AWS Lambda front door: each invocation is read into one typed event
//! ([`events::Trigger`]) and dispatched on it. S3 put notifications (direct, through SQS or
//! SNS, or EventBridge) and S3 Batch Operations tasks ([`batch_ops`]) name objects; each is
//! streamed through the [`pipeline`] into the search index; the result is a JSON summary per
//! object, JSON logs for CloudWatch Logs Insights and one Embedded Metric Format line per
//! object ([`metrics`]).
//! Kinesis batches ([`kinesis`]) carry the tweets themselves and go through the pipeline as one
//! batch, with one metrics line per batch (and per Batch Operations task).
//!
//! [`fgac`] is the deploy-time side: the CloudFormation custom resource (binary
//! `tweet-indexer-fgac-setup`) that maps the indexer's role to a least-privilege role of the
//! domain's fine-grained access control.
//!
//! Not here: parsing tweets (`tweets`), HTTP to the search server (`search-sink`), the streaming
//! loop (`pipeline`). `main.rs` only wires configuration, logging and the runtime.

pub mod batch_ops;
pub mod event_error;
pub mod events;
pub mod fgac;
pub mod handler;
pub mod kinesis;
pub mod logging;
pub mod metrics;
pub mod s3_key;

pub use handler::Handler;
