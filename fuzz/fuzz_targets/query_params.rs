#![no_main]
//! The query-parameter and cursor decoder of GET /v1/events: never panics, and whatever a
//! cursor decodes to encodes back to the same cursor.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(c) = flightrec::query::Cursor::decode(&text) {
        assert_eq!(flightrec::query::Cursor::decode(&c.encode()), Ok(c));
    }
    let pairs: Vec<(String, String)> = text
        .split('&')
        .map(|kv| kv.split_once('=').map_or((kv.to_string(), String::new()), |(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let _ = flightrec::query::params::parse_params(&pairs);
});
