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
