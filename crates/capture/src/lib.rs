//! `tweet-capture`'s library: reads the X API v2 filtered stream and the compliance streams
//! (one partition each) as the streaming guide asks (incremental gzip, `\r\n` framing across
//! chunks, keep-alives, stall timeout, the reconnect policy by error kind with backoff reset
//! only by progress, deduplication of redelivered tweets and events) and delivers each stream
//! line, untouched, to a sink (rotating gzip NDJSON files, stdout, Amazon Data Firehose,
//! Kinesis Data Streams) checked before anything is read, with a queue between the two bounded
//! in memory (spilling to disk, then holding the reader back), counters, a CloudWatch EMF line
//! a minute and the guide's volume warning. It also runs batch compliance jobs whose results
//! take the same way (`comply`), manages the stream's rules, and classifies every failure
//! into the command's exit code (`exit`).
//!
//! It does not parse tweets into documents nor decide what a compliance event does: the files
//! and Firehose objects it writes are the input of `tweet-indexer` and the Lambda.

pub mod backoff;
pub mod class;
pub mod comply;
pub mod dedup;
pub mod exit;
pub mod framing;
pub mod http;
pub mod message;
pub mod metrics;
pub mod queue;
pub mod record;
pub mod rules;
pub mod run;
pub mod sink;
pub mod stream;

pub use run::{CaptureError, CaptureOptions, Delivery, MetricsOut, capture, deliver};
