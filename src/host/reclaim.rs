//! The page-cache reclaimer (spec §8.4): when `(MemTotal − MemFree)` exceeds
//! the threshold, `sync()` and drop the page cache, so a snapshot taken
//! later does not have to write out stale cache. Never runs while a
//! snapshot is being prepared ([`SnapshotGate::reclaim`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{MemInfo, SnapshotGate};

/// What the reclaimer reads and how often.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `/proc/meminfo`.
    pub meminfo: PathBuf,
    /// Check period.
    pub interval: Duration,
    /// Trigger, in percent of `MemTotal`.
    pub threshold_pct: u8,
}

/// Checks memory every `settings.interval` until `shutdown`.
pub async fn run(gate: Arc<SnapshotGate>, settings: Settings, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(settings.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warned = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shutdown.cancelled() => break,
        }
        if gate.in_progress() {
            continue;
        }
        let result = match MemInfo::read(&settings.meminfo) {
            Ok(mem) if mem.above(settings.threshold_pct) => gate.reclaim().await.map(|dropped| {
                if dropped {
                    tracing::debug!(
                        total = mem.total,
                        free = mem.free,
                        cached = mem.cached,
                        "dropped page cache"
                    );
                }
            }),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => warned = false,
            Err(e) if !warned => {
                tracing::warn!(error = %e, "page-cache reclaimer failed");
                warned = true;
            }
            Err(_) => {}
        }
    }
}
