//! `GET /metrics` (spec §5.2, §8.5; R8, R9).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::Envd;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

async fn metrics(envd: &Envd) -> Value {
    let resp = envd.http.get(envd.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    resp.json().await.unwrap()
}

/// Writes `text` to `path` atomically (envd must never see a torn file).
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn meminfo_kb(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[tokio::test]
async fn schema_against_the_real_machine() {
    let envd = Envd::start();
    let m = metrics(&envd).await;
    let keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
    for key in [
        "ts",
        "cpu_count",
        "cpu_used_pct",
        "mem_total",
        "mem_used",
        "mem_total_mib",
        "mem_used_mib",
        "mem_cache",
        "disk_total",
        "disk_used",
    ] {
        assert!(keys.contains(&key), "missing {key} in {m}");
    }
    assert_eq!(keys.len(), 10, "{m}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(m["ts"].as_u64().unwrap().abs_diff(now) <= 2);
    let cpus = std::thread::available_parallelism().unwrap().get() as u64;
    assert!(m["cpu_count"].as_u64().unwrap() >= cpus.min(1));
    let pct = m["cpu_used_pct"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&pct), "{pct}");
    let total = m["mem_total"].as_u64().unwrap();
    let used = m["mem_used"].as_u64().unwrap();
    assert!(used > 0 && used < total);
    assert_eq!(m["mem_total_mib"].as_u64().unwrap(), total / 1024 / 1024);
    assert_eq!(m["mem_used_mib"].as_u64().unwrap(), used / 1024 / 1024);
    // R9: mem_used = MemTotal − MemAvailable, compared with a reading taken
    // right after (tolerance for what other tests allocate meanwhile).
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    assert_eq!(total, meminfo_kb(&meminfo, "MemTotal") * 1024);
    let expected = total - meminfo_kb(&meminfo, "MemAvailable") * 1024;
    assert!(
        used.abs_diff(expected) < 256 * 1024 * 1024,
        "mem_used {used} vs {expected}"
    );
    let disk_total = m["disk_total"].as_u64().unwrap();
    assert!(disk_total > 0 && m["disk_used"].as_u64().unwrap() <= disk_total);
}

#[tokio::test]
async fn memory_comes_from_the_injected_meminfo() {
    let dir = tempfile::tempdir().unwrap();
    let meminfo = dir.path().join("meminfo");
    std::fs::write(
        &meminfo,
        "MemTotal:        2048000 kB\nMemFree:          300000 kB\nMemAvailable:    1500000 kB\n\
         Buffers:           10000 kB\nCached:           900000 kB\nSReclaimable:      40000 kB\n",
    )
    .unwrap();
    let envd = Envd::start_with(&["--proc-meminfo", meminfo.to_str().unwrap()]);
    let m = metrics(&envd).await;
    assert_eq!(m["mem_total"], 2_048_000u64 * 1024);
    assert_eq!(m["mem_used"], (2_048_000u64 - 1_500_000) * 1024);
    assert_eq!(m["mem_total_mib"], 2000);
    assert_eq!(m["mem_used_mib"], 548_000u64 * 1024 / 1024 / 1024);
    assert_eq!(m["mem_cache"], 940_000u64 * 1024);
    // Page cache does not count as used: more cache, same MemAvailable.
    replace(
        &meminfo,
        "MemTotal:        2048000 kB\nMemFree:          100000 kB\nMemAvailable:    1500000 kB\n\
         Cached:          1100000 kB\n",
    );
    assert_eq!(
        metrics(&envd).await["mem_used"],
        (2_048_000u64 - 1_500_000) * 1024
    );
}

#[tokio::test]
async fn unreadable_meminfo_is_500() {
    let envd = Envd::start_with(&["--proc-meminfo", "/nonexistent/meminfo"]);
    let resp = envd.http.get(envd.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 500);
}

#[tokio::test]
async fn responds_fast_and_never_waits_for_a_sample() {
    let envd = Envd::start();
    metrics(&envd).await; // warm the connection
    let mut times = Vec::new();
    for _ in 0..30 {
        let started = Instant::now();
        metrics(&envd).await;
        times.push(started.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    let max = *times.last().unwrap();
    eprintln!("/metrics latency: median {median:?}, max {max:?}");
    assert!(median < Duration::from_millis(20), "median {median:?}");
    assert!(max < Duration::from_millis(100), "max {max:?}");
}

fn stat_text(busy: u64, idle: u64) -> String {
    let per_cpu = |n: u64| format!("cpu{n} {} 0 0 {} 0 0 0 0 0 0\n", busy / 3, idle / 3);
    format!(
        "cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\n{}{}{}intr 1 2 3\nctxt 42\nbtime 1700000000\n",
        per_cpu(0),
        per_cpu(1),
        per_cpu(2)
    )
}

async fn wait_for_pct(envd: &Envd, pred: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        let pct = metrics(envd).await["cpu_used_pct"].as_f64().unwrap();
        if pred(pct) {
            return pct;
        }
        assert!(Instant::now() < deadline, "cpu_used_pct stuck at {pct}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Advances the fake `/proc/stat` every 100 ms: busy ticks while `busy()`
/// says so, idle ticks otherwise.
fn drive_stat(
    path: PathBuf,
    busy: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let (mut b, mut i) = (1_000u64, 1_000u64);
        while !stop.is_cancelled() {
            if busy.load(std::sync::atomic::Ordering::SeqCst) {
                b += 300;
            } else {
                i += 300;
            }
            replace(&path, &stat_text(b, i));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

#[tokio::test]
async fn cpu_comes_from_the_background_sampler() {
    let dir = tempfile::tempdir().unwrap();
    let stat = dir.path().join("stat");
    replace(&stat, &stat_text(1_000, 1_000));
    let busy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    drive_stat(stat.clone(), busy.clone(), stop);
    let envd = Envd::start_with(&["--proc-stat", stat.to_str().unwrap()]);
    // Before the sampler's first read the count comes from the scheduler;
    // the first sample is taken at once.
    let deadline = Instant::now() + Duration::from_secs(3);
    while metrics(&envd).await["cpu_count"] != 3 {
        assert!(
            Instant::now() < deadline,
            "cpu_count never read from the injected file"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pct = wait_for_pct(&envd, |p| p >= 99.0).await;
    assert!(pct <= 100.0);
    busy.store(false, std::sync::atomic::Ordering::SeqCst);
    wait_for_pct(&envd, |p| p <= 1.0).await;
}
