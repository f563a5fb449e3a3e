//! `/init volumeMounts` and `lifecycleID` ([E2B] semantics, spec §5.4):
//! NFS mounts made synchronously, so `/init` answers only once they are
//! usable and reports a failure as `400`.
//!
//! * Each mount: `mkdir -p <path>`, then
//!   `mount -t nfs -o <NFS_OPTIONS> <nfs_target> <path>`, killed after
//!   `--mount-timeout` (10 s). `mount` and `umount` are found through
//!   envd's `PATH`.
//! * Remount key: the `lifecycleID` with the list of mounts. An `/init`
//!   with the same key as the last one that succeeded changes nothing (the
//!   orchestrator repeats them on every `/init`). A different key (a new
//!   lifecycle after a restore, or other mounts) first lazily unmounts
//!   (`umount -l`) everything envd mounted before, whose NFS state is
//!   stale, then mounts the new list. A failed `/init` leaves no key, so
//!   the next one retries the whole list.
//! * `mount` is spawned through the process [`Reaper`] because envd reaps
//!   with `waitpid(-1)`: a child spawned any other way would have its exit
//!   status taken by the reaper.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::io::AsyncReadExt;

use crate::process::Reaper;

/// E2B's NFS options: NFSv3 over TCP to port 2049, mounted in the
/// foreground, hard, synchronous, 1 MiB transfers, no attribute or lookup
/// caching (the export is shared with the host).
pub const NFS_OPTIONS: &str = "mountproto=tcp,mountport=2049,proto=tcp,port=2049,nfsvers=3,noacl,\
fg,hard,sync,rsize=1048576,wsize=1048576,noac,lookupcache=none";

/// One requested mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    /// `host:/export`.
    pub nfs_target: String,
    /// Where to mount it in the guest.
    pub path: PathBuf,
}

/// Why a mount failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The mount point is not an absolute path.
    #[error("volume mount path {} is not absolute", .0.display())]
    RelativePath(PathBuf),
    /// The mount point could not be created.
    #[error("cannot create mount point {}: {source}", path.display())]
    MountPoint {
        /// The mount point.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `mount` could not be run.
    #[error("cannot run mount: {0}")]
    Spawn(std::io::Error),
    /// `mount` failed.
    #[error("mount {target} on {}: {status}: {output}", path.display())]
    Failed {
        /// The NFS target.
        target: String,
        /// The mount point.
        path: PathBuf,
        /// How it ended.
        status: String,
        /// What it printed.
        output: String,
    },
    /// `mount` did not finish in time and was killed.
    #[error("mount {target} on {} timed out after {after:?}", path.display())]
    TimedOut {
        /// The NFS target.
        target: String,
        /// The mount point.
        path: PathBuf,
        /// The timeout.
        after: Duration,
    },
}

#[derive(Debug, Default)]
struct Applied {
    /// The key of the last `/init` whose mounts all succeeded.
    key: Option<(Option<String>, Vec<VolumeMount>)>,
    /// Mount points envd mounted and has not unmounted.
    mounted: Vec<PathBuf>,
}

/// Runs `/init` mounts.
#[derive(Debug)]
pub struct Mounter {
    reaper: Arc<Reaper>,
    timeout: Duration,
    applied: tokio::sync::Mutex<Applied>,
}

impl Mounter {
    /// Spawns through `reaper`; each `mount` may take `timeout`.
    pub fn new(reaper: Arc<Reaper>, timeout: Duration) -> Self {
        Self {
            reaper,
            timeout,
            applied: tokio::sync::Mutex::new(Applied::default()),
        }
    }

    /// Applies `mounts` under `lifecycle_id` (see the module docs). Returns
    /// whether anything was (re)mounted.
    pub async fn apply(
        &self,
        lifecycle_id: Option<String>,
        mounts: Vec<VolumeMount>,
    ) -> Result<bool, Error> {
        let key = (lifecycle_id, mounts);
        let mut applied = self.applied.lock().await;
        if applied.key.as_ref() == Some(&key) {
            return Ok(false);
        }
        applied.key = None;
        for path in std::mem::take(&mut applied.mounted) {
            let mut command = Command::new("umount");
            command.arg("-l").arg(&path);
            match self.run(&mut command).await {
                Ok(Ok(_)) => tracing::info!(path = %path.display(), "volume unmounted"),
                Ok(Err((status, output))) => {
                    tracing::warn!(path = %path.display(), %status, %output, "umount failed");
                }
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "umount failed"),
            }
        }
        for mount in &key.1 {
            if !mount.path.is_absolute() {
                return Err(Error::RelativePath(mount.path.clone()));
            }
            tokio::fs::create_dir_all(&mount.path)
                .await
                .map_err(|source| Error::MountPoint {
                    path: mount.path.clone(),
                    source,
                })?;
            let mut command = Command::new("mount");
            command
                .args(["-t", "nfs", "-o", NFS_OPTIONS])
                .arg(&mount.nfs_target)
                .arg(&mount.path);
            let finished = self.run(&mut command).await.map_err(|e| match e {
                RunError::Spawn(e) => Error::Spawn(e),
                RunError::TimedOut => Error::TimedOut {
                    target: mount.nfs_target.clone(),
                    path: mount.path.clone(),
                    after: self.timeout,
                },
            })?;
            match finished {
                Ok(output) => {
                    tracing::info!(target = %mount.nfs_target, path = %mount.path.display(), %output, "volume mounted");
                    applied.mounted.push(mount.path.clone());
                }
                Err((status, output)) => {
                    return Err(Error::Failed {
                        target: mount.nfs_target.clone(),
                        path: mount.path.clone(),
                        status,
                        output,
                    });
                }
            }
        }
        applied.key = Some(key);
        Ok(true)
    }

    /// Runs `command` in its own process group with the timeout. `Ok(Ok)`
    /// is its output after exit 0, `Ok(Err)` its status and output after a
    /// failure.
    async fn run(
        &self,
        command: &mut Command,
    ) -> Result<Result<String, (String, String)>, RunError> {
        use std::os::unix::process::CommandExt;
        command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (mut child, id, exit) = self
            .reaper
            .spawn_tracked(command)
            .map_err(RunError::Spawn)?;
        let stdout = child
            .stdout
            .take()
            .map(tokio::process::ChildStdout::from_std);
        let stderr = child
            .stderr
            .take()
            .map(tokio::process::ChildStderr::from_std);
        let finished = tokio::time::timeout(self.timeout, async move {
            let (out, err) = tokio::join!(read_all(stdout), read_all(stderr));
            let output = format!("{}{}", out.trim_end(), err.trim_end());
            (exit.await, output)
        })
        .await;
        match finished {
            Ok((Ok(nix::sys::wait::WaitStatus::Exited(_, 0)), output)) => Ok(Ok(output)),
            Ok((Ok(status), output)) => Ok(Err((format!("{status:?}"), output))),
            Ok((Err(_), output)) => Ok(Err(("exit status lost".to_owned(), output))),
            Err(_) => {
                // The group too: `mount` leaves the hanging work to
                // `mount.nfs`. Signalled only while the leader is unreaped,
                // so the group id still belongs to it.
                if self.reaper.signal(id, Signal::SIGKILL).unwrap_or(false)
                    && let Ok(pid) = i32::try_from(id.pid())
                    && pid > 1
                {
                    let group = nix::unistd::Pid::from_raw(pid);
                    if let Err(e) = nix::sys::signal::killpg(group, Signal::SIGKILL) {
                        tracing::debug!(error = %e, "killing the mount group");
                    }
                }
                Err(RunError::TimedOut)
            }
        }
    }
}

#[derive(Debug)]
enum RunError {
    Spawn(std::io::Error),
    TimedOut,
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Spawn(e) => write!(f, "cannot run: {e}"),
            Self::TimedOut => f.write_str("timed out"),
        }
    }
}

async fn read_all<R: tokio::io::AsyncRead + Unpin>(pipe: Option<std::io::Result<R>>) -> String {
    let mut buf = Vec::new();
    if let Some(Ok(mut pipe)) = pipe
        && let Err(e) = pipe.read_to_end(&mut buf).await
    {
        tracing::debug!(error = %e, "reading mount output");
    }
    String::from_utf8_lossy(&buf).into_owned()
}
