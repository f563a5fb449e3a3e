//! Gives memory freed after large requests back to the system, so envd's
//! resident size (which a snapshot must save and a resume page back in)
//! returns to what it was.
//!
//! A trim walks every arena, so it is done only after memory was freed:
//! once the heaps' free bytes rose past their low mark and then held
//! (nearly) still for a tick, or at once when they rose a lot under
//! steady load. An idle envd does not trim.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::sys::{self, HeapUse};

/// How often the heaps are counted (one `mallinfo2` call).
const INTERVAL: Duration = Duration::from_secs(1);
/// A rise of the free bytes worth a trim once the heaps settle.
const FREED: usize = 256 << 10;
/// A rise of the free bytes trimmed without waiting for the heaps to settle.
const FREED_UNDER_LOAD: usize = 16 << 20;

/// Whether to trim, given the count now and a tick ago, and the lowest
/// free bytes seen since the last trim.
fn should_trim(now: HeapUse, previous: HeapUse, low: usize) -> bool {
    // Small allocations come and go on every tick (logging, timers).
    let settled = now.free.abs_diff(previous.free) < FREED / 4
        && now.used.abs_diff(previous.used) < FREED / 4
        && now.free >= low.saturating_add(FREED);
    settled || now.free >= low.saturating_add(FREED_UNDER_LOAD)
}

/// Runs until `shutdown`.
pub async fn trim(shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous = sys::heap_use();
    let mut low = previous.free;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shutdown.cancelled() => break,
        }
        let now = sys::heap_use();
        if should_trim(now, previous, low) {
            // Walks every arena: off the runtime's threads.
            drop(tokio::task::spawn_blocking(sys::trim_heap).await);
            tracing::debug!(used = now.used, free = now.free, "returned free heap pages");
            // What a trim released still counts as free.
            low = now.free;
        } else {
            low = low.min(now.free);
        }
        previous = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    fn heap(used: usize, free: usize) -> HeapUse {
        HeapUse {
            used: used * MIB,
            free: free * MIB,
        }
    }

    #[test]
    fn trims_once_the_heaps_settle_after_a_free() {
        assert!(!should_trim(heap(5, 3), heap(40, 1), MIB), "still changing");
        assert!(should_trim(heap(5, 3), heap(5, 3), MIB));
        assert!(
            !should_trim(heap(5, 3), heap(5, 3), 3 * MIB),
            "nothing new freed"
        );
    }

    #[test]
    fn an_idle_drift_is_not_trimmed() {
        let now = HeapUse {
            used: 5 * MIB + 4096,
            free: 3 * MIB - 4096,
        };
        assert!(!should_trim(now, now, 3 * MIB));
    }

    #[test]
    fn trims_large_frees_under_load() {
        assert!(should_trim(heap(5, 30), heap(6, 29), 2 * MIB));
        assert!(!should_trim(heap(5, 10), heap(6, 9), 2 * MIB));
    }
}
