//! The one place that collects exit statuses.
//!
//! envd is PID 1 or a child subreaper, so orphaned descendants become its
//! children and must be reaped here too. A child's exit must reach its
//! waiter even if it comes before the spawn returns. Commands
//! ([`Reaper::spawn_registered`]) are spawned without the lock: the spawn
//! is announced first with a slot the kernel writes the child's pid into
//! before the child runs, and a status reaped for a pid in such a slot is
//! kept for that spawn. Other spawns ([`Reaper::spawn`]) hold the lock, so
//! the child is registered before the reaper can see its status. A signal
//! is only sent to a child that has not been reaped. Each child carries a
//! serial number besides its pid, so a signal meant for a process that has
//! exited never reaches a later process that reuses its pid.

use std::collections::HashMap;
use std::io;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::sync::oneshot;

/// One spawned child: its pid plus what tells it apart from a later
/// process with the same pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildId {
    pid: i32,
    serial: u64,
}

impl ChildId {
    /// The child's pid.
    pub fn pid(self) -> u32 {
        self.pid.unsigned_abs()
    }
}

#[derive(Debug)]
struct Waiter {
    serial: u64,
    tx: oneshot::Sender<WaitStatus>,
    /// Keep the status in `delivered` until [`Reaper::forget`].
    record: bool,
}

#[derive(Debug, Default)]
struct State {
    waiting: HashMap<i32, Waiter>,
    next_serial: u64,
    /// Statuses of recorded children, kept until forgotten, so a live
    /// upgrade can hand over an exit that its waiter has not seen yet.
    delivered: HashMap<i32, (u64, WaitStatus)>,
    /// While set (a live upgrade is capturing), nothing is reaped: exits
    /// stay zombies for the next envd on this pid to collect.
    suspended: bool,
    /// Spawns in progress without the lock, by ticket: the slot the kernel
    /// writes the child's pid into (0 until then).
    spawning: HashMap<u64, Arc<AtomicI32>>,
    next_ticket: u64,
    /// Statuses reaped for a spawn in progress, by ticket.
    early: HashMap<u64, WaitStatus>,
}

/// Collects exit statuses of spawned processes and orphans.
#[derive(Debug, Default)]
pub struct Reaper {
    state: Mutex<State>,
}

impl Reaper {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Spawns `command` and returns the child with a receiver for its status.
    pub fn spawn(
        &self,
        command: &mut Command,
    ) -> io::Result<(Child, oneshot::Receiver<WaitStatus>)> {
        self.spawn_with(command, false)
            .map(|(child, _id, exit)| (child, exit))
    }

    /// Like [`Reaper::spawn`], also returning the id to [`Reaper::signal`] it by.
    pub fn spawn_tracked(
        &self,
        command: &mut Command,
    ) -> io::Result<(Child, ChildId, oneshot::Receiver<WaitStatus>)> {
        self.spawn_with(command, true)
    }

    fn spawn_with(
        &self,
        command: &mut Command,
        record: bool,
    ) -> io::Result<(Child, ChildId, oneshot::Receiver<WaitStatus>)> {
        let mut state = self.lock();
        let child = command.spawn()?;
        let pid = i32::try_from(child.id()).map_err(io::Error::other)?;
        let (id, rx) = state.register(pid, record);
        Ok((child, id, rx))
    }

    /// Runs `spawn`, which must create one child with the kernel storing
    /// its pid in the given slot before the child runs
    /// (`CLONE_PARENT_SETTID`), and registers the pid it returns. The lock
    /// is not held while `spawn` runs (a vfork-style spawn lasts until the
    /// child execs), yet an exit reaped meanwhile still reaches the waiter.
    /// If `spawn` fails, an exit of its child is dropped (or, reaped later,
    /// discarded as an orphan's).
    pub fn spawn_registered<E>(
        &self,
        spawn: impl FnOnce(&AtomicI32) -> Result<u32, E>,
    ) -> Result<(ChildId, oneshot::Receiver<WaitStatus>), E> {
        let slot = Arc::new(AtomicI32::new(0));
        let ticket = {
            let mut state = self.lock();
            let ticket = state.next_ticket;
            state.next_ticket += 1;
            state.spawning.insert(ticket, slot.clone());
            ticket
        };
        let spawned = spawn(&slot);
        let mut state = self.lock();
        state.spawning.remove(&ticket);
        let early = state.early.remove(&ticket);
        let pid = spawned?;
        // Pids fit in i32 (pid_max is at most 2^22).
        let pid = i32::try_from(pid).unwrap_or(i32::MAX);
        let (id, rx) = state.register(pid, true);
        if let Some(status) = early {
            state.deliver(pid, status);
        }
        Ok((id, rx))
    }

    /// Tracks `pid`, a child this process inherited across a live upgrade
    /// (it is already our child). Call before the first [`Reaper::reap`].
    pub fn adopt(&self, pid: u32) -> io::Result<(ChildId, oneshot::Receiver<WaitStatus>)> {
        let pid = i32::try_from(pid).map_err(io::Error::other)?;
        Ok(self.lock().register(pid, true))
    }

    /// An id for `pid` that was reaped before a live upgrade: never
    /// signalled, never waited for.
    pub fn detached(&self, pid: u32) -> ChildId {
        let mut state = self.lock();
        let serial = state.next_serial;
        state.next_serial += 1;
        ChildId {
            pid: i32::try_from(pid).unwrap_or(i32::MAX),
            serial,
        }
    }

    /// The status of `child` if it was reaped and not forgotten.
    pub fn delivered(&self, child: ChildId) -> Option<WaitStatus> {
        self.lock()
            .delivered
            .get(&child.pid)
            .filter(|(serial, _)| *serial == child.serial)
            .map(|(_, status)| *status)
    }

    /// Drops the recorded status of `child` (its end has been published).
    pub fn forget(&self, child: ChildId) {
        let mut state = self.lock();
        if state
            .delivered
            .get(&child.pid)
            .is_some_and(|(serial, _)| *serial == child.serial)
        {
            state.delivered.remove(&child.pid);
        }
    }

    /// Stops reaping until [`Reaper::resume`].
    pub fn suspend(&self) {
        self.lock().suspended = true;
    }

    /// Reaps again, starting with whatever exited meanwhile.
    pub fn resume(&self) {
        self.lock().suspended = false;
        self.reap();
    }

    /// Sends `signal` to `child` and to the process group it leads, if it
    /// has not been reaped yet. Returns whether the process was still there.
    ///
    /// Processes started by the manager lead their own group (pgid = pid),
    /// so their children die with them. While the leader is unreaped its pid
    /// cannot be reused, so neither can the group id: the lock held here
    /// (shared with [`Reaper::reap`]) makes `-pid` name only this child's
    /// group. A child that left its group (or never led one) gets the signal
    /// on its pid instead.
    pub fn signal(&self, child: ChildId, signal: Signal) -> nix::Result<bool> {
        let state = self.lock();
        if state
            .waiting
            .get(&child.pid)
            .is_none_or(|w| w.serial != child.serial)
        {
            return Ok(false);
        }
        let pid = Pid::from_raw(child.pid);
        // The group includes its leader: signalling the pid as well would
        // deliver a caught signal twice (a shell's trap runs twice).
        let sent = if nix::unistd::getpgid(Some(pid)) == Ok(pid) {
            nix::sys::signal::killpg(pid, signal)
        } else {
            nix::sys::signal::kill(pid, signal)
        };
        match sent {
            Ok(()) => Ok(true),
            Err(Errno::ESRCH) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Reaps every child that has exited, delivering statuses to waiters
    /// and discarding orphans'. Call on every SIGCHLD.
    pub fn reap(&self) {
        let mut state = self.lock();
        if state.suspended {
            return;
        }
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Ok(status @ (WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _))) => {
                    state.deliver(pid.as_raw(), status);
                }
                Ok(_) => {}
                Err(Errno::EINTR) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "waitpid failed");
                    break;
                }
            }
        }
    }
}

impl State {
    /// Hands a reaped status to its waiter, keeps it for the spawn in
    /// progress that created `pid`, or discards an orphan's.
    fn deliver(&mut self, pid: i32, status: WaitStatus) {
        if let Some(waiter) = self.waiting.remove(&pid) {
            if waiter.record {
                self.delivered.insert(pid, (waiter.serial, status));
            }
            waiter.tx.send(status).ok();
            return;
        }
        // The slot was written before the child could run, so before it
        // could exit; a reaped pid is unique until then.
        let spawning = self
            .spawning
            .iter()
            .find(|(_, slot)| slot.load(Ordering::Acquire) == pid)
            .map(|(ticket, _)| *ticket);
        match spawning {
            Some(ticket) => {
                self.early.insert(ticket, status);
            }
            None => tracing::debug!(pid, ?status, "reaped orphan"),
        }
    }

    fn register(&mut self, pid: i32, record: bool) -> (ChildId, oneshot::Receiver<WaitStatus>) {
        let (tx, rx) = oneshot::channel();
        let serial = self.next_serial;
        self.next_serial += 1;
        self.waiting.insert(pid, Waiter { serial, tx, record });
        (ChildId { pid, serial }, rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_id_is_never_signalled() {
        let reaper = Reaper::default();
        let (mut child, id, _exit) = reaper
            .spawn_tracked(Command::new("sleep").arg("30"))
            .unwrap();
        let stale = ChildId {
            serial: id.serial + 1,
            ..id
        };
        assert!(!reaper.signal(stale, Signal::SIGKILL).unwrap());
        assert!(reaper.signal(id, Signal::SIGKILL).unwrap());
        child.wait().unwrap();
    }
}
