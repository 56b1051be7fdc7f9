//! `{index}_compliance` as a process knows it: its name and whether it exists (shared by
//! every input of a process; the registers in it are [`crate::compliance`]'s).

use std::sync::Mutex;
use std::time::Duration;

use search_sink::{SearchClient, SinkError};
use tokio::time::Instant;

/// The compliance index of `index`: `{index}_compliance` (`twitter_compliance`: within
/// `twitter*` for IAM paths, outside a `twitter-*` partition pattern).
pub fn compliance_index_name(index: &str) -> String {
    format!("{index}_compliance")
}

/// How long "the compliance index does not exist" is believed before it is asked again.
pub const ABSENT_FOR: Duration = Duration::from_secs(10);

/// `{index}_compliance`, and whether it exists as this process last saw it: shared by every
/// input of a process (a warm Lambda's invocations too).
#[derive(Debug)]
pub struct ComplianceIndex {
    name: String,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum State {
    Unknown,
    Exists,
    /// Not there when asked; believed until then.
    Absent(Instant),
}

impl ComplianceIndex {
    /// The compliance index of `index`.
    pub fn of(index: &str) -> Self {
        ComplianceIndex {
            name: compliance_index_name(index),
            state: Mutex::new(State::Unknown),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn state(&self) -> State {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set(&self, state: State) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }

    /// Whether look-ups should ask the server: the index exists or may have been created
    /// since it was last found missing.
    pub(crate) async fn may_exist(
        &self,
        client: &SearchClient,
        deadline: Instant,
    ) -> Result<bool, SinkError> {
        match self.state() {
            State::Exists => Ok(true),
            State::Absent(until) if Instant::now() < until => Ok(false),
            State::Unknown | State::Absent(_) => {
                let exists = client.index_exists(&self.name, deadline).await?;
                self.set(if exists {
                    State::Exists
                } else {
                    State::Absent(Instant::now() + ABSENT_FOR)
                });
                Ok(exists)
            }
        }
    }
}
