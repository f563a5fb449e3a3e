//! What runs in the child between clone and exec.
//!
//! The child shares envd's memory (`CLONE_VM`) while envd's other threads
//! keep running, so it only makes raw syscalls and async-signal-safe libc
//! calls that touch no shared state: no allocation, no locks, no glibc
//! `setuid`-family wrappers (they broadcast to every thread of the process),
//! no panics. It reads what the parent prepared and writes only its own
//! stack, the argv slots it owns and its failure report.

use std::ffi::{CStr, c_char, c_int, c_long, c_void};
use std::os::fd::RawFd;

use super::{Session, Step};

/// What the child reads, prepared by the parent before the clone.
#[derive(Debug)]
pub(super) struct ChildArgs {
    pub(super) stdio: [RawFd; 3],
    pub(super) cgroup_procs: Option<RawFd>,
    pub(super) session: Session,
    pub(super) groups: *const libc::gid_t,
    pub(super) ngroups: usize,
    pub(super) uid: libc::uid_t,
    pub(super) gid: libc::gid_t,
    pub(super) cwd: *const c_char,
    /// `[spare, argv0, argv1, …, null]`: the spare slot lets a script
    /// without a shebang run as `/bin/sh script args` in place.
    pub(super) argv: *mut *const c_char,
    /// The environment, then the PWD slot (null if unset), then null.
    pub(super) envp: *mut *const c_char,
    pub(super) pwd_slot: usize,
    /// Paths to try in order (dash's PATH search), null-terminated.
    pub(super) candidates: *const *const c_char,
    /// The command has a slash: one candidate, its errno reported as is.
    pub(super) by_path: bool,
    /// `strerror` texts by errno (C locale), for the shell's message.
    pub(super) messages: &'static [Box<[u8]>],
    /// Set by the child when a step fails before exec.
    pub(super) failure: Option<(Step, c_int)>,
}

type Failed = (Step, c_int);

const SH: &CStr = c"/bin/sh";
const OOM_SCORE_ADJ: &CStr = c"/proc/self/oom_score_adj";
/// `PWD=` plus a `PATH_MAX` path and its NUL.
const PWD_BUF: usize = 4 + 4096 + 1;

/// The child's entry point (the `fn` given to clone).
pub(super) extern "C" fn main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `ChildArgs` the parent passed to clone. The
    // parent thread is suspended (CLONE_VFORK) until this child execs or
    // exits and touches it only after that, so this is the only reference.
    let args = unsafe { &mut *arg.cast::<ChildArgs>() };
    if let Err(failure) = setup(args) {
        args.failure = Some(failure);
        exit(127);
    }
    exec(args)
}

fn check(step: Step, ret: c_long) -> Result<(), Failed> {
    if ret == -1 {
        Err((step, errno()))
    } else {
        Ok(())
    }
}

fn errno() -> c_int {
    // SAFETY: __errno_location returns this thread's errno slot; it is the
    // suspended parent thread's, which nothing else uses meanwhile.
    unsafe { *libc::__errno_location() }
}

fn exit(code: c_int) -> ! {
    // SAFETY: _exit is the exit_group syscall: no atexit handlers, no
    // stdio flushing, nothing shared is touched.
    unsafe { libc::_exit(code) }
}

fn long(value: u32) -> c_long {
    c_long::from(value)
}

/// Everything before exec, in order; the first failure stops the child.
fn setup(args: &ChildArgs) -> Result<(), Failed> {
    for (target, fd) in (0..).zip(args.stdio) {
        // SAFETY: dup3 takes two descriptor numbers and flags and changes
        // only this child's own fd table (no CLONE_FILES); `fd` is at least
        // 3, so it is never one of the targets.
        check(Step::Stdio, unsafe {
            libc::syscall(libc::SYS_dup3, c_long::from(fd), c_long::from(target), 0)
        })?;
    }
    cloexec_from_3();
    default_signals();
    match args.session {
        // SAFETY: setpgid(0, 0) takes two integers and affects only this child.
        Session::Group => check(Step::Session, unsafe {
            libc::syscall(libc::SYS_setpgid, 0, 0)
        })?,
        Session::Terminal => {
            // SAFETY: setsid takes no arguments and affects only this child.
            check(Step::Session, unsafe { libc::syscall(libc::SYS_setsid) })?;
            // SAFETY: fd 0 is the terminal (dup'd above); TIOCSCTTY takes an
            // integer argument, not a pointer.
            check(Step::Session, unsafe {
                libc::syscall(libc::SYS_ioctl, 0, libc::TIOCSCTTY, 0)
            })?;
        }
    }
    if let Some(fd) = args.cgroup_procs {
        // SAFETY: `fd` is the open cgroup.procs file and the buffer a
        // 1-byte static. Placement is policy, not security: a failure
        // leaves the child in envd's cgroup (the result is ignored).
        unsafe { libc::syscall(libc::SYS_write, c_long::from(fd), c"0".as_ptr(), 1) };
    }
    lower_oom_priority();
    normal_priority();
    // SAFETY: `groups` points to `ngroups` gids owned by the suspended
    // parent; the raw syscall changes only this process (glibc's wrapper
    // would signal every thread of envd).
    check(Step::Groups, unsafe {
        libc::syscall(
            libc::SYS_setgroups,
            c_long::try_from(args.ngroups).unwrap_or(c_long::MAX),
            args.groups,
        )
    })?;
    let (uid, gid) = (long(args.uid), long(args.gid));
    // SAFETY: integer arguments only; raw syscall for the reason above.
    check(Step::Gid, unsafe {
        libc::syscall(libc::SYS_setresgid, gid, gid, gid)
    })?;
    // SAFETY: integer arguments only; raw syscall for the reason above.
    check(Step::Uid, unsafe {
        libc::syscall(libc::SYS_setresuid, uid, uid, uid)
    })?;
    // SAFETY: `cwd` is a NUL-terminated string owned by the suspended
    // parent. Entered as the user, so the kernel decides whether they may.
    check(Step::Cwd, unsafe {
        libc::syscall(libc::SYS_chdir, args.cwd)
    })?;
    Ok(())
}

/// Writes 100 to the child's `oom_score_adj` (what the wrapper shell did);
/// a failure is ignored, as the shell's `2>/dev/null` did. Only this child
/// changes: the kernel treats a CLONE_VFORK child that shares envd's
/// memory as wanting its own score (it is not propagated to envd).
fn lower_oom_priority() {
    // SAFETY: openat with a static NUL-terminated path and flags.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat,
            c_long::from(libc::AT_FDCWD),
            OOM_SCORE_ADJ.as_ptr(),
            c_long::from(libc::O_WRONLY | libc::O_CLOEXEC),
        )
    };
    if fd >= 0 {
        // SAFETY: `fd` was just opened by this child; the buffer is static.
        unsafe {
            libc::syscall(libc::SYS_write, fd, c"100".as_ptr(), 3);
            libc::syscall(libc::SYS_close, fd);
        }
    }
}

/// Runs the child at nice 0 and best-effort I/O priority 4 whatever envd's
/// own priority (E2B runs envd at nice -20; spec §7.1: children at nice 0,
/// `ionice -c 2 -n 4`). Done before the credential drop, which lowering a
/// positive nice needs; failures are ignored, as the wrapper's missing
/// `nice`/`ionice` were.
fn normal_priority() {
    /// `IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 4)`.
    const BEST_EFFORT_4: c_long = (2 << 13) | 4;
    // SAFETY: setpriority and ioprio_set take integers only and change
    // only this process (who = 0).
    unsafe {
        libc::syscall(
            libc::SYS_setpriority,
            c_long::from(libc::PRIO_PROCESS),
            0,
            0,
        );
        libc::syscall(libc::SYS_ioprio_set, 1, 0, BEST_EFFORT_4);
    }
}

/// Gives every signal with a handler or ignored its default disposition,
/// before any is unblocked: a handler of envd's must never run on this
/// stack (it would write envd's memory), and exec keeps ignored signals
/// ignored while a command must die of `kill -HUP` like anywhere else.
/// Raw rt_sigaction, so glibc's own signals (32, 33) are reset too.
fn default_signals() {
    // The kernel's struct sigaction: handler first, at most 4 words.
    let default = [0_u64; 4];
    // Linux numbers signals 1 to 64 (`_NSIG` is 65).
    for signal in 1..65_i64 {
        let mut old = [0_u64; 4];
        // SAFETY: rt_sigaction reads and writes the 32-byte buffers passed
        // (larger than the kernel's struct on every architecture) and
        // changes only this child's handler table (no CLONE_SIGHAND).
        // SIGKILL and SIGSTOP fail with EINVAL and are skipped.
        unsafe {
            if libc::syscall(
                libc::SYS_rt_sigaction,
                signal,
                std::ptr::null::<u64>(),
                old.as_mut_ptr(),
                8,
            ) == 0
                && old[0] != 0
            {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    signal,
                    default.as_ptr(),
                    std::ptr::null_mut::<u64>(),
                    8,
                );
            }
        }
    }
}

/// The empty mask every command starts with (std's spawn did the same).
fn unblock_signals() {
    let empty: u64 = 0;
    // SAFETY: the kernel's sigset is 8 bytes on Linux; the set is read
    // from this stack and only this child's mask changes.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            c_long::from(libc::SIG_SETMASK),
            &raw const empty,
            std::ptr::null_mut::<u64>(),
            8,
        )
    };
}

/// Marks every fd from 3 up close-on-exec, so the command gets exactly 0,
/// 1 and 2 even when envd inherited fds without `O_CLOEXEC`. Marking
/// instead of closing keeps the cgroup.procs fd usable until exec.
fn cloexec_from_3() {
    // SAFETY: close_range takes three integers and only changes descriptor
    // flags in this child's own fd table.
    let done = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3,
            c_long::from(u32::MAX),
            c_long::from(libc::CLOSE_RANGE_CLOEXEC),
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
    // SAFETY: getrlimit is a syscall that only writes the struct passed.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) };
    let last = i32::try_from(limit.rlim_cur.min(65_536)).unwrap_or(65_536);
    for fd in 3..last {
        // SAFETY: F_SETFD only sets a flag; a closed fd fails with EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// Exports PWD as dash did: the environment's own PWD if it is absolute
/// and names the cwd, else the kernel's path of the cwd (empty if that
/// fails). `buf` lives on this stack, which stays valid through execve.
fn export_pwd(args: &ChildArgs, buf: &mut [u8; PWD_BUF]) {
    // SAFETY: `pwd_slot` indexes the slot before the terminating null of
    // `envp`, an array owned by the suspended parent and only used here.
    let slot = unsafe { args.envp.add(args.pwd_slot) };
    // SAFETY: as above.
    let given = unsafe { *slot };
    // SAFETY: a non-null slot holds a NUL-terminated "PWD=..." string.
    if !given.is_null() && names_cwd(unsafe { given.add(4) }) {
        return;
    }
    buf[0] = b'P';
    buf[1] = b'W';
    buf[2] = b'D';
    buf[3] = b'=';
    // SAFETY: getcwd writes at most PWD_BUF - 4 bytes after the prefix.
    let got = unsafe {
        libc::syscall(
            libc::SYS_getcwd,
            buf.as_mut_ptr().add(4),
            c_long::try_from(PWD_BUF - 4).unwrap_or(0),
        )
    };
    // Linux answers "(unreachable)/…" for a cwd outside the root; glibc's
    // getcwd (dash's) fails then.
    if got < 0 || buf[4] != b'/' {
        buf[4] = 0;
    }
    // SAFETY: see `slot` above; `buf` outlives the execve that reads it.
    unsafe { *slot = buf.as_ptr().cast() };
}

/// Whether absolute `path` is the same file as `.`.
fn names_cwd(path: *const c_char) -> bool {
    // SAFETY: `path` is NUL-terminated (a suffix of a C string); zeroed
    // stat buffers are valid; stat is a plain fstatat syscall.
    unsafe {
        if *path != b'/'.cast_signed() {
            return false;
        }
        let mut given: libc::stat = std::mem::zeroed();
        let mut cwd: libc::stat = std::mem::zeroed();
        libc::stat(path, &raw mut given) == 0
            && libc::stat(c".".as_ptr(), &raw mut cwd) == 0
            && given.st_dev == cwd.st_dev
            && given.st_ino == cwd.st_ino
    }
}

/// Executes the command as dash's `exec` builtin did: each candidate in
/// turn, a script without a shebang through `/bin/sh`, then exit 126
/// (`EACCES`), 127 (not found) or 2 with dash's message on stderr.
/// `E2BIG` and `ENOMEM` fail the start instead, as they failed the exec of
/// the wrapper shell itself.
fn exec(args: &mut ChildArgs) -> ! {
    let mut pwd = [0_u8; PWD_BUF];
    export_pwd(args, &mut pwd);
    unblock_signals();
    let mut error = libc::ENOENT;
    let mut next = args.candidates;
    loop {
        // SAFETY: `candidates` is a null-terminated array owned by the
        // suspended parent; `next` never passes its null.
        let path = unsafe { *next };
        if path.is_null() {
            break;
        }
        // SAFETY: as above, the next element exists.
        next = unsafe { next.add(1) };
        let e = try_exec(args, path);
        if e == libc::E2BIG || e == libc::ENOMEM {
            args.failure = Some((Step::Exec, e));
            exit(127);
        }
        if args.by_path || (e != libc::ENOENT && e != libc::ENOTDIR) {
            error = e;
        }
    }
    let code = match error {
        libc::EACCES => 126,
        libc::ENOENT | libc::ENOTDIR => 127,
        _ => 2,
    };
    let reason: &[u8] = if error == libc::ENOENT || error == libc::ENOTDIR {
        b"not found"
    } else {
        usize::try_from(error)
            .ok()
            .and_then(|e| args.messages.get(e))
            .map_or(b"Unknown error", |m| &m[..])
    };
    // SAFETY: argv[1] is a NUL-terminated string (the command, or the
    // script path dash would have reported after its /bin/sh retry).
    let name = unsafe { CStr::from_ptr(*args.argv.add(1)) }.to_bytes();
    let parts: [&[u8]; 5] = [b"--: 1: exec: ", name, b": ", reason, b"\n"];
    let iov = parts.map(|p| libc::iovec {
        iov_base: p.as_ptr().cast_mut().cast(),
        iov_len: p.len(),
    });
    // SAFETY: five iovecs pointing at live buffers; fd 2 is the child's.
    unsafe { libc::syscall(libc::SYS_writev, 2, iov.as_ptr(), 5) };
    exit(code)
}

/// One execve of `path`; on `ENOEXEC`, `/bin/sh path args…` (dash's
/// tryexec). Returns the errno of the last attempt.
fn try_exec(args: &ChildArgs, path: *const c_char) -> c_int {
    // SAFETY: `path`, `argv` from index 1 and `envp` are null-terminated
    // arrays of C strings owned by the suspended parent.
    unsafe { libc::syscall(libc::SYS_execve, path, args.argv.add(1), args.envp) };
    let e = errno();
    if e != libc::ENOEXEC {
        return e;
    }
    // SAFETY: slots 0 and 1 exist (spare and argv0); afterwards `argv` is
    // `/bin/sh`, `path`, the arguments, null.
    unsafe {
        *args.argv = SH.as_ptr();
        *args.argv.add(1) = path;
        libc::syscall(libc::SYS_execve, SH.as_ptr(), args.argv, args.envp);
    }
    errno()
}
