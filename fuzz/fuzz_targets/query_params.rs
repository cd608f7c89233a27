#![no_main]
//! The query-parameter and cursor decoder of GET /v1/events: never panics; cursors round-trip.
//! The property lives in `flightrec::fuzzing::query_params`, shared with tests/fuzz_regressions.rs.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = flightrec::fuzzing::query_params(data) {
        panic!("{broken}");
    }
});
