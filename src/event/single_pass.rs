//! The fast path of [`parse_event`](super::parse_event): the envelope and its payload in one
//! pass over the text.
//!
//! When `type` comes before `payload` (canonical JSON, and what clients send), the payload is
//! read straight into the struct of its type; otherwise it is kept as raw text and read once
//! the type is known. This path only says yes or no: on any failure the caller parses again
//! the reference way ([`RawEnvelope`](super::parse::RawEnvelope)), which names the bad field.
//!
//! Invariant: what this path accepts, the reference path accepts, with an equal result. It
//! asks for the same things: a JSON object, no unknown field, no field twice, every required
//! field, each value of the same type, a payload that is an object of its type's struct.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::obj::object;
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

/// A timestamp read as the envelope's `timestamp` is.
struct Timestamp(DateTime<Utc>);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::time::deserialize(d).map(Timestamp)
    }
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
            (None, Some(raw)) => read_raw_body(ty, raw)?,
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

/// A payload that came before `type`, read now that the type is known.
fn read_raw_body<E: de::Error>(ty: EventType, raw: &RawValue) -> Result<EventBody, E> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let body = BodySeed(ty).deserialize(&mut de).map_err(E::custom)?;
    de.end().map_err(E::custom)?;
    Ok(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::read_typed_envelope;
    use crate::event::parse::read_reference;

    /// Checks the invariant on one input: what the one pass accepts, the reference accepts
    /// with an equal result; and it accepts everything the reference does.
    fn agree(json: &str) -> bool {
        let fast = read_typed_envelope(json.as_bytes());
        let reference = read_reference(json.as_bytes());
        match (&fast, &reference) {
            (Some(f), Ok(r)) => assert_eq!(f, r, "{json}"),
            (None, Err(_)) => {}
            _ => panic!("the one pass says {:?}, the reference {:?}: {json}", fast.is_some(), reference.is_ok()),
        }
        fast.is_some()
    }

    /// The same object with its keys sorted: `payload` then comes before `type`.
    fn sorted_keys(json: &str) -> String {
        let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).unwrap();
        let sorted: std::collections::BTreeMap<_, _> = v.into_iter().collect();
        serde_json::to_string(&sorted).unwrap()
    }

    /// Odd variants of a valid event: each breaks one rule, or none in an unusual way.
    fn variants(json: &str) -> Vec<String> {
        let body = json.strip_prefix('{').unwrap();
        let sorted = sorted_keys(json);
        let sorted_body = sorted.strip_prefix('{').unwrap();
        vec![
            sorted.clone(),
            format!("{{\"extra\":1,{body}"),
            format!("{{\"type\":\"log\",{body}"),
            format!("{{\"job_id\":null,{body}"),
            format!("{{\"job_id\":null,{sorted_body}"),
            format!("{{\"trace_id\":null,{body}"),
            format!("{{\"payload\":{{}},{body}"),
            format!("{{\"payload\":{{}},{sorted_body}"),
            format!("{json} x"),
            format!("{json}  "),
            json.replacen("\"type\"", "\"typ\\u0065\"", 1),
            json.replacen("\"payload\":{", "\"payload\":{\"zz\":1,", 1),
            sorted.replacen("\"payload\":{", "\"payload\":{\"zz\":1,", 1),
            json.replacen("\"payload\":{", "\"payload\":[{", 1).replacen("}}", "}]}", 1),
            json.replacen("\"actor\":\"", "\"actor\":\"x", 1),
            json.replacen("\"event_id\":\"", "\"event_id\":\"0", 1),
            json.replacen("\"timestamp\":\"", "\"timestamp\":\"1", 1),
            json.replacen("\"event_id\"", "\"eventid\"", 1),
            sorted.replacen("\"type\":\"", "\"type\":\"x", 1),
            json.replacen("\"payload\":", "\"payload\":null,\"p\":", 1),
        ]
    }

    #[test]
    fn the_one_pass_accepts_what_the_reference_accepts_and_reads_it_alike() {
        let mut g = crate::workload::Generator::new(11, chrono::Utc::now(), 1_000);
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..400 {
            let json = g.next_json();
            assert!(agree(&json), "a generated event is read in one pass: {json}");
            for v in variants(&json) {
                if agree(&v) { accepted += 1 } else { refused += 1 }
            }
        }
        let samples = include_str!("../../tests/data/sample-events.ndjson");
        for line in samples.lines().filter(|l| !l.trim().is_empty()) {
            agree(line);
            for v in variants(line) {
                agree(&v);
            }
        }
        // Both kinds occur, so neither side of the invariant is checked vacuously.
        assert!(accepted > 1_000 && refused > 4_000, "accepted {accepted}, refused {refused}");
    }

    #[test]
    fn the_fuzz_regressions_agree() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/fuzz/event_parse");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let fast = read_typed_envelope(&bytes);
            let reference = read_reference(&bytes);
            if let Some(f) = fast {
                assert_eq!(Ok(f), reference);
            }
            n += 1;
        }
        assert!(n > 0);
    }
}
