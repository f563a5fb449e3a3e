//! The process table and each process's lifecycle.
//!
//! A process is subscribed to before its output readers and exit waiter
//! start, so the Start stream sees every byte and the end even for
//! `echo hi`. After exit the process leaves the live table but its handle
//! (with the stored end event) is retained for `Connect` for a while
//! (see [`super::retained`]).

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use futures::FutureExt;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::backend::{Backend, Source, Wiring};
use super::command;
use super::exit::End;
use super::output::{Bus, Output, Subscription};
use super::pipe::PipeWiring;
use super::pty::PtyWiring;
use super::reaper::{ChildId, Reaper};
use super::retained::Retained;
use super::sequencer::Sequencer;
use super::spec::{Mode, ProcessConfig, PtySize, StartSpec};
use super::{Error, Input, Selector, Signal};
use crate::sys::{self, ChildCredentials};

/// Tunables, from [`crate::config::Config`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long an exited process stays available to `connect`.
    pub exit_retention: Duration,
    /// How many exited processes stay available at most.
    pub exit_retention_max: usize,
    /// How long to keep reading after exit while pipes are still open.
    pub drain_grace: Duration,
    /// How long a subscriber may refuse output before it is cut off.
    pub stall_limit: Duration,
    /// Bytes of scrollback each output stream keeps for `Attach`.
    pub scrollback: usize,
    /// How long a terminal input batch may wait for an earlier one.
    pub sequence_wait: Duration,
    /// The cgroups new processes join.
    pub placement: super::Placement,
}

/// A live process as `List` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Pid of the user command.
    pub pid: u32,
    /// Tag given at start.
    pub tag: Option<String>,
    /// Configuration as given at start.
    pub config: ProcessConfig,
}

/// A started process and the subscription made before it could run.
#[derive(Debug)]
pub struct Started {
    /// Pid of the user command.
    pub pid: u32,
    /// Every event from the beginning.
    pub events: Subscription,
}

pub(super) struct Process {
    pub(super) info: ProcessInfo,
    /// What signals are sent to (never a later process reusing the pid).
    pub(super) child: ChildId,
    pub(super) backend: Box<dyn Backend>,
    pub(super) bus: Bus,
    /// When the Connect-Timeout-Ms deadline kills it.
    pub(super) deadline: Option<Instant>,
    /// Orders terminal input batches (`Pty/Send`).
    pub(super) sequencer: Sequencer,
    /// How it ended, once its exit status is known (before the end is
    /// published), and when the end was published.
    pub(super) exit: Mutex<Option<End>>,
    pub(super) ended_at: Mutex<Option<Instant>>,
}

pub(super) struct Table {
    pub(super) live: HashMap<u32, Arc<Process>>,
    /// Exited processes kept so `connect` can answer with their end.
    pub(super) retained: Retained,
    /// Whether the task that frees expired retained processes runs.
    sweeping: bool,
}

impl Table {
    fn find(&self, selector: &Selector) -> Option<Arc<Process>> {
        let now = Instant::now();
        match selector {
            Selector::Pid(pid) => self
                .live
                .get(pid)
                .or_else(|| self.retained.get(*pid, now))
                .cloned(),
            Selector::Tag(tag) => self
                .live
                .values()
                .find(|p| p.info.tag.as_deref() == Some(tag))
                .or_else(|| self.retained.by_tag(tag, now))
                .cloned(),
        }
    }

    fn find_live(&self, selector: &Selector) -> Result<Arc<Process>, Error> {
        let found = match selector {
            Selector::Pid(pid) => self.live.get(pid).cloned(),
            Selector::Tag(tag) => self
                .live
                .values()
                .find(|p| p.info.tag.as_deref() == Some(tag.as_str()))
                .cloned(),
        };
        found.ok_or_else(|| not_found(selector))
    }
}

fn not_found(selector: &Selector) -> Error {
    match selector {
        Selector::Pid(pid) => Error::PidNotFound(*pid),
        Selector::Tag(tag) => Error::TagNotFound(tag.clone()),
    }
}

/// Owns every process envd started.
pub struct ProcessManager {
    pub(super) reaper: Arc<Reaper>,
    tasks: TaskTracker,
    pub(super) settings: Settings,
    table: Mutex<Table>,
    /// Stops every output reader for a live upgrade.
    pub(super) quiesce: Quiesce,
}

/// Output readers pause while a live upgrade captures the process table:
/// `paused` asks them to stop, and each holds a read guard of `gate` from
/// a read until the chunk is recorded, so the capture (which takes the
/// write guard) sees every byte that was read and none is read after.
#[derive(Debug)]
pub(super) struct Quiesce {
    pub(super) paused: tokio::sync::watch::Sender<bool>,
    pub(super) gate: Arc<tokio::sync::RwLock<()>>,
}

/// How a supervisor learns the exit.
pub(super) enum ExitWait {
    /// From the reaper.
    Child(tokio::sync::oneshot::Receiver<nix::sys::wait::WaitStatus>),
    /// Already known (handed over by a live upgrade).
    Known(End),
}

impl std::fmt::Debug for ProcessManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessManager")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ProcessManager {
    /// A manager whose per-process tasks run on `tasks`.
    pub fn new(reaper: Arc<Reaper>, tasks: TaskTracker, settings: Settings) -> Self {
        Self {
            reaper,
            tasks,
            table: Mutex::new(Table {
                live: HashMap::new(),
                retained: Retained::new(settings.exit_retention_max),
                sweeping: false,
            }),
            quiesce: Quiesce {
                paused: tokio::sync::watch::Sender::new(false),
                gate: Arc::new(tokio::sync::RwLock::new(())),
            },
            settings,
        }
    }

    pub(super) fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Spawns a process and returns its pid with a subscription that will
    /// see all of its output and its end.
    pub fn start(self: &Arc<Self>, spec: &StartSpec) -> Result<Started, Error> {
        // Strings with a NUL byte fail here, as std's spawn failed them.
        let program = command::program(spec).map_err(Error::Spawn)?;
        let mut wiring: Box<dyn Wiring> = match spec.mode {
            Mode::Pipe { stdin } => Box::new(PipeWiring::new(stdin)),
            Mode::Pty(size) => Box::new(PtyWiring::new(size)),
        };
        let stdio = wiring.prepare().map_err(Error::Io)?;
        let (cgroup, session) = match spec.mode {
            Mode::Pipe { .. } => (&self.settings.placement.pipes, sys::Session::Group),
            Mode::Pty(_) => (&self.settings.placement.ptys, sys::Session::Terminal),
        };
        let creds = ChildCredentials {
            uid: spec.user.uid,
            gid: spec.user.gid,
            groups: spec.user.groups.clone(),
        };
        let launch = sys::Spawn {
            program: &program,
            stdio: stdio.fds(),
            cgroup_procs: cgroup.as_ref().map(|procs| procs.as_fd()),
            creds: &creds,
            session,
        };
        let (child_id, exit) = self
            .reaper
            .spawn_registered(|pid_slot| sys::spawn(&launch, pid_slot))
            .map_err(|e| Error::from_spawn(e, spec))?;
        // Drop our copies of the child's ends (the pty slave in particular)
        // so end-of-stream arrives when the child's side closes.
        drop(stdio);
        let pid = child_id.pid();
        let (backend, sources) = match wiring.attach() {
            Ok(attached) => attached,
            Err(e) => {
                if let Err(kill) = self
                    .reaper
                    .signal(child_id, nix::sys::signal::Signal::SIGKILL)
                {
                    tracing::warn!(pid, error = %kill, "cannot kill a process whose i/o setup failed");
                }
                return Err(Error::Io(e));
            }
        };
        let process = Arc::new(Process {
            info: ProcessInfo {
                pid,
                tag: spec.tag.clone(),
                config: spec.config.clone(),
            },
            child: child_id,
            backend,
            bus: Bus::new(self.settings.stall_limit, self.settings.scrollback),
            deadline: spec.timeout.map(|t| Instant::now() + t),
            sequencer: Sequencer::new(0),
            exit: Mutex::new(None),
            ended_at: Mutex::new(None),
        });
        let events = process
            .bus
            .subscribe()
            .map_err(|_| Error::Io(std::io::Error::other("bus ended early")))?;
        {
            let mut table = self.table();
            table.retained.remove(pid, spec.tag.as_deref());
            table.live.insert(pid, process.clone());
        }
        tracing::info!(
            pid,
            cmd = %spec.config.cmd,
            args = ?spec.config.args,
            pty = ?spec.mode,
            tag = ?spec.tag,
            cwd = %spec.cwd.display(),
            user = %spec.user.name,
            timeout = ?spec.timeout,
            "process.Start"
        );
        self.tasks.spawn(self.clone().supervise(
            process,
            sources,
            ExitWait::Child(exit),
            spec.timeout,
        ));
        Ok(Started { pid, events })
    }

    /// Runs `process`'s lifecycle (for a process handed over by a live
    /// upgrade; [`ProcessManager::start`] does this for new ones).
    pub(super) fn run(
        self: &Arc<Self>,
        process: Arc<Process>,
        sources: Vec<Source>,
        exit: ExitWait,
        deadline: Option<Duration>,
    ) {
        self.table().live.insert(process.info.pid, process.clone());
        self.tasks
            .spawn(self.clone().supervise(process, sources, exit, deadline));
    }

    /// Keeps an ended process for `connect` for `retention`.
    pub(super) fn retain(self: &Arc<Self>, process: Arc<Process>, retention: Duration) {
        let mut table = self.table();
        self.retain_locked(&mut table, process, retention);
    }

    fn retain_locked(
        self: &Arc<Self>,
        table: &mut Table,
        process: Arc<Process>,
        retention: Duration,
    ) {
        table.retained.insert(process, Instant::now() + retention);
        if !table.sweeping {
            table.sweeping = true;
            self.tasks.spawn(self.clone().sweep());
        }
    }

    /// Frees retained processes as they expire; ends when none is left
    /// (the next retained one starts it again).
    async fn sweep(self: Arc<Self>) {
        loop {
            let next = {
                let mut table = self.table();
                match table.retained.expire(Instant::now()) {
                    Some(next) => next,
                    None => {
                        table.sweeping = false;
                        return;
                    }
                }
            };
            tokio::time::sleep_until(next.into()).await;
        }
    }

    /// Waits for exit (killing the process at its deadline, if any), drains
    /// output, publishes the end and retires the process. The deadline lives
    /// only as long as the process: it can never fire at a successor.
    async fn supervise(
        self: Arc<Self>,
        process: Arc<Process>,
        sources: Vec<Source>,
        exit: ExitWait,
        deadline: Option<Duration>,
    ) {
        let stop = CancellationToken::new();
        let pumps: Vec<_> = sources
            .into_iter()
            .map(|s| {
                self.tasks.spawn(pump(
                    process.clone(),
                    s,
                    stop.clone(),
                    self.quiesce.gate.clone(),
                    self.quiesce.paused.subscribe(),
                ))
            })
            .collect();
        let mut exit = match exit {
            ExitWait::Child(exit) => exit,
            ExitWait::Known(end) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                drop(tx);
                *lock(&process.exit) = Some(end);
                rx
            }
        };
        let mut status = None;
        if let Some(deadline) = deadline {
            tokio::select! {
                biased;
                exited = &mut exit => status = Some(exited),
                () = tokio::time::sleep(deadline) => {
                    match self.reaper.signal(process.child, nix::sys::signal::Signal::SIGKILL) {
                        Ok(true) => tracing::info!(pid = process.info.pid, ?deadline, "killed process at its deadline"),
                        Ok(false) => {}
                        Err(e) => tracing::warn!(pid = process.info.pid, error = %e, "cannot kill process at its deadline"),
                    }
                }
            }
        }
        let known = lock(&process.exit).clone();
        let end = match known {
            Some(end) => end,
            None => {
                let status = match status {
                    Some(status) => status,
                    None => exit.await,
                };
                match status {
                    Ok(status) => End::from_wait(status),
                    Err(_) => End::wait_failed("exit status lost"),
                }
            }
        };
        *lock(&process.exit) = Some(end.clone());
        let pumps = futures::future::join_all(pumps);
        tokio::pin!(pumps);
        if tokio::time::timeout(self.settings.drain_grace, &mut pumps)
            .await
            .is_err()
        {
            // Something else (a background grandchild) still holds the
            // pipes; take what is already readable and stop.
            stop.cancel();
            pumps.await;
        }
        let pid = process.info.pid;
        {
            let mut table = self.table();
            if table
                .live
                .get(&pid)
                .is_some_and(|p| Arc::ptr_eq(p, &process))
            {
                table.live.remove(&pid);
            }
            self.retain_locked(&mut table, process.clone(), self.settings.exit_retention);
        }
        *lock(&process.ended_at) = Some(Instant::now());
        process.bus.finish(end).await;
        // After the end is published, so a live upgrade exports it as ended
        // rather than asking a released backend for its fds.
        process.backend.release().await;
        self.reaper.forget(process.child);
    }

    /// Subscribes to a process's events from now on. For a process that has
    /// exited but is retained, returns its pid and stored end instead.
    pub fn connect(&self, selector: &Selector) -> Result<(u32, Result<Subscription, End>), Error> {
        let process = self
            .table()
            .find(selector)
            .ok_or_else(|| not_found(selector))?;
        Ok((process.info.pid, process.bus.subscribe()))
    }

    /// The live or retained process `selector` means.
    pub(super) fn find(&self, selector: &Selector) -> Result<Arc<Process>, Error> {
        self.table()
            .find(selector)
            .ok_or_else(|| not_found(selector))
    }

    /// The live process `selector` means.
    pub(super) fn live(&self, selector: &Selector) -> Result<Arc<Process>, Error> {
        self.table().find_live(selector)
    }

    /// Every live process.
    pub(super) fn live_processes(&self) -> Vec<Arc<Process>> {
        self.table().live.values().cloned().collect()
    }

    /// The tracker per-process work runs on (waited for at shutdown).
    pub(super) fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Fails with not-found unless the selector matches a live process.
    pub fn ensure_live(&self, selector: &Selector) -> Result<(), Error> {
        self.table().find_live(selector).map(drop)
    }

    /// Every live process.
    pub fn list(&self) -> Vec<ProcessInfo> {
        let mut all: Vec<_> = self.table().live.values().map(|p| p.info.clone()).collect();
        all.sort_by_key(|p| p.pid);
        all
    }

    /// Writes input to a live process.
    pub async fn send_input(&self, selector: &Selector, input: Input) -> Result<(), Error> {
        let process = self.table().find_live(selector)?;
        match input {
            Input::Stdin(data) => process.backend.write_stdin(data).await,
            Input::Pty(data) => process.backend.write_pty(data).await,
        }
    }

    /// Closes a live process's stdin.
    pub async fn close_stdin(&self, selector: &Selector) -> Result<(), Error> {
        let process = self.table().find_live(selector)?;
        process.backend.close_stdin().await
    }

    /// Resizes a live process's terminal.
    pub fn resize(&self, selector: &Selector, size: PtySize) -> Result<(), Error> {
        self.table().find_live(selector)?.backend.resize(size)
    }

    /// Signals a live process and the process group it leads.
    pub fn signal(&self, selector: &Selector, signal: Signal) -> Result<(), Error> {
        let process = self.table().find_live(selector)?;
        let signal = match signal {
            Signal::Term => nix::sys::signal::Signal::SIGTERM,
            Signal::Kill => nix::sys::signal::Signal::SIGKILL,
        };
        self.signal_group(&process, signal)
    }
}

/// Copies one output source into the bus until end of stream, or until
/// `stop`, after which only already-readable bytes are taken.
///
/// Every chunk is recorded in the replay tail under a read guard of `gate`;
/// while `paused` (a live upgrade) nothing is read.
async fn pump(
    process: Arc<Process>,
    mut source: Source,
    stop: CancellationToken,
    gate: Arc<tokio::sync::RwLock<()>>,
    mut paused: tokio::sync::watch::Receiver<bool>,
) {
    let mut buf = BytesMut::with_capacity(source.chunk);
    loop {
        if *paused.borrow_and_update() {
            tokio::select! {
                _ = paused.wait_for(|p| !*p) => continue,
                () = stop.cancelled() => break,
            }
        }
        let guard = tokio::select! {
            guard = gate.clone().read_owned() => guard,
            () = stop.cancelled() => break,
        };
        buf.clear();
        buf.reserve(source.chunk);
        let read = {
            let mut limited = (&mut buf).limit(source.chunk);
            tokio::select! {
                biased;
                _ = paused.changed() => continue,
                read = source.reader.read_buf(&mut limited) => read,
                () = stop.cancelled() => break,
            }
        };
        let mut ended = false;
        if let (Ok(n), Some(window)) = (&read, source.coalesce)
            && *n >= BULK_READ
        {
            ended = gather(&mut source, &mut buf, window, &stop).await;
        }
        match read {
            Ok(0) => return,
            Ok(_) => {
                publish(&process, source.label, &mut buf, guard).await;
                if ended {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::debug!(pid = process.info.pid, error = %e, "output read failed");
                return;
            }
        }
    }
    // Draining after stop: only what can be read without waiting.
    loop {
        let guard = gate.clone().read_owned().await;
        buf.clear();
        buf.reserve(source.chunk);
        let read = source
            .reader
            .read_buf(&mut (&mut buf).limit(source.chunk))
            .now_or_never();
        match read {
            Some(Ok(n)) if n > 0 => publish(&process, source.label, &mut buf, guard).await,
            _ => return,
        }
    }
}

/// Labels the chunk read into `buf` and records it in the replay tail while `guard` (the
/// upgrade gate) is held, then delivers it to subscribers without it.
async fn publish(
    process: &Process,
    label: fn(bytes::Bytes) -> Output,
    buf: &mut BytesMut,
    guard: tokio::sync::OwnedRwLockReadGuard<()>,
) {
    let output = label(take_chunk(buf));
    let (targets, offset) = process.bus.record(&output);
    drop(guard);
    process
        .bus
        .deliver(targets, super::output::Event::Data { output, offset })
        .await;
}

/// The bytes read so far, leaving `buf` empty. A small read is copied out
/// so the read buffer is reused: split off, a keystroke echo would pin the
/// whole buffer's allocation for as long as the scrollback keeps it (2000
/// echoes pinned 64 MiB).
fn take_chunk(buf: &mut BytesMut) -> bytes::Bytes {
    if buf.len() * 4 < buf.capacity() {
        let small = bytes::Bytes::copy_from_slice(buf);
        buf.clear();
        small
    } else {
        buf.split().freeze()
    }
}

/// A read at least this large means a program is writing in bulk (a
/// terminal hands out up to 4 KiB per read): only then does it wait for
/// more. Echoes of keys, even pasted lines, are smaller and leave at once,
/// however fast they follow each other.
const BULK_READ: usize = 1024;

/// Adds what arrives within `window` to `buf`, up to `source.chunk`;
/// whether the source ended meanwhile. Stops early when the chunk is full
/// or on `stop`. Reads are cancel-safe (nothing is consumed by a read that
/// loses the race to the timer).
async fn gather(
    source: &mut Source,
    buf: &mut BytesMut,
    window: Duration,
    stop: &CancellationToken,
) -> bool {
    let deadline = tokio::time::Instant::now() + window;
    while buf.len() < source.chunk {
        let room = source.chunk - buf.len();
        let mut limited = (&mut *buf).limit(room);
        tokio::select! {
            biased;
            read = source.reader.read_buf(&mut limited) => match read {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            },
            () = tokio::time::sleep_until(deadline) => break,
            () = stop.cancelled() => break,
        }
    }
    false
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, BytesMut};

    use super::take_chunk;

    #[test]
    fn a_small_read_is_copied_and_the_buffer_kept_a_large_one_is_handed_over() {
        let mut buf = BytesMut::with_capacity(32 * 1024);
        let capacity = buf.capacity();
        buf.put_slice(b"k");
        assert_eq!(&take_chunk(&mut buf)[..], b"k");
        // Copied: the buffer keeps its whole allocation for the next read
        // (a split would leave it the remainder, the echo pinning the rest).
        assert_eq!((buf.len(), buf.capacity()), (0, capacity));
        buf.put_slice(&[7u8; 20 * 1024]);
        let big = take_chunk(&mut buf);
        assert_eq!(big.len(), 20 * 1024);
        assert!(buf.capacity() < capacity, "split off, not copied");
    }
}
