//! The only module allowed `unsafe`. Each function here is a safe wrapper
//! around one OS facility, and each `unsafe` block states why it is sound.
#![allow(unsafe_code, reason = "this module owns every unsafe OS call in envd")]

mod exec;
mod fsfreeze;
mod madvise;
mod malloc;
mod pty;
mod sendfile;
mod socket;
mod spawn;
mod xattr;

pub use exec::{exec_keeping, memfd, take_inherited};
pub use fsfreeze::{freeze_filesystem, thaw_filesystem};
pub use madvise::collapse;
pub use malloc::{HeapUse, heap_use, return_large_blocks, trim_heap};
pub use pty::{Pty, async_master, open_pty, set_window_size};
pub use sendfile::sendfile;
pub use socket::recv_into;
pub use spawn::{ChildCredentials, Program, Session, Spawn, SpawnError, Step, spawn};
pub use xattr::{flist_xattrs, fremove_xattr, fset_xattr, get_xattr, list_xattrs, set_xattr};

/// Makes envd the reaper of orphaned descendants when it is not PID 1, so
/// zombies are collected either way.
pub fn become_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}
