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
    // raw syscalls (setsid, ioctl, setgroups, setgid, setuid) through nix,
    // which neither allocate nor take locks, so it is async-signal-safe.
    // `groups` was allocated before the fork and is only read.
    unsafe {
        command.pre_exec(setup);
    }
}
