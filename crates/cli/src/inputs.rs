//! What the user named on the command line, expanded: files, directories (recursively, sorted),
//! `s3://bucket/prefix` (every key under it, with the sizes ListObjectsV2 gives) and `-`
//! (stdin). Every argument is checked here, before anything is sent to a server: a name that
//! does not exist, cannot be read, or an S3 prefix that cannot be listed or holds nothing is a
//! [`Problem`], reported by the caller, while the other arguments are still processed.

use std::fmt;
use std::path::PathBuf;

use anyhow::Result;
use pipeline::source::{Object, ObjectStore, S3Store, open_file};

pub enum Input {
    File {
        path: PathBuf,
        size: Option<u64>,
    },
    S3 {
        store: S3Store,
        bucket: String,
        key: String,
        size: Option<u64>,
    },
    Stdin,
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::File { path, .. } => write!(f, "{}", path.display()),
            Input::S3 { bucket, key, .. } => write!(f, "s3://{bucket}/{key}"),
            Input::Stdin => f.write_str("-"),
        }
    }
}

impl Input {
    /// Bytes to read, for the progress bar (stdin: unknown).
    pub fn size(&self) -> Option<u64> {
        match self {
            Input::File { size, .. } | Input::S3 { size, .. } => *size,
            Input::Stdin => None,
        }
    }

    pub async fn open(&self) -> Result<Object, pipeline::SourceError> {
        match self {
            Input::File { path, .. } => open_file(path).await,
            Input::S3 {
                store, bucket, key, ..
            } => store.get(bucket, key).await,
            Input::Stdin => Ok(Object {
                name: "stdin".into(),
                body: pipeline::source::Body::stream(tokio::io::stdin()),
                size: None,
                resumes: Default::default(),
            }),
        }
    }
}

/// An argument that names nothing readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub argument: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.argument, self.reason)
    }
}

/// The arguments, expanded in order, and the ones that could not be used.
#[derive(Default)]
pub struct Expanded {
    pub inputs: Vec<Input>,
    pub problems: Vec<Problem>,
}

/// Expands and checks every argument (no argument stops the others).
pub async fn expand(args: &[String]) -> Expanded {
    let mut expanded = Expanded::default();
    let mut s3: Option<S3Store> = None;
    for arg in args {
        let problem = |reason: String| Problem {
            argument: arg.clone(),
            reason,
        };
        if arg == "-" {
            expanded.inputs.push(Input::Stdin);
        } else if let Some(rest) = arg.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                expanded.problems.push(problem("no bucket name".into()));
                continue;
            }
            let store = match &s3 {
                Some(store) => store.clone(),
                None => s3.insert(S3Store::from_env().await).clone(),
            };
            let listed = match store.list(bucket, prefix).await {
                Ok(listed) => listed,
                Err(e) => {
                    expanded.problems.push(problem(format!("cannot list: {e}")));
                    continue;
                }
            };
            let before = expanded.inputs.len();
            for object in listed.into_iter().filter(|o| !o.key.ends_with('/')) {
                expanded.inputs.push(Input::S3 {
                    store: store.clone(),
                    bucket: bucket.to_owned(),
                    key: object.key,
                    size: object.size,
                });
            }
            if expanded.inputs.len() == before {
                expanded
                    .problems
                    .push(problem("no objects under this prefix".into()));
            }
        } else {
            match local(arg) {
                Ok(mut files) => expanded.inputs.append(&mut files),
                Err(reason) => expanded.problems.push(problem(reason)),
            }
        }
    }
    expanded
}

/// A file, or every file under a directory; each one opened once to prove it is readable.
fn local(arg: &str) -> Result<Vec<Input>, String> {
    let path = PathBuf::from(arg);
    let meta = std::fs::metadata(&path).map_err(|e| describe(&e))?;
    if !meta.is_dir() {
        std::fs::File::open(&path).map_err(|e| describe(&e))?;
        return Ok(vec![Input::File {
            path,
            size: Some(meta.len()),
        }]);
    }
    let mut files = Vec::new();
    // Hidden entries under the directory are skipped: `tweet-capture` writes the file it is
    // still filling under `.tmp/`, and editors and tools keep their own dot files.
    let hidden =
        |e: &walkdir::DirEntry| e.depth() > 0 && e.file_name().to_string_lossy().starts_with('.');
    for entry in walkdir::WalkDir::new(&path)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !hidden(e))
    {
        let entry = entry.map_err(|e| format!("cannot list: {e}"))?;
        if !entry.file_type().is_file() {
            continue;
        }
        std::fs::File::open(entry.path())
            .map_err(|e| format!("{}: {}", entry.path().display(), describe(&e)))?;
        files.push(Input::File {
            size: entry.metadata().ok().map(|m| m.len()),
            path: entry.into_path(),
        });
    }
    if files.is_empty() {
        return Err("no files in this directory".into());
    }
    Ok(files)
}

fn describe(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "cannot read it (permission denied)".into(),
        _ => format!("cannot read it: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_files_and_folders_under_a_directory_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".tmp")).unwrap();
        std::fs::write(dir.path().join(".tmp/partial.ndjson.gz"), b"x").unwrap();
        std::fs::write(dir.path().join(".hidden"), b"x").unwrap();
        std::fs::write(dir.path().join("capture-1.ndjson.gz"), b"x").unwrap();
        let files = local(dir.path().to_str().unwrap()).unwrap();
        let names: Vec<String> = files.iter().map(|i| i.to_string()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].ends_with("capture-1.ndjson.gz"), "{names:?}");
    }

    #[tokio::test]
    async fn every_argument_is_checked_and_a_bad_one_does_not_stop_the_others() {
        let dir = std::env::temp_dir().join(format!("tweet-indexer-inputs-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("nested")).unwrap();
        std::fs::create_dir_all(dir.join("empty")).unwrap();
        std::fs::write(dir.join("b.ndjson"), b"{}\n").unwrap();
        std::fs::write(dir.join("nested/a.ndjson"), b"{}\n{}\n").unwrap();
        let arg = |p: &str| dir.join(p).display().to_string();
        let expanded = expand(&[
            arg("missing.ndjson"),
            arg("b.ndjson"),
            arg("empty"),
            arg("nested"),
            "s3:///prefix".into(),
        ])
        .await;
        let names: Vec<String> = expanded.inputs.iter().map(ToString::to_string).collect();
        assert_eq!(names, [arg("b.ndjson"), arg("nested/a.ndjson")]);
        assert_eq!(expanded.inputs[1].size(), Some(6));
        let problems: Vec<String> = expanded.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            problems,
            [
                format!("{}: no such file or directory", arg("missing.ndjson")),
                format!("{}: no files in this directory", arg("empty")),
                "s3:///prefix: no bucket name".to_owned(),
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
