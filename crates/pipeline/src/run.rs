//! The per-object loop: bytes -> [`tweets::Extractor`] (blocking thread) -> bounded channel ->
//! [`search_sink::BulkSink`] (async). Parsing and enrichment use one core while bulk requests
//! are in flight; the channel's depth bounds what is in memory between the two.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant as StdInstant;

use search_sink::{
    Config, DeadLetterStore, DeadLetterTarget, EnsureOutcome, Operation, SearchClient, SinkError,
};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tweets::{Extractor, ExtractorOptions, FramerOptions, Item};

use crate::archive::{Archive, ArchiveError, ArchiveWriter};
use crate::compliance_index::ComplianceIndex;
use crate::feed::{Feed, FeedError};
use crate::filter::AuthorFilter;
pub use crate::indexer::Indexer;
use crate::lifecycle::{Lifecycle, Settings};
use crate::source::{Object, S3Store};
use crate::summary::ObjectSummary;
use crate::work::{Work, decimal_id};

/// Work items in flight between the extractor thread and the sink: small (one document each).
pub(crate) const CHANNEL_DEPTH: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The search side failed; the object must be retried (ids make that safe).
    #[error("{object}: {source}")]
    Sink { object: String, source: SinkError },
    /// Reading the object failed part-way (the reader: network). Corrupt data is never this:
    /// it is invalid records, and the object completes.
    #[error("{object}: read failed at byte {offset} of the decompressed stream: {detail}")]
    Read {
        object: String,
        offset: u64,
        detail: String,
    },
    /// The archive could not be written ([`crate::archive`]); the object must be retried.
    #[error("{object}: {source}")]
    Archive {
        object: String,
        source: ArchiveError,
    },
    /// The extractor thread died (a bug): reported, never swallowed.
    #[error("{object}: extractor thread failed: {detail}")]
    Extractor { object: String, detail: String },
}

impl FeedError {
    /// The pipeline's error for `object`.
    pub(crate) fn for_object(self, object: String) -> PipelineError {
        match self {
            FeedError::Sink(source) => PipelineError::Sink { object, source },
            FeedError::Archive(source) => PipelineError::Archive { object, source },
        }
    }
}

impl Indexer {
    /// Connects the sink side from `config`; an S3 dead-letter store gets an S3 client from
    /// the environment.
    pub async fn connect(config: Config) -> Result<Self, SinkError> {
        let s3 = match &config.dead_letter {
            Some(DeadLetterTarget::S3 { .. }) => Some(S3Store::from_env().await.client().clone()),
            _ => None,
        };
        Self::build(config, s3).await
    }

    /// Like [`Indexer::connect`], with the S3 client the dead-letter store should use.
    pub async fn connect_with_s3(
        config: Config,
        s3: aws_sdk_s3::Client,
    ) -> Result<Self, SinkError> {
        Self::build(config, Some(s3)).await
    }

    async fn build(config: Config, s3: Option<aws_sdk_s3::Client>) -> Result<Self, SinkError> {
        // A configured store is never dropped: without a client given, S3 gets one from the
        // AWS default chain.
        let dead_letters: Option<Arc<dyn DeadLetterStore>> = match &config.dead_letter {
            Some(target) => Some(search_sink::dead_letter::open_with(target, s3).await),
            None => None,
        };
        let lifecycle = Arc::new(Lifecycle::new(&config.index, Settings::default()));
        let client = Arc::new(SearchClient::connect(config).await?);
        let options = ExtractorOptions::default();
        Ok(Indexer {
            extractor: Arc::new(Extractor::new(options)),
            framing: options.framer,
            compliance: Arc::new(ComplianceIndex::of(&client.config().index)),
            client,
            dead_letters,
            filter: AuthorFilter::default(),
            lifecycle,
            archive: None,
        })
    }

    /// Partitions, sizing and retention ([`crate::lifecycle`]); the default is one index,
    /// `ES_INDEX`, kept forever.
    pub fn with_lifecycle(mut self, settings: Settings) -> Self {
        self.lifecycle = Arc::new(Lifecycle::new(&self.client.config().index, settings));
        self
    }

    /// Also writes what the index accepts to the DynamoDB archive ([`crate::archive`]).
    pub fn with_archive(mut self, archive: Archive) -> Self {
        self.archive = Some(archive);
        self
    }

    pub fn archive(&self) -> Option<&Archive> {
        self.archive.as_ref()
    }

    /// A writer to the archive, if there is one, retrying with the client's delays.
    pub(crate) fn archive_writer(&self) -> Option<ArchiveWriter> {
        let config = self.client.config();
        self.archive.as_ref().map(|archive| {
            ArchiveWriter::new(
                archive.clone(),
                config.retry_initial_delay,
                config.retry_max_delay,
            )
        })
    }

    pub fn lifecycle(&self) -> &Lifecycle {
        &self.lifecycle
    }

    /// The shared search client.
    pub fn client_arc(&self) -> &Arc<SearchClient> {
        &self.client
    }

    /// Indexes only the tweets of the followed authors (see [`AuthorFilter`]).
    pub fn with_author_filter(mut self, filter: AuthorFilter) -> Self {
        self.filter = filter;
        self
    }

    pub fn client(&self) -> &SearchClient {
        &self.client
    }

    pub fn extractor(&self) -> &Extractor {
        &self.extractor
    }

    /// Creates the index with `mappings/twitter.json` or checks and extends its mapping;
    /// partitioned, installs the partition template (and retention policy) instead, and
    /// partitions are created as writes reach them. The sink does the work once per process;
    /// later calls return at once.
    pub async fn ensure_index(&self) -> Result<EnsureOutcome, SinkError> {
        self.ensure_index_before(Instant::now() + search_sink::DEFAULT_ENSURE_TIME)
            .await
    }

    /// Like [`Indexer::ensure_index`], every request and retry bounded by `deadline` (an
    /// invocation's) instead of the sink's own 60 s.
    pub async fn ensure_index_before(&self, deadline: Instant) -> Result<EnsureOutcome, SinkError> {
        self.lifecycle.ensure(&self.client, deadline).await
    }

    /// Streams one object into the index. `deadline` bounds every request and retry; an error
    /// means some operations of this object were not confirmed and the object should be
    /// retried as a whole.
    pub async fn index(
        &self,
        object: Object,
        deadline: Instant,
    ) -> Result<ObjectSummary, PipelineError> {
        let mut summary = ObjectSummary::new(object.name.as_str());
        self.index_into(object, deadline, &mut summary)
            .await
            .map(|()| summary)
    }

    /// Like [`Indexer::index`], counting into `summary` as it goes: after an error it still
    /// holds what was read and what the server confirmed before the failure (documents
    /// written before an error are real and belong in the totals and metrics).
    pub async fn index_into(
        &self,
        object: Object,
        deadline: Instant,
        summary: &mut ObjectSummary,
    ) -> Result<(), PipelineError> {
        let started = StdInstant::now();
        let name: Arc<str> = Arc::from(object.name.as_str());
        let bytes_read = Arc::new(AtomicU64::new(0));
        let resumes = object.resumes.clone();
        let received_at = object.received_at.unwrap_or_else(crate::compliance::now_ms);
        let counter = bytes_read.clone();
        let reader = Counted {
            inner: object.body.into_blocking_reader(deadline),
            counter,
        };
        let (tx, mut rx) = mpsc::channel::<Work>(CHANNEL_DEPTH);
        let extractor = self.extractor.clone();
        let framing = self.framing;
        let filter = self.filter.clone();
        let keep_raw = self.archive.is_some();
        let gzip = Arc::new(AtomicBool::new(false));
        let producer_gzip = gzip.clone();
        let producer = tokio::task::spawn_blocking(move || {
            let source = Extraction {
                extractor: &extractor,
                filter: &filter,
                framing,
                received_at,
                keep_raw,
                last_raw: Default::default(),
            };
            produce(&source, reader, &tx, &producer_gzip)
        });

        let mut feed = Feed::new(self, deadline);
        let sink_error = |source: FeedError| source.for_object(name.to_string());
        // Whatever happens, the counts so far are kept (the sink's report holds what the
        // server confirmed): an error returns with `summary` filled in.
        let record = |summary: &mut ObjectSummary, feed: &Feed| {
            summary.apply(feed.report());
            summary.apply_archive(feed.archive_counts());
            summary.bytes_read = bytes_read.load(Ordering::Relaxed);
            summary.resumed_reads = resumes.load(Ordering::Relaxed);
            summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        };
        let keep = |summary: &mut ObjectSummary, feed: &Feed, error: PipelineError| {
            record(summary, feed);
            error
        };
        while let Some(work) = feed
            .next(&mut rx, summary)
            .await
            .map_err(|e| keep(summary, &feed, sink_error(e)))?
        {
            let gzip = gzip.load(Ordering::Relaxed);
            feed.take(work, &name, gzip, summary, 0)
                .await
                .map_err(|e| keep(summary, &feed, sink_error(e)))?;
        }
        let produced = producer.await;
        // Whatever was read is sent before a read error is returned: its counts are real.
        let flushed = feed.flush(summary).await;
        summary.records = match produced {
            Ok(Ok(records)) => records,
            Ok(Err(ReadFailure {
                records,
                offset,
                detail,
            })) => {
                // The records framed before the failure were counted and sent: say so.
                summary.records = records;
                let error = PipelineError::Read {
                    object: name.to_string(),
                    offset,
                    detail,
                };
                return Err(keep(summary, &feed, error));
            }
            Err(e) => {
                let error = PipelineError::Extractor {
                    object: name.to_string(),
                    detail: e.to_string(),
                };
                return Err(keep(summary, &feed, error));
            }
        };
        flushed.map_err(|e| keep(summary, &feed, sink_error(e)))?;
        let finished = feed.complete(summary).await;
        record(summary, &feed);
        finished.map_err(sink_error)
    }
}

/// Counts the bytes read (the object's `bytes_read`, kept after an error too).
struct Counted<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Where and why reading an object failed, and how many records were framed before.
struct ReadFailure {
    records: u64,
    offset: u64,
    detail: String,
}

/// Where a record was framed (buffer address, length) and its CRC: the same record.
pub(crate) type RecordKey = (usize, usize, u32);

/// What the extractor thread needs to turn an input's items into work.
pub(crate) struct Extraction<'a> {
    pub(crate) extractor: &'a Extractor,
    pub(crate) filter: &'a AuthorFilter,
    pub(crate) framing: FramerOptions,
    /// When the input was received, epoch ms: the time of compliance records that carry
    /// none (see [`Object::received_at`]).
    pub(crate) received_at: i64,
    /// Whether documents carry their raw record (for the archive).
    pub(crate) keep_raw: bool,
    /// The last record copied for the archive (where it was framed, its length and CRC),
    /// shared by every tweet it holds.
    pub(crate) last_raw: std::cell::RefCell<Option<(RecordKey, Arc<[u8]>)>>,
}

/// Frames and extracts on the blocking thread ([`tweets::Items`], the one frame -> items
/// loop). Returns the number of records, or where and why reading failed. Stops early
/// (quietly) when the receiver is gone: the sink failed and that error is the one reported.
/// Sets `gzip` once the object turns out to be gzip (warnings then name decompressed offsets).
fn produce<R: std::io::Read>(
    source: &Extraction<'_>,
    reader: R,
    tx: &mpsc::Sender<Work>,
    gzip: &AtomicBool,
) -> Result<u64, ReadFailure> {
    let mut items = source.extractor.items_with(reader, source.framing);
    while let Some(item) = items.next() {
        gzip.store(items.is_gzip(), Ordering::Relaxed);
        if tx
            .blocking_send(source.work_for(item, items.record_crc(), items.record()))
            .is_err()
        {
            return Ok(items.records());
        }
    }
    match items.read_error() {
        Some(e) => Err(ReadFailure {
            records: items.records(),
            offset: e.offset,
            detail: e.kind.to_string(),
        }),
        None => Ok(items.records()),
    }
}

impl Extraction<'_> {
    /// The work an item gives, after the author filter: the one conversion used by the
    /// object path, Kinesis batches and `--dry-run`, so all three send the same operations.
    /// `record_crc` is the item's record's ([`tweets::Items::record_crc`]), for its version;
    /// `record` its bytes ([`tweets::Items::record`]), kept with a document for the archive.
    pub(crate) fn work_for(&self, item: Item, record_crc: u32, record: &[u8]) -> Work {
        if self.filter.rejects(&item) {
            Work::Filtered
        } else {
            let raw = self.keep_raw.then(|| self.raw(record, record_crc));
            to_work(item, record_crc, self.received_at, raw)
        }
    }

    /// `record` as shared bytes: the copy made for the record's first tweet serves the others.
    fn raw(&self, record: &[u8], record_crc: u32) -> Arc<[u8]> {
        let key = (record.as_ptr() as usize, record.len(), record_crc);
        let mut last = self.last_raw.borrow_mut();
        match &*last {
            Some((k, raw)) if *k == key => raw.clone(),
            _ => {
                let raw: Arc<[u8]> = Arc::from(record);
                *last = Some((key, raw.clone()));
                raw
            }
        }
    }
}

fn to_work(item: Item, record_crc: u32, received_at: i64, raw: Option<Arc<[u8]>>) -> Work {
    match item {
        // The compliance events a tweet implies of itself are already applied to `doc`;
        // their registers are written with the others.
        Item::Document {
            id,
            offset,
            doc,
            warnings,
            compliance,
        } => Work::Doc {
            timestamp_ms: doc.timestamp_ms,
            ids: (decimal_id(&id), doc.user.id),
            own: compliance
                .iter()
                .flat_map(|event| event.registers(received_at))
                .collect(),
            op: Operation::Index {
                source: doc.to_json(),
                id,
                version: tweet_version(doc.timestamp_ms, record_crc),
            },
            offset,
            warnings: warnings.len() as u64,
            raw,
        },
        Item::Delete {
            id,
            offset,
            event_at,
        } => Work::Delete {
            op: Operation::Delete { id },
            offset,
            event_at,
        },
        Item::Compliance { event, offset } => Work::Compliance {
            registers: event.registers(received_at),
            event_at: event.event_at,
            offset,
        },
        Item::Control { .. } => Work::Control,
        Item::Invalid { offset, reason } => Work::Invalid { offset, reason },
    }
}

/// The external version of a tweet's document ([`search_sink::copy_version`]): its time, so a
/// replayed older copy never overwrites a newer one and never resurrects a delete (a
/// tombstone's version is higher), then the CRC-32 of the record it was read from, so that of
/// two copies with the same time the same one wins whatever their order. A tweet without a
/// time has the fingerprint alone.
pub(crate) fn tweet_version(timestamp_ms: Option<i64>, record_crc: u32) -> u64 {
    let time = timestamp_ms
        .and_then(|t| u64::try_from(t).ok())
        .unwrap_or(0);
    search_sink::copy_version(time, record_crc)
}
