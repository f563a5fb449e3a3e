//! Starting a command without copying envd's page tables.
//!
//! `clone(CLONE_VM | CLONE_VFORK)` on a stack of its own (as glibc's
//! `posix_spawn` and Go's runtime do): the child borrows envd's memory
//! until it execs, so the spawn costs the same however large envd is, and
//! the calling thread sleeps until then. Everything the child needs (argv,
//! environment, cwd, candidate paths, groups, descriptors) is prepared
//! here, before the clone; the child ([`child`]) only makes syscalls:
//!
//! 1. stdio onto 0/1/2, every other fd close-on-exec, signal dispositions
//!    to default;
//! 2. a process group of its own (pipes) or a session with its terminal
//!    (PTY), so envd can signal the whole group;
//! 3. into its cgroup, then `oom_score_adj` 100, while still root;
//! 4. setgroups, setresgid, setresuid, and only then chdir into the cwd,
//!    so a cwd the user may not enter fails with the kernel's errno;
//! 5. exec, searching the candidates as the shell that used to wrap every
//!    command did.
//!
//! A failed step is written to memory the parent reads once the clone
//! returns (the child shares it and the parent resumes only after the
//! child exits or execs).

mod child;
mod stack;

use std::ffi::{CString, c_char, c_int};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::AtomicI32;

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

/// How the child relates to process groups and terminals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// Leads a new process group (pipe mode).
    Group,
    /// Leads a new session with fd 0, a terminal, as its controlling one.
    Terminal,
}

/// A step of the child's setup, reported when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Putting the streams on 0, 1 and 2.
    Stdio,
    /// setpgid, or setsid and TIOCSCTTY.
    Session,
    /// setgroups.
    Groups,
    /// setresgid.
    Gid,
    /// setresuid.
    Uid,
    /// chdir into the working directory (as the user).
    Cwd,
    /// execve itself (`E2BIG`, `ENOMEM`).
    Exec,
}

/// Why a spawn failed.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// A string held a NUL byte, or the stack could not be mapped.
    #[error("{0}")]
    Prepare(io::Error),
    /// clone(2) failed (no memory, the pid limit).
    #[error("{0}")]
    Clone(io::Error),
    /// The child failed at `step` before exec.
    #[error("{source}")]
    Setup {
        /// Which step.
        step: Step,
        /// The kernel's answer.
        source: io::Error,
    },
}

impl SpawnError {
    /// The underlying OS error.
    pub fn into_io(self) -> io::Error {
        match self {
            Self::Prepare(e) | Self::Clone(e) | Self::Setup { source: e, .. } => e,
        }
    }
}

/// A command ready to exec: every string the child needs, allocated.
#[derive(Debug)]
pub struct Program {
    argv: Vec<CString>,
    env: Vec<CString>,
    /// The environment's own `PWD=` entry.
    pwd: Option<CString>,
    candidates: Vec<CString>,
    by_path: bool,
    cwd: CString,
}

fn c_string(s: impl Into<Vec<u8>>) -> io::Result<CString> {
    // std's Command answers the same for the same input.
    CString::new(s).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "nul byte found in provided data",
        )
    })
}

impl Program {
    /// `cmd` with `args`, environment `env` (`PWD` is exported as a shell
    /// does: kept if it names the cwd, else the cwd's path), executed from
    /// the first of `candidates` that execs, in `cwd`.
    pub fn new<'a>(
        cmd: &str,
        args: &[String],
        env: impl IntoIterator<Item = (&'a str, &'a str)>,
        candidates: &[String],
        cwd: &Path,
    ) -> io::Result<Self> {
        let mut argv = Vec::with_capacity(args.len() + 1);
        argv.push(c_string(cmd)?);
        for arg in args {
            argv.push(c_string(arg.as_str())?);
        }
        let mut vars = Vec::new();
        let mut pwd = None;
        for (key, value) in env {
            let entry = c_string(format!("{key}={value}"))?;
            if key == "PWD" {
                pwd = Some(entry);
            } else {
                vars.push(entry);
            }
        }
        Ok(Self {
            argv,
            env: vars,
            pwd,
            candidates: candidates
                .iter()
                .map(|c| c_string(c.as_str()))
                .collect::<io::Result<_>>()?,
            by_path: cmd.contains('/'),
            cwd: c_string(cwd.as_os_str().as_bytes())?,
        })
    }
}

/// What to start and how.
#[derive(Debug)]
pub struct Spawn<'a> {
    /// The command.
    pub program: &'a Program,
    /// Become the child's 0, 1 and 2.
    pub stdio: [BorrowedFd<'a>; 3],
    /// An open `cgroup.procs` to join, before dropping privileges.
    pub cgroup_procs: Option<BorrowedFd<'a>>,
    /// Who the child becomes.
    pub creds: &'a ChildCredentials,
    /// Process group or terminal session.
    pub session: Session,
}

/// `strerror` texts by errno, for the shell's "cannot execute" message.
fn messages() -> &'static [Box<[u8]>] {
    static TABLE: OnceLock<Vec<Box<[u8]>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..134)
            .map(|e| {
                let text = io::Error::from_raw_os_error(e).to_string();
                let suffix = format!(" (os error {e})");
                text.strip_suffix(&suffix)
                    .unwrap_or(&text)
                    .as_bytes()
                    .into()
            })
            .collect()
    })
}

/// Starts `spawn` and returns the child's pid once it has exec'd (or has
/// exited after reporting that the command was not found).
///
/// The kernel stores the pid in `pid_slot` (`CLONE_PARENT_SETTID`) before
/// the child runs, so a reaper that collects the child's exit before this
/// returns can already tell whose exit it is.
pub fn spawn(spawn: &Spawn<'_>, pid_slot: &AtomicI32) -> Result<u32, SpawnError> {
    // Streams on 0..=2 would be overwritten by an earlier dup: move them up.
    let mut raised: Vec<OwnedFd> = Vec::new();
    let mut stdio = [0; 3];
    for (slot, fd) in stdio.iter_mut().zip(spawn.stdio) {
        *slot = if fd.as_raw_fd() < 3 {
            let copy = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))
                .map_err(|e| SpawnError::Prepare(e.into()))?;
            // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that
            // nothing else owns.
            raised.push(unsafe { std::os::fd::FromRawFd::from_raw_fd(copy) });
            copy
        } else {
            fd.as_raw_fd()
        };
    }
    let program = spawn.program;
    let groups: Vec<libc::gid_t> = spawn.creds.groups.iter().map(|g| g.as_raw()).collect();
    let mut argv: Vec<*const c_char> = std::iter::once(std::ptr::null())
        .chain(program.argv.iter().map(|a| a.as_ptr()))
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let mut envp: Vec<*const c_char> = program.env.iter().map(|e| e.as_ptr()).collect();
    let pwd_slot = envp.len();
    envp.push(
        program
            .pwd
            .as_ref()
            .map_or(std::ptr::null(), |p| p.as_ptr()),
    );
    envp.push(std::ptr::null());
    let candidates: Vec<*const c_char> = program
        .candidates
        .iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let mut args = child::ChildArgs {
        stdio,
        cgroup_procs: spawn.cgroup_procs.map(|fd| fd.as_raw_fd()),
        session: spawn.session,
        groups: groups.as_ptr(),
        ngroups: groups.len(),
        uid: spawn.creds.uid.as_raw(),
        gid: spawn.creds.gid.as_raw(),
        cwd: program.cwd.as_ptr(),
        argv: argv.as_mut_ptr(),
        envp: envp.as_mut_ptr(),
        pwd_slot,
        candidates: candidates.as_ptr(),
        by_path: program.by_path,
        messages: messages(),
        failure: None,
    };
    let pid = stack::with_stack(|stack| clone_child(stack, &mut args, pid_slot))
        .map_err(SpawnError::Prepare)?
        .map_err(SpawnError::Clone)?;
    drop(raised);
    match args.failure {
        None => Ok(pid),
        Some((step, errno)) => Err(SpawnError::Setup {
            step,
            source: io::Error::from_raw_os_error(errno),
        }),
    }
}

/// The clone itself, with every signal blocked in this thread around it,
/// so no handler of envd's runs in the child before it resets them.
fn clone_child(
    stack: &stack::Stack,
    args: &mut child::ChildArgs,
    pid_slot: &AtomicI32,
) -> io::Result<u32> {
    let flags: c_int =
        libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PARENT_SETTID | libc::SIGCHLD;
    // SAFETY: sigfillset/pthread_sigmask only read and write the sets
    // passed by reference and this thread's mask.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe {
        libc::sigfillset(&raw mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &raw const all, &raw mut old);
    }
    // SAFETY: `stack` is a mapping of this thread's that nothing else uses
    // while the child runs on it (this thread is suspended by CLONE_VFORK
    // until the child execs or exits, and only then is it reused). `args`
    // and every array and string it points to are owned by the caller's
    // frame and outlive the child's use of them, which ends at exec/exit.
    // The child runs only `child::main`, which makes raw syscalls and
    // async-signal-safe calls touching no shared state. `pid_slot` is a
    // live atomic i32 the kernel writes the pid into.
    let pid = unsafe {
        libc::clone(
            child::main,
            stack.top(),
            flags,
            std::ptr::from_mut(args).cast(),
            pid_slot.as_ptr(),
        )
    };
    let error = io::Error::last_os_error();
    // SAFETY: restores this thread's mask from the set saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &raw const old, std::ptr::null_mut()) };
    u32::try_from(pid).map_err(|_| error)
}
