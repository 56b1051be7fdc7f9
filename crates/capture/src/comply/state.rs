//! The small file that lets `comply` resume after a crash: the job type, the ids file's
//! fingerprint and the id of the job each part was given. Written (atomically: a temporary
//! file renamed over it) as soon as a job is created or adopted, read at start, removed once
//! every result was delivered. A file that does not match the run (another type, another ids
//! file, another `--max-ids-per-job`) is replaced.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    #[serde(rename = "type")]
    pub kind: String,
    /// The ids file's fingerprint (`ids::Plan::fingerprint`).
    pub fingerprint: String,
    /// The job of each part, once created.
    pub jobs: Vec<Option<String>>,
}

#[derive(Debug, thiserror::Error)]
#[error("state file {path}: {message}")]
pub struct StateError {
    pub path: PathBuf,
    pub message: String,
}

impl State {
    pub fn new(kind: &str, fingerprint: &str, parts: usize) -> State {
        State {
            version: VERSION,
            kind: kind.to_owned(),
            fingerprint: fingerprint.to_owned(),
            jobs: vec![None; parts],
        }
    }

    /// Whether this state belongs to a run of `kind` over the ids with this fingerprint.
    pub fn matches(&self, kind: &str, fingerprint: &str, parts: usize) -> bool {
        self.version == VERSION
            && self.kind == kind
            && self.fingerprint == fingerprint
            && self.jobs.len() == parts
    }

    /// The state at `path`; `None` when there is none, or it cannot be read as one (it is
    /// then replaced, with a warning: the jobs it named are found again by name).
    pub fn load(path: &Path) -> Result<Option<State>, StateError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(StateError {
                    path: path.to_owned(),
                    message: e.to_string(),
                });
            }
        };
        match serde_json::from_str(&text) {
            Ok(state) => Ok(Some(state)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "the state file is not one of ours: starting afresh");
                Ok(None)
            }
        }
    }

    /// Writes the state to `path` (a temporary file beside it, synced, renamed over it).
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let fail = |e: std::io::Error| StateError {
            path: path.to_owned(),
            message: e.to_string(),
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let text = serde_json::to_vec_pretty(self).map_err(|e| StateError {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp).map_err(fail)?;
            file.write_all(&text).map_err(fail)?;
            file.sync_all().map_err(fail)?;
        }
        std::fs::rename(&tmp, path).map_err(fail)
    }

    /// Removes the state at `path` (nothing to do when there is none).
    pub fn remove(path: &Path) -> Result<(), StateError> {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StateError {
                path: path.to_owned(),
                message: e.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_states_load_back_and_unreadable_ones_are_replaced() {
        let dir = std::env::temp_dir().join(format!("comply-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ids.txt.tweets.comply-state.json");
        assert_eq!(State::load(&path).unwrap(), None);
        let mut state = State::new("tweets", "abc", 2);
        state.jobs[0] = Some("1460".into());
        state.save(&path).unwrap();
        let back = State::load(&path).unwrap().unwrap();
        assert_eq!(back, state);
        assert!(back.matches("tweets", "abc", 2));
        assert!(!back.matches("users", "abc", 2));
        assert!(!back.matches("tweets", "abd", 2));
        assert!(!back.matches("tweets", "abc", 3));
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(State::load(&path).unwrap(), None);
        State::remove(&path).unwrap();
        State::remove(&path).unwrap();
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
