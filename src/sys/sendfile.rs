//! `sendfile(2)`: file bytes to a socket without passing through envd's
//! memory, for downloads (`server::sendfile`).

use std::io;
use std::os::fd::{AsFd, AsRawFd};

/// Sends up to `count` bytes of `file` starting at `offset` to `socket`.
/// The file's own offset is not used or moved. `Ok(0)` means `offset` is
/// at or past the end of the file; `WouldBlock` when a non-blocking
/// socket is full.
pub fn sendfile(
    socket: &impl AsFd,
    file: &impl AsFd,
    offset: u64,
    count: usize,
) -> io::Result<usize> {
    let mut offset =
        libc::off_t::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
    // SAFETY: both descriptors are borrowed open fds for the whole call;
    // `offset` is a valid, exclusively borrowed off_t the kernel may
    // update; no memory of ours is read or written otherwise.
    let n = unsafe {
        libc::sendfile(
            socket.as_fd().as_raw_fd(),
            file.as_fd().as_raw_fd(),
            &raw mut offset,
            count,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}
