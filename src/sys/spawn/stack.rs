//! The stack a vfork-style child runs on until it execs: mapped once per
//! thread (with a guard page below it) and reused, so a spawn maps and
//! unmaps nothing (an munmap in a multi-threaded process costs a TLB
//! shootdown on every CPU running envd).

use std::cell::Cell;
use std::ffi::c_void;
use std::io;
use std::ptr::NonNull;

/// Usable bytes; the child needs a few KiB (its largest frame holds a
/// `PATH_MAX` buffer for `getcwd`).
const SIZE: usize = 64 * 1024;

/// A mapped stack; unmapped on drop.
#[derive(Debug)]
pub(super) struct Stack {
    base: NonNull<c_void>,
    len: usize,
}

thread_local! {
    /// The calling thread's stack. A thread is suspended while its child
    /// uses it (`CLONE_VFORK`), so one per thread is enough.
    static SPARE: Cell<Option<Stack>> = const { Cell::new(None) };
}

impl Stack {
    fn map() -> io::Result<Self> {
        // SAFETY: sysconf only reads a constant.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .unwrap_or(4096)
            .max(4096);
        let len = SIZE + page;
        // SAFETY: an anonymous private mapping at an address of the
        // kernel's choosing touches no existing memory.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = Self {
            base: NonNull::new(base).ok_or_else(|| io::Error::other("mmap returned null"))?,
            len,
        };
        // SAFETY: the lowest page of the mapping just made (and owned by
        // `stack`) becomes the guard page; nothing references it.
        if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// The initial stack pointer: the end of the mapping (stacks grow
    /// down on every Linux architecture envd targets), page aligned.
    pub(super) fn top(&self) -> *mut c_void {
        // SAFETY: `len` is the size of the mapping, so this is one past its
        // end, which is in bounds for pointer arithmetic.
        unsafe { self.base.as_ptr().cast::<u8>().add(self.len).cast() }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` describe a mapping this value owns and no
        // child runs on it any more (the owning thread is not in a spawn).
        unsafe { libc::munmap(self.base.as_ptr(), self.len) };
    }
}

/// Runs `f` with this thread's child stack, mapping it on first use.
pub(super) fn with_stack<R>(f: impl FnOnce(&Stack) -> R) -> io::Result<R> {
    let stack = match SPARE.try_with(Cell::take).ok().flatten() {
        Some(stack) => stack,
        None => Stack::map()?,
    };
    let result = f(&stack);
    // During thread teardown the slot is gone and the stack is dropped.
    SPARE.try_with(move |spare| spare.set(Some(stack))).ok();
    Ok(result)
}
