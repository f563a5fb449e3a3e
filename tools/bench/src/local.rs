//! What the bench can learn about an envd on this machine from `/proc`:
//! which pid owns the listening port, its resident memory and CPU time.
//! Every reader returns `None` when envd is elsewhere (or gone), and the
//! figure prints `n/a`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Clock ticks per second in `/proc/<pid>/stat`: USER_HZ, which the Linux
/// ABI fixes at 100 on every architecture this runs on.
pub(crate) const USER_HZ: f64 = 100.0;

/// How often [`RssSampler`] reads VmRSS. VmHWM cannot be reset between
/// figures, so peaks come from sampling.
const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// The pid of the process listening on TCP `port`: the socket inode from
/// `/proc/net/tcp{,6}`, then the process holding an fd on it.
pub(crate) fn find_pid_by_port(port: u16) -> Option<u32> {
    let inodes: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| listening_inode(line, port))
                .collect::<Vec<_>>()
        })
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(link) = std::fs::read_link(fd.path())
                && wanted.iter().any(|w| link.as_os_str() == w.as_str())
            {
                return Some(pid);
            }
        }
    }
    None
}

/// The inode of a `/proc/net/tcp` line if it is a socket listening on `port`.
fn listening_inode(line: &str, port: u16) -> Option<String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let local = fields.get(1)?;
    let state = fields.get(3)?;
    let inode = fields.get(9)?;
    let local_port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
    (local_port == port && *state == "0A").then(|| (*inode).to_owned())
}

/// Resident memory (VmRSS) in KiB.
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// User plus system CPU time in clock ticks ([`USER_HZ`]).
pub(crate) fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after
    // the last ')'; utime and stime are fields 14 and 15 (index 11 and 12).
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// MiB from KiB.
pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Samples VmRSS every few milliseconds on a blocking thread (so a busy
/// runtime cannot starve it) and keeps the peak. Dropping it stops the
/// thread too (a figure that fails midway never calls [`RssSampler::stop`],
/// and the runtime waits for blocking threads when it shuts down).
#[derive(Debug)]
pub(crate) struct RssSampler {
    /// VmRSS when sampling began, in KiB.
    start: u64,
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RssSampler {
    /// Starts sampling `pid`; `None` when it is not local.
    pub(crate) fn start(pid: Option<u32>) -> Option<Self> {
        let pid = pid?;
        let first = rss_kib(pid)?;
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(first));
        let task = tokio::task::spawn_blocking({
            let (stop, peak) = (stop.clone(), peak.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    // Gone: nothing more to sample.
                    let Some(kib) = rss_kib(pid) else { break };
                    peak.fetch_max(kib, Ordering::Relaxed);
                    std::thread::sleep(SAMPLE_EVERY);
                }
            }
        });
        Some(Self {
            start: first,
            stop,
            peak,
            task: Some(task),
        })
    }

    /// Stops sampling; the RSS at the start and the peak, in KiB.
    pub(crate) async fn stop(mut self) -> RssPeak {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        RssPeak {
            start: self.start,
            peak: self.peak.load(Ordering::Relaxed),
        }
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What an [`RssSampler`] saw, in KiB.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RssPeak {
    pub(crate) start: u64,
    pub(crate) peak: u64,
}

/// Stops a sampler that may not exist.
pub(crate) async fn peak(sampler: Option<RssSampler>) -> Option<RssPeak> {
    match sampler {
        Some(s) => Some(s.stop().await),
        None => None,
    }
}

/// CPU time of `pid` between two readings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuMark {
    pid: u32,
    ticks: u64,
    at: std::time::Instant,
}

impl CpuMark {
    pub(crate) fn now(pid: Option<u32>) -> Option<Self> {
        let pid = pid?;
        Some(Self {
            pid,
            ticks: cpu_ticks(pid)?,
            at: std::time::Instant::now(),
        })
    }

    /// CPU seconds used since the mark, and the wall time that passed.
    pub(crate) fn since(self) -> Option<(f64, Duration)> {
        let ticks = cpu_ticks(self.pid)?.saturating_sub(self.ticks);
        Some((ticks as f64 / USER_HZ, self.at.elapsed()))
    }
}
