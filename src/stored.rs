//! A stored event's envelope, read from its canonical JSON in one pass without re-validating
//! (the WAL holds only events that passed validation and redaction). The compactor, the query
//! tail and `flightrec sql` read WAL records through it.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

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
    pub payload: &'a RawValue,
}

impl<'a> StoredEnvelope<'a> {
    /// Reads the envelope of a stored event's JSON.
    pub fn parse(json: &'a [u8]) -> Result<StoredEnvelope<'a>, serde_json::Error> {
        serde_json::from_slice(json)
    }

    /// The UTC date of the event, `YYYY-MM-DD`: its partition.
    pub fn date(&self) -> String {
        self.timestamp.format("%Y-%m-%d").to_string()
    }
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
