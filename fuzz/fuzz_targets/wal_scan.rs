#![no_main]
//! WAL decoding over arbitrary segment bytes: never panics or hangs.
//! The property lives in `flightrec::fuzzing::wal_scan`, shared with tests/fuzz_regressions.rs.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = flightrec::fuzzing::wal_scan(data) {
        panic!("{broken}");
    }
});
