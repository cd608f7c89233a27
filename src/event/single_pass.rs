//! The fast path of [`parse_event`](super::parse_event): the envelope and its payload in one
//! pass over the text.
//!
//! When `type` comes before `payload` (canonical JSON, and what clients send), the payload is
//! read straight into the struct of its type; otherwise it is kept as raw text and read once
//! the type is known. This path only says yes or no: on any failure the caller parses again
//! the reference way (the derived `RawEnvelope` of `parse.rs`), which names the bad
//! field.
//!
//! Invariant: what this path accepts, the reference path accepts, with an equal result. It
//! asks for the same things: a JSON object, no unknown field, no field twice, every required
//! field, each value of the same type, a payload that is an object of its type's struct.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::obj::object;
use super::time::Timestamp;
use super::{Actor, Event, EventBody, EventType};

/// An event as read, before `trace_id` is settled: `event.trace_id` is the nil UUID until
/// [`parse_event`](super::parse_event) sets the one sent or assigns one.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct TypedEnvelope {
    pub event: Event,
    /// The `trace_id` as sent.
    pub trace_id: Option<Uuid>,
}

/// Reads one event in one pass, or `None` when it is not a valid shape (or not UTF-8).
pub(super) fn read_typed_envelope(json: &[u8]) -> Option<TypedEnvelope> {
    let text = std::str::from_utf8(json).ok()?;
    let mut de = serde_json::Deserializer::from_str(text);
    let envelope = de.deserialize_map(EnvelopeVisitor).ok()?;
    de.end().ok()?;
    Some(envelope)
}

/// Reads a payload of type `.0` (a JSON object of that type's struct) as its [`EventBody`].
pub(super) struct BodySeed(pub EventType);

impl<'de> DeserializeSeed<'de> for BodySeed {
    type Value = EventBody;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<EventBody, D::Error> {
        Ok(match self.0 {
            EventType::TerminalCommand => EventBody::TerminalCommand(object(d)?),
            EventType::EditorEdit => EventBody::EditorEdit(object(d)?),
            EventType::Diagnostic => EventBody::Diagnostic(object(d)?),
            EventType::DebugBundleExport => EventBody::DebugBundleExport(object(d)?),
            EventType::LlmInference => EventBody::LlmInference(object(d)?),
            EventType::ToolCall => EventBody::ToolCall(object(d)?),
            EventType::WorkflowRecovery => EventBody::WorkflowRecovery(object(d)?),
            EventType::JobLifecycle => EventBody::JobLifecycle(object(d)?),
            EventType::CapabilityDecision => EventBody::CapabilityDecision(object(d)?),
            EventType::Span => EventBody::Span(object(d)?),
            EventType::Log => EventBody::Log(object(d)?),
        })
    }
}

/// The envelope's keys; any other key is refused, as `deny_unknown_fields` refuses it.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    Type,
    EventId,
    Timestamp,
    Actor,
    TraceId,
    JobId,
    ModelId,
    ModelSessionId,
    Wsids,
    ActivitySpanId,
    SessionSpanId,
    CapabilityId,
    PolicyDecisionId,
    Payload,
}

/// A field's value as read; `Some` once the key was seen (so a second one is refused, even
/// after a `null`).
type Seen<T> = Option<T>;

#[derive(Default)]
struct Slots<'de> {
    ty: Seen<EventType>,
    event_id: Seen<Uuid>,
    timestamp: Seen<Timestamp>,
    actor: Seen<Actor>,
    trace_id: Seen<Option<Uuid>>,
    job_id: Seen<Option<String>>,
    model_id: Seen<Option<String>>,
    model_session_id: Seen<Option<String>>,
    wsids: Seen<Option<Vec<String>>>,
    activity_span_id: Seen<Option<String>>,
    session_span_id: Seen<Option<String>>,
    capability_id: Seen<Option<String>>,
    policy_decision_id: Seen<Option<String>>,
    body: Seen<EventBody>,
    raw_payload: Seen<&'de RawValue>,
}

/// Stores the next value in `slot`, refusing a key given twice.
fn put<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    slot: &mut Seen<T>,
    name: &'static str,
) -> Result<(), A::Error> {
    let value = map.next_value()?;
    match slot.replace(value) {
        Some(_) => Err(de::Error::duplicate_field(name)),
        None => Ok(()),
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = TypedEnvelope;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TypedEnvelope, A::Error> {
        let mut s = Slots::default();
        while let Some(key) = map.next_key::<Field>()? {
            match key {
                Field::Type => put(&mut map, &mut s.ty, "type")?,
                Field::EventId => put(&mut map, &mut s.event_id, "event_id")?,
                Field::Timestamp => put(&mut map, &mut s.timestamp, "timestamp")?,
                Field::Actor => put(&mut map, &mut s.actor, "actor")?,
                Field::TraceId => put(&mut map, &mut s.trace_id, "trace_id")?,
                Field::JobId => put(&mut map, &mut s.job_id, "job_id")?,
                Field::ModelId => put(&mut map, &mut s.model_id, "model_id")?,
                Field::ModelSessionId => put(&mut map, &mut s.model_session_id, "model_session_id")?,
                Field::Wsids => put(&mut map, &mut s.wsids, "wsids")?,
                Field::ActivitySpanId => put(&mut map, &mut s.activity_span_id, "activity_span_id")?,
                Field::SessionSpanId => put(&mut map, &mut s.session_span_id, "session_span_id")?,
                Field::CapabilityId => put(&mut map, &mut s.capability_id, "capability_id")?,
                Field::PolicyDecisionId => put(&mut map, &mut s.policy_decision_id, "policy_decision_id")?,
                Field::Payload => read_payload(&mut map, &mut s)?,
            }
        }
        s.finish()
    }
}

/// The payload: typed now when `type` came first, kept raw otherwise.
fn read_payload<'de, A: MapAccess<'de>>(map: &mut A, s: &mut Slots<'de>) -> Result<(), A::Error> {
    if s.body.is_some() || s.raw_payload.is_some() {
        return Err(de::Error::duplicate_field("payload"));
    }
    match s.ty {
        Some(ty) => s.body = Some(map.next_value_seed(BodySeed(ty))?),
        None => s.raw_payload = Some(map.next_value()?),
    }
    Ok(())
}

impl Slots<'_> {
    fn finish<E: de::Error>(self) -> Result<TypedEnvelope, E> {
        let ty = self.ty.ok_or_else(|| E::missing_field("type"))?;
        let body = match (self.body, self.raw_payload) {
            (Some(body), _) => body,
            (None, Some(raw)) => read_body_text(ty, raw.get()).map_err(E::custom)?,
            (None, None) => return Err(E::missing_field("payload")),
        };
        let event = Event {
            event_id: self.event_id.ok_or_else(|| E::missing_field("event_id"))?,
            timestamp: self.timestamp.ok_or_else(|| E::missing_field("timestamp"))?.0,
            actor: self.actor.ok_or_else(|| E::missing_field("actor"))?,
            trace_id: Uuid::nil(),
            job_id: self.job_id.flatten(),
            model_id: self.model_id.flatten(),
            model_session_id: self.model_session_id.flatten(),
            wsids: self.wsids.flatten(),
            activity_span_id: self.activity_span_id.flatten(),
            session_span_id: self.session_span_id.flatten(),
            capability_id: self.capability_id.flatten(),
            policy_decision_id: self.policy_decision_id.flatten(),
            body,
        };
        Ok(TypedEnvelope { event, trace_id: self.trace_id.flatten() })
    }
}

/// Reads `text`, all of it, as a payload of type `ty`: for a payload that came before `type`,
/// and for the reference reader's first try.
pub(super) fn read_body_text(ty: EventType, text: &str) -> Result<EventBody, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let body = BodySeed(ty).deserialize(&mut de)?;
    de.end()?;
    Ok(body)
}
