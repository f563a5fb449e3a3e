//! Guest integrations: resource metrics and the CPU sampler, the page-cache
//! reclaimer, snapshot preparation and recovery, and the side effects of
//! `/init` (hosts file, system clock, volume mounts, CA bundle, run-dir
//! marker), and the orchestrator's lifecycle operations (cgroup freeze,
//! filesystem freeze, heap collapse).
//!
//! Nothing here spawns on construction: `app.rs` starts the long-lived loops
//! ([`cpu::sample`], [`reclaim::run`], [`snapshot::auto_recover`],
//! [`fsfreeze::auto_thaw`]) and hands in the task tracker that short
//! per-request jobs run on.

pub mod ca;
pub mod cgroups;
pub mod clock;
pub mod collapse;
pub mod cpu;
pub mod freeze;
pub mod fsfreeze;
pub mod heap;
pub mod hosts;
pub mod memory;
pub mod mounts;
pub mod reclaim;
pub mod sandbox;
pub mod snapshot;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::{Config, HostPaths};
use crate::process::Reaper;

pub use cpu::CpuGauge;
pub use hosts::HostsFile;
pub use memory::{DiskUsage, MemInfo};
pub use mounts::{Mounter, VolumeMount};
pub use snapshot::SnapshotGate;

/// Why a host integration failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A kernel or system file could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// A kernel file did not have the expected format.
    #[error("{}: {what}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What was missing or malformed.
        what: &'static str,
    },
    /// A system call failed.
    #[error("{call}: {source}")]
    Sys {
        /// The call.
        call: &'static str,
        /// The errno.
        source: nix::Error,
    },
    /// A blocking helper task died.
    #[error("background task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Reads the kernel text file `path` and parses it with `parse`; `what`
/// says what a file `parse` rejects was missing.
fn read_kernel_file<T>(
    path: &std::path::Path,
    what: &'static str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::File {
        path: path.to_owned(),
        source,
    })?;
    parse(&text).ok_or_else(|| Error::Format {
        path: path.to_owned(),
        what,
    })
}

/// The guest-integration handles request handlers share.
#[derive(Debug)]
pub struct Host {
    /// Kernel files to read and write.
    pub paths: HostPaths,
    /// Snapshot preparation state; gates the reclaimer.
    pub snapshot: Arc<SnapshotGate>,
    /// Latest CPU sample.
    pub cpu: Arc<CpuGauge>,
    /// The hosts file `hyperloopIP` rewrites.
    pub hosts: Arc<HostsFile>,
    /// Runs `/init` volume mounts.
    pub mounts: Mounter,
    /// Installs `/init caBundle`.
    pub ca: ca::CaStore,
    /// `/freeze` and `/unfreeze` of the cgroups under `--cgroup-root`.
    pub freezer: freeze::Freezer,
    /// `/fsfreeze` and `/fsthaw` of `--fsfreeze-path`.
    pub fs_freezer: Arc<fsfreeze::FsFreezer>,
    /// Whether `/init timestamp` may set the system clock.
    pub clock_control: bool,
    /// Serialises `/init` and remembers the newest timestamp applied.
    pub init: tokio::sync::Mutex<Option<DateTime<Utc>>>,
}

impl Host {
    /// Handles for `config`. `tasks` runs short per-request jobs (hosts file
    /// rewrites); nothing is spawned here.
    pub fn new(
        config: &Config,
        reaper: Arc<Reaper>,
        tasks: tokio_util::task::TaskTracker,
        clock_control: bool,
    ) -> Self {
        Self {
            paths: config.host_paths.clone(),
            snapshot: Arc::new(SnapshotGate::new(config.host_paths.drop_caches.clone())),
            cpu: Arc::new(CpuGauge::default()),
            hosts: Arc::new(HostsFile::new(config.hosts_file.clone(), tasks)),
            mounts: Mounter::new(reaper, config.mount_timeout),
            ca: ca::CaStore::new(config.ca_bundle.clone(), config.ca_cert.clone()),
            freezer: freeze::Freezer::new(config.cgroup_root.clone()),
            fs_freezer: Arc::new(fsfreeze::FsFreezer::new(
                config.fsfreeze_path.clone(),
                config.fsfreeze_max,
            )),
            clock_control,
            init: tokio::sync::Mutex::new(None),
        }
    }
}
