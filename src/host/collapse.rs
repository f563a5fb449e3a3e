//! `POST /collapse` (spec §5.8, [E2B]): back envd's own heap with huge
//! pages before a snapshot. E2B's Go envd asks its runtime to do this; our
//! equivalent is `madvise(MADV_COLLAPSE)` (Linux 6.1+) on every private,
//! writable, anonymous mapping of envd (the `[heap]` and the allocator's
//! anonymous arenas, as listed in `/proc/self/smaps`), one 2 MiB-aligned
//! chunk at a time: fewer, larger pages make the snapshot's memory map
//! smaller and its restore faster.
//!
//! Counts: `regions` are the mappings with at least one whole aligned
//! chunk; `chunks` is the number of those chunks; each chunk is either
//! `alreadyHuge` (backed by a huge page before the call, per the
//! mapping's `AnonHugePages`), `collapsed` (the call succeeded on it) or
//! `skipped` (the call failed: `EINVAL` on kernels without
//! `MADV_COLLAPSE`, `EAGAIN`/`ENOMEM` when no huge page could be had, or
//! the mapping changed meanwhile). So `chunks = collapsed + alreadyHuge +
//! skipped` always holds, and a kernel without the call answers with every
//! chunk skipped rather than an error.

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use super::Error;
use crate::sys;

/// The huge-page size MADV_COLLAPSE works in (x86-64 and arm64 with 4 KiB
/// base pages).
pub const CHUNK: usize = 2 * 1024 * 1024;

const SMAPS: &str = "/proc/self/smaps";

/// What a collapse did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CollapseResult {
    /// Mappings with at least one aligned chunk.
    pub regions: u32,
    /// Aligned 2 MiB chunks in them.
    pub chunks: u32,
    /// Chunks the call collapsed.
    pub collapsed: u32,
    /// Chunks that were huge already.
    pub already_huge: u32,
    /// Chunks the call failed on.
    pub skipped: u32,
    /// Time taken, in milliseconds.
    pub elapsed_ms: u64,
}

/// One candidate mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Region {
    start: usize,
    end: usize,
    huge_bytes: usize,
}

impl Region {
    /// The whole aligned chunks: `(first address, count)`.
    fn chunks(self) -> (usize, usize) {
        let first = self.start.next_multiple_of(CHUNK);
        let last = self.end - self.end % CHUNK;
        (first, last.saturating_sub(first) / CHUNK)
    }
}

/// Collapses envd's anonymous memory. Blocking: run it off the runtime.
pub fn collapse_own_memory() -> Result<CollapseResult, Error> {
    let started = Instant::now();
    let smaps = std::fs::read_to_string(SMAPS).map_err(|source| Error::File {
        path: PathBuf::from(SMAPS),
        source,
    })?;
    let mut result = CollapseResult::default();
    for region in candidates(&smaps) {
        let (first, count) = region.chunks();
        if count == 0 {
            continue;
        }
        result.regions += 1;
        let mut ok = 0_usize;
        for i in 0..count {
            match sys::collapse(first + i * CHUNK, CHUNK) {
                Ok(()) => ok += 1,
                Err(e) => tracing::debug!(error = %e, "MADV_COLLAPSE skipped a chunk"),
            }
        }
        // An already-huge chunk "collapses" successfully too: count it as
        // already huge, not as collapsed.
        let huge = (region.huge_bytes / CHUNK).min(ok);
        result.chunks += to_u32(count);
        result.already_huge += to_u32(huge);
        result.collapsed += to_u32(ok - huge);
        result.skipped += to_u32(count - ok);
    }
    result.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(result)
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The private writable anonymous mappings (and `[heap]`) of an smaps text,
/// with their `AnonHugePages`.
fn candidates(smaps: &str) -> Vec<Region> {
    let mut out = Vec::new();
    let mut current: Option<Region> = None;
    for line in smaps.lines() {
        if let Some(region) = header(line) {
            out.extend(current.take());
            current = region;
        } else if let (Some(region), Some(rest)) =
            (current.as_mut(), line.strip_prefix("AnonHugePages:"))
        {
            let kb: usize = rest
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .unwrap_or(0);
            region.huge_bytes = kb * 1024;
        }
    }
    out.extend(current);
    out
}

/// `Some(region)` for a mapping header line (`Some(None)` when it is a
/// mapping we leave alone); `None` for the attribute lines in between.
#[expect(
    clippy::option_option,
    reason = "header-or-not and wanted-or-not are two separate questions"
)]
fn header(line: &str) -> Option<Option<Region>> {
    let mut fields = line.split_whitespace();
    let range = fields.next()?;
    let (start, end) = range.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = fields.next()?;
    // offset, device, inode, then the optional path.
    let path = fields.nth(3).unwrap_or("");
    let wanted = perms == "rw-p" && (path.is_empty() || path == "[heap]");
    Some(wanted.then_some(Region {
        start,
        end,
        huge_bytes: 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
55d0c0000000-55d0c0600000 rw-p 00000000 00:00 0                          [heap]
Size:               6144 kB
AnonHugePages:      2048 kB
7f0000000000-7f0000400000 rw-p 00000000 00:00 0 
AnonHugePages:         0 kB
7f0000400000-7f0000401000 ---p 00000000 00:00 0 
AnonHugePages:         0 kB
7f0000500000-7f0000900000 rw-p 00000000 fd:00 1234                       /usr/lib/libc.so.6
AnonHugePages:         0 kB
7ffd00000000-7ffd00800000 rw-p 00000000 00:00 0                          [stack]
AnonHugePages:         0 kB
7f1000100000-7f1000300000 rw-p 00000000 00:00 0 
AnonHugePages:         0 kB
";

    #[test]
    fn picks_private_writable_anonymous_mappings_and_the_heap() {
        let regions = candidates(SAMPLE);
        assert_eq!(
            regions,
            vec![
                Region {
                    start: 0x55d0_c000_0000,
                    end: 0x55d0_c060_0000,
                    huge_bytes: 2048 * 1024
                },
                Region {
                    start: 0x7f00_0000_0000,
                    end: 0x7f00_0040_0000,
                    huge_bytes: 0
                },
                Region {
                    start: 0x7f10_0010_0000,
                    end: 0x7f10_0030_0000,
                    huge_bytes: 0
                },
            ]
        );
        assert_eq!(regions[0].chunks(), (0x55d0_c000_0000, 3));
        assert_eq!(regions[1].chunks(), (0x7f00_0000_0000, 2));
        // 1 MiB into a chunk to 3 MiB: no whole aligned chunk.
        assert_eq!(regions[2].chunks().1, 0);
    }

    #[test]
    fn own_memory_counts_add_up() {
        let r = collapse_own_memory().unwrap();
        assert_eq!(r.chunks, r.collapsed + r.already_huge + r.skipped, "{r:?}");
        assert!(r.regions <= r.chunks, "{r:?}");
    }
}
