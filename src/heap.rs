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

/// The huge page size the kernel's transparent huge pages use on x86-64 and most aarch64.
const HUGE_PAGE: usize = 2 << 20;

/// Asks the kernel to back the whole 2 MiB pages of `buffer`'s allocation (its capacity,
/// touched or not) with transparent huge pages, where the system leaves that to the program
/// (`madvise` mode, the usual default). Meant for a large table read at random, such as the
/// de-duplication table: with 4 KiB pages nearly every probe of a table of many MiB also
/// missed the TLB (BENCHMARKS.md "Thirteenth session"). Call it before the buffer is filled,
/// so that its pages are faulted in huge from the start. A no-op off Linux, and when the
/// kernel refuses (no huge page support): the buffer then keeps its small pages.
pub fn prefer_huge_pages<T>(buffer: &mut Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        let start = buffer.as_mut_ptr() as usize;
        let end = start.saturating_add(buffer.capacity().saturating_mul(std::mem::size_of::<T>()));
        let (first, last) = (start.next_multiple_of(HUGE_PAGE), end / HUGE_PAGE * HUGE_PAGE);
        if first < last {
            // SAFETY: MADV_HUGEPAGE only changes the size of the pages the kernel backs the
            // range with, never its contents or whether it is mapped; the range lies inside
            // the allocation `buffer` owns (and holds exclusively here), page-aligned.
            #[allow(unsafe_code)]
            let _ = unsafe { libc::madvise(first as *mut libc::c_void, last - first, libc::MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buffer;
}

/// The process allocator of flightrec's binaries: blocks under [`SMALL_LIMIT`] from mimalloc,
/// larger ones from the system allocator.
///
/// Ingest allocates and frees many small blocks on every tokio worker (request buffers,
/// parsed events, WAL payloads), often freeing on another thread than the one that
/// allocated; mimalloc serves those from per-thread free lists, without glibc's arena locks
/// and fast-bin consolidation. Larger blocks (hyper's read buffers, Arrow columns and Parquet
/// pages of compaction) stay with glibc and the thresholds [`return_large_blocks`] sets,
/// which keep the resident set in its budget: with mimalloc for every block the 10M-event
/// ingest + compaction peaked 1.6× higher, with blocks up to 32 KiB 8 % higher (BENCHMARKS.md
/// "Tenth session"). A block's size decides its allocator, and `dealloc` and `realloc` are given
/// the size it was allocated with, so each block goes back to where it came from.
#[derive(Debug, Default, Clone, Copy)]
pub struct SplitAllocator;

/// Blocks smaller than this come from mimalloc.
pub const SMALL_LIMIT: usize = 4 * 1024;

fn is_small(size: usize) -> bool {
    size < SMALL_LIMIT
}

// SAFETY: every block is allocated, reallocated and freed by the allocator its layout's size
// selects (`is_small`), and `realloc` across the limit moves the block between the two with
// the contract of `GlobalAlloc::realloc` (new block, copy of the smaller size, old one freed).
#[allow(unsafe_code)]
unsafe impl std::alloc::GlobalAlloc for SplitAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `layout` is passed on.
        unsafe {
            if is_small(layout.size()) { mimalloc::MiMalloc.alloc(layout) } else { std::alloc::System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            if is_small(layout.size()) {
                mimalloc::MiMalloc.alloc_zeroed(layout)
            } else {
                std::alloc::System.alloc_zeroed(layout)
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from the allocator this size selects (see `alloc`).
        unsafe {
            if is_small(layout.size()) {
                mimalloc::MiMalloc.dealloc(ptr, layout);
            } else {
                std::alloc::System.dealloc(ptr, layout);
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from the allocator the old size selects; a move between the two
        // allocates the new block first and frees the old one only once it is copied.
        unsafe {
            match (is_small(layout.size()), is_small(new_size)) {
                (true, true) => mimalloc::MiMalloc.realloc(ptr, layout, new_size),
                (false, false) => std::alloc::System.realloc(ptr, layout, new_size),
                _ => {
                    let new_layout = std::alloc::Layout::from_size_align_unchecked(new_size, layout.align());
                    let new = self.alloc(new_layout);
                    if !new.is_null() {
                        std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    new
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(unsafe_code, clippy::unwrap_used)]
mod tests {
    use std::alloc::{GlobalAlloc, Layout};

    use super::{SMALL_LIMIT, SplitAllocator};

    /// Fills `len` bytes at `ptr` with a pattern that depends on the index.
    unsafe fn fill(ptr: *mut u8, len: usize) {
        for i in 0..len {
            // SAFETY: the caller gives a block of at least `len` bytes.
            unsafe { ptr.add(i).write((i % 251) as u8) };
        }
    }

    /// Whether the first `len` bytes at `ptr` still hold the pattern of `fill`.
    unsafe fn holds_pattern(ptr: *const u8, len: usize) -> bool {
        // SAFETY: the caller gives a block of at least `len` bytes.
        (0..len).all(|i| unsafe { ptr.add(i).read() } == (i % 251) as u8)
    }

    #[test]
    fn blocks_keep_their_bytes_when_realloc_moves_them_across_the_limit() {
        let a = SplitAllocator;
        // Small to large to small again, through both allocators, with an alignment above
        // the default; then the same within each side.
        for (from, to, back) in [
            (100, SMALL_LIMIT * 4, 50),
            (SMALL_LIMIT - 1, SMALL_LIMIT, SMALL_LIMIT - 1),
            (64, 900, 3_000),
            (1 << 20, 2 << 20, 1 << 19),
        ] {
            let layout = Layout::from_size_align(from, 64).unwrap();
            // SAFETY: each block is used within its size and freed once with its layout.
            unsafe {
                let p = a.alloc(layout);
                assert!(!p.is_null() && (p as usize).is_multiple_of(64));
                fill(p, from);
                let q = a.realloc(p, layout, to);
                assert!(!q.is_null() && (q as usize).is_multiple_of(64));
                assert!(holds_pattern(q, from.min(to)), "{from} -> {to}");
                fill(q, to);
                let r = a.realloc(q, Layout::from_size_align(to, 64).unwrap(), back);
                assert!(holds_pattern(r, back.min(to)), "{to} -> {back}");
                a.dealloc(r, Layout::from_size_align(back, 64).unwrap());
            }
        }
    }

    #[test]
    fn zeroed_blocks_are_zero_on_both_sides_of_the_limit() {
        let a = SplitAllocator;
        for size in [1, 4_000, SMALL_LIMIT, 1 << 20] {
            let layout = Layout::from_size_align(size, 8).unwrap();
            // SAFETY: the blocks are used within their size and freed once with their layout.
            unsafe {
                // A freed block full of ones, likely the one handed out next.
                let dirty = a.alloc(layout);
                std::ptr::write_bytes(dirty, 0xFF, size);
                a.dealloc(dirty, layout);
                let p = a.alloc_zeroed(layout);
                assert!(!p.is_null());
                assert!((0..size).all(|i| p.add(i).read() == 0), "{size} bytes");
                a.dealloc(p, layout);
            }
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_large_buffers_whole_huge_pages_are_marked_for_huge_pages_and_keep_their_contents() {
        let mut table: Vec<u32> = Vec::with_capacity(3 * super::HUGE_PAGE / 4); // 6 MiB
        let start = table.as_ptr() as usize;
        let inner = start.next_multiple_of(super::HUGE_PAGE);
        let vm_flags = || crate::testing::smaps_field(inner, "VmFlags:").unwrap();
        assert!(!vm_flags().contains(" hg"), "not marked before");
        super::prefer_huge_pages(&mut table);
        assert!(vm_flags().contains(" hg"), "its first whole huge page is marked");
        table.resize(table.capacity(), u32::MAX);
        assert!(table.iter().all(|&b| b == u32::MAX) && table.as_ptr() as usize == start);

        let mut small: Vec<u32> = Vec::with_capacity(1_000);
        super::prefer_huge_pages(&mut small); // no whole huge page in it: nothing to mark
        small.push(7);
        assert_eq!(small, [7]);
    }
}
