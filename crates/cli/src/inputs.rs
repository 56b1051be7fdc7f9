//! What the user named on the command line, expanded: files, directories (recursively, sorted,
//! symlinks followed), `s3://bucket/prefix` (every key under it, with the sizes ListObjectsV2
//! gives) and `-` (stdin). Every argument is checked here, before anything is sent to a
//! server: whatever cannot be used (a name that does not exist, a file that cannot be read,
//! a dangling symlink or a symlink loop inside a directory, a FIFO or socket there, an S3
//! prefix that cannot be listed or holds nothing) is an [`Unusable`] with its reason and its
//! [`Problem`], reported by the caller, while everything else is still processed.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use pipeline::source::{Object, ObjectStore, S3Store, open_file};

use crate::exit::{self, Problem};
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
    /// Whether it is an S3 object (its failures are sorted as S3's).
    pub fn is_s3(&self) -> bool {
        matches!(self, Input::S3 { .. })
    }

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
                received_at: None,
            }),
        }
    }
}

/// Something named (an argument, or an entry under a directory) that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    /// The argument, or the entry's path.
    pub name: String,
    pub reason: String,
    /// How it counts in the exit code: [`Problem::Unusable`] for a missing or unreadable
    /// name, [`Problem::Transient`] when S3 could not be reached, ...
    pub problem: Problem,
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.reason)
    }
}

/// The arguments, expanded in order, and what could not be used.
#[derive(Default)]
pub struct Expanded {
    pub inputs: Vec<Input>,
    pub unusable: Vec<Unusable>,
}

/// Expands and checks every argument (no argument stops the others).
pub async fn expand(args: &[String]) -> Expanded {
    let mut expanded = Expanded::default();
    let mut s3: Option<S3Store> = None;
    for arg in args {
        let unusable = |reason: String, problem: Problem| Unusable {
            name: arg.clone(),
            reason,
            problem,
        };
        if arg == "-" {
            expanded.inputs.push(Input::Stdin);
        } else if let Some(rest) = arg.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                let reason = "no bucket name".into();
                expanded.unusable.push(unusable(reason, Problem::Unusable));
                continue;
            }
            let store = match &s3 {
                Some(store) => store.clone(),
                None => s3.insert(S3Store::from_env().await).clone(),
            };
            let listed = match store.list(bucket, prefix).await {
                Ok(listed) => listed,
                Err(e) => {
                    let detail = exit::source_detail(&e);
                    let problem = exit::s3_problem(&detail);
                    let reason = format!("cannot list it: {detail}");
                    expanded.unusable.push(unusable(reason, problem));
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
                let reason = "no objects under this prefix".into();
                expanded.unusable.push(unusable(reason, Problem::Unusable));
            }
        } else {
            local(arg, &mut expanded);
        }
    }
    expanded
}

/// A file, or every file under a directory (each regular file opened once to prove it is
/// readable), into `expanded`.
fn local(arg: &str, expanded: &mut Expanded) {
    let path = PathBuf::from(arg);
    let unusable = |name: &Path, reason: String| Unusable {
        name: name.display().to_string(),
        reason,
        problem: Problem::Unusable,
    };
    let meta = match std::fs::metadata(&path) {
        Ok(meta) => meta,
        Err(e) => return expanded.unusable.push(unusable(&path, describe(&path, &e))),
    };
    if !meta.is_dir() {
        // A FIFO or a device named on purpose (`<(zcat ...)`, `/dev/stdin`) is read as a
        // stream; opening it here could wait for a writer, so only regular files are tried.
        if meta.is_file()
            && let Err(e) = std::fs::File::open(&path)
        {
            return expanded.unusable.push(unusable(&path, describe(&path, &e)));
        }
        return expanded.inputs.push(Input::File {
            size: meta.is_file().then_some(meta.len()),
            path,
        });
    }
    let before = (expanded.inputs.len(), expanded.unusable.len());
    // Hidden entries under the directory are skipped: `tweet-capture` writes the file it is
    // still filling under `.tmp/`, and editors and tools keep their own dot files. Symlinks
    // are followed, to files and to directories; walkdir stops at a loop and says so.
    let hidden =
        |e: &walkdir::DirEntry| e.depth() > 0 && e.file_name().to_string_lossy().starts_with('.');
    let walk = walkdir::WalkDir::new(&path)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !hidden(e));
    for entry in walk {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let name = e.path().unwrap_or(&path).to_path_buf();
                expanded
                    .unusable
                    .push(unusable(&name, walk_problem(&name, &e)));
                continue;
            }
        };
        let kind = entry.file_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            let reason = format!("not a regular file ({}): skipped", special_kind(&kind));
            expanded.unusable.push(unusable(entry.path(), reason));
            continue;
        }
        if let Err(e) = std::fs::File::open(entry.path()) {
            let reason = describe(entry.path(), &e);
            expanded.unusable.push(unusable(entry.path(), reason));
            continue;
        }
        expanded.inputs.push(Input::File {
            size: entry.metadata().ok().map(|m| m.len()),
            path: entry.into_path(),
        });
    }
    if (expanded.inputs.len(), expanded.unusable.len()) == before {
        expanded
            .unusable
            .push(unusable(&path, "no files in this directory".into()));
    }
}

/// Why a directory entry could not be walked: a symlink loop, a dangling symlink, a
/// directory that cannot be listed.
fn walk_problem(path: &Path, error: &walkdir::Error) -> String {
    if let Some(ancestor) = error.loop_ancestor() {
        return format!(
            "a symlink loop (it leads back to {}): not followed",
            ancestor.display()
        );
    }
    match error.io_error() {
        Some(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
            "cannot list or read it (permission denied)".into()
        }
        Some(io) => describe(path, io),
        None => format!("cannot read it: {error}"),
    }
}

/// The kind of a file that is neither a regular file nor a directory.
fn special_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "a special file"
    }
}

/// Why `path` cannot be used, in words (the OS error's text once, never twice).
fn describe(path: &Path, error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => match std::fs::read_link(path) {
            Ok(target) => format!(
                "a dangling symlink (its target {} does not exist)",
                target.display()
            ),
            Err(_) => "no such file or directory".into(),
        },
        std::io::ErrorKind::PermissionDenied => "cannot read it (permission denied)".into(),
        _ => format!("cannot read it: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local_names(path: &Path) -> (Vec<String>, Vec<String>) {
        let mut expanded = Expanded::default();
        local(path.to_str().unwrap(), &mut expanded);
        let inputs = expanded.inputs.iter().map(ToString::to_string).collect();
        let unusable = expanded.unusable.iter().map(ToString::to_string).collect();
        (inputs, unusable)
    }

    #[test]
    fn hidden_files_and_folders_under_a_directory_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".tmp")).unwrap();
        std::fs::write(dir.path().join(".tmp/partial.ndjson.gz"), b"x").unwrap();
        std::fs::write(dir.path().join(".hidden"), b"x").unwrap();
        std::fs::write(dir.path().join("capture-1.ndjson.gz"), b"x").unwrap();
        let (names, unusable) = local_names(dir.path());
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].ends_with("capture-1.ndjson.gz"), "{names:?}");
        assert!(unusable.is_empty(), "{unusable:?}");
    }

    /// Symlinks to files and directories are followed, a dangling one and a loop are
    /// reported, and so are a FIFO and a socket (none of these can be read, by root either):
    /// the files around them are still used.
    #[test]
    fn symlinks_are_followed_and_what_cannot_be_read_is_reported() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("far.ndjson"), b"{}\n").unwrap();
        std::fs::create_dir(outside.path().join("more")).unwrap();
        std::fs::write(outside.path().join("more/m.ndjson"), b"{}\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.ndjson"), b"{}\n").unwrap();
        std::fs::write(d.join("c.ndjson"), b"{}\n").unwrap();
        std::os::unix::fs::symlink(outside.path().join("far.ndjson"), d.join("b-file-link"))
            .unwrap();
        std::os::unix::fs::symlink(outside.path().join("more"), d.join("b-dir-link")).unwrap();
        std::os::unix::fs::symlink(d.join("gone.ndjson"), d.join("b-dangling")).unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::os::unix::fs::symlink(d, d.join("sub/loop")).unwrap();
        let fifo = d.join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let _socket = std::os::unix::net::UnixListener::bind(d.join("socket")).unwrap();

        let (names, unusable) = local_names(d);
        let at = |p: &str| d.join(p).display().to_string();
        assert_eq!(
            names,
            [
                at("a.ndjson"),
                at("b-dir-link/m.ndjson"),
                at("b-file-link"),
                at("c.ndjson")
            ]
        );
        assert_eq!(
            unusable,
            [
                format!(
                    "{}: a dangling symlink (its target {} does not exist)",
                    at("b-dangling"),
                    at("gone.ndjson")
                ),
                format!("{}: not a regular file (a FIFO): skipped", at("fifo")),
                format!("{}: not a regular file (a socket): skipped", at("socket")),
                format!(
                    "{}: a symlink loop (it leads back to {}): not followed",
                    at("sub/loop"),
                    d.display()
                ),
            ]
        );
    }

    #[test]
    fn a_file_that_cannot_be_read_is_reported_and_the_others_are_used() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in ["a.ndjson", "b.ndjson", "c.ndjson"] {
            std::fs::write(d.join(name), b"{}\n").unwrap();
        }
        std::fs::set_permissions(d.join("b.ndjson"), std::fs::Permissions::from_mode(0o000))
            .unwrap();
        if std::fs::File::open(d.join("b.ndjson")).is_ok() {
            // Root reads a mode 000 file; the FIFO, socket and symlink cases above hold for
            // root too.
            eprintln!("skipped: running as root, a mode 000 file is readable");
            return;
        }
        let (names, unusable) = local_names(d);
        let at = |p: &str| d.join(p).display().to_string();
        assert_eq!(names, [at("a.ndjson"), at("c.ndjson")]);
        assert_eq!(
            unusable,
            [format!(
                "{}: cannot read it (permission denied)",
                at("b.ndjson")
            )]
        );
    }

    #[tokio::test]
    async fn every_argument_is_checked_and_a_bad_one_does_not_stop_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("nested")).unwrap();
        std::fs::create_dir_all(d.join("empty")).unwrap();
        std::fs::write(d.join("b.ndjson"), b"{}\n").unwrap();
        std::fs::write(d.join("nested/a.ndjson"), b"{}\n{}\n").unwrap();
        let arg = |p: &str| d.join(p).display().to_string();
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
        let unusable: Vec<String> = expanded.unusable.iter().map(ToString::to_string).collect();
        assert_eq!(
            unusable,
            [
                format!("{}: no such file or directory", arg("missing.ndjson")),
                format!("{}: no files in this directory", arg("empty")),
                "s3:///prefix: no bucket name".to_owned(),
            ]
        );
        assert!(
            expanded
                .unusable
                .iter()
                .all(|u| u.problem == Problem::Unusable)
        );
    }
}
