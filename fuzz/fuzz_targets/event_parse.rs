#![no_main]
//! The event parser and validator over arbitrary bytes: must never panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = flightrec::event::parse_event(data) {
        // What parses must round-trip through its canonical form.
        let again = flightrec::event::parse_event(&parsed.event.to_json().unwrap());
        assert!(again.is_ok());
    }
});
