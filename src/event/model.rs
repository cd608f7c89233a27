//! Payloads of the AI events: `llm_inference` (FR-EVT-006) and `tool_call` (FR-EVT-007).
//!
//! Invariants checked by `validate`: `token_usage.total == prompt + completion`; `error` is
//! present exactly when `ok` is false; `timing.ended_at >= timing.started_at`. Prompts,
//! responses, arguments and results are never inline: only `*_ref` and `*_hash`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::InvalidEvent;
use super::check::{StrVisitor, non_empty, representable, visit_list, visit_opt};
use super::names::string_enum;

/// FR-EVT-006 `llm_inference` (the envelope must carry `trace_id` and `model_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmInference {
    /// Tokens used.
    #[serde(deserialize_with = "super::obj::object")]
    pub token_usage: TokenUsage,
    /// Time to the complete response, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub latency_ms: Option<u64>,
    /// Digest (hex sha256) of the prompt; not checked for form.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prompt_hash: Option<String>,
    /// Digest (hex sha256) of the response; not checked for form.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub response_hash: Option<String>,
    /// Who served the model.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub provider: Option<String>,
    /// Why generation stopped, as the provider says it (`stop`, `length`…).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub finish_reason: Option<String>,
}

/// Token counts of one inference; `total == prompt + completion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenUsage {
    /// Prompt tokens.
    pub prompt: u64,
    /// Completion tokens.
    pub completion: u64,
    /// `prompt + completion`.
    pub total: u64,
}

impl LlmInference {
    pub(crate) fn validate(&self) -> Result<(), InvalidEvent> {
        let u = &self.token_usage;
        if u.prompt.checked_add(u.completion) != Some(u.total) {
            return Err(InvalidEvent::new(
                "payload.token_usage.total",
                format!("must equal prompt + completion ({} + {})", u.prompt, u.completion),
            ));
        }
        Ok(())
    }

    pub(crate) fn for_each_string_mut(&mut self, f: &mut StrVisitor<'_>) {
        visit_opt(&mut self.prompt_hash, f);
        visit_opt(&mut self.response_hash, f);
        visit_opt(&mut self.provider, f);
        visit_opt(&mut self.finish_reason, f);
    }
}

string_enum! {
    /// How a tool was reached.
    pub enum Transport("transport") {
        InProcess = "in_process",
        Mcp = "mcp",
        Http = "http",
        Cli = "cli",
    }
}

string_enum! {
    /// What a tool call may change.
    pub enum SideEffect("side effect") {
        Read = "READ",
        Write = "WRITE",
        Execute = "EXECUTE",
    }
}

string_enum! {
    /// Whether repeating a tool call is safe.
    pub enum Idempotency("idempotency") {
        Idempotent = "idempotent",
        NonIdempotent = "non_idempotent",
    }
}

/// FR-EVT-007 `tool_call` (the envelope must carry `trace_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    /// Identity of this call; non-empty.
    pub tool_call_id: String,
    /// Which tool; non-empty.
    pub tool_id: String,
    /// Which version of it; non-empty.
    pub tool_version: String,
    /// How it was reached.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub transport: Option<Transport>,
    /// What it may change.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub side_effect: Option<SideEffect>,
    /// Whether repeating it is safe.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub idempotency: Option<Idempotency>,
    /// Whether it succeeded.
    pub ok: bool,
    /// Reference to the stored arguments.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub args_ref: Option<String>,
    /// Digest of the arguments.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub args_hash: Option<String>,
    /// Reference to the stored result (after redaction).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub result_ref: Option<String>,
    /// Digest of the result (after redaction).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub result_hash: Option<String>,
    /// Why it failed; present exactly when `ok` is false.
    #[serde(skip_serializing_if = "Option::is_none", default, deserialize_with = "super::obj::opt_object")]
    pub error: Option<ToolError>,
    /// When it ran.
    #[serde(skip_serializing_if = "Option::is_none", default, deserialize_with = "super::obj::opt_object")]
    pub timing: Option<Timing>,
    /// Capabilities the call used.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub capability_ids: Option<Vec<String>>,
    /// The span this call runs under.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub parent_span_id: Option<String>,
}

/// The failure of a tool call. FR-EVT.md names `{code, kind}` without values; both are
/// required, non-empty free text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolError {
    /// Machine-readable error code.
    pub code: String,
    /// Class of failure (e.g. `timeout`, `denied`, `tool_error`).
    pub kind: String,
}

/// When a tool call ran. Both instants are required when `timing` is given;
/// `ended_at >= started_at`. `duration_ms` is optional and not compared with the instants
/// (it may come from a monotonic clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    /// Start, UTC, whole microseconds.
    #[serde(with = "super::time")]
    pub started_at: DateTime<Utc>,
    /// End, UTC, whole microseconds; not before `started_at`.
    #[serde(with = "super::time")]
    pub ended_at: DateTime<Utc>,
    /// Duration in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ms: Option<u64>,
}

impl ToolCall {
    pub(crate) fn validate(&self) -> Result<(), InvalidEvent> {
        non_empty("payload.tool_call_id", &self.tool_call_id)?;
        non_empty("payload.tool_id", &self.tool_id)?;
        non_empty("payload.tool_version", &self.tool_version)?;
        match (&self.error, self.ok) {
            (None, false) => {
                return Err(InvalidEvent::new(
                    "payload.error",
                    "required when ok is false ({\"code\": …, \"kind\": …})",
                ));
            }
            (Some(_), true) => {
                return Err(InvalidEvent::new("payload.error", "must be absent when ok is true"));
            }
            (Some(e), false) => {
                non_empty("payload.error.code", &e.code)?;
                non_empty("payload.error.kind", &e.kind)?;
            }
            (None, true) => {}
        }
        if let Some(t) = &self.timing {
            representable("payload.timing.started_at", &t.started_at)?;
            representable("payload.timing.ended_at", &t.ended_at)?;
            if t.ended_at < t.started_at {
                return Err(InvalidEvent::new("payload.timing.ended_at", "must not be before timing.started_at"));
            }
        }
        Ok(())
    }

    pub(crate) fn for_each_string_mut(&mut self, f: &mut StrVisitor<'_>) {
        f(&mut self.tool_call_id);
        f(&mut self.tool_id);
        f(&mut self.tool_version);
        visit_opt(&mut self.args_ref, f);
        visit_opt(&mut self.args_hash, f);
        visit_opt(&mut self.result_ref, f);
        visit_opt(&mut self.result_hash, f);
        if let Some(e) = &mut self.error {
            f(&mut e.code);
            f(&mut e.kind);
        }
        visit_list(&mut self.capability_ids, f);
        visit_opt(&mut self.parent_span_id, f);
    }
}
