#![no_main]
//! The NDJSON splitter: never panics, never holds a line longer than its limit.
//! The property lives in `flightrec::fuzzing::ndjson_lines`, shared with tests/fuzz_regressions.rs.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = flightrec::fuzzing::ndjson_lines(data) {
        panic!("{broken}");
    }
});
