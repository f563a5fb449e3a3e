//! What a child does between fork and exec: restore default signal
//! dispositions, lead a process group of its own (pipe mode) or a session
//! with its terminal (PTY mode), drop to the user's credentials, including
//! supplementary groups, and only then enter its working directory,
//! failing loudly if any step fails.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
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

/// Arranges for `command`'s child to lead a new process group (or, when
/// `controlling_tty`, a new session with fd 0 as its terminal), switch to
/// `creds` and then change into `cwd`.
///
/// The group (or session) makes the child's pid its pgid, so `kill(0, ..)`
/// or `kill -TERM 0` inside a command reaches only that command's own
/// processes, never envd or another command, and envd can signal the whole
/// group. std's own `uid`/`gid` would clear supplementary groups and cannot
/// set them, so the switch happens here, in the order setgroups, setgid,
/// setuid. The directory is entered after the switch, so a cwd the user may
/// not enter fails the spawn with the kernel's errno (`EACCES`, `ENOENT`,
/// `ENOTDIR`), which std reports as the spawn error. Never combine this
/// with `Command::current_dir`: std would chdir as root before this hook.
pub fn install_child_setup(
    command: &mut Command,
    creds: ChildCredentials,
    cwd: &Path,
    controlling_tty: bool,
) -> io::Result<()> {
    let ChildCredentials { uid, gid, groups } = creds;
    // Allocated before the fork: the hook must not allocate.
    let cwd = CString::new(cwd.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let setup = move || -> io::Result<()> {
        cloexec_from_3();
        default_ignored_signals();
        if controlling_tty {
            nix::unistd::setsid()?;
            // SAFETY: fd 0 is the pty slave (std dup2'd it before running
            // this hook) and TIOCSCTTY takes an int argument, not a pointer.
            unsafe { tiocsctty(0, 0) }?;
        } else {
            nix::unistd::setpgid(nix::unistd::Pid::from_raw(0), nix::unistd::Pid::from_raw(0))?;
        }
        nix::unistd::setgroups(&groups)?;
        nix::unistd::setgid(gid)?;
        nix::unistd::setuid(uid)?;
        nix::unistd::chdir(cwd.as_c_str())?;
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec. It only makes
    // raw syscalls (close_range/fcntl, sigaction, setsid, ioctl, setpgid,
    // setgroups, setgid, setuid, chdir) through libc and nix, which neither
    // allocate nor take locks, so it is async-signal-safe. `groups` and
    // `cwd` were allocated before the fork and are only read.
    unsafe {
        command.pre_exec(setup);
    }
    Ok(())
}

/// Gives the child default dispositions for the signals envd ignores
/// (SIGPIPE, or SIGHUP when a supervisor such as `nohup` started envd with
/// it ignored): exec resets handled signals but keeps ignored ones, and a
/// command must die of `kill -HUP` like anywhere else (systemd does the
/// same for its services). Runs between fork and exec.
fn default_ignored_signals() {
    // Linux numbers signals 1 to 64 (`_NSIG` is 65).
    for signal in 1..65 {
        // SAFETY: a zeroed sigaction is a valid value (SIG_DFL, no flags,
        // empty mask); sigaction only reads and writes the structs we pass
        // by reference and is async-signal-safe. Numbers the kernel or libc
        // refuse (SIGKILL, SIGSTOP, glibc's internal 32 and 33) fail with
        // EINVAL and are skipped.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, std::ptr::null(), &raw mut old) == 0
                && old.sa_sigaction == libc::SIG_IGN
            {
                let default: libc::sigaction = std::mem::zeroed();
                libc::sigaction(signal, &raw const default, std::ptr::null_mut());
            }
        }
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
