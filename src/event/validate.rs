//! The cross-field rules of FR-EVT.md, for every event however it was built.
//!
//! Serde enforces the shapes (types, enum values, required and unknown fields) while parsing;
//! [`Event::validate`] enforces everything serde cannot: empty required strings, nil UUIDs,
//! envelope fields a type requires, the actor of `workflow_recovery`, and each payload's own
//! rules. [`parse_event`](super::parse_event) runs it on every event, so an event that parsed
//! is valid.

use uuid::Uuid;

use super::check::{non_empty, representable};
use super::{Actor, Event, EventBody, EventType, InvalidEvent};

impl Event {
    /// Checks every rule FR-EVT.md states beyond shapes; the error names the first bad field.
    ///
    /// # Errors
    /// [`InvalidEvent`] naming the first field that breaks a rule.
    pub fn validate(&self) -> Result<(), InvalidEvent> {
        not_nil("event_id", &self.event_id)?;
        not_nil("trace_id", &self.trace_id)?;
        representable("timestamp", &self.timestamp)?;
        let ty = self.event_type();
        match ty {
            EventType::LlmInference => required(ty, "model_id", self.model_id.as_ref())?,
            EventType::JobLifecycle => required(ty, "job_id", self.job_id.as_ref())?,
            EventType::CapabilityDecision => {
                required(ty, "capability_id", self.capability_id.as_ref())?;
                required(ty, "policy_decision_id", self.policy_decision_id.as_ref())?;
            }
            EventType::WorkflowRecovery if self.actor != Actor::System => {
                return Err(InvalidEvent::new(
                    "actor",
                    format!("must be \"system\" for workflow_recovery events, not \"{}\"", self.actor),
                ));
            }
            _ => {}
        }
        self.body.validate()
    }
}

impl EventBody {
    /// Checks the payload's own rules (paths start with `payload.`).
    ///
    /// # Errors
    /// [`InvalidEvent`] naming the first payload field that breaks a rule.
    pub fn validate(&self) -> Result<(), InvalidEvent> {
        match self {
            EventBody::TerminalCommand(p) => p.validate(),
            EventBody::EditorEdit(p) => p.validate(),
            EventBody::Diagnostic(p) => p.validate(),
            EventBody::DebugBundleExport(p) => p.validate(),
            EventBody::LlmInference(p) => p.validate(),
            EventBody::ToolCall(p) => p.validate(),
            EventBody::WorkflowRecovery(p) => p.validate(),
            EventBody::JobLifecycle(p) => p.validate(),
            // Serde already enforces everything a capability_decision payload must satisfy.
            EventBody::CapabilityDecision(_) => Ok(()),
            EventBody::Span(p) => p.validate(),
            EventBody::Log(p) => p.validate(),
        }
    }
}

/// The nil UUID would make every such event a duplicate of every other (or link all of them
/// into one trace), so it is refused.
fn not_nil(field: &str, id: &Uuid) -> Result<(), InvalidEvent> {
    if id.is_nil() {
        return Err(InvalidEvent::new(field, "must not be the nil UUID"));
    }
    Ok(())
}

/// An envelope field the type requires: present and non-empty.
fn required(ty: EventType, field: &str, value: Option<&String>) -> Result<(), InvalidEvent> {
    match value {
        Some(v) => non_empty(field, v),
        None => Err(InvalidEvent::new(field, format!("required for {ty} events"))),
    }
}
