//! Strict parsing of one JSON event: shape (serde, `deny_unknown_fields` everywhere), then
//! `trace_id` assignment, then [`Event::validate`].
//!
//! The envelope is read first with the payload kept as raw JSON text, so `type` may appear
//! anywhere in the object; the payload is then read as the struct of that type.
//!
//! Speed: the happy path runs plain `serde_json` with no path tracking (which would allocate a
//! `String` per key). Only when that fails is the same input parsed again through
//! `serde_path_to_error` to name the bad field; both passes are deterministic, so the second
//! fails where the first did.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeSeed;
use serde_json::error::Category;
use serde_json::value::RawValue;
use serde_path_to_error::Segment;
use uuid::Uuid;

use super::obj::Obj;
use super::single_pass::{BodySeed, TypedEnvelope, read_body_text, read_typed_envelope};
use super::{Actor, Event, EventBody, EventType, InvalidEvent};

/// A parsed, valid event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEvent {
    /// The event, `trace_id` always set.
    pub event: Event,
    /// The input had no `trace_id` and the parser assigned a fresh one.
    pub trace_id_assigned: bool,
}

/// The envelope as sent, with the payload still unparsed. Its schema is the OpenAPI
/// document's `Event` (the payload's shape, checked per type, is FR-EVT.md's).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename = "Event")]
#[schema(as = Event, description = "An FR-EVT event (see FR-EVT.md); the recorder validates the payload of each type.")]
pub(crate) struct RawEnvelope<'a> {
    #[serde(rename = "type")]
    #[schema(inline)]
    ty: EventType,
    #[schema(value_type = String, format = "uuid")]
    event_id: Uuid,
    #[serde(deserialize_with = "super::time::deserialize")]
    timestamp: DateTime<Utc>,
    #[schema(inline)]
    actor: Actor,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = "uuid", nullable = false)]
    trace_id: Option<Uuid>,
    #[serde(default)]
    #[schema(nullable = false)]
    job_id: Option<String>,
    #[serde(default)]
    #[schema(nullable = false)]
    model_id: Option<String>,
    #[serde(default)]
    #[schema(nullable = false)]
    model_session_id: Option<String>,
    #[serde(default)]
    #[schema(nullable = false)]
    wsids: Option<Vec<String>>,
    #[serde(default)]
    #[schema(nullable = false)]
    activity_span_id: Option<String>,
    #[serde(default)]
    #[schema(nullable = false)]
    session_span_id: Option<String>,
    #[serde(default)]
    #[schema(nullable = false)]
    capability_id: Option<String>,
    #[serde(default)]
    #[schema(nullable = false)]
    policy_decision_id: Option<String>,
    #[serde(borrow)]
    #[schema(value_type = Object)]
    payload: &'a RawValue,
}

/// Parses and validates one event (one JSON object, UTF-8), assigning a fresh `trace_id` when
/// it is absent and the type allows that.
///
/// Never panics.
///
/// # Errors
/// [`InvalidEvent`] naming the bad field by its JSON path and saying what is wrong.
pub fn parse_event(json: &[u8]) -> Result<ParsedEvent, InvalidEvent> {
    // One pass when the shape is right; the reference reader names what is wrong otherwise.
    let raw = match read_typed_envelope(json) {
        Some(envelope) => envelope,
        None => read_reference(json)?,
    };
    let TypedEnvelope { mut event, trace_id } = raw;
    let trace_id_assigned = match trace_id {
        Some(id) => {
            event.trace_id = id;
            false
        }
        None if event.event_type().requires_trace_id() => {
            return Err(InvalidEvent::new("trace_id", format!("required for {} events", event.event_type())));
        }
        None => {
            event.trace_id = Uuid::new_v4();
            true
        }
    };
    event.validate()?;
    Ok(ParsedEvent { event, trace_id_assigned })
}

/// The reference reader: the envelope with the payload as raw text, then the payload as the
/// struct of its type; each error names its field.
pub(super) fn read_reference(json: &[u8]) -> Result<TypedEnvelope, InvalidEvent> {
    let raw: RawEnvelope<'_> = read(json, "")?;
    let body = read_body(raw.ty, raw.payload.get())?;
    let event = Event {
        event_id: raw.event_id,
        timestamp: raw.timestamp,
        actor: raw.actor,
        trace_id: Uuid::nil(),
        job_id: raw.job_id,
        model_id: raw.model_id,
        model_session_id: raw.model_session_id,
        wsids: raw.wsids,
        activity_span_id: raw.activity_span_id,
        session_span_id: raw.session_span_id,
        capability_id: raw.capability_id,
        policy_decision_id: raw.policy_decision_id,
        body,
    };
    Ok(TypedEnvelope { event, trace_id: raw.trace_id })
}

/// Reads a payload as the struct of `ty`; errors name the path under `payload`.
fn read_body(ty: EventType, text: &str) -> Result<EventBody, InvalidEvent> {
    let first = match read_body_text(ty, text) {
        Ok(body) => return Ok(body),
        Err(e) => e,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let mut track = serde_path_to_error::Track::new();
    let again = BodySeed(ty).deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track));
    Err(match again {
        Err(e) => describe("payload", track.path().iter(), &e),
        // The value itself was fine: `first` is about what follows it (trailing characters).
        Ok(_) => describe("payload", [].iter(), &first),
    })
}

/// Reads one JSON object as `T`; errors name the path, starting with `prefix`.
fn read<'de, T: Deserialize<'de>>(bytes: &'de [u8], prefix: &str) -> Result<T, InvalidEvent> {
    match std::str::from_utf8(bytes) {
        Ok(text) => read_str(text, prefix),
        // Not UTF-8: the slice parser names the offending string.
        Err(_) => {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            Obj::<T>::deserialize(&mut de)
                .and_then(|v| de.end().map(|()| v.0))
                .map_err(|e| locate::<T>(bytes, prefix, &e))
        }
    }
}

/// [`read`] of text known to be UTF-8: the whole is checked once (by the caller) rather than
/// each string as the parser meets it.
fn read_str<'de, T: Deserialize<'de>>(text: &'de str, prefix: &str) -> Result<T, InvalidEvent> {
    let mut de = serde_json::Deserializer::from_str(text);
    Obj::<T>::deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v.0))
        .map_err(|e| locate::<T>(text.as_bytes(), prefix, &e))
}

/// Parses again with path tracking to name the field `first` failed on.
fn locate<'de, T: Deserialize<'de>>(bytes: &'de [u8], prefix: &str, first: &serde_json::Error) -> InvalidEvent {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, Obj<T>>(&mut de) {
        Err(e) => describe(prefix, e.path().iter(), e.inner()),
        // The value itself was fine: `first` is about what follows it (trailing characters).
        Ok(_) => describe(prefix, [].iter(), first),
    }
}

/// Turns a `serde_json` error at `path` into an [`InvalidEvent`] with the full field path.
fn describe<'p>(prefix: &str, path: impl Iterator<Item = &'p Segment>, err: &serde_json::Error) -> InvalidEvent {
    let mut field = String::from(prefix);
    for seg in path {
        match seg {
            Segment::Seq { index } => {
                let _ = write!(field, "[{index}]");
            }
            Segment::Map { key } | Segment::Enum { variant: key } => push_key(&mut field, key),
            Segment::Unknown => {}
        }
    }
    let msg = message(err);
    let reason = match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => format!("invalid JSON: {msg}"),
        Category::Data => data_reason(&mut field, &msg),
    };
    InvalidEvent::new(field, reason)
}

/// The reason for a shape error; appends the field name to `field` when serde names the field
/// only in the message (missing and duplicate fields are reported at their parent).
fn data_reason(field: &mut String, msg: &str) -> String {
    if let Some(name) = quoted_after(msg, "missing field `") {
        push_key(field, name);
        return "missing required field".to_owned();
    }
    if let Some(name) = quoted_after(msg, "duplicate field `") {
        if !ends_with_key(field, name) {
            push_key(field, name);
        }
        return "field given more than once".to_owned();
    }
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        // "unknown field `k`, expected one of `a`, `b`": the key may contain backticks, the
        // list of our own field names does not, so split at the last "`, expected ".
        if let Some(at) = rest.rfind("`, expected ") {
            let (name, expected) = rest.split_at(at);
            if !ends_with_key(field, name) {
                push_key(field, name);
            }
            return format!("unknown field; {}", expected.trim_start_matches("`, "));
        }
        return "unknown field".to_owned();
    }
    if let Some(rest) = msg.strip_prefix("unknown variant ") {
        return format!("unknown value {rest}");
    }
    msg.replace("expected u64", "expected a non-negative integer").replace("expected i64", "expected an integer")
}

/// The `serde_json` message without its " at line L column C" suffix.
fn message(err: &serde_json::Error) -> String {
    let full = err.to_string();
    if err.line() == 0 {
        return full;
    }
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    match full.strip_suffix(&suffix) {
        Some(m) => m.to_owned(),
        None => full,
    }
}

/// The text between `prefix` and a final backtick, when `msg` has exactly that form.
fn quoted_after<'m>(msg: &'m str, prefix: &str) -> Option<&'m str> {
    msg.strip_prefix(prefix)?.strip_suffix('`')
}

fn push_key(field: &mut String, key: &str) {
    if !field.is_empty() {
        field.push('.');
    }
    field.push_str(key);
}

fn ends_with_key(field: &str, key: &str) -> bool {
    field == key || field.strip_suffix(key).is_some_and(|head| head.ends_with('.'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod single_pass_tests {
    //! The invariant of `single_pass`: what the one pass accepts, the reference reader
    //! accepts, with an equal result (here, as the reader that uses both).
    use super::read_reference;
    use crate::event::single_pass::read_typed_envelope;

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
