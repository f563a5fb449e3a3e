//! The shared harness of the integration tests: a real envd binary on
//! 127.0.0.1 ([`Envd`]) with a small Connect client, and envd's router in
//! this process ([`app::App`]) for protocol-only behaviour.
#![allow(
    dead_code,
    unused_imports,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    reason = "test harness: each test binary uses a subset, and a failed unwrap is a failed test"
)]

pub mod app;
pub mod connect;
mod envd;
pub mod files;
pub mod frames;
pub mod fs;
pub mod mounts;
pub mod process;
pub mod procfs;
pub mod reply;
pub mod users;

use std::path::Path;
use std::time::{Duration, Instant};

pub use envd::{Envd, exit_within, sigterm};

/// How long any single step may take before the test fails.
pub const STEP: Duration = Duration::from_secs(10);

/// Polls `check` every 20 ms until it returns `Some`, failing after `limit`.
pub async fn eventually<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `path` as a `&str` (test paths are UTF-8).
pub fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 test path")
}
