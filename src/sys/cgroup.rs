//! Joining a cgroup between fork and exec, so a child never runs a single
//! instruction of the user's command outside its cgroup.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;

/// Arranges for `command`'s child to move itself into the cgroup whose
/// `cgroup.procs` is open as `procs` (write `0`: "the writing process").
/// Register it before the credential switch: moving needs envd's rights.
///
/// Placement is resource policy, not a security boundary, so a failed
/// write (the cgroup was removed behind envd's back) does not fail the
/// start; the child then runs in envd's cgroup.
pub fn join_cgroup_in_child(command: &mut Command, procs: Arc<OwnedFd>) {
    let fd = procs.as_raw_fd();
    let join = move || -> std::io::Result<()> {
        // Keeps the descriptor open for as long as the hook can run.
        let _alive = &procs;
        // SAFETY: `fd` is open (held by `procs`, captured above, and
        // inherited by the forked child); the buffer is a 1-byte static.
        // write(2) is async-signal-safe. The result is ignored on purpose
        // (see the function docs).
        unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec and only makes
    // one write(2) syscall, which neither allocates nor takes locks.
    unsafe {
        command.pre_exec(join);
    }
}
