//! Gives memory freed after large requests back to the system, so envd's
//! resident size (which a snapshot must save and a resume page back in)
//! returns to what it was. Trims only when the heaps' free bytes grew by
//! [`TRIM_AFTER`] since the last trim, so an idle or steady envd never
//! trims at all.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::sys;

/// How often the free bytes are counted (one `mallinfo2` call).
const INTERVAL: Duration = Duration::from_secs(1);
/// Growth of the free bytes that makes a trim worth its cost.
const TRIM_AFTER: usize = 4 << 20;

/// Runs until `shutdown`.
pub async fn trim(shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut low = sys::free_heap_bytes();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shutdown.cancelled() => break,
        }
        let free = sys::free_heap_bytes();
        if free >= low.saturating_add(TRIM_AFTER) {
            // Walks every arena: off the runtime's threads.
            drop(tokio::task::spawn_blocking(sys::trim_heap).await);
            tracing::debug!(free, "returned free heap pages");
            // What a trim released stays counted as free.
            low = free;
        } else {
            // Reused memory lowers the mark, so the next large free counts.
            low = low.min(free);
        }
    }
}
