//! One OpenTelemetry log record onto one `log` event.

use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;

use super::attrs::{Attrs, bounded, hex, value_text};
use super::{Envelope, Unmappable, derived_id, nanos_to_time};
use crate::event::{Actor, Event, EventBody, MAX_LOG_BODY, OtelLog};

/// Longest severity text kept, in bytes (OTel's are words like `WARN` or `Information`).
const MAX_SEVERITY: usize = 64;

/// The event of one log record. It keeps the record's trace when it has a valid one; a record
/// outside any trace gets a trace id derived from its content (stable across retries).
pub(super) fn log_event(record: &LogRecord, resource: Attrs<'_>) -> Result<Event, Unmappable> {
    let nanos = if record.time_unix_nano != 0 { record.time_unix_nano } else { record.observed_time_unix_nano };
    let timestamp = nanos_to_time(nanos).ok_or(Unmappable::BadTimestamp("time_unix_nano"))?;
    // A record has no id of its own: its encoding is what a retry repeats.
    let encoded = record.encode_to_vec();
    let event_id = derived_id(b"log", &[&encoded]);
    let trace_id = match super::trace_uuid(&record.trace_id) {
        Ok(id) => id,
        Err(_) if record.trace_id.is_empty() => derived_id(b"log-trace", &[&encoded]),
        Err(e) => return Err(e),
    };
    let span_id = (record.span_id.len() == 8 && record.span_id.iter().any(|b| *b != 0)).then(|| hex(&record.span_id));
    let attrs = Attrs(&record.attributes);
    let body = EventBody::Log(OtelLog {
        severity: severity(record),
        body: record.body.as_ref().and_then(|b| b.value.as_ref()).map(|v| bounded(value_text(v), MAX_LOG_BODY)),
        attributes: attrs.bounded_map(super::ENVELOPE_KEYS),
        span_id: span_id.clone(),
    });
    let env = Envelope { event_id, timestamp, actor: Actor::System, trace_id, span_id, span: attrs, resource };
    Ok(env.event(body))
}

/// The severity text, else the name of the severity number's range, else `unspecified`.
fn severity(record: &LogRecord) -> String {
    if !record.severity_text.is_empty() {
        return bounded(record.severity_text.clone(), MAX_SEVERITY);
    }
    match record.severity_number {
        1..=4 => "trace",
        5..=8 => "debug",
        9..=12 => "info",
        13..=16 => "warn",
        17..=20 => "error",
        21..=24 => "fatal",
        _ => "unspecified",
    }
    .into()
}
