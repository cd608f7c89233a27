//! The properties the fuzz targets (`fuzz/`) check, in one place so that the regression
//! test (`tests/fuzz_regressions.rs`) replays every kept input (`tests/data/fuzz/<target>/`)
//! against exactly the same code. Each returns the broken property as an error; a panic
//! inside is a bug the fuzzer reports too.

use crate::event::parse_event;
use crate::ndjson::LineReader;
use crate::query::Cursor;
use crate::query::params::parse_params;
use crate::wal::scan_segment;

/// A property over arbitrary input bytes: Err names what broke.
pub type Property = fn(&[u8]) -> Result<(), String>;

/// The fuzz targets, by name (the directory names under `fuzz/fuzz_targets` and `tests/data/fuzz`).
pub const TARGETS: [(&str, Property); 4] = [
    ("wal_scan", wal_scan),
    ("event_parse", event_parse),
    ("ndjson_lines", ndjson_lines),
    ("query_params", query_params),
];

/// WAL decoding over arbitrary segment bytes never panics or hangs, and never reports a
/// record reaching past the input.
pub fn wal_scan(data: &[u8]) -> Result<(), String> {
    let mut past_end = None;
    let _ = scan_segment(data, &mut |rec| {
        if rec.offset > data.len() as u64 || rec.json.len() > data.len() {
            past_end = Some(rec.offset);
        }
    });
    match past_end {
        Some(offset) => Err(format!("a record at offset {offset} reaches past the {} input bytes", data.len())),
        None => Ok(()),
    }
}

/// What the event parser accepts round-trips through its canonical JSON.
pub fn event_parse(data: &[u8]) -> Result<(), String> {
    let Ok(parsed) = parse_event(data) else { return Ok(()) };
    let json = parsed.event.to_json().map_err(|e| format!("an accepted event does not serialize: {e}"))?;
    parse_event(&json).map(|_| ()).map_err(|e| format!("the canonical form of an accepted event is refused: {e}"))
}

/// The NDJSON splitter never holds a line longer than its limit.
pub fn ndjson_lines(data: &[u8]) -> Result<(), String> {
    let mut reader = LineReader::new(std::io::BufReader::with_capacity(7, data), 64);
    let mut buf = Vec::new();
    while let Ok(Some(_)) = reader.next_line(&mut buf) {
        if buf.len() > 64 {
            return Err(format!("a line of {} bytes passed the 64-byte limit", buf.len()));
        }
    }
    Ok(())
}

/// The query-parameter and cursor decoder never panics, and a decoded cursor encodes back
/// to itself.
pub fn query_params(data: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(data);
    if let Ok(c) = Cursor::decode(&text)
        && Cursor::decode(&c.encode()).as_ref() != Ok(&c)
    {
        return Err(format!("cursor {text:?} does not round-trip"));
    }
    let pairs: Vec<(String, String)> = text
        .split('&')
        .map(|kv| kv.split_once('=').map_or((kv.to_string(), String::new()), |(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let _ = parse_params(&pairs);
    Ok(())
}
