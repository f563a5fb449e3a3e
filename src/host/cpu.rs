//! CPU sampling (spec §8.5): a background loop reads the aggregate CPU times
//! from `/proc/stat` at a fixed interval and publishes the busy percentage
//! of the last window in atomics, so `/metrics` never waits.
//!
//! `/proc/stat` is parsed directly rather than through `sysinfo`: the file
//! must be injectable for tests, and the sampler needs only its first lines.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Error;

/// The latest CPU sample.
#[derive(Debug, Default)]
pub struct CpuGauge {
    /// `f32` bits of the busy percentage (0 until the first full window).
    used_pct: AtomicU32,
    /// Logical CPUs seen in the last sample (0 before the first).
    count: AtomicU32,
}

impl CpuGauge {
    /// Busy percentage over the last window, rounded to 2 decimals.
    pub fn used_pct(&self) -> f32 {
        f32::from_bits(self.used_pct.load(Ordering::Relaxed))
    }

    /// Logical CPUs; before the first sample, what the scheduler reports.
    pub fn count(&self) -> u32 {
        match self.count.load(Ordering::Relaxed) {
            0 => std::thread::available_parallelism()
                .ok()
                .and_then(|n| u32::try_from(n.get()).ok())
                .unwrap_or(1),
            n => n,
        }
    }

    fn publish(&self, used_pct: f32, count: u32) {
        self.used_pct.store(used_pct.to_bits(), Ordering::Relaxed);
        self.count.store(count, Ordering::Relaxed);
    }
}

/// Cumulative CPU times in clock ticks, summed over all CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    /// All time accounted (user, nice, system, idle, iowait, irq, softirq, steal).
    pub total: u64,
    /// Idle and iowait time.
    pub idle: u64,
}

/// A parsed `/proc/stat`: the aggregate line and the number of per-CPU lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatSample {
    /// The `cpu` line.
    pub times: CpuTimes,
    /// How many `cpuN` lines there are.
    pub cpus: u32,
}

impl StatSample {
    /// Parses the contents of `/proc/stat`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut times = None;
        let mut cpus = 0u32;
        for line in text.lines() {
            let mut fields = line.split_ascii_whitespace();
            match fields.next() {
                Some("cpu") => {
                    // user nice system idle iowait irq softirq steal [guest guest_nice];
                    // guest time is already counted in user and nice.
                    let values: Vec<u64> = fields
                        .take(8)
                        .map(str::parse)
                        .collect::<Result<_, _>>()
                        .ok()?;
                    if values.len() < 4 {
                        return None;
                    }
                    let idle = values[3] + values.get(4).copied().unwrap_or(0);
                    times = Some(CpuTimes {
                        total: values.iter().sum(),
                        idle,
                    });
                }
                Some(name) if name.starts_with("cpu") => cpus += 1,
                _ => {}
            }
        }
        Some(Self {
            times: times?,
            cpus,
        })
    }

    fn read(path: &Path) -> Result<Self, Error> {
        super::read_kernel_file(path, "no aggregate cpu line", Self::parse)
    }
}

/// Busy percentage between two samples, rounded to 2 decimals, in 0..=100.
pub fn busy_pct(before: CpuTimes, after: CpuTimes) -> f32 {
    let total = after.total.saturating_sub(before.total);
    if total == 0 {
        return 0.0;
    }
    let idle = after.idle.saturating_sub(before.idle).min(total);
    #[expect(
        clippy::cast_precision_loss,
        reason = "tick counts per window are far below 2^52"
    )]
    let pct = (total - idle) as f64 / total as f64 * 100.0;
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a percentage rounded to 2 decimals fits an f32"
    )]
    let rounded = ((pct * 100.0).round() / 100.0) as f32;
    rounded.clamp(0.0, 100.0)
}

/// Samples `stat` every `interval` into `gauge` until `shutdown`. The first
/// sample is taken at once (publishing the CPU count); the percentage
/// follows one interval later.
pub async fn sample(
    gauge: std::sync::Arc<CpuGauge>,
    stat: PathBuf,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous: Option<CpuTimes> = None;
    let mut warned = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shutdown.cancelled() => break,
        }
        match StatSample::read(&stat) {
            Ok(sample) => {
                let pct = previous.map_or(0.0, |before| busy_pct(before, sample.times));
                gauge.publish(pct, sample.cpus);
                previous = Some(sample.times);
                warned = false;
            }
            Err(e) => {
                if !warned {
                    tracing::warn!(error = %e, "cannot sample CPU usage");
                    warned = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  100 5 50 800 40 3 2 0 7 0\n\
                        cpu0 50 2 25 400 20 1 1 0 3 0\n\
                        cpu1 50 3 25 400 20 2 1 0 4 0\n\
                        intr 12345 0 0\n\
                        ctxt 999\n";

    #[test]
    fn parses_aggregate_and_counts_cpus() {
        let s = StatSample::parse(STAT).unwrap();
        assert_eq!(s.cpus, 2);
        assert_eq!(s.times.total, 100 + 5 + 50 + 800 + 40 + 3 + 2);
        assert_eq!(s.times.idle, 840);
        assert_eq!(StatSample::parse("intr 1\n"), None);
        assert_eq!(StatSample::parse("cpu x y\n"), None);
    }

    #[test]
    fn busy_percentage() {
        let a = CpuTimes {
            total: 1000,
            idle: 800,
        };
        assert!(
            (busy_pct(
                a,
                CpuTimes {
                    total: 1400,
                    idle: 800
                }
            ) - 100.0)
                .abs()
                < f32::EPSILON
        );
        assert!(
            busy_pct(
                a,
                CpuTimes {
                    total: 1400,
                    idle: 1200
                }
            )
            .abs()
                < f32::EPSILON
        );
        assert!(
            (busy_pct(
                a,
                CpuTimes {
                    total: 1300,
                    idle: 1100 - 100
                }
            ) - 33.33)
                .abs()
                < 0.001
        );
        // No progress or counters going backwards never produce garbage.
        assert!(busy_pct(a, a).abs() < f32::EPSILON);
        assert!(busy_pct(a, CpuTimes { total: 10, idle: 0 }).abs() < f32::EPSILON);
    }

    #[test]
    fn gauge_reports_scheduler_count_before_first_sample() {
        let g = CpuGauge::default();
        assert!(g.count() >= 1);
        assert!(g.used_pct().abs() < f32::EPSILON);
        g.publish(12.5, 3);
        assert_eq!(g.count(), 3);
        assert!((g.used_pct() - 12.5).abs() < f32::EPSILON);
    }
}
