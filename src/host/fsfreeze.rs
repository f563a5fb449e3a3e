//! `POST /fsfreeze` and `/fsthaw` (spec §5.8, [E2B]): `FIFREEZE` /
//! `FITHAW` on the filesystem at `--fsfreeze-path` (default `/`), so a
//! snapshot sees a consistent filesystem with nothing half-written.
//!
//! * One freeze or thaw runs at a time; another one fails at once with
//!   [`Error::Busy`] (the orchestrator retries) instead of queueing.
//! * Freezing a filesystem that is already frozen by envd succeeds and
//!   changes nothing (the auto-thaw deadline stays that of the first
//!   freeze). Thawing one that is not frozen succeeds (`EINVAL` from the
//!   kernel is tolerated).
//! * **Auto-thaw.** While `/` is frozen every write in the guest blocks —
//!   including the writes the orchestrator's own recovery would need, and
//!   any a human would use to debug. If the orchestrator that froze it is
//!   lost (crashed, restarted, network cut) and never calls `/fsthaw` or
//!   `/init`, nothing else would ever thaw it and the VM would stay wedged
//!   for good. So [`auto_thaw`] thaws by itself once the filesystem has
//!   been frozen longer than `--fsfreeze-max` (60 s by default, far longer
//!   than a snapshot takes), and on envd's shutdown.
//! * The descriptor the freeze used is kept open and used for the thaw:
//!   opening `/` while it is frozen works, but the thaw then never depends
//!   on path lookup.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::sys;

/// Why a filesystem freeze or thaw failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another freeze or thaw is running.
    #[error("another fsfreeze or fsthaw is in progress")]
    Busy,
    /// The path could not be opened.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// `--fsfreeze-path`.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// `FIFREEZE` failed.
    #[error("FIFREEZE {}: {source}", path.display())]
    Freeze {
        /// `--fsfreeze-path`.
        path: PathBuf,
        /// Why (`EOPNOTSUPP`: the filesystem cannot be frozen).
        source: io::Error,
    },
    /// `FITHAW` failed.
    #[error("FITHAW {}: {source}", path.display())]
    Thaw {
        /// `--fsfreeze-path`.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The blocking worker died.
    #[error("fsfreeze worker failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

#[derive(Debug)]
struct Frozen {
    file: Arc<File>,
    since: Instant,
}

/// The filesystem freezer for one path.
#[derive(Debug)]
pub struct FsFreezer {
    path: PathBuf,
    max_frozen: Duration,
    running: tokio::sync::Mutex<()>,
    frozen: Mutex<Option<Frozen>>,
    /// Wakes [`auto_thaw`] when a freeze starts.
    changed: Notify,
}

impl FsFreezer {
    /// Freezes the filesystem at `path`; [`auto_thaw`] thaws it after
    /// `max_frozen`.
    pub fn new(path: PathBuf, max_frozen: Duration) -> Self {
        Self {
            path,
            max_frozen,
            running: tokio::sync::Mutex::new(()),
            frozen: Mutex::new(None),
            changed: Notify::new(),
        }
    }

    fn frozen(&self) -> std::sync::MutexGuard<'_, Option<Frozen>> {
        self.frozen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether envd froze the filesystem and has not thawed it.
    pub fn is_frozen(&self) -> bool {
        self.frozen().is_some()
    }

    /// `FIFREEZE`; [`Error::Busy`] if another freeze or thaw runs.
    pub async fn freeze(&self) -> Result<(), Error> {
        let _running = self.running.try_lock().map_err(|_| Error::Busy)?;
        if self.is_frozen() {
            return Ok(());
        }
        let path = self.path.clone();
        let file = tokio::task::spawn_blocking(move || {
            let file = File::open(&path).map_err(|source| Error::Open {
                path: path.clone(),
                source,
            })?;
            sys::freeze_filesystem(file.as_fd())
                .map_err(|source| Error::Freeze { path, source })?;
            Ok::<_, Error>(file)
        })
        .await??;
        *self.frozen() = Some(Frozen {
            file: Arc::new(file),
            since: Instant::now(),
        });
        self.changed.notify_waiters();
        tracing::info!(path = %self.path.display(), "filesystem frozen");
        Ok(())
    }

    /// `FITHAW`; [`Error::Busy`] if another freeze or thaw runs. Returns
    /// whether the filesystem was frozen.
    pub async fn thaw(&self) -> Result<bool, Error> {
        let running = self.running.try_lock().map_err(|_| Error::Busy)?;
        self.thaw_locked(running, "fsthaw").await
    }

    /// Thaws if envd froze the filesystem, waiting for a running operation
    /// rather than failing (`/init` after a restore, auto-thaw, shutdown).
    pub async fn thaw_if_frozen(&self, why: &'static str) -> Result<bool, Error> {
        let running = self.running.lock().await;
        if !self.is_frozen() {
            return Ok(false);
        }
        self.thaw_locked(running, why).await
    }

    async fn thaw_locked(
        &self,
        _running: tokio::sync::MutexGuard<'_, ()>,
        why: &'static str,
    ) -> Result<bool, Error> {
        let held = self.frozen().as_ref().map(|f| f.file.clone());
        let path = self.path.clone();
        let thawed = tokio::task::spawn_blocking(move || {
            let file = match held {
                Some(file) => file,
                None => Arc::new(File::open(&path).map_err(|source| Error::Open {
                    path: path.clone(),
                    source,
                })?),
            };
            match sys::thaw_filesystem(file.as_fd()) {
                Ok(()) => Ok(true),
                // Not frozen.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(false),
                Err(source) => Err(Error::Thaw { path, source }),
            }
        })
        .await??;
        *self.frozen() = None;
        if thawed {
            tracing::info!(path = %self.path.display(), why, "filesystem thawed");
        }
        Ok(thawed)
    }
}

/// Thaws the filesystem once it has been frozen longer than its bound (see
/// the module docs for why), and on `shutdown`. Runs until `shutdown`.
pub async fn auto_thaw(freezer: Arc<FsFreezer>, shutdown: CancellationToken) {
    loop {
        let changed = freezer.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let deadline = freezer
            .frozen()
            .as_ref()
            .map(|f| f.since + freezer.max_frozen);
        let overdue = async move {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => {
                if let Err(e) = freezer.thaw_if_frozen("shutdown").await {
                    tracing::error!(error = %e, "cannot thaw the filesystem on shutdown");
                }
                break;
            }
            () = &mut changed => {}
            () = overdue => {
                let expired = freezer
                    .frozen()
                    .as_ref()
                    .is_some_and(|f| f.since.elapsed() >= freezer.max_frozen);
                if expired {
                    tracing::warn!(bound = ?freezer.max_frozen, "filesystem frozen too long; thawing");
                    if let Err(e) = freezer.thaw_if_frozen("auto-thaw").await {
                        tracing::error!(error = %e, "auto-thaw failed");
                        // Retry after another bound rather than spinning.
                        tokio::time::sleep(freezer.max_frozen).await;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_path_that_cannot_be_opened_fails_and_stays_thawed() {
        let freezer = FsFreezer::new(
            PathBuf::from("/nonexistent-envd-fsfreeze-path"),
            Duration::from_secs(60),
        );
        assert!(matches!(freezer.freeze().await, Err(Error::Open { .. })));
        assert!(!freezer.is_frozen());
        assert!(matches!(freezer.thaw().await, Err(Error::Open { .. })));
    }

    #[tokio::test]
    async fn a_second_operation_is_refused_not_queued() {
        let freezer = FsFreezer::new(
            PathBuf::from("/nonexistent-envd-fsfreeze-path"),
            Duration::from_secs(60),
        );
        let _running = freezer.running.try_lock().unwrap();
        assert!(matches!(freezer.freeze().await, Err(Error::Busy)));
        assert!(matches!(freezer.thaw().await, Err(Error::Busy)));
    }
}
