//! OpenTelemetry traces and logs onto FR-EVT events (docs/otlp.md has the table).
//!
//! This module is the mapping only: it takes decoded OTLP export requests and returns the
//! events to record plus what it could not map, with a reason. Decoding the HTTP body and
//! answering the exporter is the server's (`server::otlp`).
//!
//! Invariants:
//! - The same span (trace id, span id) or the same log record always gives the same
//!   `event_id`, so a retried export is a duplicate, not a second copy.
//! - Prompts, responses, tool arguments and results (the attributes of
//!   [`attrs::CONTENT_KEYS`], and the content events of older instrumentations) are never put
//!   in an event: only their sha256.
//! - Every string is bounded ([`crate::event::MAX_ATTRIBUTE_VALUE`], a log body
//!   [`crate::event::MAX_LOG_BODY`]) and cut so no partial secret is left for the redactor to
//!   miss; the recorder's redactor runs over every string (attributes included) as for any event.

pub mod attrs;
mod logs;
mod spans;

use chrono::{DateTime, Utc};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::resource::v1::Resource;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::event::{Actor, Event, EventBody};
use attrs::Attrs;

/// Attributes that become envelope fields, so a `span`'s or `log`'s map does not repeat them.
const ENVELOPE_KEYS: &[&str] = &["flightrec.job_id", "flightrec.wsid", "gen_ai.conversation.id"];
/// Reasons listed in one `error_message`; the count covers them all.
const MAX_REASONS: usize = 5;

/// Why a span or log record cannot become an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unmappable {
    #[error("{0} is missing or not a valid id (16 bytes for a trace id, 8 for a span id, not all zero)")]
    BadId(&'static str),
    #[error("{0} is missing or out of range")]
    BadTimestamp(&'static str),
}

/// The events of one export and what was left out.
#[derive(Debug, Default)]
pub struct Mapped {
    pub events: Vec<Event>,
    /// Spans or log records that could not be mapped.
    pub rejected: u64,
    /// The first few reasons, for the response's `error_message`.
    pub reasons: Vec<String>,
}

impl Mapped {
    fn reject(&mut self, what: &str, index: usize, why: &Unmappable) {
        self.rejected += 1;
        if self.reasons.len() < MAX_REASONS {
            self.reasons.push(format!("{what} {index}: {why}"));
        }
    }

    /// The reasons as one message (empty when nothing was rejected).
    pub fn error_message(&self) -> String {
        let mut msg = self.reasons.join("; ");
        if self.rejected > self.reasons.len() as u64 {
            msg.push_str(&format!("; and {} more", self.rejected - self.reasons.len() as u64));
        }
        msg
    }
}

/// Every span of an export, in order.
pub fn map_traces(req: &ExportTraceServiceRequest) -> Mapped {
    let spans = req.resource_spans.iter().flat_map(|rs| {
        let resource = resource_attrs(rs.resource.as_ref());
        rs.scope_spans.iter().flat_map(|ss| &ss.spans).map(move |span| (span, resource))
    });
    map_each("span", spans, spans::span_event)
}

/// Every log record of an export, in order.
pub fn map_logs(req: &ExportLogsServiceRequest) -> Mapped {
    let records = req.resource_logs.iter().flat_map(|rl| {
        let resource = resource_attrs(rl.resource.as_ref());
        rl.scope_logs.iter().flat_map(|sl| &sl.log_records).map(move |record| (record, resource))
    });
    map_each("log record", records, logs::log_event)
}

fn resource_attrs(resource: Option<&Resource>) -> Attrs<'_> {
    Attrs(resource.map_or(&[], |r| r.attributes.as_slice()))
}

/// Maps each item with its resource's attributes, counting the ones that cannot be mapped.
fn map_each<'a, T: 'a>(
    what: &str,
    items: impl Iterator<Item = (&'a T, Attrs<'a>)>,
    map: fn(&T, Attrs<'_>) -> Result<Event, Unmappable>,
) -> Mapped {
    let mut out = Mapped::default();
    for (index, (item, resource)) in items.enumerate() {
        match map(item, resource) {
            Ok(e) => out.events.push(e),
            Err(why) => out.reject(what, index, &why),
        }
    }
    out
}

/// The envelope fields every mapped event shares.
struct Envelope<'a> {
    event_id: Uuid,
    timestamp: DateTime<Utc>,
    actor: Actor,
    trace_id: Uuid,
    span_id: Option<String>,
    /// The span's or record's attributes.
    span: Attrs<'a>,
    /// The resource's attributes.
    resource: Attrs<'a>,
}

impl Envelope<'_> {
    fn event(self, body: EventBody) -> Event {
        let job_id = self.span.text(&["flightrec.job_id"]).or_else(|| self.resource.text(&["flightrec.job_id"]));
        let wsids = self.span.texts(&["flightrec.wsid"]).or_else(|| self.resource.texts(&["flightrec.wsid"]));
        let mut event = Event::new(body, self.actor);
        event.event_id = self.event_id;
        event.timestamp = self.timestamp;
        event.trace_id = self.trace_id;
        event.job_id = job_id;
        event.model_session_id = self.span.text(&["gen_ai.conversation.id"]);
        event.wsids = wsids;
        event.activity_span_id = self.span_id;
        event
    }
}

/// A UUID (version 8) from the sha256 of a domain and the given parts, each length-prefixed.
fn derived_id(domain: &[u8], parts: &[&[u8]]) -> Uuid {
    let mut h = Sha256::new();
    h.update(b"flightrec-otlp/");
    h.update(domain);
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// An OTel trace id (16 bytes, not all zero) as the UUID with the same bytes.
fn trace_uuid(id: &[u8]) -> Result<Uuid, Unmappable> {
    let bytes: [u8; 16] = id.try_into().map_err(|_| Unmappable::BadId("trace_id"))?;
    let uuid = Uuid::from_bytes(bytes);
    if uuid.is_nil() {
        return Err(Unmappable::BadId("trace_id"));
    }
    Ok(uuid)
}

/// Nanoseconds since the epoch as a UTC time with whole microseconds; `None` for 0 (unset)
/// and for times FR-EVT cannot represent (after year 9999).
fn nanos_to_time(nanos: u64) -> Option<DateTime<Utc>> {
    if nanos == 0 {
        return None;
    }
    let t = DateTime::from_timestamp_micros(i64::try_from(nanos / 1_000).ok()?)?;
    crate::event::time::is_representable(&t).then_some(t)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests;
