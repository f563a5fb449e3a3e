//! The cgroups envd starts processes in (spec §7.6, as E2B's envd): under
//! the cgroup v2 root, `ptys` (interactive, favoured), `socats` (port
//! forwarders) and `user` (commands, capped below the VM's memory so envd
//! keeps room to answer). `/freeze` in legacy mode freezes `user` and
//! `ptys`.
//!
//! Everything is best effort: a root that is not a cgroup v2 directory, or
//! one whose controllers are not delegated, leaves processes where envd is
//! (placement) or without limits (properties), and envd still serves.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use crate::process::Placement;

const MIB: u64 = 1024 * 1024;

/// The properties each cgroup gets, in E2B's values; `{M}` is the memory
/// cap `MemTotal − min(MemTotal/8, 128 MiB)`.
const CGROUPS: [(&str, &[(&str, &str)]); 3] = [
    (
        "ptys",
        &[
            ("cpu.weight", "200"),
            ("io.weight", "default 50"),
            ("memory.high", "{M}"),
            ("memory.max", "{M}"),
        ],
    ),
    (
        "socats",
        &[
            ("cpu.weight", "150"),
            ("io.weight", "default 50"),
            ("memory.min", "5242880"),
            ("memory.low", "8388608"),
        ],
    ),
    (
        "user",
        &[
            ("cpu.weight", "50"),
            ("io.weight", "default 10"),
            ("memory.high", "{M}"),
            ("memory.max", "{M}"),
        ],
    ),
];

/// The memory cap of `user` and `ptys` for a VM with `total` bytes.
pub fn memory_cap(total: u64) -> u64 {
    total - (total / 8).min(128 * MIB)
}

/// Creates (or reuses) the cgroups under `root`, sets their properties and
/// opens their `cgroup.procs`. `mem_total` of `None` leaves memory unset.
pub fn setup(root: &Path, mem_total: Option<u64>) -> Placement {
    if !root.join("cgroup.procs").is_file() {
        tracing::info!(root = %root.display(), "no cgroup v2 hierarchy there; processes stay in envd's cgroup");
        return Placement::default();
    }
    // Delegate the controllers the properties need; without them the
    // property files do not exist and only placement happens.
    for controller in ["+cpu", "+memory", "+io"] {
        if let Err(e) = std::fs::write(root.join("cgroup.subtree_control"), controller) {
            tracing::debug!(controller, error = %e, "cgroup controller not delegated");
        }
    }
    let cap = mem_total.map(|t| memory_cap(t).to_string());
    let open = |name: &str, properties: &[(&str, &str)]| -> Option<Arc<std::os::fd::OwnedFd>> {
        let dir = root.join(name);
        if let Err(e) = std::fs::create_dir(&dir)
            && e.kind() != std::io::ErrorKind::AlreadyExists
        {
            tracing::warn!(cgroup = %dir.display(), error = %e, "cannot create cgroup");
            return None;
        }
        for (file, value) in properties {
            let value = match (*value, &cap) {
                ("{M}", Some(cap)) => cap.as_str(),
                ("{M}", None) => continue,
                (value, _) => value,
            };
            if let Err(e) = std::fs::write(dir.join(file), value) {
                tracing::debug!(cgroup = %dir.display(), file, error = %e, "cgroup property not set");
            }
        }
        match OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(dir.join("cgroup.procs"))
        {
            Ok(file) => Some(Arc::new(file.into())),
            Err(e) => {
                tracing::warn!(cgroup = %dir.display(), error = %e, "cannot open cgroup.procs");
                None
            }
        }
    };
    let mut placement = Placement::default();
    for (name, properties) in CGROUPS {
        let procs = open(name, properties);
        match name {
            "ptys" => placement.ptys = procs,
            "user" => placement.pipes = procs,
            _ => {}
        }
    }
    placement
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_cap_keeps_an_eighth_up_to_128_mib() {
        assert_eq!(memory_cap(512 * MIB), 448 * MIB);
        assert_eq!(memory_cap(4096 * MIB), 3968 * MIB);
    }

    #[test]
    fn a_plain_directory_is_not_a_cgroup_root() {
        let dir = tempfile::tempdir().unwrap();
        let placement = setup(dir.path(), Some(1 << 30));
        assert!(placement.pipes.is_none() && placement.ptys.is_none());
        assert!(
            !dir.path().join("user").exists(),
            "nothing created outside cgroupfs"
        );
    }
}
