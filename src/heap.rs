//! The process's heap: large blocks go back to the system when they are freed.
//!
//! glibc's malloc serves a block of 128 KiB or more with its own `mmap`, but each time such a
//! block is freed it raises that threshold (up to 32 MiB), and from then on the large, short-
//! lived buffers of compaction (Arrow columns of a row group, Parquet pages, DuckDB's vectors)
//! are carved from the heap arenas, which keep them when they are freed: the resident set then
//! stays near its high-water mark between compaction runs and the next run's peak builds on
//! it. A fixed 1 MiB threshold keeps those buffers in their own mappings, returned when freed
//! (BENCHMARKS.md "Memory": the peak of 10M events ingested and compacted, and what the
//! mappings cost compaction). `malloc_trim` after each compaction transaction instead was
//! measured too and left most of it in place.

/// The fixed threshold: blocks this large or larger are mapped on their own.
const MMAP_THRESHOLD: i32 = 1 << 20;

/// How much free memory at the top of a heap arena is kept rather than given back. Fixing the
/// mmap threshold also fixes this at glibc's default (128 KiB), so each arena gave back its
/// top after every row group and faulted it in again for the next; keeping 8 MiB per arena
/// trades a little resident memory for that churn (figures in BENCHMARKS.md "Memory").
const TRIM_THRESHOLD: i32 = 8 << 20;

/// Makes the allocator return large freed blocks to the system (glibc on Linux; elsewhere the
/// allocator's own policy stays). Call it once at the start of `main`.
pub fn return_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets one of malloc's parameters; glibc takes its own lock for it,
        // so it is sound at any time, from any thread.
        #[allow(unsafe_code)]
        let _ = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
        // SAFETY: as above.
        #[allow(unsafe_code)]
        let _ = unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) };
    }
}

/// Gives the free memory inside every heap arena back to the system (glibc on Linux; a no-op
/// elsewhere).
pub fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes each arena's lock while it works; sound from any thread.
        #[allow(unsafe_code)]
        let _ = unsafe { libc::malloc_trim(0) };
    }
}
