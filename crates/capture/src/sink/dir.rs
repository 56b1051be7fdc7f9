//! `dir://PATH`: rotating gzip NDJSON files, one raw stream line per line. A file is written
//! under `PATH/.tmp/` and renamed into `PATH` when it is closed (rotation by size or age, or
//! shutdown), so a reader of `PATH`'s top level (`tweet-indexer index PATH` skips hidden
//! entries) only ever sees complete gzip files.
//!
//! Within a file, records go out as complete gzip members (a gzip file may hold several, and
//! every reader of ours decodes them all): a member is completed, written and fsynced at
//! least every [`MEMBER_AGE`] (and at [`MEMBER_BYTES`]), and only then are its records
//! counted as delivered. A killed capture therefore loses at most the last seconds, not the
//! file: [`DirSink::check`] recovers the leftovers of `.tmp/` at the next start (cut back to
//! their last complete member and renamed into place; an empty one is removed).
//!
//! Writes are synchronous: the member is built in memory and written once; a dedicated
//! blocking thread would add a copy and a channel for no gain at stream rates.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flate2::Compression;
use flate2::write::GzEncoder;
use tokio::time::Instant;

use super::error::{SinkError, io_error};
use crate::metrics::Stats;
use crate::record::Record;

/// Close a file after this many uncompressed bytes...
pub const ROTATE_BYTES: u64 = 64 * 1024 * 1024;
/// ...or when it is this old.
pub const ROTATE_AGE: Duration = Duration::from_secs(5 * 60);
/// Complete the current gzip member (and fsync) when it is this old...
pub const MEMBER_AGE: Duration = Duration::from_secs(2);
/// ...or holds this many compressed bytes (bounds the memory a member takes).
pub const MEMBER_BYTES: usize = 1024 * 1024;

const PREFIX: &str = "capture-";
const SUFFIX: &str = ".ndjson.gz";

struct Member {
    encoder: GzEncoder<Vec<u8>>,
    started: Instant,
    records: u64,
}

struct OpenFile {
    file: File,
    tmp_path: PathBuf,
    final_path: PathBuf,
    opened: Instant,
    /// Uncompressed bytes written to the file (members completed or not).
    bytes: u64,
    member: Option<Member>,
}

pub struct DirSink {
    dir: PathBuf,
    rotate_bytes: u64,
    rotate_age: Duration,
    current: Option<OpenFile>,
    sequence: u64,
    /// Paths of the files completed so far (newest last).
    completed: Vec<PathBuf>,
}

impl std::fmt::Debug for DirSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirSink")
            .field("dir", &self.dir)
            .field("completed", &self.completed.len())
            .finish_non_exhaustive()
    }
}

/// What [`DirSink::check`] found in `.tmp/`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Files renamed into place, with the records their complete members hold.
    pub files: Vec<(PathBuf, u64)>,
    /// Leftovers without one complete member, removed.
    pub removed: usize,
    /// Bytes of incomplete members cut off (the records the killed run lost).
    pub cut_bytes: u64,
}

impl DirSink {
    /// Creates `dir` (and `dir/.tmp`) when missing.
    pub fn new(dir: &Path, rotate_bytes: u64, rotate_age: Duration) -> Result<Self, SinkError> {
        std::fs::create_dir_all(dir.join(".tmp"))
            .map_err(io_error(format!("{}: cannot create", dir.display())))?;
        Ok(DirSink {
            dir: dir.to_owned(),
            rotate_bytes,
            rotate_age,
            current: None,
            sequence: 0,
            completed: Vec::new(),
        })
    }

    pub fn completed(&self) -> &[PathBuf] {
        &self.completed
    }

    /// Recovers what a killed run left in `.tmp/` (see [`DirSink::recover`]) and proves the
    /// directory takes a file.
    pub fn check(&mut self) -> Result<(), SinkError> {
        let recovered = self.recover()?;
        for (file, records) in &recovered.files {
            tracing::warn!(file = %file.display(), records, "recovered a capture file a previous run left unfinished");
        }
        if recovered.removed > 0 || recovered.cut_bytes > 0 {
            tracing::warn!(
                removed = recovered.removed,
                cut_bytes = recovered.cut_bytes,
                "a previous run was killed: its last unfinished gzip member is lost"
            );
        }
        let probe = self.dir.join(".tmp").join(".probe");
        File::create(&probe)
            .and_then(|mut f| f.write_all(b"probe").and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(io_error(format!("{}: cannot write", self.dir.display())))
    }

    /// The files of `.tmp/` named as this sink names them: each is cut back to its last
    /// complete gzip member, fsynced and renamed into place; one without a complete member
    /// is removed. Run at start, before this sink opens a file of its own.
    pub fn recover(&mut self) -> Result<Recovered, SinkError> {
        let tmp = self.dir.join(".tmp");
        let context = tmp.display().to_string();
        let mut names: Vec<String> = std::fs::read_dir(&tmp)
            .map_err(io_error(&context))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
            .collect();
        names.sort();
        let mut recovered = Recovered::default();
        for name in names {
            let path = tmp.join(&name);
            let context = path.display().to_string();
            let data = std::fs::read(&path).map_err(io_error(&context))?;
            let (good, records) = complete_members(&data);
            recovered.cut_bytes += (data.len() - good) as u64;
            if good == 0 {
                std::fs::remove_file(&path).map_err(io_error(&context))?;
                recovered.removed += 1;
                continue;
            }
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io_error(&context))?;
            file.set_len(good as u64).map_err(io_error(&context))?;
            file.sync_all().map_err(io_error(&context))?;
            let final_path = self.dir.join(&name);
            std::fs::rename(&path, &final_path).map_err(io_error(&context))?;
            sync_dir(&self.dir);
            recovered.files.push((final_path, records));
        }
        Ok(recovered)
    }

    /// Adds the records to the current gzip member; they are counted as delivered when it is
    /// completed and fsynced.
    pub fn write(&mut self, batch: &[Record], stats: &Stats) -> Result<(), SinkError> {
        for record in batch {
            if self.current.is_none() {
                self.current = Some(self.open()?);
            }
            let Some(file) = self.current.as_mut() else {
                continue;
            };
            let member = file.member.get_or_insert_with(|| Member {
                encoder: GzEncoder::new(Vec::new(), Compression::default()),
                started: Instant::now(),
                records: 0,
            });
            member
                .encoder
                .write_all(&record.line)
                .and_then(|()| member.encoder.write_all(b"\n"))
                .map_err(io_error(file.tmp_path.display().to_string()))?;
            member.records += 1;
            file.bytes += record.line.len() as u64 + 1;
            if file.bytes >= self.rotate_bytes {
                self.close(stats)?;
            } else if member.encoder.get_ref().len() >= MEMBER_BYTES {
                complete_member(file, stats)?;
            }
        }
        Ok(())
    }

    /// Completes a member older than [`MEMBER_AGE`], closes a file older than the rotation
    /// age.
    pub fn tick(&mut self, stats: &Stats) -> Result<(), SinkError> {
        let Some(file) = self.current.as_mut() else {
            return Ok(());
        };
        if file.opened.elapsed() >= self.rotate_age {
            return self.close(stats);
        }
        if file
            .member
            .as_ref()
            .is_some_and(|m| m.started.elapsed() >= MEMBER_AGE)
        {
            complete_member(file, stats)?;
        }
        Ok(())
    }

    /// Completes the current file (last member, fsync) and renames it into place.
    pub fn close(&mut self, stats: &Stats) -> Result<(), SinkError> {
        let Some(mut file) = self.current.take() else {
            return Ok(());
        };
        complete_member(&mut file, stats)?;
        let context = file.tmp_path.display().to_string();
        std::fs::rename(&file.tmp_path, &file.final_path).map_err(io_error(&context))?;
        sync_dir(&self.dir);
        tracing::info!(file = %file.final_path.display(), bytes = file.bytes, "capture file completed");
        self.completed.push(file.final_path);
        Ok(())
    }

    fn open(&mut self) -> Result<OpenFile, SinkError> {
        self.sequence += 1;
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        // Time first, so a directory listing sorts in capture order.
        let name = format!("{PREFIX}{millis:015}-{:06}{SUFFIX}", self.sequence);
        let tmp_path = self.dir.join(".tmp").join(&name);
        let file = File::create(&tmp_path).map_err(io_error(tmp_path.display().to_string()))?;
        Ok(OpenFile {
            file,
            final_path: self.dir.join(name),
            tmp_path,
            opened: Instant::now(),
            bytes: 0,
            member: None,
        })
    }
}

impl Drop for DirSink {
    fn drop(&mut self) {
        // Not closed: the run was abandoned. The file's complete members are on disk and the
        // next run recovers them; its last, unfinished member was counted as not delivered.
        if let Some(file) = &self.current {
            tracing::warn!(file = %file.tmp_path.display(), "capture file left unfinished: the next run recovers its complete members");
        }
    }
}

/// Writes the current member (if any) as a complete gzip member, fsyncs, and counts its
/// records as delivered.
fn complete_member(file: &mut OpenFile, stats: &Stats) -> Result<(), SinkError> {
    let Some(member) = file.member.take() else {
        return Ok(());
    };
    let context = file.tmp_path.display().to_string();
    let bytes = member.encoder.finish().map_err(io_error(&context))?;
    file.file.write_all(&bytes).map_err(io_error(&context))?;
    file.file.sync_data().map_err(io_error(&context))?;
    stats.delivered.fetch_add(member.records, Ordering::Relaxed);
    Ok(())
}

/// fsync a directory so that a rename in it survives a crash (best effort: some file
/// systems refuse to open a directory for it).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The length of the complete gzip members at the start of `data`, and the lines they hold.
fn complete_members(data: &[u8]) -> (usize, u64) {
    let mut good = 0;
    let mut lines = 0;
    while good < data.len() {
        let mut decoder = flate2::bufread::GzDecoder::new(&data[good..]);
        let mut counter = LineCounter(0);
        if std::io::copy(&mut decoder, &mut counter).is_err() {
            break;
        }
        let rest = decoder.into_inner().len();
        let used = data.len() - good - rest;
        if used == 0 {
            break;
        }
        good += used;
        lines += counter.0;
    }
    (good, lines)
}

struct LineCounter(u64);

impl Write for LineCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.iter().filter(|&&b| b == b'\n').count() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads every member of a gzip file (tests and recovery checks).
pub fn read_gzip_file(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(File::open(path)?).read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("capture-dir-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn records(lines: &[&str]) -> Vec<Record> {
        lines
            .iter()
            .map(|l| Record::new(l.as_bytes().to_vec(), None, None))
            .collect()
    }

    #[test]
    fn rotates_by_size_and_keeps_lines_whole_and_in_order() {
        let dir = tmpdir("size");
        let mut sink = DirSink::new(&dir, 30, ROTATE_AGE).unwrap();
        let stats = Stats::default();
        let lines = [
            "{\"data\":{\"id\":\"1\"}}",
            "{\"data\":{\"id\":\"2\"}}",
            "{\"x\":\"\u{e9}\"}",
        ];
        sink.write(&records(&lines), &stats).unwrap();
        sink.close(&stats).unwrap();
        let files = sink.completed().to_vec();
        assert_eq!(files.len(), 2, "{files:?}");
        let all: String = files.iter().map(|f| read_gzip_file(f).unwrap()).collect();
        assert_eq!(all, format!("{}\n{}\n{}\n", lines[0], lines[1], lines[2]));
        assert_eq!(Stats::get(&stats.delivered), 3);
        // Nothing is left half-written in .tmp, and only completed files are at the top.
        assert_eq!(std::fs::read_dir(dir.join(".tmp")).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn rotates_by_age() {
        let dir = tmpdir("age");
        let mut sink = DirSink::new(&dir, ROTATE_BYTES, Duration::from_secs(60)).unwrap();
        let stats = Stats::default();
        sink.write(&records(&["{}"]), &stats).unwrap();
        sink.tick(&stats).unwrap();
        assert!(sink.completed().is_empty());
        tokio::time::advance(Duration::from_secs(61)).await;
        sink.tick(&stats).unwrap();
        assert_eq!(sink.completed().len(), 1);
        assert_eq!(read_gzip_file(&sink.completed()[0]).unwrap(), "{}\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Records are on disk, as a complete member, and counted, within `MEMBER_AGE`: before
    /// that they are not counted; after it the unfinished file in `.tmp` decodes to them.
    #[tokio::test(start_paused = true)]
    async fn members_are_completed_every_few_seconds_and_counted_after_fsync() {
        let dir = tmpdir("member");
        let mut sink = DirSink::new(&dir, ROTATE_BYTES, ROTATE_AGE).unwrap();
        let stats = Stats::default();
        sink.write(&records(&["{\"a\":1}", "{\"a\":2}"]), &stats)
            .unwrap();
        sink.tick(&stats).unwrap();
        assert_eq!(Stats::get(&stats.delivered), 0, "not on disk yet");
        tokio::time::advance(MEMBER_AGE).await;
        sink.tick(&stats).unwrap();
        assert_eq!(Stats::get(&stats.delivered), 2);
        sink.write(&records(&["{\"a\":3}"]), &stats).unwrap();
        let tmp: Vec<PathBuf> = std::fs::read_dir(dir.join(".tmp"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(tmp.len(), 1);
        assert_eq!(read_gzip_file(&tmp[0]).unwrap(), "{\"a\":1}\n{\"a\":2}\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// What a SIGKILL leaves (a file of complete members and a cut one, an empty file) is
    /// recovered at the next start: cut back, renamed into place, the empty one removed.
    #[test]
    fn leftovers_are_recovered_at_start() {
        let dir = tmpdir("recover");
        let stats = Stats::default();
        {
            let mut sink = DirSink::new(&dir, ROTATE_BYTES, ROTATE_AGE).unwrap();
            sink.write(&records(&["{\"a\":1}", "{\"a\":2}"]), &stats)
                .unwrap();
            let Some(file) = sink.current.as_mut() else {
                panic!("no open file");
            };
            complete_member(file, &stats).unwrap();
            // A member cut in the middle, as a kill during its write leaves it.
            let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
            encoder.write_all(b"{\"a\":3}\n").unwrap();
            let cut = encoder.finish().unwrap();
            file.file.write_all(&cut[..cut.len() - 5]).unwrap();
            // Dropped without close: as if killed.
        }
        File::create(
            dir.join(".tmp")
                .join(format!("{PREFIX}000000000000001-000001{SUFFIX}")),
        )
        .unwrap();
        std::fs::write(dir.join(".tmp").join("not-ours"), b"x").unwrap();

        let mut sink = DirSink::new(&dir, ROTATE_BYTES, ROTATE_AGE).unwrap();
        let recovered = sink.recover().unwrap();
        assert_eq!(recovered.files.len(), 1, "{recovered:?}");
        assert_eq!(recovered.files[0].1, 2);
        assert_eq!(recovered.removed, 1);
        assert!(recovered.cut_bytes > 0);
        assert_eq!(
            read_gzip_file(&recovered.files[0].0).unwrap(),
            "{\"a\":1}\n{\"a\":2}\n"
        );
        let left: Vec<String> = std::fs::read_dir(dir.join(".tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, ["not-ours"]);
        // A second start finds nothing more.
        assert_eq!(sink.recover().unwrap(), Recovered::default());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
