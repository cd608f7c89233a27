//! What every benchmark reports its figures with.

/// The value at fraction `p` (0 to 1) of a sorted slice, by nearest rank below; the
/// default when it is empty. Every benchmark reports percentiles and medians with it.
pub fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    sorted.get(((sorted.len() as f64 - 1.0) * p) as usize).copied().unwrap_or_default()
}

/// The start of the one-hour window of repetition `i` of the query benchmark (the same for
/// flightrec and its baselines).
pub fn page_start(start: chrono::DateTime<chrono::Utc>, days: u32, i: usize) -> chrono::DateTime<chrono::Utc> {
    start + chrono::Duration::hours((i as i64 * 7919) % (i64::from(days) * 24 - 1))
}

/// The peak resident set size of this process so far (VmHWM), in MB.
pub fn peak_rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

/// Resets the peak resident set size to the current one (`/proc/self/clear_refs`), so the next
/// [`peak_rss_mb`] measures from here; nothing happens where the kernel does not allow it.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A random (version 4) event id from a thread-local generator: `Uuid::new_v4` makes a
/// `getrandom` system call each time (6 % of the CPU of a 256-writer ingest run), which would
/// count the load generator's cost as flightrec's. The product keeps `new_v4` for the ids it
/// assigns, which must not be predictable.
pub fn fresh_id() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid()
}
