//! glibc's allocator, tuned so memory freed after a large request goes
//! back to the system.
//!
//! By default glibc raises its mmap threshold to the size of the largest
//! block freed (up to 32 MiB), so after one 16 MiB message every later
//! large buffer lands in an arena heap; and a heap keeps free pages below
//! its top chunk until `malloc_trim` releases them. Measured on the
//! requests of `tests/it/message_limits.rs::memory_goes_back_after_large_requests`
//! (gzip bombs and 15 MiB messages), envd stayed 55 MiB above its idle
//! size with glibc's defaults, 46 MiB with trims alone, ~10 MiB with the
//! fixed threshold alone, and returns to within 0.1 MiB of it with both
//! (the trims are `host::heap`'s).

/// The size from which glibc maps a block on its own: the buffers of hot
/// paths (64–256 KiB) stay on the heap, messages are mapped and unmapped.
const MMAP_THRESHOLD: libc::c_int = 1 << 20;

/// Fixes the mmap threshold (which also stops glibc moving its trim
/// threshold). Call once, before other threads start.
pub fn return_large_blocks() {
    // SAFETY: mallopt only sets allocator parameters; M_MMAP_THRESHOLD
    // with a value within glibc's bounds (at most 32 MiB on 64-bit) is
    // always accepted, and it is called before any other thread exists.
    let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
    debug_assert_eq!(ok, 1, "mallopt(M_MMAP_THRESHOLD) refused");
}

/// What the allocator's heaps hold: bytes in use and bytes free
/// (resident or not); mapped blocks are not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapUse {
    /// Allocated from the heaps.
    pub used: usize,
    /// Free in the heaps.
    pub free: usize,
}

/// Counts the heaps now.
pub fn heap_use() -> HeapUse {
    // SAFETY: mallinfo2 takes no arguments and returns a plain struct by
    // value; it locks each arena while it counts, so it is thread-safe.
    let info = unsafe { libc::mallinfo2() };
    HeapUse {
        used: info.uordblks,
        free: info.fordblks,
    }
}

/// Returns the free pages of every heap to the system (`MADV_DONTNEED`
/// on whole free pages; live memory is untouched).
pub fn trim_heap() {
    // SAFETY: malloc_trim only releases pages no allocation uses; it
    // locks each arena itself, so it may run beside other threads.
    unsafe { libc::malloc_trim(0) };
}
