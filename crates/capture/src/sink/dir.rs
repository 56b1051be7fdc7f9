//! `dir://PATH`: rotating gzip NDJSON files, one raw stream line per line. A file is written
//! under `PATH/.tmp/` and renamed into `PATH` when it is closed (rotation by size or age, or
//! shutdown), so a reader of `PATH`'s top level only ever sees complete gzip files.
//!
//! Writes are synchronous: one gzip encoder on a buffered file, fed a batch at a time; a
//! batch is small (at most 500 records) and a dedicated blocking thread would add a copy and
//! a channel for no gain at stream rates.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flate2::Compression;
use flate2::write::GzEncoder;
use tokio::time::Instant;

use super::{SinkError, io_error};
use crate::stream::Record;

/// Close a file after this many uncompressed bytes...
pub const ROTATE_BYTES: u64 = 64 * 1024 * 1024;
/// ...or when it is this old.
pub const ROTATE_AGE: Duration = Duration::from_secs(5 * 60);

struct OpenFile {
    encoder: GzEncoder<BufWriter<File>>,
    tmp_path: PathBuf,
    final_path: PathBuf,
    opened: Instant,
    bytes: u64,
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

    pub fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        for record in batch {
            if self.current.is_none() {
                self.current = Some(self.open()?);
            }
            let Some(file) = self.current.as_mut() else {
                continue;
            };
            let context = || file.tmp_path.display().to_string();
            file.encoder
                .write_all(&record.line)
                .and_then(|()| file.encoder.write_all(b"\n"))
                .map_err(io_error(context()))?;
            file.bytes += record.line.len() as u64 + 1;
            if file.bytes >= self.rotate_bytes {
                self.close()?;
            }
        }
        Ok(())
    }

    pub fn rotate_if_old(&mut self) -> Result<(), SinkError> {
        match &self.current {
            Some(f) if f.opened.elapsed() >= self.rotate_age => self.close(),
            _ => Ok(()),
        }
    }

    /// Completes the current file (gzip trailer, fsync) and renames it into place.
    pub fn close(&mut self) -> Result<(), SinkError> {
        let Some(file) = self.current.take() else {
            return Ok(());
        };
        let context = file.tmp_path.display().to_string();
        let writer = file.encoder.finish().map_err(io_error(&context))?;
        let inner = writer
            .into_inner()
            .map_err(|e| io_error(context.clone())(e.into_error()))?;
        inner.sync_all().map_err(io_error(&context))?;
        std::fs::rename(&file.tmp_path, &file.final_path).map_err(io_error(&context))?;
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
        let name = format!("capture-{millis:015}-{:06}.ndjson.gz", self.sequence);
        let tmp_path = self.dir.join(".tmp").join(&name);
        let file = File::create(&tmp_path).map_err(io_error(tmp_path.display().to_string()))?;
        Ok(OpenFile {
            encoder: GzEncoder::new(BufWriter::new(file), Compression::default()),
            final_path: self.dir.join(name),
            tmp_path,
            opened: Instant::now(),
            bytes: 0,
        })
    }
}

impl Drop for DirSink {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(error = %e, "closing the capture file failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn read_gz(path: &Path) -> String {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(File::open(path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    fn tmpdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("capture-dir-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn rotates_by_size_and_keeps_lines_whole_and_in_order() {
        let dir = tmpdir("size");
        let mut sink = DirSink::new(&dir, 30, ROTATE_AGE).unwrap();
        let lines = [
            "{\"data\":{\"id\":\"1\"}}",
            "{\"data\":{\"id\":\"2\"}}",
            "{\"x\":\"\u{e9}\"}",
        ];
        let batch: Vec<Record> = lines
            .iter()
            .map(|l| Record::new(l.as_bytes().to_vec(), None, None))
            .collect();
        sink.write(&batch).unwrap();
        sink.close().unwrap();
        let files = sink.completed().to_vec();
        assert_eq!(files.len(), 2, "{files:?}");
        let all: String = files.iter().map(|f| read_gz(f)).collect();
        assert_eq!(all, format!("{}\n{}\n{}\n", lines[0], lines[1], lines[2]));
        // Nothing is left half-written in .tmp, and only completed files are at the top.
        assert_eq!(std::fs::read_dir(dir.join(".tmp")).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn rotates_by_age() {
        let dir = tmpdir("age");
        let mut sink = DirSink::new(&dir, ROTATE_BYTES, Duration::from_secs(60)).unwrap();
        sink.write(&[Record::new(&b"{}"[..], None, None)]).unwrap();
        sink.rotate_if_old().unwrap();
        assert!(sink.completed().is_empty());
        tokio::time::advance(Duration::from_secs(61)).await;
        sink.rotate_if_old().unwrap();
        assert_eq!(sink.completed().len(), 1);
        assert_eq!(read_gz(&sink.completed()[0]), "{}\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
