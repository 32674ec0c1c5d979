//! How the process keeps memory between invocations.

/// glibc hands freed memory at the top of the heap back to the kernel once more than 128 KiB of
/// it is free (`M_TRIM_THRESHOLD`), so every invocation's multi-megabyte event, record and
/// output buffers are mapped and zero-filled again, page fault by page fault. A Lambda
/// execution environment's memory belongs to this one process: keep it. Measured with the
/// bench: about 15% more records/s, same peak RSS (the peak is set by the largest batch either
/// way).
///
/// Fastbins are turned off too (`M_MXFAST` 0): every large request (a chunk's list of results)
/// first merged all the small blocks freed since (`malloc_consolidate`, 4-6% of the bench's
/// profile); without fastbins small blocks are merged as they are freed, and the per-thread
/// cache still serves the common sizes. A small gain (1-2% records/s), kept because it is free.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator parameter; called once at start-up, before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
        libc::mallopt(libc::M_MXFAST, 0);
    }
}
