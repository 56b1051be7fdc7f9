//! The ids file of a batch compliance job: one tweet or user id per line (what `tweet-indexer
//! ids` prints), blank lines and surrounding spaces ignored. It is read twice without being
//! held in memory: once to check every line and fingerprint the ids (so that a rerun knows
//! it has the same file) and cut them into parts of at most `ids_per_job` ids (one job
//! each: X takes at most 128 MB per upload), then part by part for the uploads (and, for a
//! users job, to find the ids X did not return). An ids file in S3 (`s3://BUCKET/KEY`, e.g.
//! for a scheduled task) is first copied to a local file ([`fetch_s3`]).

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// X's ids are 1 to 19 decimal digits (the API's `^[0-9]{1,19}$`).
pub const MAX_ID_DIGITS: usize = 19;
/// The most ids one job may take: with 19 digits and a newline each, 6,000,000 ids are
/// 120 MB, under X's 128 MB per upload.
pub const MAX_IDS_PER_JOB: usize = 6_000_000;

#[derive(Debug, thiserror::Error)]
pub enum IdsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a tweet or user id (1 to 19 digits): {excerpt:?}")]
    NotAnId {
        path: PathBuf,
        line: u64,
        excerpt: String,
    },
    #[error("{path}: changed while it was read (part {part} has {found} ids, not {expected})")]
    Changed {
        path: PathBuf,
        part: usize,
        found: usize,
        expected: usize,
    },
}

/// Where one job's ids are in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// Byte offset of the line holding the part's first id.
    pub offset: u64,
    pub ids: usize,
}

/// What a first read of the file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// SHA-256 (hex) of the ids as they are uploaded (each followed by `\n`), with the part
    /// size: the same file cut the same way has the same fingerprint.
    pub fingerprint: String,
    pub ids: u64,
    pub parts: Vec<Part>,
}

/// Reads the whole file once: every line an id, its fingerprint and its parts.
pub fn plan(path: &Path, ids_per_job: usize) -> Result<Plan, IdsError> {
    let ids_per_job = ids_per_job.clamp(1, MAX_IDS_PER_JOB);
    let io = |source| IdsError::Io {
        path: path.to_owned(),
        source,
    };
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    let mut hash = Sha256::new();
    hash.update(format!("ids_per_job={ids_per_job}\n").as_bytes());
    let mut parts: Vec<Part> = Vec::new();
    let mut ids = 0u64;
    let mut offset = 0u64;
    let mut line_no = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(io)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let start = offset;
        offset += n as u64;
        let Some(id) = id_of(&line).map_err(|excerpt| IdsError::NotAnId {
            path: path.to_owned(),
            line: line_no,
            excerpt,
        })?
        else {
            continue;
        };
        match parts.last_mut() {
            Some(part) if part.ids < ids_per_job => part.ids += 1,
            _ => parts.push(Part {
                offset: start,
                ids: 1,
            }),
        }
        hash.update(id);
        hash.update(b"\n");
        ids += 1;
    }
    let fingerprint = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(Plan {
        fingerprint,
        ids,
        parts,
    })
}

/// The id a line holds (`None` for a blank line), or the line shortened for a message.
fn id_of(line: &[u8]) -> Result<Option<&[u8]>, String> {
    let id = line.trim_ascii();
    if id.is_empty() {
        return Ok(None);
    }
    if id.len() <= MAX_ID_DIGITS && id.iter().all(u8::is_ascii_digit) {
        return Ok(Some(id));
    }
    let text = String::from_utf8_lossy(id);
    Err(text.chars().take(40).collect())
}

/// Reads one part's ids back, one at a time.
#[derive(Debug)]
pub struct PartReader {
    path: PathBuf,
    index: usize,
    expected: usize,
    found: usize,
    reader: BufReader<File>,
    line: Vec<u8>,
}

impl PartReader {
    /// Opens the file at the part's first id.
    pub fn open(path: &Path, index: usize, part: Part) -> Result<PartReader, IdsError> {
        let io = |source| IdsError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        file.seek(SeekFrom::Start(part.offset)).map_err(io)?;
        Ok(PartReader {
            path: path.to_owned(),
            index,
            expected: part.ids,
            found: 0,
            reader: BufReader::new(file),
            line: Vec::new(),
        })
    }

    /// The next id of the part (ASCII digits); `None` after its last. A file that no longer
    /// holds the part as it was planned is an error.
    pub fn next_id(&mut self) -> Result<Option<Vec<u8>>, IdsError> {
        while self.found < self.expected {
            self.line.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.line)
                .map_err(|source| IdsError::Io {
                    path: self.path.clone(),
                    source,
                })?;
            match (n, id_of(&self.line)) {
                (0, _) | (_, Err(_)) => {
                    return Err(IdsError::Changed {
                        path: self.path.clone(),
                        part: self.index + 1,
                        found: self.found,
                        expected: self.expected,
                    });
                }
                (_, Ok(None)) => {}
                (_, Ok(Some(id))) => {
                    self.found += 1;
                    return Ok(Some(id.to_vec()));
                }
            }
        }
        Ok(None)
    }
}

/// One part as the upload's body: each id and `\n`.
pub fn part_body(path: &Path, index: usize, part: Part) -> Result<Vec<u8>, IdsError> {
    let mut body = Vec::with_capacity(part.ids * 12);
    let mut reader = PartReader::open(path, index, part)?;
    while let Some(id) = reader.next_id()? {
        body.extend_from_slice(&id);
        body.push(b'\n');
    }
    Ok(body)
}

/// `s3://BUCKET/KEY` as (bucket, key); `None` for anything else (a local path).
pub fn s3_location(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
}

#[derive(Debug, thiserror::Error)]
#[error("s3://{bucket}/{key}: {message}")]
pub struct FetchError {
    pub bucket: String,
    pub key: String,
    pub message: String,
    pub class: crate::class::Class,
}

/// Copies `s3://bucket/key` to `dest`, streamed (the ids never sit in memory whole).
pub async fn fetch_s3(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    dest: &Path,
) -> Result<u64, FetchError> {
    use tokio::io::AsyncWriteExt;
    let fail = |message: String, class| FetchError {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        message,
        class,
    };
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| {
            use aws_sdk_s3::error::ProvideErrorMetadata;
            let (message, class) = crate::sink::describe_sdk_error(&e);
            let class = match e.as_service_error() {
                // The file is not there (yet): fixed on this side.
                Some(s) if s.is_no_such_key() => crate::class::Class::Usage,
                // S3's own spelling, which the shared list (Firehose, Kinesis) lacks.
                Some(s) if s.code() == Some("AccessDenied") => crate::class::Class::Refused,
                _ => class,
            };
            fail(message, class)
        })?;
    let local = |e: std::io::Error| {
        fail(
            format!("{}: {e}", dest.display()),
            crate::class::Class::Usage,
        )
    };
    let mut file = tokio::fs::File::create(dest).await.map_err(local)?;
    let mut body = object.body;
    let mut bytes = 0u64;
    while let Some(chunk) = body.try_next().await.map_err(|e| {
        fail(
            format!("the object broke off: {e}"),
            crate::class::Class::Transient,
        )
    })? {
        file.write_all(&chunk).await.map_err(local)?;
        bytes += chunk.len() as u64;
    }
    file.sync_all().await.map_err(local)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("comply-ids-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn parts_hold_at_most_ids_per_job_and_read_back_exactly() {
        let path = file("parts", "1\n 22 \r\n\n333\n4444\n55555\n666666\n7");
        let plan = plan(&path, 3).unwrap();
        assert_eq!(plan.ids, 7);
        assert_eq!(
            plan.parts.iter().map(|p| p.ids).collect::<Vec<_>>(),
            [3, 3, 1]
        );
        let bodies: Vec<String> = plan
            .parts
            .iter()
            .enumerate()
            .map(|(i, p)| String::from_utf8(part_body(&path, i, *p).unwrap()).unwrap())
            .collect();
        assert_eq!(bodies, ["1\n22\n333\n", "4444\n55555\n666666\n", "7\n"]);
        // The same ids written otherwise have the same fingerprint; another cut does not.
        let same = file("same", "1\n22\n333\n4444\n55555\n666666\n7\n");
        assert_eq!(super::plan(&same, 3).unwrap().fingerprint, plan.fingerprint);
        assert_ne!(super::plan(&same, 4).unwrap().fingerprint, plan.fingerprint);
        let other = file("other", "1\n22\n333\n4444\n55555\n666666\n8\n");
        assert_ne!(
            super::plan(&other, 3).unwrap().fingerprint,
            plan.fingerprint
        );
        for p in [path, same, other] {
            std::fs::remove_file(p).unwrap();
        }
    }

    #[test]
    fn a_line_that_is_not_an_id_is_refused_with_its_number() {
        for (text, line) in [
            ("1\n2\nabc\n", 3),
            ("1\n-2\n", 2),
            ("12345678901234567890\n", 1),
            ("1.5\n", 1),
            ("1 2\n", 1),
        ] {
            let path = file("bad", text);
            match plan(&path, 10) {
                Err(IdsError::NotAnId { line: got, .. }) => assert_eq!(got, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
            std::fs::remove_file(path).unwrap();
        }
    }

    #[test]
    fn s3_locations_table() {
        let table: &[(&str, Option<(&str, &str)>)] = &[
            ("s3://b/k.txt", Some(("b", "k.txt"))),
            (
                "s3://b/compliance/tweet-ids.txt",
                Some(("b", "compliance/tweet-ids.txt")),
            ),
            ("s3://b/", None),
            ("s3://b", None),
            ("ids.txt", None),
            ("/tmp/s3://b/k", None),
        ];
        for (text, expected) in table {
            assert_eq!(s3_location(text), *expected, "{text}");
        }
    }

    #[test]
    fn an_empty_file_has_no_parts_and_a_changed_file_is_noticed() {
        let path = file("empty", "\n\n");
        let plan = plan(&path, 10).unwrap();
        assert_eq!((plan.ids, plan.parts.len()), (0, 0));
        let path2 = file("shrinks", "1\n2\n3\n");
        let plan2 = super::plan(&path2, 10).unwrap();
        std::fs::write(&path2, "1\n").unwrap();
        assert!(matches!(
            part_body(&path2, 0, plan2.parts[0]),
            Err(IdsError::Changed { found: 1, .. })
        ));
        std::fs::remove_file(path).unwrap();
        std::fs::remove_file(path2).unwrap();
    }
}
