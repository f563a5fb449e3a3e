//! `FIFREEZE` / `FITHAW`: freeze and thaw the filesystem an open file
//! descriptor lives on (the ioctls behind `fsfreeze(8)`). libc has no
//! constants for them.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `_IOWR('X', 119, int)`.
const FIFREEZE: libc::c_ulong = 0xC004_5877;
/// `_IOWR('X', 120, int)`.
const FITHAW: libc::c_ulong = 0xC004_5878;

fn ioctl(fd: BorrowedFd<'_>, request: libc::c_ulong) -> io::Result<()> {
    // SAFETY: `fd` is a live descriptor borrowed for the call. FIFREEZE and
    // FITHAW ignore their argument (the kernel never dereferences it), so
    // passing 0 reads or writes no memory of ours.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Freezes the filesystem `fd` is on: new writes block until it is thawed.
/// `EBUSY` when it is already frozen, `EOPNOTSUPP` when the filesystem
/// cannot be frozen (tmpfs, for one).
pub fn freeze_filesystem(fd: BorrowedFd<'_>) -> io::Result<()> {
    ioctl(fd, FIFREEZE)
}

/// Thaws the filesystem `fd` is on. `EINVAL` when it is not frozen.
pub fn thaw_filesystem(fd: BorrowedFd<'_>) -> io::Result<()> {
    ioctl(fd, FITHAW)
}
