#![no_main]
//! The event parser and validator over arbitrary bytes: never panics; what parses round-trips.
//! The property lives in `flightrec::fuzzing::event_parse`, shared with tests/fuzz_regressions.rs.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = flightrec::fuzzing::event_parse(data) {
        panic!("{broken}");
    }
});
