//! The interface both stream wirings (pipes, terminal) implement; everything
//! above it (table, fan-out, lifecycle) is written once.

use std::io;
use std::process::{Child, Command};

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
    /// Largest chunk per read (one read, one event).
    pub chunk: usize,
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

/// A wiring chosen before spawn: it prepares the command, then turns the
/// spawned child into a backend plus its output sources.
pub(super) trait Wiring {
    /// Connects the command's standard streams.
    fn prepare(&mut self, command: &mut Command) -> io::Result<()>;
    /// Takes over the child's streams.
    fn attach(self: Box<Self>, child: &mut Child) -> io::Result<(Box<dyn Backend>, Vec<Source>)>;
}
