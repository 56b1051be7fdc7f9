//! What the user named on the command line, expanded: files, directories (recursively, sorted),
//! `s3://bucket/prefix` (every key under it) and `-` (stdin).

use std::fmt;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
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
    pub fn size(&self) -> Option<u64> {
        match self {
            Input::File { size, .. } => *size,
            _ => None,
        }
    }

    pub async fn open(&self) -> Result<Object> {
        Ok(match self {
            Input::File { path, .. } => open_file(path).await?,
            Input::S3 { store, bucket, key } => store.get(bucket, key).await?,
            Input::Stdin => Object {
                name: "stdin".into(),
                body: Box::pin(tokio::io::stdin()),
                content_encoding: None,
                size: None,
            },
        })
    }
}

/// Expands the arguments in order; fails on a name that does not exist or an empty prefix.
pub async fn expand(args: &[String]) -> Result<Vec<Input>> {
    let mut inputs = Vec::new();
    let mut s3: Option<S3Store> = None;
    for arg in args {
        if arg == "-" {
            inputs.push(Input::Stdin);
        } else if let Some(rest) = arg.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                bail!("{arg}: no bucket name");
            }
            let store = match &s3 {
                Some(store) => store.clone(),
                None => s3.insert(S3Store::from_env().await).clone(),
            };
            let keys = store.list(bucket, prefix).await?;
            if keys.is_empty() {
                bail!("{arg}: no objects under this prefix");
            }
            for key in keys.into_iter().filter(|k| !k.ends_with('/')) {
                inputs.push(Input::S3 {
                    store: store.clone(),
                    bucket: bucket.to_owned(),
                    key,
                });
            }
        } else {
            let path = PathBuf::from(arg);
            let meta = std::fs::metadata(&path).with_context(|| format!("{arg}: cannot read"))?;
            if meta.is_dir() {
                let mut files: Vec<_> = walkdir::WalkDir::new(&path)
                    .sort_by_file_name()
                    .into_iter()
                    .collect::<Result<Vec<_>, _>>()
                    .with_context(|| format!("{arg}: cannot list"))?
                    .into_iter()
                    .filter(|e| e.file_type().is_file())
                    .map(|e| Input::File {
                        size: e.metadata().ok().map(|m| m.len()),
                        path: e.into_path(),
                    })
                    .collect();
                inputs.append(&mut files);
            } else {
                inputs.push(Input::File {
                    path,
                    size: Some(meta.len()),
                });
            }
        }
    }
    Ok(inputs)
}
