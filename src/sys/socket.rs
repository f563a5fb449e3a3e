//! Reading a socket straight into a buffer that is not initialized yet,
//! for the connection type two tasks share (`server::connection`).

use std::io;
use std::os::fd::{AsFd, AsRawFd};

use tokio::io::ReadBuf;

/// One `recv(2)` into the unfilled part of `buf`; `Ok(0)` is end of
/// stream. `WouldBlock` when nothing is there.
pub fn recv_into(socket: &impl AsFd, buf: &mut ReadBuf<'_>) -> io::Result<usize> {
    // SAFETY: nothing is written through this slice but the bytes recv
    // stores; no initialized byte is ever de-initialized.
    let unfilled = unsafe { buf.unfilled_mut() };
    // SAFETY: the pointer and length describe `unfilled`, memory we hold
    // exclusively for this call; recv writes at most that many bytes
    // through the raw pointer (no reference to uninitialized bytes is
    // made) and returns how many it wrote, or -1 having written none.
    let n = unsafe {
        libc::recv(
            socket.as_fd().as_raw_fd(),
            unfilled.as_mut_ptr().cast(),
            unfilled.len(),
            libc::MSG_DONTWAIT,
        )
    };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    // SAFETY: the kernel initialized the first `n` bytes of `unfilled`.
    unsafe { buf.assume_init(n) };
    buf.advance(n);
    Ok(n)
}
