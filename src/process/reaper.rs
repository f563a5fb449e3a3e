//! The one place that collects exit statuses.
//!
//! envd is PID 1 or a child subreaper, so orphaned descendants become its
//! children and must be reaped here too. Spawning and reaping share one
//! lock: a child is registered before the reaper can see its status, and a
//! signal is only sent to a pid that has not been reaped (so never to a
//! recycled pid).

use std::collections::HashMap;
use std::io;
use std::process::{Child, Command};
use std::sync::{Mutex, MutexGuard, PoisonError};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::sync::oneshot;

/// Collects exit statuses of spawned processes and orphans.
#[derive(Debug, Default)]
pub struct Reaper {
    waiting: Mutex<HashMap<i32, oneshot::Sender<WaitStatus>>>,
}

impl Reaper {
    fn lock(&self) -> MutexGuard<'_, HashMap<i32, oneshot::Sender<WaitStatus>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Spawns `command` and returns the child with a receiver for its status.
    pub fn spawn(
        &self,
        command: &mut Command,
    ) -> io::Result<(Child, oneshot::Receiver<WaitStatus>)> {
        let mut waiting = self.lock();
        let child = command.spawn()?;
        let (tx, rx) = oneshot::channel();
        let pid = i32::try_from(child.id()).map_err(io::Error::other)?;
        waiting.insert(pid, tx);
        Ok((child, rx))
    }

    /// Sends `signal` to `pid` if it has not been reaped yet. Returns whether
    /// the process was still there.
    pub fn signal(&self, pid: u32, signal: Signal) -> nix::Result<bool> {
        let waiting = self.lock();
        let Ok(raw) = i32::try_from(pid) else {
            return Ok(false);
        };
        if !waiting.contains_key(&raw) {
            return Ok(false);
        }
        match nix::sys::signal::kill(Pid::from_raw(raw), signal) {
            Ok(()) => Ok(true),
            Err(Errno::ESRCH) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Reaps every child that has exited, delivering statuses to waiters
    /// and discarding orphans'. Call on every SIGCHLD.
    pub fn reap(&self) {
        let mut waiting = self.lock();
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Ok(status @ (WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _))) => {
                    match waiting.remove(&pid.as_raw()) {
                        Some(tx) => drop(tx.send(status)),
                        None => tracing::debug!(pid = pid.as_raw(), ?status, "reaped orphan"),
                    }
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
