//! A stored event's envelope, read from its canonical JSON in one pass without re-validating
//! (the WAL holds only events that passed validation and redaction). The compactor, the query
//! tail and `flightrec sql` read WAL records through it.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::event::OPTIONAL_FIELDS;

/// The envelope of a stored event, borrowing from the record where it can.
#[derive(Debug, Deserialize)]
pub struct StoredEnvelope<'a> {
    #[serde(rename = "type", borrow)]
    pub ty: Cow<'a, str>,
    #[serde(borrow)]
    pub event_id: Cow<'a, str>,
    pub timestamp: DateTime<Utc>,
    #[serde(borrow)]
    pub actor: Cow<'a, str>,
    #[serde(borrow)]
    pub trace_id: Cow<'a, str>,
    #[serde(default, borrow)]
    pub job_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub model_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub model_session_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub wsids: Option<Vec<Cow<'a, str>>>,
    #[serde(default, borrow)]
    pub activity_span_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub session_span_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub capability_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub policy_decision_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub payload: Payload<'a>,
}

/// A stored event's payload: JSON text, checked to be JSON when its envelope was read.
#[derive(Clone, Copy)]
pub enum Payload<'a> {
    /// Checked by serde_json as one raw value.
    Raw(&'a RawValue),
    /// Parsed whole by the reader handed to [`StoredEnvelope::parse_with`].
    Read(&'a str),
}

impl<'a> Payload<'a> {
    /// The payload's JSON text.
    pub fn get(&self) -> &'a str {
        match self {
            Payload::Raw(raw) => raw.get(),
            Payload::Read(text) => text,
        }
    }

    /// An owned copy of the payload, for serializing it as JSON again.
    ///
    /// # Errors
    /// None in practice: a payload is JSON once read. A `Read` one is checked again here, as
    /// `RawValue` has no unchecked constructor; a `Raw` one is copied.
    pub fn to_raw(&self) -> Result<Box<RawValue>, serde_json::Error> {
        match self {
            Payload::Raw(raw) => Ok((*raw).to_owned()),
            Payload::Read(text) => RawValue::from_string((*text).to_owned()),
        }
    }
}

/// The text alone: how the payload was checked is not part of what it is.
impl std::fmt::Debug for Payload<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Payload").field(&self.get()).finish()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Payload<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'de RawValue>::deserialize(d).map(Payload::Raw)
    }
}

impl<'a> StoredEnvelope<'a> {
    /// Reads the envelope of a stored event's JSON: canonical JSON (`Event::to_json`, what
    /// the WAL holds) field by field in its fixed order, anything else (an escaped string, a
    /// reordered or hand-written record) with serde. Both read the payload as JSON, so a
    /// record either decodes the same both ways or not at all.
    pub fn parse(json: &'a [u8]) -> Result<StoredEnvelope<'a>, serde_json::Error> {
        StoredEnvelope::parse_with(json, |_, _| None::<()>).map(|(envelope, _)| envelope)
    }

    /// [`StoredEnvelope::parse`] for a reader that parses the payload itself, so that its
    /// bytes are read once: `read` gets the type and the payload's text and returns what it
    /// read, and must return Some only when it parsed the whole text as JSON (as
    /// `serde_json::from_str` does); when it returns None the payload is checked here.
    pub fn parse_with<T>(
        json: &'a [u8],
        read: impl Fn(&str, &'a str) -> Option<T>,
    ) -> Result<(StoredEnvelope<'a>, Option<T>), serde_json::Error> {
        if let Some((mut envelope, payload)) = canonical_envelope(json) {
            if let Some(fields) = read(&envelope.ty, payload) {
                envelope.payload = Payload::Read(payload);
                return Ok((envelope, Some(fields)));
            }
            if let Ok(raw) = serde_json::from_str::<&RawValue>(payload) {
                envelope.payload = Payload::Raw(raw);
                return Ok((envelope, None));
            }
        }
        let envelope: StoredEnvelope<'a> = serde_json::from_slice(json)?;
        let fields = read(&envelope.ty, envelope.payload.get());
        Ok((envelope, fields))
    }

    /// The envelope of canonical JSON (what the WAL holds) without reading its payload, for
    /// an index that needs only the envelope's fields and decodes whole what it then returns;
    /// None for anything else (read that with [`StoredEnvelope::parse`]). Its `payload` is
    /// empty and unchecked.
    pub fn envelope_only(json: &'a [u8]) -> Option<StoredEnvelope<'a>> {
        canonical_envelope(json).map(|(envelope, _)| envelope)
    }

    /// The UTC date of the event, `YYYY-MM-DD`: its partition.
    pub fn date(&self) -> String {
        self.timestamp.format("%Y-%m-%d").to_string()
    }
}

/// The envelope of canonical JSON: `type`, `event_id`, `timestamp`, `actor`, `trace_id`, the
/// optional fields present in FR-EVT.md order, then `payload` last, no whitespace, no escaped
/// envelope string; with the payload's text, which is not checked yet: the envelope's
/// payload is a placeholder until the caller has checked (or parsed) it. None for anything
/// else.
fn canonical_envelope(json: &[u8]) -> Option<(StoredEnvelope<'_>, &str)> {
    let mut r = Canonical { rest: json };
    let ty = r.field(b"{\"type\":")?;
    let event_id = r.field(b",\"event_id\":")?;
    let timestamp = r.field(b",\"timestamp\":")?;
    let timestamp = DateTime::from_timestamp_micros(canonical_micros(timestamp.as_bytes())?)?;
    let actor = r.field(b",\"actor\":")?;
    let trace_id = r.field(b",\"trace_id\":")?;
    let mut optional = Optional::default();
    while !r.rest.starts_with(b",\"payload\":") {
        r.optional_field(&mut optional)?;
    }
    let payload = r.rest.strip_prefix(b",\"payload\":")?.strip_suffix(b"}")?;
    let payload = std::str::from_utf8(payload).ok()?;
    let envelope = StoredEnvelope {
        ty: Cow::Borrowed(ty),
        event_id: Cow::Borrowed(event_id),
        timestamp,
        actor: Cow::Borrowed(actor),
        trace_id: Cow::Borrowed(trace_id),
        job_id: optional.strings[0].map(Cow::Borrowed),
        model_id: optional.strings[1].map(Cow::Borrowed),
        model_session_id: optional.strings[2].map(Cow::Borrowed),
        wsids: optional.wsids.map(|ids| ids.into_iter().map(Cow::Borrowed).collect()),
        activity_span_id: optional.strings[3].map(Cow::Borrowed),
        session_span_id: optional.strings[4].map(Cow::Borrowed),
        capability_id: optional.strings[5].map(Cow::Borrowed),
        policy_decision_id: optional.strings[6].map(Cow::Borrowed),
        payload: Payload::Read(""),
    };
    Some((envelope, payload))
}

/// Where each of [`OPTIONAL_FIELDS`] goes in [`Optional::strings`] (None: `wsids`).
const OPTIONAL_STRINGS: [Option<usize>; 8] = [Some(0), Some(1), Some(2), None, Some(3), Some(4), Some(5), Some(6)];

/// The optional envelope fields read so far.
#[derive(Default)]
struct Optional<'a> {
    strings: [Option<&'a str>; 7],
    wsids: Option<Vec<&'a str>>,
    /// The rank in [`OPTIONAL_FIELDS`] the next field may have at least.
    next: usize,
}

/// The unread rest of a canonical envelope.
struct Canonical<'a> {
    rest: &'a [u8],
}

impl<'a> Canonical<'a> {
    /// The string after `key`, which must come next.
    fn field(&mut self, key: &[u8]) -> Option<&'a str> {
        self.rest = self.rest.strip_prefix(key)?;
        self.string()
    }

    /// The optional field that comes next, into `seen`; None when it is not one, comes out of
    /// the canonical order, or is not a string (a list for `wsids`).
    fn optional_field(&mut self, seen: &mut Optional<'a>) -> Option<()> {
        let rest = self.rest.strip_prefix(b",\"")?;
        let end = rest.iter().position(|b| *b == b'"')?;
        let (key, rest) = rest.split_at(end);
        self.rest = rest.strip_prefix(b"\":")?;
        let rank = OPTIONAL_FIELDS.iter().position(|k| k.as_bytes() == key)?;
        if seen.next > rank {
            return None;
        }
        seen.next = rank + 1;
        match OPTIONAL_STRINGS.get(rank) {
            Some(Some(slot)) => *seen.strings.get_mut(*slot)? = Some(self.string()?),
            _ => seen.wsids = Some(self.list()?),
        }
        Some(())
    }

    /// A list of strings.
    fn list(&mut self) -> Option<Vec<&'a str>> {
        self.rest = self.rest.strip_prefix(b"[")?;
        let mut items = Vec::new();
        if let Some(rest) = self.rest.strip_prefix(b"]") {
            self.rest = rest;
            return Some(items);
        }
        loop {
            items.push(self.string()?);
            let (first, rest) = self.rest.split_first()?;
            self.rest = rest;
            match first {
                b',' => {}
                b']' => return Some(items),
                _ => return None,
            }
        }
    }

    /// A string with no escape in it (serde_json escapes quotes, backslashes and control
    /// characters, so any of those sends the record to serde).
    fn string(&mut self) -> Option<&'a str> {
        let rest = self.rest.strip_prefix(b"\"")?;
        let end = rest.iter().position(|b| matches!(b, b'"' | b'\\' | 0..=0x1f))?;
        let (text, after) = rest.split_at(end);
        self.rest = after.strip_prefix(b"\"")?;
        std::str::from_utf8(text).ok()
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, the canonical form of a timestamp, as UTC microseconds,
/// read without the general RFC 3339 parser (which costs more than the rest of an envelope);
/// None for any other form.
pub fn canonical_micros(text: &[u8]) -> Option<i64> {
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, b'T', h0, h1, b':', i0, i1, b':', s0, s1, b'.', rest @ ..] = text
    else {
        return None;
    };
    let [f0, f1, f2, f3, f4, f5, b'Z'] = rest else { return None };
    let num = |digits: &[u8]| -> Option<u32> {
        digits.iter().try_fold(0u32, |n, d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
    };
    let year = i32::try_from(num(&[*y0, *y1, *y2, *y3])?).ok()?;
    let date = chrono::NaiveDate::from_ymd_opt(year, num(&[*m0, *m1])?, num(&[*d0, *d1])?)?;
    let time = chrono::NaiveTime::from_hms_micro_opt(
        num(&[*h0, *h1])?,
        num(&[*i0, *i1])?,
        num(&[*s0, *s1])?,
        num(&[*f0, *f1, *f2, *f3, *f4, *f5])?,
    )?;
    Some(date.and_time(time).and_utc().timestamp_micros())
}

/// The `event_id` of a stored event's JSON, without decoding the rest of it.
///
/// Stored JSON is canonical (`Event::to_json`: `{"type":"…","event_id":"…",…`), so the id is
/// read in place; anything else falls back to a JSON decode.
pub fn event_id_of(json: &[u8]) -> Option<uuid::Uuid> {
    canonical_event_id(json).or_else(|| {
        #[derive(serde::Deserialize)]
        struct Id {
            event_id: uuid::Uuid,
        }
        serde_json::from_slice::<Id>(json).ok().map(|i| i.event_id)
    })
}

fn canonical_event_id(json: &[u8]) -> Option<uuid::Uuid> {
    let rest = json.strip_prefix(b"{\"type\":\"")?;
    let type_end = rest.iter().position(|b| *b == b'"')?;
    let rest = rest.get(type_end..)?.strip_prefix(b"\",\"event_id\":\"")?;
    let (id, after) = (rest.get(..36)?, rest.get(36..)?);
    if after.first() != Some(&b'"') {
        return None;
    }
    uuid::Uuid::try_parse_ascii(id).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod event_id_tests {
    use super::event_id_of;

    #[test]
    fn the_canonical_fast_path_and_the_fallback_agree() {
        let id = "92f310e2-b0ab-417c-bf90-45b04b7b8dd5";
        let canonical = format!(r#"{{"type":"tool_call","event_id":"{id}","payload":{{"event_id":"x"}}}}"#);
        let reordered = format!(r#"{{"payload":{{}},"event_id":"{id}","type":"tool_call"}}"#);
        for json in [canonical, reordered] {
            assert_eq!(event_id_of(json.as_bytes()).unwrap().to_string(), id, "{json}");
        }
        assert_eq!(event_id_of(br#"{"type":"tool_call","event_id":"not-a-uuid"}"#), None);
        assert_eq!(event_id_of(b"not json"), None);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod envelope_tests {
    use super::*;

    /// The envelope as serde's derive reads it, and as `parse` does, side by side; and whether
    /// the canonical reader took it.
    fn both(json: &str) -> (String, String, bool) {
        let serde = serde_json::from_str::<StoredEnvelope<'_>>(json).map(|e| format!("{e:?}")).map_err(|_| ());
        let parsed = StoredEnvelope::parse(json.as_bytes()).map(|e| format!("{e:?}")).map_err(|_| ());
        // `parse_with` reads the same, whether its reader parses the payload or leaves it.
        let ignored = |_: &str, text: &str| serde_json::from_str::<serde::de::IgnoredAny>(text).ok().map(|_| ());
        for read in [&ignored as &dyn Fn(&str, &str) -> Option<()>, &|_: &str, _: &str| None] {
            let with = StoredEnvelope::parse_with(json.as_bytes(), read).map(|(e, _)| format!("{e:?}")).map_err(|_| ());
            assert_eq!(with, parsed, "{json}");
        }
        let fast = canonical_envelope(json.as_bytes())
            .is_some_and(|(_, payload)| serde_json::from_str::<&RawValue>(payload).is_ok());
        (format!("{serde:?}"), format!("{parsed:?}"), fast)
    }

    #[test]
    fn the_canonical_reader_and_serde_read_every_envelope_alike() {
        let mut g = crate::workload::Generator::new(3, chrono::Utc::now(), 100);
        let redactor = crate::redact::Redactor::builtin();
        let mut canonical = 0;
        for _ in 0..500 {
            let prepared = crate::ingest::prepare_json(&redactor, g.next_json().as_bytes()).unwrap();
            let (_, json) = crate::wal::format::split_event_payload(&prepared.payload).unwrap();
            let (serde, parsed, fast) = both(std::str::from_utf8(json).unwrap());
            assert_eq!(parsed, serde);
            canonical += usize::from(fast);
        }
        assert_eq!(canonical, 500, "stored events take the canonical path");
        let head = r#"{"type":"tool_call","event_id":"92f310e2-b0ab-417c-bf90-45b04b7b8dd5","timestamp":"2026-11-30T01:02:03.221000Z","actor":"agent","trace_id":"t""#;
        let cases = [
            // (JSON, whether the canonical reader takes it)
            (
                format!(
                    r#"{head},"job_id":"j","model_id":"m","model_session_id":"s","wsids":["a","b"],"activity_span_id":"x","session_span_id":"y","capability_id":"c","policy_decision_id":"p","payload":{{"a":[1,{{"b":"\""}}]}}}}"#
                ),
                true,
            ),
            (format!(r#"{head},"wsids":[],"payload":{{}}}}"#), true),
            (format!(r#"{head},"wsids":["é"],"payload":{{}}}}"#), true),
            // An escaped envelope string, an out-of-order, repeated or unknown field, a
            // null, a non-canonical timestamp: serde reads them (or refuses them).
            (format!(r#"{head},"job_id":"a"b","payload":{{}}}}"#), false),
            (format!(r#"{head},"model_id":"m","job_id":"j","payload":{{}}}}"#), false),
            (format!(r#"{head},"job_id":"j","job_id":"k","payload":{{}}}}"#), false),
            (format!(r#"{head},"extra":"e","payload":{{}}}}"#), false),
            (format!(r#"{head},"job_id":null,"payload":{{}}}}"#), false),
            (head.replace(".221000Z", "+00:00") + r#","payload":{}}"#, false),
            (format!(r#"{head},"payload":{{}},"job_id":"late"}}"#), false),
            // A payload that is not JSON, or a record cut short: neither reads it.
            (format!(r#"{head},"payload":{{"a":}}}}"#), false),
            (format!(r#"{head},"payload":{{"a":1}}"#), false),
            (format!(r#"{head},"wsids":["a",],"payload":{{}}}}"#), false),
        ];
        for (json, fast) in cases {
            let (serde, parsed, took) = both(&json);
            assert_eq!(parsed, serde, "{json}");
            assert_eq!(took, fast, "{json}");
        }
    }

    #[test]
    fn the_canonical_timestamp_reads_as_the_envelope_parse_reads_it() {
        for text in ["2026-11-30T01:02:03.221000Z", "1970-01-01T00:00:00.000001Z", "2024-02-29T23:59:59.999999Z"] {
            let general = text.parse::<DateTime<chrono::FixedOffset>>().unwrap().timestamp_micros();
            assert_eq!(canonical_micros(text.as_bytes()), Some(general), "{text}");
        }
        for other in ["2026-11-30T01:02:03Z", "2026-11-30T01:02:03.221000+00:00", "2026-13-30T01:02:03.221000Z"] {
            assert_eq!(canonical_micros(other.as_bytes()), None, "{other}");
        }
    }
}
