//! What a child does between fork and exec: become a session leader with
//! its terminal (PTY mode) and drop to the user's credentials, including
//! supplementary groups, failing loudly if any step fails.

use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::unistd::{Gid, Uid};

/// The identity a child runs with.
#[derive(Debug, Clone)]
pub struct ChildCredentials {
    /// User id.
    pub uid: Uid,
    /// Primary group id.
    pub gid: Gid,
    /// Supplementary groups (set before dropping the uid).
    pub groups: Vec<Gid>,
}

nix::ioctl_write_int_bad!(tiocsctty, libc::TIOCSCTTY);

/// Arranges for `command`'s child to switch to `creds` and, when
/// `controlling_tty`, to lead a new session with fd 0 as its terminal.
///
/// std's own `uid`/`gid` would clear supplementary groups and cannot set
/// them, so the switch happens here, in the order setgroups, setgid, setuid.
pub fn install_child_setup(command: &mut Command, creds: ChildCredentials, controlling_tty: bool) {
    let ChildCredentials { uid, gid, groups } = creds;
    let setup = move || -> std::io::Result<()> {
        cloexec_from_3();
        if controlling_tty {
            nix::unistd::setsid()?;
            // SAFETY: fd 0 is the pty slave (std dup2'd it before running
            // this hook) and TIOCSCTTY takes an int argument, not a pointer.
            unsafe { tiocsctty(0, 0) }?;
        }
        nix::unistd::setgroups(&groups)?;
        nix::unistd::setgid(gid)?;
        nix::unistd::setuid(uid)?;
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec. It only makes
    // raw syscalls (close_range/fcntl, setsid, ioctl, setgroups, setgid,
    // setuid) through libc and nix,
    // which neither allocate nor take locks, so it is async-signal-safe.
    // `groups` was allocated before the fork and is only read.
    unsafe {
        command.pre_exec(setup);
    }
}

/// Marks every fd from 3 up close-on-exec, so the child gets exactly 0, 1
/// and 2 even when envd itself inherited fds without `O_CLOEXEC` (a
/// jobserver pipe, a supervisor's descriptors): envd's own fds are opened
/// close-on-exec, inherited ones are not. Marking instead of closing keeps
/// std's exec-error pipe working. Runs between fork and exec.
fn cloexec_from_3() {
    // SAFETY: close_range takes three integer arguments and only changes
    // descriptor flags of this (forked) process; it is a plain syscall,
    // async-signal-safe.
    let done = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3_u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    } == 0;
    if done {
        return;
    }
    // Kernels before 5.11: walk the descriptors up to the soft limit
    // (bounded, so a huge limit cannot stall the spawn).
    let mut limit = libc::rlimit {
        rlim_cur: 1024,
        rlim_max: 1024,
    };
    // SAFETY: getrlimit only writes the struct we pass by reference.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) };
    let last = i32::try_from(limit.rlim_cur.min(65_536)).unwrap_or(65_536);
    for fd in 3..last {
        // SAFETY: F_SETFD with FD_CLOEXEC only sets a flag; an fd that is
        // not open fails with EBADF, which is ignored.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}
