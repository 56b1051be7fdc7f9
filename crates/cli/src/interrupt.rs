//! SIGINT / SIGTERM during `index`: the first signal stops reading (every object's body then
//! fails its next read, so the pipeline sends what it already read and reports the object
//! as interrupted) and no further object starts; requests in flight get [`GRACE`] to be
//! confirmed. A second signal, or the end of the grace period, abandons what is still
//! running. Either way the caller prints the summary of what was confirmed and exits with
//! 128 + the signal's number.
//!
//! Only `index` installs it: elsewhere (`--dry-run`, `mapping`, ...) a signal ends the
//! process at once, as before.

use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pipeline::source::{Body, Stream};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// Time given to requests in flight after the first signal.
pub const GRACE: Duration = Duration::from_secs(5);

/// The text of the read error an interrupted body fails with (found again in the object's
/// error to report it as interrupted rather than failed).
pub const STOPPED: &str = "reading stopped by a signal";

/// The signals of one run, as they arrive.
#[derive(Clone)]
pub struct Interrupt {
    /// The first signal's number, once it came.
    signal: watch::Receiver<Option<i32>>,
    /// True once in-flight work is to be abandoned.
    abandon: watch::Receiver<bool>,
}

impl Interrupt {
    /// Installs the handlers: from now on SIGINT and SIGTERM no longer end the process by
    /// themselves. Call inside the runtime.
    pub fn install() -> std::io::Result<Interrupt> {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let (signal_tx, signal_rx) = watch::channel(None);
        let (abandon_tx, abandon_rx) = watch::channel(false);
        tokio::spawn(async move {
            let first = tokio::select! {
                _ = int.recv() => libc_number(SignalKind::interrupt()),
                _ = term.recv() => libc_number(SignalKind::terminate()),
            };
            signal_tx.send_replace(Some(first));
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
                () = tokio::time::sleep(GRACE) => {}
            }
            abandon_tx.send_replace(true);
        });
        Ok(Interrupt {
            signal: signal_rx,
            abandon: abandon_rx,
        })
    }

    /// The first signal's number, once one came.
    pub fn signal(&self) -> Option<i32> {
        *self.signal.borrow()
    }

    /// Resolves when the first signal comes (never, if none does).
    pub async fn stopped(&self) {
        let mut signal = self.signal.clone();
        if signal.wait_for(Option::is_some).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Resolves when what still runs is to be abandoned: a second signal, or [`GRACE`] after
    /// the first.
    pub async fn abandoned(&self) {
        let mut abandon = self.abandon.clone();
        if abandon.wait_for(|a| *a).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// `body`, failing its next read with [`STOPPED`] once the first signal came.
    pub fn stoppable(&self, body: Body) -> Body {
        match body {
            Body::File(file) => Body::Read(Box::new(StopRead {
                inner: file,
                stop: self.clone(),
            })),
            Body::Read(reader) => Body::Read(Box::new(StopRead {
                inner: reader,
                stop: self.clone(),
            })),
            Body::Stream(stream) => {
                let stop = self.clone();
                Body::Stream(Box::pin(StopStream {
                    inner: stream,
                    stopped: Some(Box::pin(async move { stop.stopped().await })),
                }))
            }
        }
    }
}

/// The number of the signals we handle (`SignalKind` keeps it as a raw value).
fn libc_number(kind: SignalKind) -> i32 {
    kind.as_raw_value()
}

fn stopped_error() -> std::io::Error {
    // Not `ErrorKind::Interrupted`: readers retry that one.
    std::io::Error::other(STOPPED)
}

/// A blocking reader (a local file) that fails once the first signal came.
struct StopRead<R> {
    inner: R,
    stop: Interrupt,
}

impl<R: Read> Read for StopRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.stop.signal().is_some() {
            return Err(stopped_error());
        }
        self.inner.read(buf)
    }
}

/// A stream (stdin, S3) that fails once the first signal came, also while a read waits.
struct StopStream {
    inner: Stream,
    /// `None` once the signal came (a finished future must not be polled again).
    stopped: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl AsyncRead for StopStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let signalled = match self.stopped.as_mut() {
            Some(stopped) => stopped.as_mut().poll(cx).is_ready(),
            None => true,
        };
        if signalled {
            self.stopped = None;
            return Poll::Ready(Err(stopped_error()));
        }
        self.inner.as_mut().poll_read(cx, buf)
    }
}
