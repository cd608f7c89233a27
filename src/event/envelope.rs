//! The envelope ([`Event`]) and the typed body ([`EventBody`]), with the canonical JSON shape.
//!
//! Canonical JSON (what [`Event::to_json`] writes and the WAL stores): `type` first, then the
//! envelope fields in FR-EVT.md order with absent optional fields omitted, then `payload`;
//! timestamps as `2026-11-25T09:14:03.221000Z`; UUIDs lowercase and hyphenated. Parsing
//! canonical JSON with [`parse_event`](super::parse_event) gives back an equal `Event`.

use chrono::{DateTime, Utc};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use uuid::Uuid;

use super::check::{StrVisitor, visit_list, visit_opt};
use super::json_writer::JsonWriteError;
use super::{
    Actor, CapabilityDecision, DebugBundleExport, Diagnostic, EditorEdit, EventType, JobLifecycle, LlmInference,
    OtelLog, OtelSpan, TerminalCommand, ToolCall, WorkflowRecovery, time,
};

/// One recorded event: the FR-EVT.md envelope plus its typed payload.
///
/// Build one with [`Event::new`] (or a struct literal) and check it with [`Event::validate`];
/// events from JSON come from [`parse_event`](super::parse_event), already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Unique id; repeats are duplicates (idempotent retries).
    pub event_id: Uuid,
    /// When it happened: UTC, whole microseconds (finer digits are dropped when written).
    pub timestamp: DateTime<Utc>,
    /// Who caused it.
    pub actor: Actor,
    /// The AI action it belongs to; assigned by the parser when allowed and absent.
    pub trace_id: Uuid,
    /// The job or workflow run it belongs to (required for `job_lifecycle`).
    pub job_id: Option<String>,
    /// The model involved (required for `llm_inference`).
    pub model_id: Option<String>,
    /// The model session.
    pub model_session_id: Option<String>,
    /// Workspace ids.
    pub wsids: Option<Vec<String>>,
    /// Activity span.
    pub activity_span_id: Option<String>,
    /// Session span.
    pub session_span_id: Option<String>,
    /// Capability involved (required for `capability_decision`).
    pub capability_id: Option<String>,
    /// Policy decision involved (required for `capability_decision`).
    pub policy_decision_id: Option<String>,
    /// The type and its payload: `"type"` and `"payload"` in JSON.
    pub body: EventBody,
}

/// The typed payload of an [`Event`]; the variant is the event's `type`.
///
/// Serializes as the bare payload object: the type name is written by the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum EventBody {
    /// `terminal_command`.
    TerminalCommand(TerminalCommand),
    /// `editor_edit`.
    EditorEdit(EditorEdit),
    /// `diagnostic`.
    Diagnostic(Diagnostic),
    /// `debug_bundle_export`.
    DebugBundleExport(DebugBundleExport),
    /// `llm_inference`.
    LlmInference(LlmInference),
    /// `tool_call`.
    ToolCall(ToolCall),
    /// `workflow_recovery`.
    WorkflowRecovery(WorkflowRecovery),
    /// `job_lifecycle`.
    JobLifecycle(JobLifecycle),
    /// `capability_decision`.
    CapabilityDecision(CapabilityDecision),
    /// `span`.
    Span(OtelSpan),
    /// `log`.
    Log(OtelLog),
}

impl EventBody {
    /// The type of this payload.
    #[must_use]
    pub fn event_type(&self) -> EventType {
        match self {
            EventBody::TerminalCommand(_) => EventType::TerminalCommand,
            EventBody::EditorEdit(_) => EventType::EditorEdit,
            EventBody::Diagnostic(_) => EventType::Diagnostic,
            EventBody::DebugBundleExport(_) => EventType::DebugBundleExport,
            EventBody::LlmInference(_) => EventType::LlmInference,
            EventBody::ToolCall(_) => EventType::ToolCall,
            EventBody::WorkflowRecovery(_) => EventType::WorkflowRecovery,
            EventBody::JobLifecycle(_) => EventType::JobLifecycle,
            EventBody::CapabilityDecision(_) => EventType::CapabilityDecision,
            EventBody::Span(_) => EventType::Span,
            EventBody::Log(_) => EventType::Log,
        }
    }

    /// Visits every free-text string of the payload.
    pub fn for_each_string_mut(&mut self, f: &mut StrVisitor<'_>) {
        match self {
            EventBody::TerminalCommand(p) => p.for_each_string_mut(f),
            EventBody::EditorEdit(p) => p.for_each_string_mut(f),
            EventBody::Diagnostic(p) => p.for_each_string_mut(f),
            EventBody::DebugBundleExport(p) => p.for_each_string_mut(f),
            EventBody::LlmInference(p) => p.for_each_string_mut(f),
            EventBody::ToolCall(p) => p.for_each_string_mut(f),
            EventBody::WorkflowRecovery(p) => p.for_each_string_mut(f),
            EventBody::JobLifecycle(p) => p.for_each_string_mut(f),
            EventBody::CapabilityDecision(p) => p.for_each_string_mut(f),
            EventBody::Span(p) => p.for_each_string_mut(f),
            EventBody::Log(p) => p.for_each_string_mut(f),
        }
    }
}

impl Event {
    /// A new event of `body`'s type: fresh v4 `event_id` and `trace_id`, timestamp now (whole
    /// microseconds), every optional envelope field `None`.
    #[must_use]
    pub fn new(body: EventBody, actor: Actor) -> Event {
        Event {
            event_id: Uuid::new_v4(),
            timestamp: time::now_micros(),
            actor,
            trace_id: Uuid::new_v4(),
            job_id: None,
            model_id: None,
            model_session_id: None,
            wsids: None,
            activity_span_id: None,
            session_span_id: None,
            capability_id: None,
            policy_decision_id: None,
            body,
        }
    }

    /// The event's type.
    #[must_use]
    pub fn event_type(&self) -> EventType {
        self.body.event_type()
    }

    /// The canonical JSON text of the event.
    ///
    /// This cannot fail for these types (every map key is a string, every value serializes to
    /// JSON, the output is a `Vec`), but serde's signature is fallible, so the error is
    /// passed on rather than hidden behind a panic or an empty buffer.
    ///
    /// # Errors
    /// Only if the JSON writer itself fails, which these types never make it do.
    pub fn to_json(&self) -> Result<Vec<u8>, JsonWriteError> {
        let mut out = Vec::with_capacity(512);
        self.write_json(&mut out)?;
        Ok(out)
    }

    /// Appends the canonical JSON text to `out` (lets a caller reuse one buffer).
    ///
    /// # Errors
    /// As for [`Event::to_json`].
    pub fn write_json(&self, out: &mut Vec<u8>) -> Result<(), JsonWriteError> {
        super::json_writer::write_json(out, self)
    }

    /// Calls `f` on every free-text string of the event: the optional string fields of the
    /// envelope (list items included) and every string of the payload, nested ones included.
    /// Not UUIDs, enums or timestamps. This is what the redactor runs over.
    pub fn for_each_string_mut(&mut self, f: &mut dyn FnMut(&mut String)) {
        visit_opt(&mut self.job_id, f);
        visit_opt(&mut self.model_id, f);
        visit_opt(&mut self.model_session_id, f);
        visit_list(&mut self.wsids, f);
        visit_opt(&mut self.activity_span_id, f);
        visit_opt(&mut self.session_span_id, f);
        visit_opt(&mut self.capability_id, f);
        visit_opt(&mut self.policy_decision_id, f);
        self.body.for_each_string_mut(f);
    }

    /// Calls `f` on every argument list with the program it is given to: `terminal_command`'s
    /// `command` and `args`. An argument's meaning depends on its position (`--password X`
    /// as two items), so the redactor needs the list whole; every item is also visited by
    /// [`Event::for_each_string_mut`].
    pub fn for_each_argv_mut(&mut self, f: &mut dyn FnMut(&str, &mut [String])) {
        if let EventBody::TerminalCommand(t) = &mut self.body
            && let Some(args) = &mut t.args
        {
            f(&t.command, args);
        }
    }
}

/// The optional envelope fields, in the canonical (FR-EVT.md) order [`Event::to_json`] writes
/// the present ones in, after `trace_id` and before `payload`.
pub const OPTIONAL_FIELDS: [&str; 8] = [
    "job_id",
    "model_id",
    "model_session_id",
    "wsids",
    "activity_span_id",
    "session_span_id",
    "capability_id",
    "policy_decision_id",
];

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Event", 14)?;
        st.serialize_field("type", &self.event_type())?;
        st.serialize_field("event_id", &self.event_id)?;
        time::with_rfc3339(&self.timestamp, |text| st.serialize_field("timestamp", text))?;
        st.serialize_field("actor", &self.actor)?;
        st.serialize_field("trace_id", &self.trace_id)?;
        let [job, model, model_session, wsids, activity_span, session_span, capability, policy_decision] =
            OPTIONAL_FIELDS;
        opt_field(&mut st, job, self.job_id.as_ref())?;
        opt_field(&mut st, model, self.model_id.as_ref())?;
        opt_field(&mut st, model_session, self.model_session_id.as_ref())?;
        opt_field(&mut st, wsids, self.wsids.as_ref())?;
        opt_field(&mut st, activity_span, self.activity_span_id.as_ref())?;
        opt_field(&mut st, session_span, self.session_span_id.as_ref())?;
        opt_field(&mut st, capability, self.capability_id.as_ref())?;
        opt_field(&mut st, policy_decision, self.policy_decision_id.as_ref())?;
        st.serialize_field("payload", &self.body)?;
        st.end()
    }
}

/// Writes `value` under `key` when it is `Some`, skips the field otherwise.
fn opt_field<S: SerializeStruct, T: Serialize>(
    st: &mut S,
    key: &'static str,
    value: Option<&T>,
) -> Result<(), S::Error> {
    match value {
        Some(v) => st.serialize_field(key, v),
        None => st.skip_field(key),
    }
}
