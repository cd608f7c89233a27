//! The ingest path up to the WAL: parse and validate (crate::event), redact (crate::redact),
//! encode as a WAL payload. Nothing reaches the WAL without passing through here, so no
//! secret the redactor knows is ever written to disk.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::event::{Event, InvalidEvent, parse_event};
use crate::redact::Redactor;
use crate::wal::write_event_payload;

/// An event ready for the WAL.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub event_id: Uuid,
    pub trace_id: Uuid,
    /// When the event says it happened.
    pub timestamp: DateTime<Utc>,
    /// The recorder assigned the trace_id (the caller sent none).
    pub trace_id_assigned: bool,
    /// The redactor replaced at least one secret.
    pub redacted: bool,
    /// The WAL payload: kind, flags, canonical JSON.
    pub payload: Vec<u8>,
}

/// Largest event accepted, in bytes of JSON. Events carry references and hashes, never raw
/// content, so a larger one is a mistake (or an attack), not a record.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// How far in the future an event may be dated, by default. Retention drops whole segments
/// by their newest event, so one event dated in the year 9999 would keep its segment, and
/// every event in it, for ever.
pub const DEFAULT_MAX_FUTURE_SKEW: chrono::Duration = chrono::Duration::days(1);

/// Refuses an event dated more than `max_skew` after `now` (`HSK-400-INVALID-EVENT` on
/// `timestamp`).
pub fn check_future_skew(p: &Prepared, now: DateTime<Utc>, max_skew: chrono::Duration) -> Result<(), InvalidEvent> {
    match now.checked_add_signed(max_skew) {
        Some(limit) if p.timestamp > limit => Err(InvalidEvent::new(
            "timestamp",
            format!(
                "{} is more than {} s ahead of this recorder's clock ({}); fix the sender's clock, \
                 or raise --max-future-skew",
                crate::event::time::format_rfc3339(&p.timestamp),
                max_skew.num_seconds(),
                crate::event::time::format_rfc3339(&now)
            ),
        )),
        _ => Ok(()),
    }
}

/// Parses, validates and redacts one JSON event.
pub fn prepare_json(redactor: &Redactor, json: &[u8]) -> Result<Prepared, InvalidEvent> {
    if json.len() > MAX_EVENT_BYTES {
        let reason = format!(
            "the event is {} bytes; the limit is {MAX_EVENT_BYTES} (store large content elsewhere and record a *_ref)",
            json.len()
        );
        return Err(InvalidEvent::new("", reason));
    }
    let parsed = parse_event(json)?;
    // The canonical JSON is about as long as the input, plus an assigned trace_id.
    finish(redactor, parsed.event, parsed.trace_id_assigned, json.len() + TRACE_ID_FIELD_LEN)
}

/// Validates and redacts an event built in Rust.
pub fn prepare_event(redactor: &Redactor, event: Event) -> Result<Prepared, InvalidEvent> {
    event.validate()?;
    finish(redactor, event, false, TYPED_EVENT_JSON_HINT)
}

/// `,"trace_id":"<uuid>"`.
const TRACE_ID_FIELD_LEN: usize = 50;

/// Room reserved for the JSON of an event built in Rust: enough for most events, so that
/// writing one rarely reallocates and copies it, and no more, since each payload keeps its
/// capacity while it waits in the WAL queue (the sizes: BENCHMARKS.md, "Fourteenth session").
const TYPED_EVENT_JSON_HINT: usize = 768;

fn finish(
    redactor: &Redactor,
    mut event: Event,
    trace_id_assigned: bool,
    json_len_hint: usize,
) -> Result<Prepared, InvalidEvent> {
    let mut redacted = false;
    event.for_each_string_mut(&mut |s| redacted |= redactor.redact_in_place(s));
    // After the per-string pass, so a value with a known shape keeps its specific kind.
    event.for_each_argv_mut(&mut |program, args| redacted |= redactor.redact_args(program, args));
    let payload = write_event_payload(redacted, event.event_id, json_len_hint, |out| event.write_json(out))
        .map_err(|e| InvalidEvent::new("", format!("the event cannot be encoded: {e}")))?;
    Ok(Prepared {
        event_id: event.event_id,
        trace_id: event.trace_id,
        timestamp: event.timestamp,
        trace_id_assigned,
        redacted,
        payload,
    })
}
