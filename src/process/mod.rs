//! Process domain: spawning, the process table, output fan-out, input,
//! signals and exit tracking. Knows nothing about the wire.

mod backend;
mod command;
pub mod exit;
pub mod handover;
mod manager;
mod output;
mod pipe;
mod placement;
mod pty;
pub mod reaper;
mod retained;
mod scrollback;
mod sequencer;
pub mod spec;
mod terminal;

use std::io;
use std::path::PathBuf;

pub use exit::End;
pub use manager::{ProcessInfo, ProcessManager, Settings, Started};
pub use output::{Event, Fault, Offsets, Output, REPLAY_TAIL_BYTES, Replays, Stream, Subscription};
pub use placement::Placement;
pub use reaper::Reaper;
pub use scrollback::{Lost, Replay};
pub use spec::{Mode, ProcessConfig, PtySize, StartSpec};
pub use terminal::{Attached, TerminalInfo, TerminalOp};

/// Which process a request means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// By exact pid.
    Pid(u32),
    /// The first live process with this tag.
    Tag(String),
}

/// Input for a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// For the stdin pipe.
    Stdin(bytes::Bytes),
    /// For the terminal.
    Pty(bytes::Bytes),
}

/// Signals a client may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM.
    Term,
    /// SIGKILL.
    Kill,
}

impl Error {
    /// Classifies a spawn failure: the child's `chdir` (as the user)
    /// failing with these errnos means the user cannot enter the cwd.
    fn from_spawn(error: crate::sys::SpawnError, spec: &StartSpec) -> Self {
        let cwd_errno = [libc::EACCES, libc::ENOENT, libc::ENOTDIR, libc::ELOOP];
        let at_cwd = matches!(
            error,
            crate::sys::SpawnError::Setup {
                step: crate::sys::Step::Cwd,
                ..
            }
        );
        let source = error.into_io();
        if at_cwd
            && source
                .raw_os_error()
                .is_some_and(|e| cwd_errno.contains(&e))
        {
            Self::CwdDenied {
                cwd: spec.cwd.clone(),
                user: spec.user.name.clone(),
                source,
            }
        } else {
            Self::Spawn(source)
        }
    }
}

/// Why a process operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No process with this pid.
    #[error("process with pid {0} not found")]
    PidNotFound(u32),
    /// No process with this tag.
    #[error("process with tag {0} not found")]
    TagNotFound(String),
    /// The working directory does not exist.
    #[error("cwd '{}' does not exist", .0.display())]
    CwdMissing(PathBuf),
    /// The cwd could not be resolved.
    #[error(transparent)]
    Path(#[from] crate::fs::path::Error),
    /// Terminal size out of range.
    #[error("invalid pty size {cols}x{rows}: each dimension must be between 1 and 4096")]
    InvalidPtySize {
        /// Requested columns.
        cols: u32,
        /// Requested rows.
        rows: u32,
    },
    /// The user may not enter the working directory (the child changes into
    /// it after dropping to the user, so the kernel decides).
    #[error("error starting process: cwd '{}' is not accessible to user '{user}': {source}", .cwd.display())]
    CwdDenied {
        /// The resolved cwd.
        cwd: PathBuf,
        /// Who tried.
        user: String,
        /// The kernel's answer (`EACCES`, `ENOENT`, `ENOTDIR`, `ELOOP`).
        source: io::Error,
    },
    /// fork/exec failed.
    #[error("error starting process: {0}")]
    Spawn(io::Error),
    /// Pipes or terminal could not be set up.
    #[error("error setting up process i/o: {0}")]
    Io(io::Error),
    /// Terminal input or resize for a process without one.
    #[error("tty not assigned to process")]
    NotAPty,
    /// Stdin bytes for a terminal process.
    #[error("input should be written to the pty, not the stdin")]
    StdinOnPty,
    /// Stdin disabled at start or already closed.
    #[error("error writing to stdin: stdin not enabled or closed")]
    StdinClosed,
    /// Writing stdin failed (for example the process exited).
    #[error("error writing to stdin: {0}")]
    WriteStdin(io::Error),
    /// Writing to the terminal failed.
    #[error("error writing to tty: {0}")]
    WritePty(io::Error),
    /// CloseStdin on a terminal process.
    #[error("error closing stdin: cannot close stdin for PTY process — send Ctrl+D (0x04) instead")]
    CloseStdinOnPty,
    /// The resize ioctl failed.
    #[error("error resizing tty: {0}")]
    Resize(nix::Error),
    /// kill(2) failed.
    #[error("error sending signal: {0}")]
    Signal(nix::Error),
    /// A terminal input batch waited its whole allowance for an earlier one.
    #[error("batch {seq} waited {waited:?} for batch {missing}, which never arrived")]
    SequenceGap {
        /// The waiting batch.
        seq: u64,
        /// The first batch not yet applied.
        missing: u64,
        /// How long it waited.
        waited: std::time::Duration,
    },
    /// A terminal input batch numbered 0 or too far ahead of the last applied.
    #[error(
        "batch {seq} is out of range: the last applied batch is {last_applied} and at most {window} may wait ahead of it"
    )]
    SequenceOutOfRange {
        /// The batch.
        seq: u64,
        /// The last batch applied.
        last_applied: u64,
        /// How far ahead a batch may be.
        window: u64,
    },
    /// Too many batches wait for one terminal.
    #[error("{waiting} batches already wait for earlier ones on this terminal")]
    SequenceBacklog {
        /// How many wait.
        waiting: usize,
    },
    /// A replay offset beyond what the stream has produced.
    #[error("offset {offset} is beyond the {produced} bytes the {stream} stream has produced")]
    OffsetOutOfRange {
        /// The requested offset.
        offset: u64,
        /// Bytes produced so far.
        produced: u64,
        /// Which stream.
        stream: &'static str,
    },
}
