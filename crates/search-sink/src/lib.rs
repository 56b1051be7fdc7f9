//! Bulk-loads JSON documents into OpenSearch (1-3, Service and Serverless) or Elasticsearch
//! (7-9) so that every operation ends indexed, deleted, or dead-lettered with a reason — or the
//! call fails saying how many operations were not confirmed and from which one on, so the
//! caller can retry the input from there. It also reads back what an index holds (documents by
//! `_id`, search pages in a stable order) for callers that decide what to write from it.
//!
//! It is *not* a document builder: it knows nothing of tweets. Callers hand it
//! [`Operation`]s (an `_id` plus a serialized JSON object, or a delete) with an [`Origin`]
//! (source object + byte offset) used in dead-letter entries.
//!
//! # Use
//! ```no_run
//! # async fn run() -> Result<(), search_sink::SinkError> {
//! use search_sink::{BulkSink, Config, Operation, Origin, SearchClient, dead_letter};
//! use std::sync::Arc;
//! let config = Config::from_env()?; // ES_ENDPOINT, ES_INDEX, ES_AUTH, BULK_*, DEAD_LETTER_*
//! let store = match &config.dead_letter {
//!     Some(target) => Some(dead_letter::open(target).await),
//!     None => None,
//! };
//! let client = Arc::new(SearchClient::connect(config).await?);
//! let index = client.config().index.clone();
//! client.ensure_index(&index, r#"{"mappings":{"properties":{"text":{"type":"text"}}}}"#).await?;
//! let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
//! let mut sink = BulkSink::new(client, deadline, store);
//! let origin = Origin::new("s3://bucket/key", 0);
//! sink.push(Operation::Index { id: "1".into(), source: br#"{"text":"hi"}"#.to_vec(), version: 1 }, origin).await?;
//! let report = sink.finish().await?;
//! assert_eq!(
//!     report.operations,
//!     report.indexed() + report.deleted + report.not_found + report.superseded + report.dead_lettered
//! );
//! # Ok(()) }
//! ```
//!
//! # Behaviour
//! - Transport: `reqwest` on rustls + ring with the platform's roots ([`https`]: the one TLS
//!   stack of the workspace, also for the AWS SDK clients; `SSL_CERT_FILE` names a private CA)
//!   sends the exact bytes that were gzipped and signed; no product check, so OpenSearch works.
//!   A server certificate that is not accepted fails at once ([`SinkError::Certificate`],
//!   with a hint that fits the problem), it is not retried.
//! - Auth ([`Auth`]): basic, Elasticsearch API keys (`Authorization: ApiKey`), SigV4 (`es` /
//!   `aoss`, AWS default credentials chain incl. session tokens) or none. Credentials over plain
//!   `http://` are refused unless the host is loopback or [`Config::allow_insecure_http`] is set.
//! - Batching: one filling batch per target index ([`BulkSink::push`] into the default index,
//!   [`BulkSink::push_to`] any other), each sent as `POST /{index}/_bulk` with no `_index` in
//!   its action lines (so IAM paths and `rest.action.multi.allow_explicit_index: false`
//!   confine writes); at most [`MAX_OPEN_BATCHES`] fill at once and twice the byte limit in
//!   all. Flush at [`Config::bulk_max_bytes`] (5 MiB) of NDJSON or
//!   [`Config::bulk_max_operations`]; gzip on by default. Up to [`Config::bulk_concurrency`]
//!   (2) bulk requests in flight; a batch touching an id still in flight waits for it, so
//!   operations on one id apply in order. [`bulk::encode`] is the pure encoder
//!   (`--dry-run` prints its output).
//! - Versions: every write is an `index`; documents with `version_type=external_gte` at the
//!   caller's version ([`copy_version`]: time, then a fingerprint of the copy), a delete as a
//!   tombstone at [`TOMBSTONE_VERSION`], above every index version, with
//!   `version_type=external`, so replays never undo a delete and a replayed delete is not
//!   counted again ([`Operation`] explains; 409 counts as `superseded`).
//! - Item outcomes: [`classify`] (pure, table-tested). 429/5xx are retried (after a partial
//!   response only those items, with the later operations on their ids); per-document errors
//!   are dead-lettered ([`DeadLetterStore`]; with no store they fail the call,
//!   [`SinkError::PermanentFailures`]); blocks, security and unknown errors, and an
//!   OpenSearch Serverless collection that takes no document ids ([`collection_refusal`]),
//!   fail the call ([`SinkError::Refused`]) with nothing dead-lettered; a missing index is
//!   ensured again once.
//! - Retries: whole requests on 408, 429, 500, 502, 503, 504 ([`is_transient_status`]; 405,
//!   501 and other 4xx fail at once, [`SinkError::Rejected`] with a one-line [`excerpt`] of
//!   the body), timeouts and connection resets. A connection that cannot be made is retried
//!   likewise, or given [`Config::unreachable_attempts`] quick tries and then
//!   [`SinkError::Unreachable`]. Exponential backoff
//!   with full jitter, one state per sink, the last delay shortened to fit the caller's
//!   deadline ([`SinkError::DeadlineExceeded`] names the unconfirmed count). With a dead-letter
//!   store, bulks stop 2 s (at most a fifth of the time) before the deadline: that time is kept
//!   for writing the dead letters still in memory.
//! - Confirmation: one ledger per sink (`ledger.rs`, table-tested) says of every operation
//!   whether it is pending, in flight, confirmed, failed with its dead letter held in memory, or
//!   dead-lettered in the store. [`Report`]'s counts, the errors' unconfirmed counts and
//!   [`BulkSink::first_unconfirmed`] (the first operation not settled: a retry starts there)
//!   all read it; a letter not yet stored is not settled. A caller that acts on confirmed
//!   writes only asks [`BulkSink::track_outcomes`] and takes each confirmed operation's
//!   outcome (applied or superseded) with [`BulkSink::take_outcomes`]. A bulk's timeout
//!   is the base request timeout (60 s) plus 1 s per 256 KiB. 413 splits the batch in halves;
//!   a lone operation still too large is dead-lettered.
//! - Reads (`reads.rs`), for callers that decide what to write from what an index holds:
//!   [`SearchClient::index_exists`], [`SearchClient::mget_sources`] (real-time `_source`s by
//!   `_id`), [`Pages`] (a search in a stable order, page after page with `search_after`),
//!   [`SearchClient::refresh`] (best effort). Bounded by the caller's deadline and retried
//!   like bulks; a missing index is an answer, an incomplete search (a shard failed, timed
//!   out) an error.
//! - [`SearchClient::ensure_index`]: `PUT _index_template` for the index name (auto-created
//!   indices get our mapping), `HEAD`, `PUT` on 404, `resource_already_exists_exception` is
//!   success, missing fields added with `PUT _mapping`, type conflicts fail clearly; every
//!   request retried like bulks within a deadline. Once per process per endpoint + index.
//!   Never deletes an index.
//! - Index families ([`lifecycle`]): time partitions behind an alias through a composable
//!   template, partitions ensured without templates of their own
//!   ([`SearchClient::ensure_partition_before`]), name states, counts, atomic `_aliases`
//!   swaps, and retention policies for ISM (OpenSearch) or ILM (Elasticsearch).
//! - Errors: [`SinkError::class`] says whether to fix a setting, retry as it is, or wait for
//!   someone to fix the server side (one table test).
//! - Logs: no credential at any level. Our SigV4 signing runs with no tracing subscriber (its
//!   traces print the session token), signed and `Authorization` header values are marked
//!   sensitive, `Debug` of [`Auth`] / [`Config`] / [`SearchClient`] prints `***` for secrets
//!   ([`S3DeadLetters`] leaves its SDK client out), and [`logs::shield`] is the filter every binary layers over its subscriber so that the AWS
//!   SDK clients' own traces of credentials stay off whatever `RUST_LOG` says.
//! - Shared with the other binaries: [`emf`], the CloudWatch Embedded Metric Format line writer
//!   (the Lambda's and the capture's metrics), and [`Schedule`] / [`Backoff`], the one backoff
//!   policy (the sink's retries, the capture's reconnects and resends).
//! - OpenSearch Serverless (`aoss`): time-series collections reject custom `_id`s, so use a
//!   *search* collection (ids keep retries idempotent).

pub mod bulk;
mod classify;
mod client;
mod config;
pub mod dead_letter;
mod deadline;
mod delivery;
pub mod emf;
mod ensure;
mod error;
mod error_chain;
pub mod https;
mod ledger;
pub mod lifecycle;
pub mod logs;
mod operation;
mod reads;
mod report;
mod retry;
mod sink;

pub use classify::{ItemClass, classify, collection_refusal, is_transient_status};
pub use client::{Method, RawResponse, SearchClient};
pub use config::{
    Auth, Config, DEFAULT_BULK_CONCURRENCY, DEFAULT_BULK_MAX_BYTES, DEFAULT_BULK_MAX_OPERATIONS,
    DEFAULT_REQUEST_TIMEOUT, DeadLetterTarget, SigV4, SigV4Service,
};
pub use dead_letter::{
    DeadLetter, DeadLetterError, DeadLetterStore, FileDeadLetters, S3DeadLetters,
};
pub use delivery::gzip_bytes;
pub use ensure::{DEFAULT_ENSURE_TIME, EnsureOutcome};
pub use error::{ConfigError, ErrorClass, SinkError, excerpt};
pub use error_chain::error_chain;
pub use http::{HeaderName, HeaderValue};
pub use lifecycle::{LifecycleEngine, NameState};
pub use operation::{Operation, Origin, TOMBSTONE_SOURCE, TOMBSTONE_VERSION, copy_version};
pub use reads::{Hit, MAX_PAGE, MGET_CHUNK, Pages, SearchRequest, SourceFilter};
pub use report::Report;
pub use retry::{Backoff, Schedule};
pub use sink::{BULK_PATH, BulkSink, MAX_OPEN_BATCHES};
