//! Payloads of the runtime events: `workflow_recovery` (FR-EVT-WF-RECOVERY) and the
//! extensions `job_lifecycle` and `capability_decision`.
//!
//! Invariants checked by `validate`: a recovery goes from `running` to `stalled`; a finished
//! job has a `status` and a started one has neither `status` nor `duration_ms`. The envelope
//! rules (actor `system`, `job_id`, `capability_id`, `policy_decision_id`) are checked by
//! [`Event::validate`](super::Event::validate).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::InvalidEvent;
use super::check::{StrVisitor, non_empty, representable, visit_opt};
use super::names::string_enum;

string_enum! {
    /// A workflow run's state. FR-EVT.md allows only `running` -> `stalled` transitions in
    /// `workflow_recovery`; the enum names both so a wrong direction gets a precise reason.
    pub enum WorkflowState("workflow state") {
        Running = "running",
        Stalled = "stalled",
    }
}

/// FR-EVT-WF-RECOVERY `workflow_recovery` (actor must be `system`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowRecovery {
    /// The run that stalled; non-empty.
    pub workflow_run_id: String,
    /// Always `running`.
    pub from_state: WorkflowState,
    /// Always `stalled`.
    pub to_state: WorkflowState,
    /// Why the recorder decided it stalled; non-empty.
    pub reason: String,
    /// The last heartbeat seen, UTC, whole microseconds.
    #[serde(with = "super::time::option", skip_serializing_if = "Option::is_none", default)]
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}

impl WorkflowRecovery {
    pub(crate) fn validate(&self) -> Result<(), InvalidEvent> {
        non_empty("payload.workflow_run_id", &self.workflow_run_id)?;
        if self.from_state != WorkflowState::Running {
            return Err(InvalidEvent::new("payload.from_state", "must be \"running\""));
        }
        if self.to_state != WorkflowState::Stalled {
            return Err(InvalidEvent::new("payload.to_state", "must be \"stalled\""));
        }
        non_empty("payload.reason", &self.reason)?;
        if let Some(t) = &self.last_heartbeat_at {
            representable("payload.last_heartbeat_at", t)?;
        }
        Ok(())
    }

    pub(crate) fn for_each_string_mut(&mut self, f: &mut StrVisitor<'_>) {
        f(&mut self.workflow_run_id);
        f(&mut self.reason);
    }
}

string_enum! {
    /// Which end of a job span.
    pub enum JobPhase("job phase") {
        Started = "started",
        Finished = "finished",
    }
}

string_enum! {
    /// How a job ended.
    pub enum JobStatus("job status") {
        Ok = "ok",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

/// `job_lifecycle` (extension; the envelope must carry `job_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobLifecycle {
    /// Start or end of the job span.
    pub phase: JobPhase,
    /// What kind of job.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub job_kind: Option<String>,
    /// How it ended: required when `phase` is `finished`, absent when `started`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<JobStatus>,
    /// How long it ran, in milliseconds: only when `phase` is `finished`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ms: Option<u64>,
}

impl JobLifecycle {
    pub(crate) fn validate(&self) -> Result<(), InvalidEvent> {
        match self.phase {
            JobPhase::Finished if self.status.is_none() => Err(InvalidEvent::new(
                "payload.status",
                "required when phase is \"finished\" (ok, failed or cancelled)",
            )),
            JobPhase::Started if self.status.is_some() => {
                Err(InvalidEvent::new("payload.status", "must be absent when phase is \"started\""))
            }
            JobPhase::Started if self.duration_ms.is_some() => {
                Err(InvalidEvent::new("payload.duration_ms", "must be absent when phase is \"started\""))
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn for_each_string_mut(&mut self, f: &mut StrVisitor<'_>) {
        visit_opt(&mut self.job_kind, f);
    }
}

string_enum! {
    /// A capability decision.
    pub enum Decision("decision") {
        Allow = "allow",
        Deny = "deny",
    }
}

/// `capability_decision` (extension; the envelope must carry `capability_id` and
/// `policy_decision_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityDecision {
    /// Allowed or denied.
    pub decision: Decision,
    /// Who asked.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub requested_by: Option<String>,
    /// What was asked for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resource: Option<String>,
    /// Why the policy decided so.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

impl CapabilityDecision {
    pub(crate) fn for_each_string_mut(&mut self, f: &mut StrVisitor<'_>) {
        visit_opt(&mut self.requested_by, f);
        visit_opt(&mut self.resource, f);
        visit_opt(&mut self.reason, f);
    }
}
