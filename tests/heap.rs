//! `flightrec::heap::return_large_blocks`: large blocks freed go back to the system, even
//! after glibc would have raised its mmap threshold (the only test of this binary, so no other
//! thread allocates while the resident set is read).

#![allow(clippy::unwrap_used)]

/// RssAnon of this process, in MiB.
fn anon_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib / 1024
}

#[test]
fn freed_large_blocks_leave_the_resident_set() {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        println!("SKIPPED: glibc only");
        return;
    }
    flightrec::heap::return_large_blocks();
    // Without the fixed threshold, freeing this 8 MiB block would raise it above 2 MiB...
    drop(std::hint::black_box(vec![1u8; 8 << 20]));
    let before = anon_mib();
    // ...and these 2 MiB blocks would come from the heap and stay there once freed (the last
    // one, still held, keeps the heap from being trimmed at its top).
    let blocks: Vec<Vec<u8>> = (0..48).map(|i| std::hint::black_box(vec![i as u8 + 1; 2 << 20])).collect();
    let held = anon_mib();
    assert!(held >= before + 80, "the blocks are resident: {before} -> {held} MiB");
    let mut blocks = blocks;
    let last = blocks.pop();
    drop(blocks);
    let after = anon_mib();
    assert!(after <= before + 16, "freed blocks left the resident set: {before} -> {held} -> {after} MiB");
    drop(last);
}
