#![no_main]
//! WAL decoding over arbitrary segment bytes: must never panic or hang.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut n = 0u64;
    let _ = flightrec::wal::scan::scan_segment(data, &mut |rec| n += rec.json.len() as u64);
});
