//! Pseudo-terminal pairs, opened close-on-exec so no other child inherits them.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::pty::{PtyMaster, Winsize, grantpt, posix_openpt, ptsname_r, unlockpt};

/// A fresh terminal: envd keeps `master`; `slave` becomes the child's 0/1/2.
#[derive(Debug)]
pub struct Pty {
    /// The side envd reads output from and writes input to.
    pub master: OwnedFd,
    /// The side given to the child as its controlling terminal.
    pub slave: OwnedFd,
}

nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, Winsize);

/// Opens a pty pair of `cols` x `rows`, both ends `O_CLOEXEC`.
pub fn open_pty(cols: u16, rows: u16) -> nix::Result<Pty> {
    let master: PtyMaster = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname_r(&master)?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    // SAFETY: `into_raw_fd` gives up PtyMaster's ownership of a valid open
    // fd, so the new OwnedFd is its only owner.
    let master = unsafe { OwnedFd::from_raw_fd(master.into_raw_fd()) };
    set_window_size(master.as_fd(), cols, rows)?;
    Ok(Pty { master, slave })
}

/// Sets the terminal size; the kernel sends SIGWINCH to the foreground group.
pub fn set_window_size(master: BorrowedFd<'_>, cols: u16, rows: u16) -> nix::Result<()> {
    let ws = Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `master` is a valid open fd for the duration of the borrow and
    // TIOCSWINSZ only reads the `Winsize` we pass by reference.
    unsafe { tiocswinsz(master.as_raw_fd(), &ws) }.map(drop)
}

/// Registers a pty master with the tokio reactor in non-blocking mode.
pub fn async_master(master: OwnedFd) -> std::io::Result<tokio::io::unix::AsyncFd<std::fs::File>> {
    use nix::fcntl::{FcntlArg, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(master.as_fd(), FcntlArg::F_GETFL)?);
    fcntl(master.as_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    let file = std::fs::File::from(master);
    // SAFETY: the File owns its fd, so it stays open and refers to the same
    // description until the AsyncFd (which now owns the File) is dropped,
    // and `as_raw_fd` always returns that fd.
    unsafe { tokio::io::unix::AsyncFd::register(file) }.map_err(std::io::Error::from)
}
