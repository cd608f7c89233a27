#![no_main]
//! The NDJSON splitter: never panics, never holds a line longer than its limit.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = flightrec::ndjson::LineReader::new(std::io::BufReader::with_capacity(7, data), 64);
    let mut buf = Vec::new();
    while let Ok(Some(_)) = reader.next_line(&mut buf) {
        assert!(buf.len() <= 64);
    }
});
