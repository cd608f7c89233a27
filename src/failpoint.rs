//! Failpoints for crash tests: `FLIGHTREC_FAILPOINT=<name>` makes the process abort
//! (like a power cut, no destructors, no flush) when it reaches the step of that name.
//! Tests run a real child process with the variable set and check what a restart recovers.
//! Without the variable a failpoint costs one relaxed load of a cached value.

use std::sync::OnceLock;

/// The environment variable naming the failpoint to trigger.
pub const ENV: &str = "FLIGHTREC_FAILPOINT";

fn armed() -> &'static Option<String> {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    ARMED.get_or_init(|| std::env::var(ENV).ok().filter(|s| !s.is_empty()))
}

/// Aborts the process if the failpoint `name` is armed.
pub fn hit(name: &str) {
    if armed().as_deref() == Some(name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}
