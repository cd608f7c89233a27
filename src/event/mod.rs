//! The event model of FR-EVT.md: the envelope ([`Event`]), one typed payload struct per event
//! type ([`EventBody`]), strict parsing ([`parse_event`]) and validation ([`Event::validate`]).
//!
//! This module owns what an event *is*. Its invariants:
//! - An [`Event`] returned by [`parse_event`] is valid: right shape (no unknown, missing or
//!   mistyped field anywhere, every enumerated string one of its spellings, every struct a JSON
//!   object) and every cross-field rule of FR-EVT.md holds.
//! - Its `timestamp` (and the payload's timestamps) are UTC with whole microseconds.
//! - Its `trace_id` is set: the caller's, or a fresh v4 UUID for types that allow assignment
//!   ([`ParsedEvent::trace_id_assigned`] says which).
//! - [`Event::to_json`] writes the canonical JSON, which parses back to an equal `Event`.
//! - Every rejection is an [`InvalidEvent`] (`HSK-400-INVALID-EVENT`) naming the field by JSON
//!   path. No input makes the parser panic.
//!
//! The derived `Deserialize` impls of the payload structs are building blocks of
//! [`parse_event`]; on their own they do not run the cross-field rules, so use `parse_event`.
//! `serde_json::Value` appears in no type here.

mod check;
mod envelope;
mod error;
mod json_writer;
mod model;
mod names;
mod obj;
mod otel;
mod parse;
mod runtime;
mod single_pass;
pub mod time;
mod validate;
mod workspace;

pub use check::Range;
pub use envelope::{Event, EventBody, OPTIONAL_FIELDS};
pub use error::{InvalidEvent, MAX_REASON, UnknownName};
pub use json_writer::{JsonWriteError, write_json, write_str};
pub use model::{Idempotency, LlmInference, SideEffect, Timing, TokenUsage, ToolCall, ToolError, Transport};
pub(crate) use names::string_enum;
pub use names::{Actor, EventType};
// The schema of the OpenAPI document's `Event` (server/openapi.rs).
pub use otel::{
    Attributes, MAX_ATTRIBUTE_KEY, MAX_ATTRIBUTE_VALUE, MAX_ATTRIBUTES, MAX_LOG_BODY, OtelLog, OtelSpan, SpanKind,
    SpanStatus,
};
#[cfg(feature = "store")]
pub(crate) use parse::RawEnvelope;
pub use parse::{ParsedEvent, parse_event};
pub use runtime::{CapabilityDecision, Decision, JobLifecycle, JobPhase, JobStatus, WorkflowRecovery, WorkflowState};
pub use workspace::{
    BundleScope, DebugBundleExport, Diagnostic, EditOp, EditorEdit, EditorSurface, RedactionMode, Severity,
    TerminalCommand,
};
