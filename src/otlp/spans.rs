//! One OpenTelemetry span onto one FR-EVT event (the table of docs/otlp.md): `llm_inference`,
//! `tool_call`, `capability_decision`, or else the extension `span`.

use chrono::{DateTime, Utc};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind as OtelKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use super::attrs::{Attrs, bounded, hex};
use super::{Envelope, Unmappable, derived_id, nanos_to_time};
use crate::event::{
    Actor, CapabilityDecision, Decision, EventBody, LlmInference, MAX_ATTRIBUTE_VALUE, OtelSpan, SpanKind, SpanStatus,
    Timing, TokenUsage, ToolCall, ToolError,
};

/// `gen_ai.operation.name` values that are model calls.
const INFERENCE_OPERATIONS: &[&str] = &["chat", "text_completion", "generate_content", "embeddings"];
/// The operation of a tool call.
const TOOL_OPERATION: &str = "execute_tool";
/// Used where FR-EVT requires a value the span does not carry.
const UNKNOWN: &str = "unknown";

/// The parts of a span every mapping needs.
pub(super) struct SpanFacts<'a> {
    pub span: &'a Span,
    pub attrs: Attrs<'a>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub duration_ms: u64,
    pub parent: Option<String>,
}

impl<'a> SpanFacts<'a> {
    /// Checks what every event needs: valid ids and timestamps.
    pub fn read(span: &'a Span) -> Result<SpanFacts<'a>, Unmappable> {
        let start = nanos_to_time(span.start_time_unix_nano).ok_or(Unmappable::BadTimestamp("start_time_unix_nano"))?;
        let end = nanos_to_time(span.end_time_unix_nano).ok_or(Unmappable::BadTimestamp("end_time_unix_nano"))?;
        if span.end_time_unix_nano < span.start_time_unix_nano {
            return Err(Unmappable::BadTimestamp("end_time_unix_nano (before the start)"));
        }
        let duration_ms = (span.end_time_unix_nano - span.start_time_unix_nano) / 1_000_000;
        let parent = (span.parent_span_id.len() == 8 && span.parent_span_id.iter().any(|b| *b != 0))
            .then(|| hex(&span.parent_span_id));
        Ok(SpanFacts { span, attrs: Attrs(&span.attributes), start, end, duration_ms, parent })
    }

    fn ok(&self) -> bool {
        self.span.status.as_ref().is_none_or(|s| s.code != StatusCode::Error as i32)
    }
}

/// The event of one span; `resource` holds the resource's attributes (for `flightrec.job_id`).
pub(super) fn span_event(span: &Span, resource: Attrs<'_>) -> Result<crate::event::Event, Unmappable> {
    let trace_id = super::trace_uuid(&span.trace_id)?;
    if span.span_id.len() != 8 || span.span_id.iter().all(|b| *b == 0) {
        return Err(Unmappable::BadId("span_id"));
    }
    let f = SpanFacts::read(span)?;
    let operation = f.attrs.text(&["gen_ai.operation.name"]);
    let (body, actor, model_id) = if let Some(body) = capability(&f) {
        (body, Actor::Agent, None)
    } else if operation.as_deref().is_some_and(|op| INFERENCE_OPERATIONS.contains(&op))
        || (operation.is_none() && f.attrs.get(&["gen_ai.request.model"]).is_some())
    {
        let model = f.attrs.text(&["gen_ai.response.model", "gen_ai.request.model"]).unwrap_or_else(|| UNKNOWN.into());
        (inference(&f), Actor::Agent, Some(model))
    } else if operation.as_deref() == Some(TOOL_OPERATION) {
        (tool_call(&f), Actor::Agent, None)
    } else {
        let actor = if operation.is_some() { Actor::Agent } else { Actor::System };
        (other_span(&f), actor, None)
    };
    let env = Envelope {
        event_id: derived_id(b"span", &[&span.trace_id, &span.span_id]),
        timestamp: f.start,
        actor,
        trace_id,
        span_id: Some(hex(&span.span_id)),
        span: f.attrs,
        resource,
    };
    let mut event = env.event(body);
    event.model_id = model_id;
    if matches!(event.body, EventBody::CapabilityDecision(_)) {
        event.capability_id = f.attrs.text(&["flightrec.capability_id"]);
        event.policy_decision_id =
            Some(f.attrs.text(&["flightrec.policy_decision_id"]).unwrap_or_else(|| hex(&span.span_id)));
    }
    Ok(event)
}

/// `capability_decision` when the span carries `flightrec.capability_id` and a valid
/// `flightrec.decision`.
fn capability(f: &SpanFacts<'_>) -> Option<EventBody> {
    f.attrs.text(&["flightrec.capability_id"])?;
    let decision = Decision::from_name(&f.attrs.text(&["flightrec.decision"])?)?;
    Some(EventBody::CapabilityDecision(CapabilityDecision {
        decision,
        requested_by: f.attrs.text(&["flightrec.requested_by"]),
        resource: f.attrs.text(&["flightrec.resource"]),
        reason: f.attrs.text(&["flightrec.reason"]),
    }))
}

fn inference(f: &SpanFacts<'_>) -> EventBody {
    let a = f.attrs;
    let prompt = a.count(&["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"]).unwrap_or(0);
    let completion = a.count(&["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"]).unwrap_or(0);
    // Older instrumentations put the content in span events rather than attributes.
    let events = |name: &str, key: &str| {
        f.span.events.iter().filter(|e| e.name == name).find_map(|e| Attrs(&e.attributes).text(&[key]))
    };
    let prompt_hash = a
        .digest(&["gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.prompt"])
        .or_else(|| events("gen_ai.content.prompt", "gen_ai.prompt").map(|t| super::attrs::sha256_hex(t.as_bytes())));
    let response_hash = a.digest(&["gen_ai.output.messages", "gen_ai.completion"]).or_else(|| {
        events("gen_ai.content.completion", "gen_ai.completion").map(|t| super::attrs::sha256_hex(t.as_bytes()))
    });
    EventBody::LlmInference(LlmInference {
        token_usage: TokenUsage { prompt, completion, total: prompt.saturating_add(completion) },
        latency_ms: Some(f.duration_ms),
        prompt_hash,
        response_hash,
        provider: a.text(&["gen_ai.provider.name", "gen_ai.system"]),
        finish_reason: a.first_text(&["gen_ai.response.finish_reasons"]),
    })
}

fn tool_call(f: &SpanFacts<'_>) -> EventBody {
    let a = f.attrs;
    let ok = f.ok();
    let error = (!ok).then(|| {
        let message = f.span.status.as_ref().map(|s| s.message.as_str()).unwrap_or_default();
        let first_word = message.split_whitespace().next().map(|w| w.trim_end_matches(':').to_string());
        let code = a.text(&["error.type"]).or(first_word).filter(|c| !c.is_empty()).unwrap_or_else(|| "error".into());
        ToolError { code, kind: "tool_error".into() }
    });
    EventBody::ToolCall(ToolCall {
        tool_call_id: a.text(&["gen_ai.tool.call.id"]).unwrap_or_else(|| hex(&f.span.span_id)),
        tool_id: a.text(&["gen_ai.tool.name"]).unwrap_or_else(|| non_empty_name(f.span)),
        tool_version: a.text(&["gen_ai.tool.version"]).unwrap_or_else(|| UNKNOWN.into()),
        transport: None,
        side_effect: None,
        idempotency: None,
        ok,
        args_ref: None,
        args_hash: a.digest(&["gen_ai.tool.call.arguments"]),
        result_ref: None,
        result_hash: a.digest(&["gen_ai.tool.call.result"]),
        error,
        timing: Some(Timing { started_at: f.start, ended_at: f.end, duration_ms: Some(f.duration_ms) }),
        capability_ids: a.texts(&["flightrec.capability_id"]),
        parent_span_id: f.parent.clone(),
    })
}

fn other_span(f: &SpanFacts<'_>) -> EventBody {
    let status = f.span.status.as_ref();
    EventBody::Span(OtelSpan {
        name: non_empty_name(f.span),
        kind: span_kind(f.span.kind),
        status: Some(match status.map(|s| s.code) {
            Some(c) if c == StatusCode::Ok as i32 => SpanStatus::Ok,
            Some(c) if c == StatusCode::Error as i32 => SpanStatus::Error,
            _ => SpanStatus::Unset,
        }),
        status_message: status.map(|s| bounded(s.message.clone(), MAX_ATTRIBUTE_VALUE)).filter(|m| !m.is_empty()),
        duration_ms: Some(f.duration_ms),
        parent_span_id: f.parent.clone(),
        attributes: f.attrs.bounded_map(super::ENVELOPE_KEYS),
    })
}

fn span_kind(kind: i32) -> Option<SpanKind> {
    match OtelKind::try_from(kind).ok()? {
        OtelKind::Internal => Some(SpanKind::Internal),
        OtelKind::Server => Some(SpanKind::Server),
        OtelKind::Client => Some(SpanKind::Client),
        OtelKind::Producer => Some(SpanKind::Producer),
        OtelKind::Consumer => Some(SpanKind::Consumer),
        OtelKind::Unspecified => None,
    }
}

/// The span's name, or `unnamed` (OTel allows an empty name; FR-EVT's `name` is required).
fn non_empty_name(span: &Span) -> String {
    if span.name.is_empty() { "unnamed".into() } else { bounded(span.name.clone(), MAX_ATTRIBUTE_VALUE) }
}
