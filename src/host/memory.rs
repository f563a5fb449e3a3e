//! Memory from `/proc/meminfo` and disk usage from `statfs("/")`, read per
//! request (both are cheap).

use std::path::Path;

use super::Error;

/// The `/proc/meminfo` fields envd uses, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemInfo {
    /// `MemTotal`.
    pub total: u64,
    /// `MemFree`.
    pub free: u64,
    /// `MemAvailable` (falls back to `MemFree` on kernels without it).
    pub available: u64,
    /// `Cached`.
    pub cached: u64,
    /// `SReclaimable`.
    pub sreclaimable: u64,
}

impl MemInfo {
    /// Parses the contents of `/proc/meminfo` (values in kB).
    pub fn parse(text: &str) -> Option<Self> {
        let mut info = Self::default();
        let mut seen_total = false;
        let mut seen_free = false;
        let mut seen_available = false;
        for line in text.lines() {
            let Some((key, rest)) = line.split_once(':') else {
                continue;
            };
            let Some(kb) = rest
                .split_ascii_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
            else {
                continue;
            };
            let bytes = kb.saturating_mul(1024);
            match key {
                "MemTotal" => (info.total, seen_total) = (bytes, true),
                "MemFree" => (info.free, seen_free) = (bytes, true),
                "MemAvailable" => (info.available, seen_available) = (bytes, true),
                "Cached" => info.cached = bytes,
                "SReclaimable" => info.sreclaimable = bytes,
                _ => {}
            }
        }
        if !seen_total || !seen_free {
            return None;
        }
        if !seen_available {
            info.available = info.free;
        }
        Some(info)
    }

    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<Self, Error> {
        super::read_kernel_file(path, "MemTotal or MemFree missing", Self::parse)
    }

    /// Memory in use as `free` and `neofetch` show it: `MemTotal − MemAvailable`.
    pub fn used(&self) -> u64 {
        self.total.saturating_sub(self.available)
    }

    /// Page cache: `Cached + SReclaimable`.
    pub fn cache(&self) -> u64 {
        self.cached.saturating_add(self.sreclaimable)
    }

    /// Whether `(MemTotal − MemFree) / MemTotal` exceeds `pct` percent: the
    /// reclaimer's trigger, which counts page cache as used on purpose.
    pub fn above(&self, pct: u8) -> bool {
        let used = u128::from(self.total.saturating_sub(self.free));
        self.total > 0 && used * 100 > u128::from(self.total) * u128::from(pct)
    }
}

/// Size and use of a filesystem, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    /// `f_blocks × f_bsize`.
    pub total: u64,
    /// `(f_blocks − f_bavail) × f_bsize`.
    pub used: u64,
}

impl DiskUsage {
    /// `statfs(path)`.
    pub fn of(path: &Path) -> Result<Self, Error> {
        let stat = nix::sys::statfs::statfs(path).map_err(|source| Error::Sys {
            call: "statfs",
            source,
        })?;
        let block = u64::try_from(stat.block_size()).unwrap_or(0);
        let blocks = stat.blocks();
        let available = stat.blocks_available();
        Ok(Self {
            total: blocks.saturating_mul(block),
            used: blocks.saturating_sub(available).saturating_mul(block),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:        2048000 kB\n\
                           MemFree:          500000 kB\n\
                           MemAvailable:    1500000 kB\n\
                           Buffers:           10000 kB\n\
                           Cached:           900000 kB\n\
                           SwapCached:            0 kB\n\
                           SReclaimable:      40000 kB\n\
                           HugePages_Total:       0\n";

    #[test]
    fn parses_meminfo_in_bytes() {
        let m = MemInfo::parse(MEMINFO).unwrap();
        assert_eq!(m.total, 2_048_000 * 1024);
        assert_eq!(m.free, 500_000 * 1024);
        assert_eq!(m.available, 1_500_000 * 1024);
        assert_eq!(m.used(), 548_000 * 1024);
        assert_eq!(m.cache(), 940_000 * 1024);
        assert_eq!(MemInfo::parse("Cached: 1 kB\n"), None);
    }

    #[test]
    fn missing_available_falls_back_to_free() {
        let m = MemInfo::parse("MemTotal: 100 kB\nMemFree: 40 kB\n").unwrap();
        assert_eq!(m.available, 40 * 1024);
        assert_eq!(m.used(), 60 * 1024);
    }

    #[test]
    fn threshold_counts_page_cache_as_used() {
        let m = |free| MemInfo {
            total: 1000,
            free,
            available: 900,
            ..MemInfo::default()
        };
        assert!(m(199).above(80));
        assert!(!m(200).above(80));
        assert!(!m(500).above(80));
        assert!(!MemInfo::default().above(80));
    }

    #[test]
    fn root_filesystem_has_a_size() {
        let d = DiskUsage::of(Path::new("/")).unwrap();
        assert!(d.total > 0);
        assert!(d.used <= d.total);
    }
}
