//! The streaming pipeline shared by the Lambda and the CLI: an object's bytes (S3 GetObject or a
//! local file) flow through gunzip and framing ([`tweets`]) on a blocking thread, and the
//! resulting index / delete operations flow through a bounded channel into the bulk sink
//! ([`search_sink`]). Nothing holds a whole object, nor a Kinesis batch's inflated records:
//! memory is bounded by the record size limit, the channel depth and the bulk requests.
//!
//! This crate is glue: it does not parse tweets (that is `tweets`) nor speak HTTP to the search
//! server (that is `search-sink`). It owns where bytes come from ([`source`]), the per-object
//! loop ([`run`]), the records of a Kinesis batch, streamed the same way ([`batch`]), the one
//! way from their items to the sink for both, with what X requires applied on the way
//! (`feed.rs`: documents grouped for one register look-up, compliance events written and
//! applied), the compliance I/O ([`compliance`]: registers in `{index}_compliance`, fixes of
//! indexed documents, the sweep, the id export), the no-server `--dry-run` path ([`dry_run`]),
//! the optional author filter ([`filter`]), KPL aggregates ([`kpl`]), the per-object
//! [`ObjectSummary`], the heap policy for streaming ([`memory`]) and the index's lifecycle
//! ([`lifecycle`]: each operation routed to its time partition, the partition template and
//! retention, `retention apply`, `migrate`) and the optional DynamoDB archive of what the
//! index accepted ([`archive`]: `ARCHIVE_TABLE`).

pub mod archive;
pub mod batch;
pub mod compliance;
mod compliance_index;
pub mod dry_run;
mod feed;
pub mod filter;
mod indexer;
pub mod kpl;
pub mod lifecycle;
pub mod memory;
pub mod run;
pub mod source;
mod summary;
mod work;

pub use batch::{BatchOutcome, BatchRecord};
pub use compliance::{Fixed, IdPages, SweepError, SweepReport};
pub use filter::AuthorFilter;
pub use run::{Indexer, PipelineError};
pub use source::{Body, Object, ObjectStore, S3Store, SourceError};
pub use summary::ObjectSummary;
