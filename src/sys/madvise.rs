//! `madvise(MADV_COLLAPSE)` (Linux 6.1+): ask the kernel to back a range of
//! our own memory with transparent huge pages now, synchronously.

use std::io;

/// Collapses `[addr, addr + len)` of this process into huge pages.
/// `EINVAL` on kernels without `MADV_COLLAPSE`; `EAGAIN`/`ENOMEM` when the
/// kernel could not find or allocate a huge page; `ENOMEM` also when the
/// range is (no longer) mapped.
pub fn collapse(addr: usize, len: usize) -> io::Result<()> {
    let ptr = std::ptr::without_provenance_mut::<libc::c_void>(addr);
    // SAFETY: MADV_COLLAPSE changes only how the range is backed, never
    // its contents, protections or mapping: memory the rest of envd holds
    // references into reads the same bytes before and after. An address
    // that is not mapped (or no longer is) makes the call fail with
    // ENOMEM; it never touches memory itself. `addr` is an integer taken
    // from /proc/self/maps, not a pointer we dereference.
    let rc = unsafe { libc::madvise(ptr, len, libc::MADV_COLLAPSE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
