//! Live upgrade: a memfd for the handover state, `execve` on the same pid
//! keeping chosen fds, and taking those fds over in the new image.

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::fcntl::{FcntlArg, FdFlag, fcntl};

/// An anonymous in-memory file, close-on-exec until [`exec_keeping`].
pub fn memfd(name: &str) -> io::Result<OwnedFd> {
    Ok(nix::sys::memfd::memfd_create(
        name,
        nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
    )?)
}

/// Replaces this process's image with `program` (same pid), keeping the
/// fds in `keep` open across the exec. Returns only on failure; the
/// close-on-exec flags are then restored.
pub fn exec_keeping(program: &Path, args: &[OsString], keep: &[BorrowedFd<'_>]) -> io::Error {
    let c = |s: &[u8]| CString::new(s).map_err(io::Error::other);
    let prepared = (|| -> io::Result<(CString, Vec<CString>)> {
        let path = c(program.as_os_str().as_bytes())?;
        let mut argv = vec![path.clone()];
        for arg in args {
            argv.push(c(arg.as_bytes())?);
        }
        Ok((path, argv))
    })();
    let (path, argv) = match prepared {
        Ok(p) => p,
        Err(e) => return e,
    };
    for fd in keep {
        if let Err(e) = fcntl(fd.as_fd(), FcntlArg::F_SETFD(FdFlag::empty())) {
            restore(keep);
            return e.into();
        }
    }
    let Err(errno) = nix::unistd::execv(&path, &argv);
    restore(keep);
    errno.into()
}

fn restore(keep: &[BorrowedFd<'_>]) {
    for fd in keep {
        fcntl(fd.as_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).ok();
    }
}

/// Takes ownership of `fd`, inherited from the envd this one replaced, and
/// marks it close-on-exec again. Fails unless `fd` is open.
pub fn take_inherited(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 3 {
        return Err(io::Error::other(format!("fd {fd} is not a handed-over fd")));
    }
    // SAFETY: F_GETFD only reads the flags of descriptor `fd`; an fd that
    // is not open fails with EBADF and nothing else happens.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is open (checked above) and was handed to this image by
    // its predecessor for exactly this purpose; nothing else in this
    // process owns it, because each handed-over number is taken once (the
    // handover names every fd once) before anything else runs.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    fcntl(owned.as_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    debug_assert_eq!(owned.as_raw_fd(), fd);
    Ok(owned)
}
