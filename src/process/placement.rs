//! Which cgroup a new process joins (spec §7.6): terminals in `ptys`,
//! everything else in `user`. Built by `host::cgroups` at start-up.

use std::os::fd::OwnedFd;
use std::sync::Arc;

/// Open `cgroup.procs` files of the cgroups processes are started in; a
/// `None` leaves that kind of process in envd's own cgroup.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    /// For pipe processes (`user`).
    pub pipes: Option<Arc<OwnedFd>>,
    /// For PTY processes (`ptys`).
    pub ptys: Option<Arc<OwnedFd>>,
}
