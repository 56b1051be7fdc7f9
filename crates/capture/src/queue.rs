//! The queue between the reader and the sink, bounded in memory: records wait in memory up to
//! a byte budget, then in spool files on disk up to a second budget; past both, the reader
//! waits (backpressure) until the sink catches up. Nothing is dropped here.
//!
//! Order is kept: once a record went to disk, the ones after it go there too until the disk
//! part is drained, so memory always holds the oldest records. Records taken from memory keep
//! their share of the memory budget until the sink is done with them (a sink that keeps
//! retrying holds them), so memory is bounded by the budget plus one batch read back from
//! disk ([`BATCH_BYTES`]).
//!
//! The spool lives in a directory of its own under the spool root, made at start (a root that
//! cannot be written stops the run before anything is read) and removed at the end. It holds
//! records across a sink outage, not across the death of the process: what is still queued
//! when the process ends is counted as not delivered (see `Stats::undelivered`).
//!
//! Spool files are written and read with blocking calls under the queue's lock: a record is
//! a few KiB, the files are buffered, and a thread for them would add a copy and a channel
//! for no gain at stream rates (as in `sink::dir`).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, Semaphore};

use crate::metrics::Stats;
use crate::record::Record;

/// The most records one batch holds (Firehose's and Kinesis's per-call record limit).
pub const BATCH_RECORDS: usize = 500;
/// The most bytes of records one batch read back from the spool holds.
pub const BATCH_BYTES: usize = 4 * 1024 * 1024;
/// A spool file is closed for writing at this size (and deleted once read).
const SPOOL_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Where and how much the queue may hold.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// Bytes of records held in memory (queued, or in the sink's hands).
    pub memory_bytes: usize,
    /// The directory the spool's own directory is made in; `None`: no spool (the reader
    /// waits as soon as memory is full).
    pub spool_root: Option<PathBuf>,
    /// Bytes of records the spool may hold.
    pub spool_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("--spool-dir {dir}: {source}")]
    SpoolDir {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// The sink side stopped taking records.
#[derive(Debug, thiserror::Error)]
#[error("the sink stopped")]
pub struct Closed;

/// A new queue: its sending half (for the reader) and its receiving half (for the sink).
pub fn queue(config: &QueueConfig) -> Result<(QueueTx, QueueRx), QueueError> {
    let spool = match &config.spool_root {
        Some(root) if config.spool_bytes > 0 => Some(Spool::create(root, config.spool_bytes)?),
        _ => None,
    };
    let memory_max = u32::try_from(config.memory_bytes.max(1)).unwrap_or(u32::MAX);
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            memory: VecDeque::new(),
            spool,
            sender_gone: false,
            receiver_gone: false,
        }),
        budget: Arc::new(Semaphore::new(memory_max as usize)),
        memory_max,
        readable: Notify::new(),
        room: Notify::new(),
    });
    Ok((
        QueueTx {
            shared: Arc::clone(&shared),
        },
        QueueRx { shared },
    ))
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    budget: Arc<Semaphore>,
    memory_max: u32,
    /// Records arrived, or the sender is gone.
    readable: Notify,
    /// The spool was read from, or the receiver is gone.
    room: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep going with it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[derive(Debug)]
struct State {
    memory: VecDeque<Record>,
    spool: Option<Spool>,
    sender_gone: bool,
    receiver_gone: bool,
}

impl State {
    fn spooled(&self) -> u64 {
        self.spool.as_ref().map_or(0, |s| s.records)
    }
}

/// The reader's half.
#[derive(Debug)]
pub struct QueueTx {
    shared: Arc<Shared>,
}

impl QueueTx {
    /// Queues the record: in memory while there is room there and nothing waits on disk, else
    /// on disk while the spool has room, else waits for either. `Err` when the sink is gone.
    pub async fn send(&self, mut record: Record, stats: &Stats) -> Result<(), Closed> {
        let want = u32::try_from(record.line.len().max(1))
            .unwrap_or(u32::MAX)
            .min(self.shared.memory_max);
        let mut waited = false;
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            let wait_for_memory = {
                let mut state = self.shared.lock();
                if state.receiver_gone {
                    return Err(Closed);
                }
                if state.spooled() == 0
                    && let Ok(permit) = Arc::clone(&self.shared.budget).try_acquire_many_owned(want)
                {
                    record.budget = Some(permit);
                    self.queued(state, record, stats);
                    return Ok(());
                }
                match state.spool.as_mut() {
                    Some(spool) if spool.has_room(&record) => match spool.append(&record) {
                        Ok(()) => {
                            drop(state);
                            stats.queued.fetch_add(1, Ordering::Relaxed);
                            stats.spooled.fetch_add(1, Ordering::Relaxed);
                            self.shared.readable.notify_one();
                            return Ok(());
                        }
                        Err(e) => {
                            // The record is still in hand: it waits for memory instead.
                            tracing::error!(error = %e, "cannot write to the spool: records now wait for room in memory");
                            spool.broken = true;
                            state.spooled() == 0
                        }
                    },
                    // Memory is the only place left when nothing waits on disk.
                    _ => state.spooled() == 0,
                }
            };
            if !waited {
                waited = true;
                stats.backpressure_waits.fetch_add(1, Ordering::Relaxed);
            }
            if wait_for_memory {
                let permit = tokio::select! {
                    p = Arc::clone(&self.shared.budget).acquire_many_owned(want) => p.map_err(|_| Closed)?,
                    () = &mut room => continue,
                };
                let state = self.shared.lock();
                if state.receiver_gone {
                    return Err(Closed);
                }
                if state.spooled() == 0 {
                    record.budget = Some(permit);
                    self.queued(state, record, stats);
                    return Ok(());
                }
            } else {
                room.await;
            }
        }
    }

    /// Puts a record that holds its memory budget at the end of the memory part.
    fn queued(&self, mut state: MutexGuard<'_, State>, record: Record, stats: &Stats) {
        state.memory.push_back(record);
        drop(state);
        stats.queued.fetch_add(1, Ordering::Relaxed);
        self.shared.readable.notify_one();
    }
}

impl Drop for QueueTx {
    fn drop(&mut self) {
        self.shared.lock().sender_gone = true;
        self.shared.readable.notify_one();
    }
}

/// The sink's half.
#[derive(Debug)]
pub struct QueueRx {
    shared: Arc<Shared>,
}

impl QueueRx {
    /// The oldest records, at most [`BATCH_RECORDS`] (and [`BATCH_BYTES`] when read back from
    /// disk); waits for some. `None` once the sender is gone and everything was taken.
    /// Cancel-safe: records are only taken when it returns.
    pub async fn next_batch(&mut self, stats: &Stats) -> Option<Vec<Record>> {
        loop {
            let readable = self.shared.readable.notified();
            tokio::pin!(readable);
            readable.as_mut().enable();
            {
                let mut state = self.shared.lock();
                if !state.memory.is_empty() {
                    let n = state.memory.len().min(BATCH_RECORDS);
                    return Some(state.memory.drain(..n).collect());
                }
                if let Some(spool) = state.spool.as_mut()
                    && spool.records > 0
                {
                    let batch = spool.read_batch(BATCH_RECORDS, BATCH_BYTES, stats);
                    drop(state);
                    self.shared.room.notify_waiters();
                    if !batch.is_empty() {
                        return Some(batch);
                    }
                    continue;
                }
                if state.sender_gone {
                    return None;
                }
            }
            readable.await;
        }
    }

    /// Records still queued (memory and spool).
    pub fn len(&self) -> u64 {
        let state = self.shared.lock();
        state.memory.len() as u64 + state.spooled()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for QueueRx {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_gone = true;
        state.memory.clear();
        drop(state);
        self.shared.budget.close();
        self.shared.room.notify_waiters();
    }
}

/// Spool files: length-prefixed records, appended to the newest file, read from the oldest.
/// A file is only ever being written or being read: the one being written is closed before
/// it is read.
#[derive(Debug)]
struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    /// Bytes and records written and not yet read back.
    bytes: u64,
    records: u64,
    writing: Option<SpoolFile<BufWriter<File>>>,
    /// Closed files, oldest first, with their record counts.
    closed: VecDeque<(PathBuf, u64)>,
    reading: Option<SpoolFile<BufReader<File>>>,
    next_file: u64,
    /// A write failed (disk full): no more appends.
    broken: bool,
}

#[derive(Debug)]
struct SpoolFile<T> {
    path: PathBuf,
    io: T,
    /// Records in the file (written so far / left to read).
    records: u64,
    /// Bytes of complete records written (a failed write is cut back to this).
    bytes: u64,
}

impl Spool {
    fn create(root: &Path, max_bytes: u64) -> Result<Spool, QueueError> {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let dir = root.join(format!(
            "tweet-capture-spool-{}-{millis}",
            std::process::id()
        ));
        let fail = |source| QueueError::SpoolDir {
            dir: root.to_owned(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(fail)?;
        // Prove it takes a write before anything is read from X.
        let probe = dir.join("probe");
        File::create(&probe)
            .and_then(|mut f| f.write_all(b"probe"))
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(fail)?;
        Ok(Spool {
            dir,
            max_bytes,
            bytes: 0,
            records: 0,
            writing: None,
            closed: VecDeque::new(),
            reading: None,
            next_file: 0,
            broken: false,
        })
    }

    fn has_room(&self, record: &Record) -> bool {
        !self.broken && self.bytes + frame_len(record) <= self.max_bytes
    }

    fn append(&mut self, record: &Record) -> std::io::Result<()> {
        if self.writing.is_none() {
            self.next_file += 1;
            let path = self.dir.join(format!("spool-{:08}.bin", self.next_file));
            let file = File::create(&path)?;
            self.writing = Some(SpoolFile {
                path,
                io: BufWriter::new(file),
                records: 0,
                bytes: 0,
            });
        }
        let Some(file) = self.writing.as_mut() else {
            return Err(std::io::Error::other("no spool file"));
        };
        let frame = encode(record);
        if let Err(e) = file.io.write_all(&frame) {
            // Cut a half-written frame so that the file stays readable.
            let _ = file.io.flush();
            let _ = file.io.get_ref().set_len(file.bytes);
            return Err(e);
        }
        file.records += 1;
        file.bytes += frame.len() as u64;
        self.records += 1;
        self.bytes += frame.len() as u64;
        if file.bytes >= SPOOL_FILE_BYTES {
            self.close_writing()?;
        }
        Ok(())
    }

    fn close_writing(&mut self) -> std::io::Result<()> {
        if let Some(mut file) = self.writing.take() {
            file.io.flush()?;
            self.closed.push_back((file.path, file.records));
        }
        Ok(())
    }

    /// Up to `max_records` / `max_bytes` of the oldest records. A file that cannot be read
    /// back loses its records: they are logged and stay counted as not delivered.
    fn read_batch(&mut self, max_records: usize, max_bytes: usize, stats: &Stats) -> Vec<Record> {
        let mut batch = Vec::new();
        let mut bytes = 0;
        while batch.len() < max_records && bytes < max_bytes && self.records > 0 {
            if self.reading.is_none() {
                if self.closed.is_empty()
                    && let Err(e) = self.close_writing()
                {
                    self.lose_writing(&e, stats);
                    continue;
                }
                let Some((path, records)) = self.closed.pop_front() else {
                    // No file left to read: the count cannot be right; never wait on it.
                    tracing::error!(
                        records = self.records,
                        "the spool's count has no files behind it"
                    );
                    stats.lost.fetch_add(self.records, Ordering::Relaxed);
                    self.records = 0;
                    break;
                };
                match File::open(&path) {
                    Ok(file) => {
                        self.reading = Some(SpoolFile {
                            path,
                            io: BufReader::new(file),
                            records,
                            bytes: 0,
                        });
                    }
                    Err(e) => {
                        self.lose(&path, records, &e, stats);
                        continue;
                    }
                }
            }
            let Some(file) = self.reading.as_mut() else {
                break;
            };
            if file.records == 0 {
                let _ = std::fs::remove_file(&file.path);
                self.reading = None;
                continue;
            }
            match decode(&mut file.io) {
                Ok((record, len)) => {
                    file.records -= 1;
                    self.records -= 1;
                    self.bytes = self.bytes.saturating_sub(len);
                    bytes += record.line.len();
                    batch.push(record);
                }
                Err(e) => {
                    let (path, left) = (file.path.clone(), file.records);
                    self.reading = None;
                    self.lose(&path, left, &e, stats);
                }
            }
        }
        if self.records == 0 {
            // Everything was read: start the next outage on a fresh file.
            self.bytes = 0;
        }
        batch
    }

    fn lose(&mut self, path: &Path, records: u64, error: &std::io::Error, stats: &Stats) {
        tracing::error!(file = %path.display(), records, error = %error, "a spool file cannot be read back: its records are lost");
        self.records -= records.min(self.records);
        stats.lost.fetch_add(records, Ordering::Relaxed);
        let _ = std::fs::remove_file(path);
    }

    fn lose_writing(&mut self, error: &std::io::Error, stats: &Stats) {
        if let Some(file) = self.writing.take() {
            self.lose(&file.path, file.records, error, stats);
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        // What is left is counted as not delivered by the caller; the files are of no use to
        // a later run.
        self.writing = None;
        self.reading = None;
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot remove the spool directory");
        }
    }
}

/// A record on disk: `u32` lengths (little-endian) of the tweet id, the author id (each
/// `u32::MAX` for none) and the line, then their bytes.
fn encode(record: &Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame_len(record) as usize);
    let id_len = |id: &Option<String>| {
        id.as_ref()
            .map_or(u32::MAX, |s| u32::try_from(s.len()).unwrap_or(u32::MAX))
    };
    out.extend_from_slice(&id_len(&record.tweet_id).to_le_bytes());
    out.extend_from_slice(&id_len(&record.author_id).to_le_bytes());
    out.extend_from_slice(
        &u32::try_from(record.line.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    for id in [&record.tweet_id, &record.author_id].into_iter().flatten() {
        out.extend_from_slice(id.as_bytes());
    }
    out.extend_from_slice(&record.line);
    out
}

fn frame_len(record: &Record) -> u64 {
    12 + record.tweet_id.as_ref().map_or(0, String::len) as u64
        + record.author_id.as_ref().map_or(0, String::len) as u64
        + record.line.len() as u64
}

fn decode(reader: &mut impl Read) -> std::io::Result<(Record, u64)> {
    let mut head = [0u8; 12];
    reader.read_exact(&mut head)?;
    let field = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    let mut read_id = |len: u32| -> std::io::Result<Option<String>> {
        if len == u32::MAX {
            return Ok(None);
        }
        let mut bytes = vec![0; len as usize];
        reader.read_exact(&mut bytes)?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(std::io::Error::other)
    };
    let tweet_id = read_id(field(0))?;
    let author_id = read_id(field(4))?;
    let mut line = vec![0; field(8) as usize];
    reader.read_exact(&mut line)?;
    let record = Record::new(line, tweet_id, author_id);
    let len = frame_len(&record);
    Ok((record, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: usize, size: usize) -> Record {
        let mut line = format!("{{\"data\":{{\"id\":\"{i}\"}}}}").into_bytes();
        line.resize(size.max(line.len()), b' ');
        Record::new(
            line,
            Some(i.to_string()),
            i.is_multiple_of(2).then(|| format!("a{i}")),
        )
    }

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("capture-queue-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn frames_round_trip() {
        for r in [
            record(1, 0),
            Record::new(&b"x\ny\r\n"[..], None, None),
            Record::new(&b""[..], Some(String::new()), Some("\u{e9}".into())),
        ] {
            let bytes = encode(&r);
            assert_eq!(bytes.len() as u64, frame_len(&r));
            let (back, len) = decode(&mut &bytes[..]).unwrap();
            assert_eq!(len, frame_len(&r));
            assert_eq!(
                (back.line, back.tweet_id, back.author_id),
                (r.line, r.tweet_id, r.author_id)
            );
        }
    }

    /// Past the memory budget records go to disk, come back in order, and memory never holds
    /// more than the budget while the sink holds a batch.
    #[tokio::test]
    async fn overflow_goes_to_disk_and_comes_back_in_order() {
        let root = tmp("order");
        let config = QueueConfig {
            memory_bytes: 1000,
            spool_root: Some(root.clone()),
            spool_bytes: 1 << 30,
        };
        let (tx, mut rx) = queue(&config).unwrap();
        let stats = Stats::default();
        for i in 0..2000 {
            tx.send(record(i, 100), &stats).await.unwrap();
        }
        assert!(Stats::get(&stats.spooled) >= 1990, "{:?}", stats.spooled);
        assert_eq!(rx.len(), 2000);
        let spool_dirs: Vec<_> = std::fs::read_dir(&root).unwrap().collect();
        assert_eq!(spool_dirs.len(), 1);
        drop(tx);
        let mut ids = Vec::new();
        while let Some(batch) = rx.next_batch(&stats).await {
            assert!(batch.len() <= BATCH_RECORDS);
            for r in batch {
                ids.push(r.tweet_id.unwrap().parse::<usize>().unwrap());
            }
        }
        assert_eq!(ids, (0..2000).collect::<Vec<_>>());
        drop(rx);
        assert_eq!(
            std::fs::read_dir(&root).unwrap().count(),
            0,
            "spool removed"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// Memory and spool full: the sender waits (counted) until the sink takes records, and
    /// no record is lost or reordered.
    #[tokio::test]
    async fn a_full_queue_makes_the_sender_wait() {
        let root = tmp("full");
        let config = QueueConfig {
            memory_bytes: 500,
            spool_root: Some(root.clone()),
            spool_bytes: 2000,
        };
        let (tx, mut rx) = queue(&config).unwrap();
        let stats = Stats::default();
        let sender = async {
            for i in 0..300 {
                tx.send(record(i, 100), &stats).await.unwrap();
            }
            drop(tx);
        };
        let receiver = async {
            // Let the sender fill everything first.
            tokio::task::yield_now().await;
            let mut ids = Vec::new();
            while let Some(batch) = rx.next_batch(&stats).await {
                ids.extend(batch.into_iter().map(|r| r.tweet_id.unwrap()));
            }
            ids
        };
        let ((), ids) = tokio::join!(sender, receiver);
        let expected: Vec<String> = (0..300).map(|i| i.to_string()).collect();
        assert_eq!(ids, expected);
        assert!(Stats::get(&stats.backpressure_waits) > 0);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[tokio::test]
    async fn without_a_spool_the_sender_waits_for_memory() {
        let config = QueueConfig {
            memory_bytes: 250,
            spool_root: None,
            spool_bytes: 0,
        };
        let (tx, mut rx) = queue(&config).unwrap();
        let stats = Stats::default();
        tx.send(record(0, 100), &stats).await.unwrap();
        tx.send(record(1, 100), &stats).await.unwrap();
        let third = tx.send(record(2, 100), &stats);
        tokio::pin!(third);
        assert!(
            futures_poll_once(third.as_mut()).await.is_none(),
            "no room: the third waits"
        );
        let batch = rx.next_batch(&stats).await.unwrap();
        assert_eq!(batch.len(), 2);
        drop(batch); // the sink is done with them: their bytes are free
        third.await.unwrap();
        assert_eq!(Stats::get(&stats.backpressure_waits), 1);
        drop(rx);
        assert!(tx.send(record(3, 1), &stats).await.is_err(), "sink gone");
    }

    #[test]
    fn a_spool_root_that_cannot_be_written_is_refused() {
        let root = Path::new("/proc/tweet-capture-cannot-write-here");
        let config = QueueConfig {
            memory_bytes: 1,
            spool_root: Some(root.to_owned()),
            spool_bytes: 1,
        };
        let error = queue(&config).unwrap_err().to_string();
        assert!(error.starts_with("--spool-dir /proc/"), "{error}");
    }

    /// Polls a future once: `Some` if it finished.
    async fn futures_poll_once<F: std::future::Future + Unpin>(mut f: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
