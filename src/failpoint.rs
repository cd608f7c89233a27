//! Failpoints for crash tests: `FLIGHTREC_FAILPOINT=<name>` makes the process abort
//! (like a power cut, no destructors, no flush) when it reaches the step of that name, and
//! `<name>@<n>` when it reaches it the n-th time (a step of a later segment, e.g. while
//! the compactor records the one before on another thread).
//! Tests run a real child process with the variable set and check what a restart recovers.
//! Without the variable a failpoint costs one relaxed load of a cached value.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable naming the failpoint to trigger.
pub const ENV: &str = "FLIGHTREC_FAILPOINT";

/// The armed failpoint: its name, which hit aborts, and the hits so far.
struct Armed {
    name: String,
    nth: u64,
    hits: AtomicU64,
}

fn armed() -> &'static Option<Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED.get_or_init(|| {
        let value = std::env::var(ENV).ok().filter(|s| !s.is_empty())?;
        let (name, nth) = match value.rsplit_once('@') {
            Some((name, nth)) => (name.to_string(), nth.parse().ok().filter(|n| *n > 0).unwrap_or(1)),
            None => (value, 1),
        };
        Some(Armed { name, nth, hits: AtomicU64::new(0) })
    })
}

/// Aborts the process if the failpoint `name` is armed (and this is the hit it names).
pub fn hit(name: &str) {
    if let Some(armed) = armed()
        && armed.name == name
        && armed.hits.fetch_add(1, Ordering::Relaxed) + 1 == armed.nth
    {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}
