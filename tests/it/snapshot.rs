//! `/snapshot/prepare`, post-restore recovery and the page-cache reclaimer
//! (spec §5.5, §8.4; R10, R11). Every test points meminfo and drop_caches
//! at temporary files: the machine's caches are never dropped.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::Envd;

/// (MemTotal − MemFree) / MemTotal = 90 %.
const HIGH: &str =
    "MemTotal: 1000000 kB\nMemFree: 100000 kB\nMemAvailable: 800000 kB\nCached: 600000 kB\n";
/// 50 %.
const LOW: &str =
    "MemTotal: 1000000 kB\nMemFree: 500000 kB\nMemAvailable: 800000 kB\nCached: 200000 kB\n";

struct Fixture {
    envd: Envd,
    drop_caches: PathBuf,
    _dir: tempfile::TempDir,
}

fn start(meminfo: &str, extra: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mem = dir.path().join("meminfo");
    let drop_caches = dir.path().join("drop_caches");
    std::fs::write(&mem, meminfo).unwrap();
    let mut args = vec![
        "--proc-meminfo",
        mem.to_str().unwrap(),
        "--drop-caches",
        drop_caches.to_str().unwrap(),
        "--reclaim-interval",
        "50ms",
    ];
    args.extend_from_slice(extra);
    let envd = Envd::start_with(&args);
    Fixture {
        envd,
        drop_caches,
        _dir: dir,
    }
}

fn dropped(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t == "1")
}

fn clear(path: &Path) {
    std::fs::write(path, "").unwrap();
}

async fn wait_for_drop(path: &Path, within: Duration) {
    let deadline = Instant::now() + within;
    while !dropped(path) {
        assert!(
            Instant::now() < deadline,
            "no drop_caches write within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Asserts nothing is written for `period` (many reclaimer periods).
async fn assert_no_drop(path: &Path, period: Duration) {
    let deadline = Instant::now() + period;
    while Instant::now() < deadline {
        assert!(!dropped(path), "unexpected drop_caches write");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn prepare(envd: &Envd) {
    let resp = envd
        .http
        .post(envd.url("/snapshot/prepare"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(resp.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn r10_prepare_drops_only_the_page_cache_and_is_idempotent() {
    let f = start(LOW, &[]);
    assert_no_drop(&f.drop_caches, Duration::from_millis(300)).await;
    let started = Instant::now();
    prepare(&f.envd).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "within the host's budget"
    );
    // `1` = page cache only; `3` would also drop dentries and inodes.
    assert_eq!(std::fs::read_to_string(&f.drop_caches).unwrap(), "1");
    clear(&f.drop_caches);
    prepare(&f.envd).await;
    assert!(dropped(&f.drop_caches));
}

#[tokio::test]
async fn r11_reclaimer_drops_above_threshold() {
    let f = start(HIGH, &[]);
    wait_for_drop(&f.drop_caches, Duration::from_secs(3)).await;
    // And keeps doing so periodically.
    clear(&f.drop_caches);
    wait_for_drop(&f.drop_caches, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn r11_reclaimer_idle_below_threshold() {
    let f = start(LOW, &[]);
    assert_no_drop(&f.drop_caches, Duration::from_millis(600)).await;
}

#[tokio::test]
async fn r11_reclaimer_gated_from_prepare_until_health() {
    let f = start(HIGH, &[]);
    wait_for_drop(&f.drop_caches, Duration::from_secs(3)).await;
    prepare(&f.envd).await;
    // Prepare waited for any in-flight reclaim, so from here on only the
    // reclaimer could write, and it must not.
    clear(&f.drop_caches);
    assert_no_drop(&f.drop_caches, Duration::from_millis(600)).await;
    // /metrics and /envs do not end the window.
    for path in ["/metrics", "/envs"] {
        let resp = f.envd.http.get(f.envd.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    assert_no_drop(&f.drop_caches, Duration::from_millis(200)).await;
    let health = f.envd.http.get(f.envd.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    wait_for_drop(&f.drop_caches, Duration::from_secs(3)).await;
    // A second prepare gates it again.
    prepare(&f.envd).await;
    clear(&f.drop_caches);
    assert_no_drop(&f.drop_caches, Duration::from_millis(400)).await;
}

#[tokio::test]
async fn init_also_runs_post_restore_recovery() {
    let f = start(HIGH, &[]);
    prepare(&f.envd).await;
    clear(&f.drop_caches);
    assert_no_drop(&f.drop_caches, Duration::from_millis(300)).await;
    let resp = f.envd.http.post(f.envd.url("/init")).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    wait_for_drop(&f.drop_caches, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn recovers_on_its_own_after_the_timeout() {
    let f = start(HIGH, &["--snapshot-recover-timeout", "1500ms"]);
    prepare(&f.envd).await;
    let prepared = Instant::now();
    clear(&f.drop_caches);
    assert_no_drop(&f.drop_caches, Duration::from_millis(900)).await;
    wait_for_drop(&f.drop_caches, Duration::from_secs(4)).await;
    assert!(prepared.elapsed() >= Duration::from_millis(1400));
}
