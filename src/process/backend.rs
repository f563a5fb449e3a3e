//! The interface both stream wirings (pipes, terminal) implement; everything
//! above it (table, fan-out, lifecycle) is written once.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::io::AsyncRead;

use super::Error;
use super::handover::HandedIo;
use super::output::Output;
use super::spec::PtySize;

/// An output source and how its chunks are labelled.
pub(super) struct Source {
    /// Where bytes come from; end of stream is `Ok(0)`.
    pub reader: Box<dyn AsyncRead + Send + Unpin>,
    /// Wraps a chunk in its output kind.
    pub label: fn(Bytes) -> Output,
    /// Largest chunk per event.
    pub chunk: usize,
    /// While output flows, gather reads into one event for up to this long
    /// (a terminal returns a few KiB per read); `None`: one read, one event.
    pub coalesce: Option<std::time::Duration>,
}

/// Input and control for a running process.
pub(super) trait Backend: Send + Sync {
    /// Writes stdin bytes.
    fn write_stdin(&self, data: Bytes) -> BoxFuture<'_, Result<(), Error>>;
    /// Writes terminal bytes.
    fn write_pty(&self, data: Bytes) -> BoxFuture<'_, Result<(), Error>>;
    /// Closes stdin (idempotent).
    fn close_stdin(&self) -> BoxFuture<'_, Result<(), Error>>;
    /// Resizes the terminal.
    fn resize(&self, size: PtySize) -> Result<(), Error>;
    /// The terminal's current size; `None` without a terminal.
    fn size(&self) -> Option<PtySize> {
        None
    }
    /// Duplicates (close-on-exec) of every fd the process's streams use,
    /// for a live upgrade. Fails once released.
    fn handover(&self) -> BoxFuture<'_, io::Result<HandedIo>>;
    /// Closes every fd the backend holds. Called when the process has
    /// ended: an ended process stays retained for `connect` long after, and
    /// must not pin its pipes or terminal meanwhile (thousands of short
    /// commands would otherwise exhaust envd's descriptors).
    fn release(&self) -> BoxFuture<'_, ()>;
}

/// What a backend answers once [`Backend::release`]d.
pub(super) fn released() -> io::Error {
    io::Error::other("the process has ended")
}

/// The child's ends of its standard streams, closed in envd once the
/// child has them.
#[derive(Debug)]
pub(super) enum ChildStdio {
    /// stdin, stdout, stderr.
    Pipes([OwnedFd; 3]),
    /// One terminal slave for all three.
    Terminal(OwnedFd),
}

impl ChildStdio {
    /// What becomes the child's fds 0, 1 and 2.
    pub(super) fn fds(&self) -> [BorrowedFd<'_>; 3] {
        match self {
            Self::Pipes(fds) => [fds[0].as_fd(), fds[1].as_fd(), fds[2].as_fd()],
            Self::Terminal(slave) => [slave.as_fd(); 3],
        }
    }
}

/// A wiring chosen before spawn: it opens the child's streams, keeping
/// envd's ends, then turns them into a backend plus its output sources
/// once the child runs.
pub(super) trait Wiring {
    /// Opens the streams and hands out the child's ends.
    fn prepare(&mut self) -> io::Result<ChildStdio>;
    /// Takes over envd's ends of the streams.
    fn attach(self: Box<Self>) -> io::Result<(Box<dyn Backend>, Vec<Source>)>;
}
