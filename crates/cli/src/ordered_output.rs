//! `index --dry-run --jobs N`: each object's bulk lines reach stdout in one piece and in input
//! order. The oldest object not yet written out (the head) writes straight to stdout; the
//! others spool to a temp file (created at their first write) until they become the head, when
//! what they spooled is copied out and they go on to stdout. So the output is the same bytes
//! as `--jobs 1`, and the head object, the only one with a single input, costs no spool.
//!
//! Hand-written (a mutex around an enum) because the switch from spool to stdout must happen
//! between two writes of a running object, which no output crate offers.

use std::fs::File;
use std::io::{self, Seek, Write};
use std::sync::{Arc, Mutex, MutexGuard};

/// Where one object's writes go now.
enum Route {
    /// An earlier object is still being written: into this temp file (none before a write).
    Spool(Option<File>),
    /// The object is the head.
    Stdout,
    /// Copying its spool out failed (e.g. stdout closed): every later write fails with this.
    Failed(String),
}

/// One object's output, shared by its writer (on the extraction thread) and the coordinator
/// that promotes it when it becomes the head.
#[derive(Clone)]
pub struct ObjectOutput(Arc<Mutex<Route>>);

impl Default for ObjectOutput {
    fn default() -> Self {
        ObjectOutput(Arc::new(Mutex::new(Route::Spool(None))))
    }
}

impl ObjectOutput {
    fn route(&self) -> io::Result<MutexGuard<'_, Route>> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("a bulk output writer panicked"))
    }

    /// Makes this object the head: its spooled lines are copied to stdout and its later
    /// writes go there. Blocking (call it off the async threads); the object's writes wait
    /// meanwhile, so nothing overtakes the spooled lines.
    pub fn promote(&self) -> io::Result<()> {
        let mut route = self.route()?;
        let copied = match &mut *route {
            Route::Spool(Some(file)) => copy_out(file),
            Route::Spool(None) | Route::Stdout => Ok(()),
            Route::Failed(reason) => Err(io::Error::other(reason.clone())),
        };
        *route = match &copied {
            Ok(()) => Route::Stdout,
            Err(e) => Route::Failed(e.to_string()),
        };
        copied
    }

    /// Why promoting failed, if it did (the object's lines did not all reach stdout).
    pub fn failure(&self) -> Option<String> {
        match &*self.route().ok()? {
            Route::Failed(reason) => Some(reason.clone()),
            _ => None,
        }
    }
}

fn copy_out(file: &mut File) -> io::Result<()> {
    file.rewind()?;
    let mut stdout = io::stdout().lock();
    // Whatever the previous head left in stdout's own buffer goes first.
    stdout.flush()?;
    io::copy(file, &mut stdout)?;
    stdout.flush()
}

impl Write for ObjectOutput {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut route = self.route()?;
        match &mut *route {
            Route::Spool(spool) => {
                let mut file = match spool.take() {
                    Some(file) => file,
                    None => tempfile::tempfile()?,
                };
                let written = file.write(bytes);
                *spool = Some(file);
                written
            }
            Route::Stdout => io::stdout().lock().write(bytes),
            Route::Failed(reason) => Err(io::Error::other(reason.clone())),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        let route = self.route()?;
        match &*route {
            Route::Spool(_) => Ok(()),
            Route::Stdout => io::stdout().lock().flush(),
            Route::Failed(reason) => Err(io::Error::other(reason.clone())),
        }
    }
}
