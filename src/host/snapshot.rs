//! Snapshot preparation and post-restore recovery (spec §8.4).
//!
//! Invariant: while a prepare is in flight or its recovery is pending,
//! `in_progress` is set and the page-cache reclaimer does nothing. Both
//! flags change together under `pending`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
// Tokio's clock, like the auto-recovery timer's: with std's, a paused test
// clock would make the timer fire before `elapsed()` agrees, and spin.
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Error;

/// Snapshot state shared by `/snapshot/prepare`, `/health`, `/init` and the
/// reclaimer.
#[derive(Debug)]
pub struct SnapshotGate {
    drop_caches: PathBuf,
    /// The reclaimer's gate (`snapshot_in_progress`).
    in_progress: AtomicBool,
    /// When the last prepare finished, while recovery is pending (`needs_restore`).
    pending: Mutex<Option<Instant>>,
    /// Held while the reclaimer drops caches; prepare takes it to wait for
    /// an in-flight reclaim.
    reclaiming: tokio::sync::Mutex<()>,
    /// Wakes the auto-recovery timer when a prepare finishes.
    prepared: Notify,
}

impl SnapshotGate {
    /// A gate that drops caches by writing `1` to `drop_caches`.
    pub fn new(drop_caches: PathBuf) -> Self {
        Self {
            drop_caches,
            in_progress: AtomicBool::new(false),
            pending: Mutex::new(None),
            reclaiming: tokio::sync::Mutex::new(()),
            prepared: Notify::new(),
        }
    }

    fn pending(&self) -> MutexGuard<'_, Option<Instant>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a snapshot is being prepared or its recovery is pending.
    pub fn in_progress(&self) -> bool {
        self.in_progress.load(Ordering::SeqCst)
    }

    /// Whether post-restore recovery is pending.
    pub fn needs_restore(&self) -> bool {
        self.pending().is_some()
    }

    /// `/snapshot/prepare`: stop the reclaimer (waiting for one in flight),
    /// `sync()`, drop the page cache only, and mark recovery pending. The
    /// state is "prepared" afterwards even if dropping the cache failed.
    pub async fn prepare(&self) -> Result<(), Error> {
        self.in_progress.store(true, Ordering::SeqCst);
        drop(self.reclaiming.lock().await);
        let dropped = drop_page_cache(self.drop_caches.clone()).await;
        {
            let mut pending = self.pending();
            // Set again: a recovery of an earlier prepare may have run meanwhile.
            self.in_progress.store(true, Ordering::SeqCst);
            *pending = Some(Instant::now());
        }
        self.prepared.notify_waiters();
        tracing::info!(ok = dropped.is_ok(), "snapshot prepared");
        dropped
    }

    /// Post-restore recovery, at most once per prepare: clears the gate.
    /// Returns whether this call did it.
    pub fn recover(&self) -> bool {
        self.recover_if(|_| true)
    }

    fn recover_if(&self, due: impl FnOnce(Instant) -> bool) -> bool {
        let mut pending = self.pending();
        match *pending {
            Some(at) if due(at) => {
                *pending = None;
                self.in_progress.store(false, Ordering::SeqCst);
                drop(pending);
                tracing::info!("post-restore recovery done");
                true
            }
            _ => false,
        }
    }

    /// The reclaimer's drop: `sync()` and drop the page cache unless a
    /// snapshot is being prepared. Returns whether it dropped.
    pub async fn reclaim(&self) -> Result<bool, Error> {
        if self.in_progress() {
            return Ok(false);
        }
        let _reclaiming = self.reclaiming.lock().await;
        // Prepare sets the flag before taking the lock, so checking again
        // under the lock means it either waits for us or we see the flag.
        if self.in_progress() {
            return Ok(false);
        }
        drop_page_cache(self.drop_caches.clone()).await?;
        Ok(true)
    }
}

/// `sync()`, then write `1` to `path` (page cache only, not dentries and
/// inodes).
async fn drop_page_cache(path: PathBuf) -> Result<(), Error> {
    tokio::task::spawn_blocking(move || {
        nix::unistd::sync();
        std::fs::write(&path, b"1").map_err(|source| Error::File { path, source })
    })
    .await?
}

/// Hardening: if neither `/health` nor `/init` arrives within `timeout`
/// after a prepare (a failed pause the host did not report), recover
/// anyway so the reclaimer is not stopped forever. Runs until `shutdown`.
pub async fn auto_recover(gate: Arc<SnapshotGate>, timeout: Duration, shutdown: CancellationToken) {
    loop {
        let prepared = gate.prepared.notified();
        tokio::pin!(prepared);
        prepared.as_mut().enable();
        let deadline = (*gate.pending()).map(|at| at + timeout);
        let overdue = async move {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = &mut prepared => {}
            () = overdue => {
                if gate.recover_if(|at| at.elapsed() >= timeout) {
                    tracing::warn!(?timeout, "no /health or /init after /snapshot/prepare; recovered on timeout");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> (tempfile::TempDir, Arc<SnapshotGate>, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drop_caches");
        (dir, Arc::new(SnapshotGate::new(path.clone())), path)
    }

    #[tokio::test]
    async fn prepare_gates_reclaim_until_recovered_once() {
        let (_dir, gate, path) = gate();
        assert!(gate.reclaim().await.unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1");
        std::fs::remove_file(&path).unwrap();

        gate.prepare().await.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1");
        assert!(gate.in_progress() && gate.needs_restore());
        std::fs::remove_file(&path).unwrap();
        assert!(!gate.reclaim().await.unwrap());
        assert!(!path.exists());

        assert!(gate.recover());
        assert!(!gate.recover(), "recovery runs once per prepare");
        assert!(!gate.in_progress());
        assert!(gate.reclaim().await.unwrap());
    }

    #[tokio::test]
    async fn prepare_is_idempotent() {
        let (_dir, gate, _path) = gate();
        gate.prepare().await.unwrap();
        gate.prepare().await.unwrap();
        assert!(gate.recover());
        assert!(!gate.in_progress());
    }

    #[tokio::test]
    async fn failed_drop_still_prepares() {
        let gate = SnapshotGate::new(PathBuf::from("/nonexistent-dir/drop_caches"));
        assert!(gate.prepare().await.is_err());
        assert!(gate.needs_restore() && gate.in_progress());
    }

    #[tokio::test(start_paused = true)]
    async fn auto_recovers_after_timeout() {
        let (_dir, gate, _path) = gate();
        let shutdown = CancellationToken::new();
        let timer = tokio::spawn(auto_recover(
            gate.clone(),
            Duration::from_secs(60),
            shutdown.clone(),
        ));
        tokio::task::yield_now().await;
        gate.prepare().await.unwrap();
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert!(gate.needs_restore());
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(!gate.needs_restore() && !gate.in_progress());
        shutdown.cancel();
        timer.await.unwrap();
    }
}
