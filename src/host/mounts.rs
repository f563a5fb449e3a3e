//! `/init volumeMounts`: NFS mounts run in the background, errors logged.
//!
//! `mount` is spawned through the process [`Reaper`] because envd reaps with
//! `waitpid(-1)`: a child spawned any other way would have its exit status
//! taken by the reaper.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio_util::task::TaskTracker;

use crate::process::Reaper;

/// The NFS options Wrenn uses.
const NFS_OPTIONS: &str = "mountproto=tcp,mountport=2049,proto=tcp,port=2049,nfsvers=3,noacl";

/// One requested mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    /// `host:/export`.
    pub nfs_target: String,
    /// Where to mount it in the guest.
    pub path: PathBuf,
}

/// Runs mounts on the app's task tracker.
#[derive(Debug, Clone)]
pub struct Mounter {
    reaper: Arc<Reaper>,
    tasks: TaskTracker,
}

impl Mounter {
    /// Spawns through `reaper`, on `tasks`.
    pub fn new(reaper: Arc<Reaper>, tasks: TaskTracker) -> Self {
        Self { reaper, tasks }
    }

    /// For each mount, in order and in the background: `mkdir -p path`, then
    /// `mount -v -t nfs -o <options> <target> <path>`.
    pub fn mount_all(&self, mounts: Vec<VolumeMount>) {
        if mounts.is_empty() {
            return;
        }
        let reaper = self.reaper.clone();
        self.tasks.spawn(async move {
            for mount in mounts {
                if let Err(e) = tokio::fs::create_dir_all(&mount.path).await {
                    tracing::error!(path = %mount.path.display(), error = %e, "cannot create mount point");
                    continue;
                }
                match run_mount(&reaper, &mount).await {
                    Ok(output) => tracing::info!(
                        target = %mount.nfs_target,
                        path = %mount.path.display(),
                        %output,
                        "volume mounted"
                    ),
                    Err(e) => tracing::error!(
                        target = %mount.nfs_target,
                        path = %mount.path.display(),
                        error = %e,
                        "volume mount failed"
                    ),
                }
            }
        });
    }
}

/// Runs `mount`, returning its output on success and a description of the
/// failure (with its output) otherwise.
async fn run_mount(reaper: &Reaper, mount: &VolumeMount) -> Result<String, String> {
    let mut command = Command::new("mount");
    command
        .args(["-v", "-t", "nfs", "-o", NFS_OPTIONS])
        .arg(&mount.nfs_target)
        .arg(&mount.path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (mut child, exit) = reaper
        .spawn(&mut command)
        .map_err(|e| format!("cannot run mount: {e}"))?;
    let stdout = child
        .stdout
        .take()
        .map(tokio::process::ChildStdout::from_std);
    let stderr = child
        .stderr
        .take()
        .map(tokio::process::ChildStderr::from_std);
    let (out, err) = tokio::join!(read_all(stdout), read_all(stderr));
    let output = format!("{}{}", out.trim_end(), err.trim_end());
    match exit.await {
        Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(output),
        Ok(status) => Err(format!("{status:?}: {output}")),
        Err(_) => Err(format!("exit status lost: {output}")),
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
