//! Terminal operations on the process table (`envd.pty.v1.Pty`): replay
//! from an offset, ordered input batches, hang-up. Every process is
//! attachable (a pipe process replays stdout and stderr); only terminals
//! take resizes.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use nix::sys::signal::Signal as Sig;

use super::exit::End;
use super::manager::{Process, ProcessManager, lock};
use super::output::{Offsets, Replays, Stream, Subscription};
use super::spec::{ProcessConfig, PtySize};
use super::{Error, Selector};

/// One operation of a terminal input batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalOp {
    /// Bytes for the terminal (or a pipe process's stdin).
    Input(Bytes),
    /// A new window size.
    Resize(PtySize),
    /// A signal for the process group.
    Signal(Sig),
}

/// A process attached to: what it is, what the rings still held from the
/// requested offsets, and what follows.
#[derive(Debug)]
pub struct Attached {
    /// Pid of the program.
    pub pid: u32,
    /// Tag given at start.
    pub tag: Option<String>,
    /// The terminal's size; `None` for a pipe process.
    pub size: Option<PtySize>,
    /// The last input batch applied.
    pub last_applied_seq: u64,
    /// Replay per stream.
    pub replays: Replays,
    /// Live events, or the stored end of an exited process.
    pub live: Result<Subscription, End>,
}

/// A live terminal as `List` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalInfo {
    /// Pid of the program.
    pub pid: u32,
    /// Tag given at start.
    pub tag: Option<String>,
    /// What runs.
    pub config: ProcessConfig,
    /// Current window size.
    pub size: PtySize,
    /// Bytes of output so far.
    pub output_offset: u64,
    /// The last input batch applied.
    pub last_applied_seq: u64,
}

impl ProcessManager {
    /// Replays `selector`'s output from `from` and subscribes to the rest;
    /// an exited process that is still retained replays and then ends.
    pub fn attach(&self, selector: &Selector, from: Offsets) -> Result<Attached, Error> {
        let process = self.find(selector)?;
        let size = process.backend.size();
        let streams: &[Stream] = if size.is_some() {
            &[Stream::Pty]
        } else {
            &[Stream::Stdout, Stream::Stderr]
        };
        let (replays, live) =
            process
                .bus
                .subscribe_from(streams, from)
                .map_err(|(stream, beyond)| Error::OffsetOutOfRange {
                    offset: match stream {
                        Stream::Stderr => from.stderr,
                        Stream::Pty | Stream::Stdout => from.output,
                    }
                    .unwrap_or_default(),
                    produced: beyond.produced,
                    stream: stream.name(),
                })?;
        Ok(Attached {
            pid: process.info.pid,
            tag: process.info.tag.clone(),
            size,
            last_applied_seq: process.sequencer.last_applied(),
            replays,
            live,
        })
    }

    /// Applies `ops` as input batch `seq` of a live process, in sequence
    /// order (see [`super::sequencer`]); the last batch applied afterwards.
    /// The batch is checked before anything runs, so a refused batch does
    /// not use up its number.
    ///
    /// It runs on the manager's tasks, not in the caller: a client that
    /// gives up mid-batch (a deadline, a dropped connection) must not leave
    /// it half typed and unnumbered, or its retry would type the first half
    /// twice.
    pub async fn apply(
        self: &Arc<Self>,
        selector: &Selector,
        seq: u64,
        ops: Vec<TerminalOp>,
    ) -> Result<u64, Error> {
        let process = self.live(selector)?;
        let pty = process.backend.size().is_some();
        if !pty && ops.iter().any(|op| matches!(op, TerminalOp::Resize(_))) {
            return Err(Error::NotAPty);
        }
        let manager = self.clone();
        let batch = self.tasks().spawn(async move {
            let wait = manager.settings.sequence_wait;
            let run = || async {
                for op in ops {
                    match op {
                        TerminalOp::Input(data) if pty => process.backend.write_pty(data).await?,
                        TerminalOp::Input(data) => process.backend.write_stdin(data).await?,
                        TerminalOp::Resize(size) => process.backend.resize(size)?,
                        TerminalOp::Signal(signal) => manager.signal_group(&process, signal)?,
                    }
                }
                Ok(())
            };
            process.sequencer.apply(seq, wait, run).await
        });
        batch
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))?
    }

    /// Every live terminal, by pid.
    pub fn terminals(&self) -> Vec<TerminalInfo> {
        let mut all: Vec<_> = self
            .live_processes()
            .into_iter()
            .filter_map(|p| {
                let size = p.backend.size()?;
                Some(TerminalInfo {
                    pid: p.info.pid,
                    tag: p.info.tag.clone(),
                    config: p.info.config.clone(),
                    size,
                    output_offset: p.bus.produced(Stream::Pty),
                    last_applied_seq: p.sequencer.last_applied(),
                })
            })
            .collect();
        all.sort_by_key(|t| t.pid);
        all
    }

    /// Hangs up: SIGHUP to the process group now, SIGKILL after `grace`
    /// unless it ended by then.
    pub fn hang_up(self: &Arc<Self>, selector: &Selector, grace: Duration) -> Result<(), Error> {
        let process = self.live(selector)?;
        self.signal_group(&process, Sig::SIGHUP)?;
        let manager = self.clone();
        self.tasks().spawn(async move {
            tokio::time::sleep(grace).await;
            if lock(&process.exit).is_none()
                && let Err(e) = manager.signal_group(&process, Sig::SIGKILL)
            {
                tracing::warn!(pid = process.info.pid, error = %e, "cannot kill a terminal after hang-up");
            }
        });
        Ok(())
    }

    /// Signals `process` and the group it leads; not-found once it is gone.
    pub(super) fn signal_group(&self, process: &Process, signal: Sig) -> Result<(), Error> {
        match self
            .reaper
            .signal(process.child, signal)
            .map_err(Error::Signal)?
        {
            true => Ok(()),
            false => Err(Error::PidNotFound(process.info.pid)),
        }
    }
}
