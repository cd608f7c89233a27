//! What queries take and return: the filter, a stored event, a page, the opaque cursor.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::event::{Actor, EventType};
use crate::stored::StoredEnvelope;

/// Most events one page may hold.
pub const MAX_LIMIT: usize = 1_000;
/// Page size when the caller gives none.
pub const DEFAULT_LIMIT: usize = 100;

/// A filter over stored events. Every field set must match; `None` matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    pub event_id: Option<String>,
    pub job_id: Option<String>,
    pub trace_id: Option<String>,
    pub model_session_id: Option<String>,
    /// The model of an `llm_inference` (the envelope's `model_id`).
    pub model_id: Option<String>,
    /// The tool of a `tool_call` (its payload's `tool_id`).
    pub tool_id: Option<String>,
    /// A workspace id the event's `wsids` holds.
    pub wsid: Option<String>,
    /// Inclusive lower bound on `timestamp`.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound on `timestamp`.
    pub to: Option<DateTime<Utc>>,
    pub event_type: Option<EventType>,
    /// The event's type is one of these (Handshake's `system` stands for several types).
    pub event_types: Option<Vec<EventType>>,
    /// The surface the event happened on, as [`StoredEvent::surface`] names it.
    pub surface: Option<String>,
    pub actor: Option<Actor>,
    /// Substring of any id (event, trace, job, span, model, capability, policy decision).
    pub text: Option<String>,
    /// Page size (at most [`MAX_LIMIT`]).
    pub limit: Option<usize>,
    /// Where the previous page ended.
    pub cursor: Option<Cursor>,
    /// Newest first: (timestamp, event_id) descending, the cursor counting down.
    pub descending: bool,
}

impl EventQuery {
    /// Bounds truncated to microseconds, the precision events are stored with.
    pub fn normalized(mut self) -> EventQuery {
        self.from = self.from.map(crate::event::time::truncate_micros);
        self.to = self.to.map(crate::event::time::truncate_micros);
        self
    }

    pub fn page_size(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }

    /// The bounds (µs, inclusive) the cursor puts on the timestamps of the rest of the pages:
    /// (lower, upper).
    pub fn cursor_bounds(&self) -> (Option<i64>, Option<i64>) {
        match &self.cursor {
            Some(c) if self.descending => (None, Some(c.micros)),
            Some(c) => (Some(c.micros), None),
            None => (None, None),
        }
    }

    /// Sorts events into page order.
    pub fn sort(&self, events: &mut [StoredEvent]) {
        events.sort_by(|a, b| self.page_order(a, b));
    }

    /// How two events compare in page order.
    pub fn page_order(&self, a: &StoredEvent, b: &StoredEvent) -> std::cmp::Ordering {
        let ascending = a.key().cmp(&b.key());
        if self.descending { ascending.reverse() } else { ascending }
    }
}

/// The surface of an event no other rule places: Handshake's name for "not an editor or a
/// terminal".
pub const SYSTEM_SURFACE: &str = "system";

/// The surface of a stored row in DuckDB SQL, the same rule as [`StoredEvent::surface`].
pub const SURFACE_SQL: &str = "CASE type WHEN 'editor_edit' THEN json_extract_string(payload, '$.editor_surface') \
    WHEN 'terminal_command' THEN 'terminal' ELSE 'system' END";

/// The one payload field the `tool_id` filter reads.
#[derive(Deserialize)]
struct ToolIdField {
    tool_id: Option<String>,
}

/// The one payload field the surface rule reads.
#[derive(Deserialize)]
struct EditorSurfaceField {
    editor_surface: Option<String>,
}

/// One stored event as queries return it: the event's canonical fields plus where it is
/// stored (`lsn`) and whether the redactor changed it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredEvent {
    #[serde(rename = "type")]
    #[schema(value_type = crate::event::EventType, inline)]
    pub ty: String,
    #[schema(format = "uuid")]
    pub event_id: String,
    #[serde(with = "crate::event::time")]
    pub timestamp: DateTime<Utc>,
    #[schema(value_type = crate::event::Actor, inline)]
    pub actor: String,
    #[schema(format = "uuid")]
    pub trace_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub model_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub model_session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub wsids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub activity_span_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub session_span_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub capability_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub policy_decision_id: Option<String>,
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    /// Log sequence number (order of arrival).
    #[schema(minimum = 1)]
    pub lsn: u64,
    /// True when secrets were replaced before storage.
    pub redacted: bool,
}

impl StoredEvent {
    /// Builds the owned form of a WAL record's envelope.
    ///
    /// # Errors
    /// When the payload is not JSON, which a read envelope's never is (see
    /// [`crate::stored::Payload::to_raw`]).
    pub fn from_envelope(e: &StoredEnvelope<'_>, lsn: u64, redacted: bool) -> Result<StoredEvent, serde_json::Error> {
        let own = |s: &Option<std::borrow::Cow<'_, str>>| s.as_deref().map(String::from);
        Ok(StoredEvent {
            ty: e.ty.to_string(),
            event_id: e.event_id.to_string(),
            timestamp: e.timestamp,
            actor: e.actor.to_string(),
            trace_id: e.trace_id.to_string(),
            job_id: own(&e.job_id),
            model_id: own(&e.model_id),
            model_session_id: own(&e.model_session_id),
            wsids: e.wsids.as_ref().map(|v| v.iter().map(|s| s.to_string()).collect()),
            activity_span_id: own(&e.activity_span_id),
            session_span_id: own(&e.session_span_id),
            capability_id: own(&e.capability_id),
            policy_decision_id: own(&e.policy_decision_id),
            payload: e.payload.to_raw()?,
            lsn,
            redacted,
        })
    }

    /// The sort key of every query: time, then event_id.
    pub fn key(&self) -> (i64, &str) {
        (self.timestamp.timestamp_micros(), &self.event_id)
    }

    /// True when the event passes every filter of `q` (the cursor included).
    pub fn matches(&self, q: &EventQuery) -> bool {
        let eq = |want: &Option<String>, have: Option<&str>| want.as_deref().is_none_or(|w| have == Some(w));
        eq(&q.event_id, Some(&self.event_id))
            && eq(&q.job_id, self.job_id.as_deref())
            && eq(&q.trace_id, Some(&self.trace_id))
            && eq(&q.model_session_id, self.model_session_id.as_deref())
            && eq(&q.model_id, self.model_id.as_deref())
            && q.tool_id.as_ref().is_none_or(|t| self.tool_id().as_ref() == Some(t))
            && q.wsid.as_ref().is_none_or(|w| self.wsids.as_ref().is_some_and(|ws| ws.contains(w)))
            && q.from.is_none_or(|f| self.timestamp >= f)
            && q.to.is_none_or(|t| self.timestamp < t)
            && q.event_type.is_none_or(|t| t.as_str() == self.ty)
            && q.event_types.as_ref().is_none_or(|ts| ts.iter().any(|t| t.as_str() == self.ty))
            && q.surface.as_ref().is_none_or(|s| self.surface().as_deref() == Some(s.as_str()))
            && q.actor.is_none_or(|a| a.as_str() == self.actor)
            && q.text.as_deref().is_none_or(|t| self.ids().any(|id| id.contains(t)))
            && q.cursor.as_ref().is_none_or(|c| self.after_cursor(c, q.descending))
    }

    /// True when the event comes after the cursor in page order.
    fn after_cursor(&self, c: &Cursor, descending: bool) -> bool {
        let at = (c.micros, c.event_id.as_str());
        if descending { self.key() < at } else { self.key() > at }
    }

    /// The payload's `tool_id` of a `tool_call` (None for every other type).
    pub fn tool_id(&self) -> Option<String> {
        if self.ty != "tool_call" {
            return None;
        }
        serde_json::from_str::<ToolIdField>(self.payload.get()).ok().and_then(|p| p.tool_id)
    }

    /// Where the event happened, in Handshake's words: an edit's `editor_surface`, `terminal`
    /// for a terminal command, [`SYSTEM_SURFACE`] for everything else (None: an edit whose
    /// payload does not name one, which no stored edit is).
    pub fn surface(&self) -> Option<String> {
        match self.ty.as_str() {
            "editor_edit" => {
                serde_json::from_str::<EditorSurfaceField>(self.payload.get()).ok().and_then(|p| p.editor_surface)
            }
            "terminal_command" => Some("terminal".into()),
            _ => Some(SYSTEM_SURFACE.into()),
        }
    }

    /// The ids a text search looks in.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        [
            Some(self.event_id.as_str()),
            Some(self.trace_id.as_str()),
            self.job_id.as_deref(),
            self.model_id.as_deref(),
            self.model_session_id.as_deref(),
            self.activity_span_id.as_deref(),
            self.session_span_id.as_deref(),
            self.capability_id.as_deref(),
            self.policy_decision_id.as_deref(),
        ]
        .into_iter()
        .flatten()
    }
}

/// A page of events in (timestamp, event_id) order.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    /// Pass back as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Longest cursor [`Cursor::decode`] takes.
pub const MAX_CURSOR_LEN: usize = 512;
/// Every cursor [`Cursor::encode`] writes matches this (lowercase hex of `micros:id`), for
/// clients that check a parameter before sending it (the OpenAPI document has it).
pub const CURSOR_PATTERN: &str = "^(2d)?(3[0-9]){1,18}3a(3[0-9]|4[1-6]|6[1-6]|2d)+$";

/// Where a page ended: the key of its last event. Opaque to callers (hex of `micros:id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub micros: i64,
    pub event_id: String,
}

impl Cursor {
    pub fn after(e: &StoredEvent) -> Cursor {
        Cursor { micros: e.timestamp.timestamp_micros(), event_id: e.event_id.clone() }
    }

    pub fn encode(&self) -> String {
        format!("{}:{}", self.micros, self.event_id).bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// Decodes a cursor, rejecting anything [`Cursor::encode`] did not produce.
    pub fn decode(text: &str) -> Result<Cursor, String> {
        let bad = || {
            format!("invalid cursor `{}`: pass back a next_cursor unchanged", text.chars().take(80).collect::<String>())
        };
        if text.len() > MAX_CURSOR_LEN || !text.len().is_multiple_of(2) {
            return Err(bad());
        }
        let bytes: Option<Vec<u8>> = (0..text.len())
            .step_by(2)
            .map(|i| text.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect();
        let plain = bytes.and_then(|b| String::from_utf8(b).ok()).ok_or_else(bad)?;
        let (micros, id) = plain.split_once(':').ok_or_else(bad)?;
        let micros = micros.parse().map_err(|_| bad())?;
        if id.is_empty() || !id.bytes().all(crate::swar::is_hex_or_dash) {
            return Err(bad());
        }
        Ok(Cursor { micros, event_id: id.to_string() })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor { micros: 1_764_000_000_000_000, event_id: "4f1c7a8e-2b7d-4a53-9a0e-6b1d2f6c9e01".into() };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        for bad in ["", "zz", "abc", "3a", &"00".repeat(300), "313a", "31323a27206f7220313d31"] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }
}
