//! Live upgrade, process side: stop the output readers and the reaper,
//! export the table with duplicates of every fd it holds, and on the other
//! side of the exec adopt what was exported. Plain Rust types only; the
//! wire form lives in `crate::upgrade`.

use std::collections::HashMap;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::OwnedRwLockWriteGuard;

use super::Error;
use super::backend::Backend;
use super::exit::End;
use super::manager::{ExitWait, Process, ProcessInfo, ProcessManager, lock};
use super::output::{Bus, Output, Stream};
use super::sequencer::Sequencer;
use super::spec::PtySize;
use super::{pipe, pty};

/// The streams of a handed-over process (fds owned here, close-on-exec
/// until the exec clears it).
#[derive(Debug)]
pub enum HandedIo {
    /// Pipe wiring.
    Pipes {
        /// The stdin write end, unless disabled or closed.
        stdin: Option<OwnedFd>,
        /// The stdout read end.
        stdout: OwnedFd,
        /// The stderr read end.
        stderr: OwnedFd,
    },
    /// Terminal wiring.
    Terminal {
        /// The pty master.
        master: OwnedFd,
        /// The current window size.
        size: PtySize,
    },
}

/// A process that had not ended.
#[derive(Debug)]
pub struct LiveProcess {
    /// Pid, tag and configuration.
    pub info: ProcessInfo,
    /// Its streams.
    pub io: HandedIo,
    /// Time left before its deadline kills it.
    pub deadline_left: Option<Duration>,
    /// Its end, if the exit status was already collected.
    pub exit: Option<End>,
    /// The replay tail: the last output read, oldest first.
    pub replay: Vec<Output>,
    /// Bytes each stream produced, so offsets go on after the upgrade.
    pub produced: Produced,
    /// The last terminal input batch applied.
    pub last_applied_seq: u64,
}

/// Bytes each output stream of a process produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Produced {
    /// The terminal.
    pub pty: u64,
    /// stdout.
    pub stdout: u64,
    /// stderr.
    pub stderr: u64,
}

/// An ended process still answerable by `connect`.
#[derive(Debug, Clone)]
pub struct EndedProcess {
    /// Pid, tag and configuration.
    pub info: ProcessInfo,
    /// Its end event.
    pub end: End,
    /// How much longer it is kept.
    pub retention_left: Duration,
}

/// The whole process table.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Running (or exited and not yet ended) processes.
    pub live: Vec<LiveProcess>,
    /// Ended processes.
    pub ended: Vec<EndedProcess>,
}

/// The table while no output is read and nothing is reaped. Dropping it
/// lets both run again (the upgrade failed).
#[derive(Debug)]
pub struct Frozen<'a> {
    manager: &'a ProcessManager,
    _gate: OwnedRwLockWriteGuard<()>,
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        self.manager.quiesce.paused.send_replace(false);
        self.manager.reaper.resume();
    }
}

impl ProcessManager {
    /// The reaper every child of envd is collected by.
    pub fn reaper(&self) -> &Arc<super::Reaper> {
        &self.reaper
    }

    /// Stops reaping and every output reader, waiting for reads in
    /// progress to be recorded.
    pub async fn freeze(&self) -> Frozen<'_> {
        self.reaper.suspend();
        self.quiesce.paused.send_replace(true);
        let gate = self.quiesce.gate.clone().write_owned().await;
        Frozen {
            manager: self,
            _gate: gate,
        }
    }

    /// Exports every process the table holds.
    pub async fn export(&self, _frozen: &Frozen<'_>) -> io::Result<Snapshot> {
        let (all, expiries): (Vec<Arc<Process>>, HashMap<u32, Instant>) = {
            let table = self.table();
            let live = table.live.values().cloned();
            let retained = table.retained.iter().map(|(p, _)| p.clone());
            let expiries = table
                .retained
                .iter()
                .map(|(p, expires)| (p.info.pid, expires))
                .collect();
            (live.chain(retained).collect(), expiries)
        };
        let now = Instant::now();
        let mut snapshot = Snapshot::default();
        let ended = |process: &Process, end: End| {
            let ended_at = (*lock(&process.ended_at)).unwrap_or(now);
            let kept_until = expiries
                .get(&process.info.pid)
                .copied()
                .unwrap_or(ended_at + self.settings.exit_retention);
            EndedProcess {
                info: process.info.clone(),
                end,
                retention_left: kept_until.saturating_duration_since(now),
            }
        };
        for process in all {
            if let Some(end) = process.bus.end() {
                snapshot.ended.push(ended(&process, end));
                continue;
            }
            let exit = lock(&process.exit)
                .clone()
                .or_else(|| self.reaper.delivered(process.child).map(End::from_wait));
            let io = match process.backend.handover().await {
                Ok(io) => io,
                // It ended (and released its fds) since `bus.end()` above.
                Err(e) => match process.bus.end() {
                    Some(end) => {
                        snapshot.ended.push(ended(&process, end));
                        continue;
                    }
                    None => return Err(e),
                },
            };
            snapshot.live.push(LiveProcess {
                info: process.info.clone(),
                io,
                deadline_left: process.deadline.map(|d| d.saturating_duration_since(now)),
                exit,
                replay: process.bus.tail(),
                produced: Produced {
                    pty: process.bus.produced(Stream::Pty),
                    stdout: process.bus.produced(Stream::Stdout),
                    stderr: process.bus.produced(Stream::Stderr),
                },
                last_applied_seq: process.sequencer.last_applied(),
            });
        }
        Ok(snapshot)
    }

    /// Takes over `snapshot` in the new envd: registers every child with
    /// the reaper and starts its readers and supervisor. Call before the
    /// reaper first runs. `replay_for` is how long a `connect` still gets
    /// the replay tail first. Returns how many live processes failed.
    pub fn adopt(self: &Arc<Self>, snapshot: Snapshot, replay_for: Duration) -> usize {
        let until = Instant::now() + replay_for;
        let mut failed = 0;
        for live in snapshot.live {
            let pid = live.info.pid;
            if let Err(e) = self.adopt_live(live, until) {
                tracing::error!(pid, error = %e, "cannot adopt a handed-over process");
                failed += 1;
            }
        }
        let mut ended = snapshot.ended;
        // The table keeps them in expiry order.
        ended.sort_by_key(|e| e.retention_left);
        for ended in ended {
            let process = Arc::new(Process {
                child: self.reaper.detached(ended.info.pid),
                info: ended.info,
                backend: Box::new(Ended),
                bus: Bus::new(self.settings.stall_limit, self.settings.scrollback),
                deadline: None,
                sequencer: Sequencer::new(0),
                exit: Mutex::new(Some(ended.end.clone())),
                ended_at: Mutex::new(Some(Instant::now())),
            });
            process.bus.store_end(ended.end);
            self.retain(process, ended.retention_left);
        }
        failed
    }

    fn adopt_live(self: &Arc<Self>, live: LiveProcess, until: Instant) -> io::Result<()> {
        let pid = live.info.pid;
        let (backend, sources) = match live.io {
            HandedIo::Pipes {
                stdin,
                stdout,
                stderr,
            } => pipe::adopt_fds(stdin, stdout, stderr)?,
            HandedIo::Terminal { master, size } => pty::adopt(master, size)?,
        };
        let (child, exit) = match live.exit {
            Some(end) => (self.reaper.detached(pid), ExitWait::Known(end)),
            None => {
                let (child, rx) = self.reaper.adopt(pid)?;
                (child, ExitWait::Child(rx))
            }
        };
        let process = Arc::new(Process {
            info: live.info,
            child,
            backend,
            bus: Bus::resumed(
                self.settings.stall_limit,
                self.settings.scrollback,
                &live.replay,
                live.produced,
                until,
            ),
            deadline: live.deadline_left.map(|d| Instant::now() + d),
            sequencer: Sequencer::new(live.last_applied_seq),
            exit: Mutex::new(None),
            ended_at: Mutex::new(None),
        });
        self.run(process, sources, exit, live.deadline_left);
        Ok(())
    }
}

/// The backend of an ended process: nothing to write to or resize (it is
/// never in the live table, so this is never reached).
pub(super) struct Ended;

impl Backend for Ended {
    fn write_stdin(&self, _data: Bytes) -> BoxFuture<'_, Result<(), Error>> {
        async { Err(Error::StdinClosed) }.boxed()
    }

    fn write_pty(&self, _data: Bytes) -> BoxFuture<'_, Result<(), Error>> {
        async { Err(Error::NotAPty) }.boxed()
    }

    fn close_stdin(&self) -> BoxFuture<'_, Result<(), Error>> {
        async { Ok(()) }.boxed()
    }

    fn resize(&self, _size: PtySize) -> Result<(), Error> {
        Err(Error::NotAPty)
    }

    fn handover(&self) -> BoxFuture<'_, io::Result<HandedIo>> {
        async { Err(super::backend::released()) }.boxed()
    }

    fn release(&self) -> BoxFuture<'_, ()> {
        async {}.boxed()
    }
}
