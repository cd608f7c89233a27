//! Linked views: a trace with its span tree and the jobs it touches, a job with its lifecycle
//! and traces; both say when retention dropped part of their evidence (FR-EVT-004).

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::{EventPage, EventQuery, MAX_LIMIT, StoredEvent};

/// Most events a trace or job view holds; `truncated` says when there were more.
pub const MAX_VIEW_EVENTS: usize = 10_000;

crate::event::string_enum! {
    /// What a [`Span`] is.
    pub enum SpanKind("span kind") {
        ToolCall = "tool_call",
        Activity = "activity",
        Session = "session",
    }
}

/// A span: a tool call, or an activity or session span id shared by events.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Span {
    pub span_id: String,
    #[schema(inline)]
    pub kind: SpanKind,
    pub parent_span_id: Option<String>,
    pub label: String,
    #[serde(with = "crate::event::time")]
    pub start: DateTime<Utc>,
    #[serde(with = "crate::event::time")]
    pub end: DateTime<Utc>,
    pub events: usize,
}

/// Evidence retention dropped.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetentionGap {
    pub events: u64,
    #[serde(with = "crate::event::time::option")]
    pub from: Option<DateTime<Utc>>,
    #[serde(with = "crate::event::time::option")]
    pub to: Option<DateTime<Utc>>,
    pub message: String,
}

impl RetentionGap {
    pub fn new(what: &str, events: u64, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> RetentionGap {
        let fmt = |t: Option<DateTime<Utc>>| t.map_or("?".to_string(), |t| crate::event::time::format_rfc3339(&t));
        let message = format!(
            "evidence missing due to retention: {events} events of this {what} between {} and {} were dropped",
            fmt(from),
            fmt(to)
        );
        RetentionGap { events, from, to, message }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TraceView {
    pub trace_id: String,
    pub events: Vec<StoredEvent>,
    pub spans: Vec<Span>,
    pub jobs: Vec<String>,
    pub retention_gaps: Vec<RetentionGap>,
    pub truncated: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobView {
    pub job_id: String,
    /// The job's `job_lifecycle` events.
    pub lifecycle: Vec<StoredEvent>,
    /// `ok`, `failed` or `cancelled` once finished; `running` when started; null if unknown.
    #[schema(required = true)]
    pub status: Option<String>,
    pub traces: Vec<String>,
    pub events: Vec<StoredEvent>,
    pub retention_gaps: Vec<RetentionGap>,
    pub truncated: bool,
}

/// Pages through `run` until the filter is exhausted or [`MAX_VIEW_EVENTS`] are read.
pub fn collect_all<E>(
    mut q: EventQuery,
    mut run: impl FnMut(&EventQuery) -> Result<EventPage, E>,
) -> Result<(Vec<StoredEvent>, bool), E> {
    q.limit = Some(MAX_LIMIT);
    let mut out = Vec::new();
    loop {
        let page = run(&q)?;
        out.extend(page.events);
        match page.next_cursor.and_then(|c| super::Cursor::decode(&c).ok()) {
            Some(c) if out.len() < MAX_VIEW_EVENTS => q.cursor = Some(c),
            Some(_) => return Ok((out, true)),
            None => return Ok((out, false)),
        }
    }
}

pub fn trace_view(trace_id: &str, events: Vec<StoredEvent>, gaps: Vec<RetentionGap>, truncated: bool) -> TraceView {
    let jobs = distinct(events.iter().filter_map(|e| e.job_id.clone()));
    TraceView { trace_id: trace_id.to_string(), spans: spans(&events), jobs, events, retention_gaps: gaps, truncated }
}

pub fn job_view(job_id: &str, events: Vec<StoredEvent>, gaps: Vec<RetentionGap>, truncated: bool) -> JobView {
    let lifecycle: Vec<StoredEvent> = events.iter().filter(|e| e.ty == "job_lifecycle").cloned().collect();
    let status = lifecycle.last().and_then(|e| {
        #[derive(Deserialize)]
        struct Phase<'a> {
            #[serde(borrow)]
            phase: Cow<'a, str>,
            #[serde(default, borrow)]
            status: Option<Cow<'a, str>>,
        }
        let p: Phase<'_> = serde_json::from_str(e.payload.get()).ok()?;
        Some(p.status.map_or_else(
            || if p.phase == "started" { "running".into() } else { p.phase.to_string() },
            |s| s.to_string(),
        ))
    });
    let traces = distinct(events.iter().map(|e| e.trace_id.clone()));
    JobView { job_id: job_id.to_string(), lifecycle, status, traces, events, retention_gaps: gaps, truncated }
}

fn distinct(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = items.collect();
    v.sort();
    v.dedup();
    v
}

/// The payload fields of a tool call that make it a span.
#[derive(Deserialize)]
struct ToolSpan<'a> {
    #[serde(borrow)]
    tool_call_id: Cow<'a, str>,
    #[serde(borrow)]
    tool_id: Cow<'a, str>,
    #[serde(default, borrow)]
    parent_span_id: Option<Cow<'a, str>>,
    #[serde(default)]
    timing: Option<ToolTiming>,
}

#[derive(Deserialize)]
struct ToolTiming {
    started_at: DateTime<Utc>,
    ended_at: DateTime<Utc>,
}

/// The payload fields of an OpenTelemetry `span` event that place it in the span tree.
#[derive(Deserialize)]
struct OtelSpanFields<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    parent_span_id: Option<Cow<'a, str>>,
    #[serde(default)]
    duration_ms: Option<u64>,
}

/// The spans of a trace's events, ordered by start. An OpenTelemetry span recorded as a
/// `span` event names its activity span and links it to its parent.
pub fn spans(events: &[StoredEvent]) -> Vec<Span> {
    let mut by_id: BTreeMap<String, Span> = BTreeMap::new();
    let mut add = |id: &str, kind: SpanKind, parent: Option<&str>, label: &str, start, end| {
        let s = by_id.entry(id.to_string()).or_insert_with(|| Span {
            span_id: id.to_string(),
            kind,
            parent_span_id: parent.map(String::from),
            label: label.to_string(),
            start,
            end,
            events: 0,
        });
        s.start = s.start.min(start);
        s.end = s.end.max(end);
        s.events += 1;
    };
    // What an OpenTelemetry `span` event says of its own span (name, parent, end), applied
    // once every event is in: a log written in the span may come first.
    let mut otel: Vec<(String, OtelSpanFields<'_>, DateTime<Utc>)> = Vec::new();
    for e in events {
        let t = e.timestamp;
        if let Some(session) = &e.session_span_id {
            add(session, SpanKind::Session, None, "session", t, t);
        }
        if let Some(activity) = &e.activity_span_id {
            add(activity, SpanKind::Activity, e.session_span_id.as_deref(), "activity", t, t);
            if e.ty == "span"
                && let Ok(span) = serde_json::from_str::<OtelSpanFields<'_>>(e.payload.get())
            {
                otel.push((activity.clone(), span, t));
            }
        }
        if e.ty == "tool_call"
            && let Ok(tool) = serde_json::from_str::<ToolSpan<'_>>(e.payload.get())
        {
            let (start, end) = tool.timing.map_or((t, t), |tm| (tm.started_at, tm.ended_at));
            let parent = tool.parent_span_id.as_deref().or(e.activity_span_id.as_deref());
            add(&tool.tool_call_id, SpanKind::ToolCall, parent, &tool.tool_id, start, end);
        }
    }
    for (id, fields, start) in otel {
        if let Some(s) = by_id.get_mut(&id) {
            s.label = fields.name.into_owned();
            s.parent_span_id = fields.parent_span_id.map(Cow::into_owned).or(s.parent_span_id.take());
            let end =
                start + chrono::Duration::milliseconds(i64::try_from(fields.duration_ms.unwrap_or(0)).unwrap_or(0));
            s.end = s.end.max(end);
        }
    }
    let mut spans: Vec<Span> = by_id.into_values().collect();
    spans.sort_by(|a, b| (a.start, &a.span_id).cmp(&(b.start, &b.span_id)));
    spans
}
