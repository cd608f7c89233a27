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

/// CPU time (user and system, all threads) this process has used so far, in seconds, from
/// `/proc/self/stat`; 0 where it cannot be read. Linux counts it there in ticks of 1/100 s
/// (`USER_HZ`), so a run of a few seconds on two cores is measured to a fraction of a percent.
/// The benchmarks divide it by the events of a run: on a 2-core machine shared with others,
/// the CPU an event costs moves less from one minute to the next than the events per second.
pub fn process_cpu_seconds() -> f64 {
    cpu_seconds_in("/proc/self/stat")
}

/// CPU time the calling thread has used so far, in seconds, as [`process_cpu_seconds`] counts
/// the process's: what a load generator on a thread of its own costs, to tell apart from the
/// server it loads in the same process.
pub fn thread_cpu_seconds() -> f64 {
    cpu_seconds_in("/proc/thread-self/stat")
}

fn cpu_seconds_in(stat_file: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_file).unwrap_or_default();
    // The command name (field 2) may hold spaces and parentheses: count from after its end.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the name.
    let mut fields = after_name.split_whitespace().skip(11).map(|f| f.parse::<u64>().unwrap_or(0));
    let ticks = fields.next().unwrap_or(0) + fields.next().unwrap_or(0);
    ticks as f64 / 100.0
}

/// The CPU a run used: [`CpuSpan::start`] before it, [`CpuSpan::per_event`] after it.
#[derive(Debug, Clone, Copy)]
pub struct CpuSpan {
    cpu_at_start: f64,
    started: std::time::Instant,
}

impl CpuSpan {
    pub fn start() -> CpuSpan {
        CpuSpan { cpu_at_start: process_cpu_seconds(), started: std::time::Instant::now() }
    }

    /// Since the start: microseconds of CPU per event, and the CPUs busy on average.
    pub fn per_event(&self, events: u64) -> CpuCost {
        let cpu = (process_cpu_seconds() - self.cpu_at_start).max(0.0);
        CpuCost {
            micros_per_event: cpu * 1e6 / events.max(1) as f64,
            cpus_busy: cpu / self.started.elapsed().as_secs_f64().max(1e-9),
        }
    }
}

/// What [`CpuSpan::per_event`] measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuCost {
    pub micros_per_event: f64,
    pub cpus_busy: f64,
}

impl std::fmt::Display for CpuCost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cpu={:.2}us/event ({:.2} CPUs busy)", self.micros_per_event, self.cpus_busy)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps the calling thread's core busy for 300 ms of wall time.
    fn spin_for_300_ms() {
        let busy_until = std::time::Instant::now() + std::time::Duration::from_millis(300);
        let mut spins = 0u64;
        while std::time::Instant::now() < busy_until {
            spins = std::hint::black_box(spins + 1);
        }
    }

    #[test]
    fn a_threads_cpu_is_its_own_and_not_the_processs() {
        let busy = std::thread::spawn(|| {
            let at_start = thread_cpu_seconds();
            spin_for_300_ms();
            thread_cpu_seconds() - at_start
        });
        let idle_at_start = thread_cpu_seconds();
        let busy_seconds = busy.join().unwrap_or(f64::NAN);
        let idle_seconds = thread_cpu_seconds() - idle_at_start;
        // The spinning thread counts its own 300 ms (at least a sixth of it on a loaded
        // machine, at most all of it); the thread that only waited for it counts next to none
        // (the process's figure would count the spinner's too).
        assert!((0.05..=0.32).contains(&busy_seconds), "{busy_seconds} (NaN: the thread panicked)");
        assert!(idle_seconds < 0.03, "{idle_seconds}");
    }

    #[test]
    fn the_cpu_a_busy_thread_uses_is_counted() {
        let span = CpuSpan::start();
        spin_for_300_ms();
        let cost = span.per_event(1_000_000);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        // At least a sixth of a core for 300 ms, even on a loaded machine; at most every core
        // all along (a wrong field of /proc/self/stat reads as 0 or as a huge count).
        assert!(cost.micros_per_event >= 0.05, "{cost}");
        assert!(cost.micros_per_event <= 0.3 * cores + 0.02, "{cost}");
        assert!(cost.cpus_busy > 0.15 && cost.cpus_busy <= cores + 0.1, "{cost}");
    }
}
