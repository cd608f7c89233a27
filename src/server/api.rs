//! The `/v1` handlers.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::value::RawValue;

use super::AppState;
use super::error::ApiError;
use super::limits;
use super::openapi::{
    DurabilityParam, ErrorReply, EventOrBatch, IngestErrors, IngestRefusal, JobIdParam, Refusals, TraceIdParam,
    ViewErrors,
};
use crate::error::Code;
use crate::ingest::MAX_EVENT_BYTES;
use crate::ndjson::{LineSplitter, SplitLine, is_blank};
use crate::query::EventPage;
use crate::query::params::EventFilters;
use crate::query::params::{BadParam, no_control_chars, parse_params};
use crate::query::views::{JobView, TraceView};
use crate::recorder::RecorderStats;
use crate::recorder::{FlightRecorder, Recorded, RecorderError};
use crate::wal::Durability;

/// Most events one JSON array may carry.
pub const MAX_BATCH: usize = 10_000;
/// Most NDJSON lines recorded per WAL request.
const NDJSON_GROUP: usize = 1_000;
/// Most bytes of NDJSON lines held before they are recorded (the lines and their bookkeeping),
/// whatever their number.
const NDJSON_GROUP_BYTES: usize = 4 << 20;
/// A body chunk is split into lines this many bytes at a time, so the lines of one chunk held
/// at once stay few even when they are tiny.
const SPLIT_PIECE: usize = 64 << 10;
/// Rejections listed in an answer; `rejected_total` counts them all.
pub const MAX_REJECTED_LISTED: usize = 1_000;

/// The answer of the ingest routes (the OpenAPI document's `IngestResult`).
#[derive(Debug, Default, serde::Serialize, utoipa::ToSchema)]
#[schema(as = IngestResult)]
pub struct IngestResponse {
    pub accepted: u64,
    pub duplicates: u64,
    /// The first [`MAX_REJECTED_LISTED`] rejections: `index` for arrays, `line` for NDJSON.
    pub rejected: Vec<Rejected>,
    /// Every rejection, listed or not.
    pub rejected_total: u64,
    /// Per event of a single or array request: ids, assigned trace ids, duplicate flags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Recorded>,
    /// Set when the whole request was rejected (status 400).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub code: Option<Code>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
}

/// One rejected event: its `index` in an array or its `line` in NDJSON, and why.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Rejected {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub line: Option<u64>,
    pub code: Code,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
}

impl Rejected {
    fn from_error(e: &ApiError, index: Option<usize>, line: Option<u64>) -> Rejected {
        Rejected { index, line, code: e.code, message: e.message.clone(), field: e.field.clone() }
    }
}

impl IngestResponse {
    /// Counts a rejection and lists it while the list is short; `make` builds it only then.
    fn reject(&mut self, make: impl FnOnce() -> Rejected) {
        self.rejected_total += 1;
        if self.rejected.len() < MAX_REJECTED_LISTED {
            self.rejected.push(make());
        }
    }

    /// Adds one event's outcome; storage errors (not the event's fault) fail the request.
    fn add(
        &mut self,
        result: Result<Recorded, RecorderError>,
        index: Option<usize>,
        line: Option<u64>,
    ) -> Result<(), ApiError> {
        match result {
            Ok(r) => {
                if r.duplicate {
                    self.duplicates += 1;
                } else {
                    self.accepted += 1;
                }
                if line.is_none() {
                    self.events.push(r);
                }
            }
            Err(e @ RecorderError::InvalidEvent(_)) => self.reject(|| Rejected::from_error(&e.into(), index, line)),
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

/// `?durability=sync|batch|async` (the only parameter of the ingest routes).
pub(super) fn durability_param(pairs: &[(String, String)]) -> Result<Option<Durability>, ApiError> {
    let mut durability = None;
    for (k, v) in pairs {
        if k != "durability" {
            return Err(ApiError::new(Code::InvalidQuery, "unknown parameter; known: durability").with_field(k));
        }
        durability = Some(v.parse().map_err(|e: String| ApiError::new(Code::InvalidQuery, e).with_field(k))?);
    }
    Ok(durability)
}

/// `POST /v1/events`: one event, or an array of events.
#[utoipa::path(post, path = "/v1/events", summary = "Record one event or an array of events",
    params(DurabilityParam),
    request_body(content = inline(EventOrBatch), content_type = "application/json"),
    responses(
        (status = 200, description = "All accepted or duplicates (an array may list rejected items)", body = IngestResponse),
        (status = 400, description = "The event, or every event of the array, was rejected (IngestResult); or the body is not JSON or a parameter is bad (Error)", body = inline(IngestRefusal)),
        Refusals,
        IngestErrors,
    ))]
pub async fn post_events(
    State(s): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let durability = durability_param(&params)?;
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let mut resp = IngestResponse::default();
    let whole_rejected = if first == Some(&b'[') {
        let items: Vec<&RawValue> = serde_json::from_slice(&body).map_err(ApiError::bad_json)?;
        if items.len() > MAX_BATCH {
            let msg = format!("{} events in one request; the limit is {MAX_BATCH}", items.len());
            return Err(ApiError::new(Code::BatchTooLarge, msg));
        }
        let slices: Vec<&[u8]> = items.iter().map(|r| r.get().as_bytes()).collect();
        for (i, r) in s.recorder.record_json_batch(&slices, durability).await.into_iter().enumerate() {
            resp.add(r, Some(i), None)?;
        }
        !items.is_empty() && resp.rejected_total == items.len() as u64
    } else {
        resp.add(s.recorder.record_json(&body, durability).await, Some(0), None)?;
        resp.rejected_total > 0
    };
    s.metrics.count_ingest(resp.accepted, resp.duplicates, resp.rejected_total);
    if whole_rejected {
        if let Some(r) = resp.rejected.first() {
            resp.code = Some(r.code);
            resp.message = Some(r.message.clone());
            resp.field = r.field.clone();
        }
        return Ok((StatusCode::BAD_REQUEST, Json(resp)).into_response());
    }
    Ok(Json(resp).into_response())
}

/// `POST /v1/events:ndjson`: a streamed body, one event a line; answers per line. What it
/// holds is bounded whatever the body: the unfinished line (one event's size), the lines not
/// recorded yet ([`NDJSON_GROUP_BYTES`]) and the first [`MAX_REJECTED_LISTED`] rejections.
#[utoipa::path(post, path = "/v1/events:ndjson",
    summary = "Record a streamed NDJSON body, one event a line; answers per line",
    params(DurabilityParam),
    // A reference, not the type: the body may be empty (not required), but is never null.
    request_body(content = ref("#/components/schemas/NdjsonBody"), content_type = "application/x-ndjson"),
    responses(
        (status = 200, description = "Per-line results", body = IngestResponse),
        (status = 400, response = ErrorReply),
        Refusals,
        IngestErrors,
    ))]
pub async fn post_ndjson(
    State(s): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
    body: Body,
) -> Result<Json<IngestResponse>, ApiError> {
    let mut lines = NdjsonIngest::new(durability_param(&params)?);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        for piece in chunk.map_err(limits::body_error)?.chunks(SPLIT_PIECE) {
            for line in lines.splitter.push(piece) {
                lines.take(line);
            }
            if lines.full() {
                lines.record(&s).await?;
            }
        }
    }
    if let Some(line) = lines.splitter.finish() {
        lines.take(line);
    }
    lines.record(&s).await?;
    let resp = lines.resp;
    s.metrics.count_ingest(resp.accepted, resp.duplicates, resp.rejected_total);
    Ok(Json(resp))
}

/// The state of one NDJSON request: the line splitter, the lines waiting to be recorded (with
/// their line numbers) and the answer so far.
struct NdjsonIngest {
    splitter: LineSplitter,
    pending: Vec<(u64, Vec<u8>)>,
    pending_bytes: usize,
    resp: IngestResponse,
    durability: Option<Durability>,
}

impl NdjsonIngest {
    fn new(durability: Option<Durability>) -> NdjsonIngest {
        NdjsonIngest {
            splitter: LineSplitter::new(MAX_EVENT_BYTES),
            pending: Vec::new(),
            pending_bytes: 0,
            resp: IngestResponse::default(),
            durability,
        }
    }

    fn take(&mut self, (no, line): (u64, SplitLine)) {
        match line {
            SplitLine::Bytes(b) if is_blank(&b) => {}
            SplitLine::Bytes(b) => {
                self.pending_bytes += b.len() + std::mem::size_of::<(u64, Vec<u8>)>();
                self.pending.push((no, b));
            }
            SplitLine::TooLong { len } => self.resp.reject(|| Rejected {
                index: None,
                line: Some(no),
                code: Code::EventTooLarge,
                message: format!("line is {len} bytes; the limit is {MAX_EVENT_BYTES}"),
                field: None,
            }),
        }
    }

    fn full(&self) -> bool {
        self.pending.len() >= NDJSON_GROUP || self.pending_bytes >= NDJSON_GROUP_BYTES
    }

    async fn record(&mut self, s: &AppState) -> Result<(), ApiError> {
        let lines = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let slices: Vec<&[u8]> = lines.iter().map(|(_, b)| b.as_slice()).collect();
        for ((no, _), r) in lines.iter().zip(s.recorder.record_json_batch(&slices, self.durability).await) {
            self.resp.add(r, None, Some(*no))?;
        }
        Ok(())
    }
}

/// `GET /v1/events`.
#[utoipa::path(get, path = "/v1/events", summary = "Query events (time, then event_id order), one page",
    params(EventFilters),
    responses(
        (status = 200, description = "A page", body = EventPage),
        (status = 400, response = ErrorReply),
        Refusals,
        (status = 500, response = ErrorReply),
    ))]
pub async fn get_events(
    State(s): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let q = parse_params(&params).map_err(bad_param)?;
    let page = s.metrics.timed_query(s.recorder.query(q)).await?;
    Ok(Json(page).into_response())
}

/// A bad query parameter: `HSK-400-INVALID-QUERY` naming it.
pub fn bad_param(b: BadParam) -> ApiError {
    ApiError::new(Code::InvalidQuery, b.reason).with_field(b.field)
}

/// `GET /v1/traces/{trace_id}`.
#[utoipa::path(get, path = "/v1/traces/{trace_id}", summary = "A trace: events, spans, jobs, retention gaps",
    params(TraceIdParam),
    responses(
        (status = 200, description = "The trace", body = TraceView),
        Refusals,
        ViewErrors,
    ))]
pub async fn get_trace(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    no_control_chars("trace_id", &id).map_err(bad_param)?;
    let view = s.metrics.timed_query(s.recorder.trace(&id)).await?;
    found(view.events.is_empty() && view.retention_gaps.is_empty(), &format!("trace {id}"), view)
}

/// `GET /v1/jobs/{job_id}`.
#[utoipa::path(get, path = "/v1/jobs/{job_id}", summary = "A job: lifecycle, traces, events, retention gaps",
    params(JobIdParam),
    responses(
        (status = 200, description = "The job", body = JobView),
        Refusals,
        ViewErrors,
    ))]
pub async fn get_job(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    no_control_chars("job_id", &id).map_err(bad_param)?;
    let view = s.metrics.timed_query(s.recorder.job(&id)).await?;
    found(view.events.is_empty() && view.retention_gaps.is_empty(), &format!("job {id}"), view)
}

/// 404 for a view of something never recorded (no event, no retention gap), else the view.
fn found<T: serde::Serialize>(empty: bool, what: &str, view: T) -> Result<Response, ApiError> {
    if empty {
        return Err(ApiError::not_found(what));
    }
    Ok(Json(view).into_response())
}

/// The answer of `POST /v1/retention:run`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RetentionRun {
    pub events_purged: u64,
}

/// `POST /v1/retention:run`.
#[utoipa::path(post, path = "/v1/retention:run", summary = "Run retention now",
    responses(
        (status = 200, description = "Events purged", body = RetentionRun),
        Refusals,
        (status = 408, response = ErrorReply),
        (status = 415, response = ErrorReply),
        (status = 500, response = ErrorReply),
    ))]
pub async fn run_retention(State(s): State<AppState>) -> Result<Json<RetentionRun>, ApiError> {
    Ok(Json(RetentionRun { events_purged: s.recorder.enforce_retention().await? }))
}

/// `GET /v1/stats`.
#[utoipa::path(get, path = "/v1/stats", summary = "Counts and time range",
    responses(
        (status = 200, description = "Stats", body = RecorderStats),
        Refusals,
        (status = 500, response = ErrorReply),
    ))]
pub async fn get_stats(State(s): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(s.recorder.stats().await?).into_response())
}

/// `GET /metrics` (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", summary = "Prometheus metrics",
    responses(
        (status = 200, description = "OpenMetrics text", body = String, content_type = "application/openmetrics-text"),
        Refusals,
        (status = 500, response = ErrorReply),
    ))]
pub async fn get_metrics(State(s): State<AppState>) -> Result<Response, ApiError> {
    let stats = s.recorder.stats().await?;
    let text = s.metrics.encode(s.recorder.metrics(), &stats).map_err(|_| {
        let msg = "encoding the metrics failed; retry, and report it if it persists";
        ApiError::new(Code::Metrics, msg)
    })?;
    Ok(([(axum::http::header::CONTENT_TYPE, super::metrics::CONTENT_TYPE)], text).into_response())
}
