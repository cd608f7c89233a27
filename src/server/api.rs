//! The `/v1` handlers.

use std::time::Instant;

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
use crate::ingest::MAX_EVENT_BYTES;
use crate::ndjson::{LineSplitter, SplitLine, is_blank};
use crate::query::params::{BadParam, no_control_chars, parse_params};
use crate::recorder::{FlightRecorder, Recorded, RecorderError};
use crate::wal::Durability;

/// Most events one JSON array may carry.
pub const MAX_BATCH: usize = 10_000;
/// Most bytes one NDJSON body may carry (lines are limited to one event's size each).
pub const MAX_NDJSON_BYTES: u64 = 1 << 30;
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

#[derive(Debug, Default, serde::Serialize)]
pub struct IngestResponse {
    pub accepted: u64,
    pub duplicates: u64,
    /// The first [`MAX_REJECTED_LISTED`] rejections.
    pub rejected: Vec<Rejected>,
    /// Every rejection, listed or not.
    pub rejected_total: u64,
    /// Per event of a single or array request: ids, assigned trace ids, duplicate flags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Recorded>,
    /// Set when the whole request was rejected (status 400).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, serde::Serialize)]
pub struct Rejected {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Rejected {
    fn from_error(e: &ApiError, index: Option<usize>, line: Option<u64>) -> Rejected {
        Rejected { index, line, code: e.code.clone(), message: e.message.clone(), field: e.field.clone() }
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
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "HSK-400-INVALID-QUERY",
                "unknown parameter; known: durability",
            )
            .with_field(k));
        }
        durability =
            Some(v.parse().map_err(|e: String| {
                ApiError::new(StatusCode::BAD_REQUEST, "HSK-400-INVALID-QUERY", e).with_field(k)
            })?);
    }
    Ok(durability)
}

/// `POST /v1/events`: one event, or an array of events.
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
            return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "HSK-413-BATCH-TOO-LARGE", msg));
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
            resp.code = Some(r.code.clone());
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
                code: "HSK-413-EVENT-TOO-LARGE".into(),
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
pub async fn get_events(
    State(s): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let q = parse_params(&params).map_err(bad_param)?;
    let t = Instant::now();
    let page = s.recorder.query(q).await?;
    s.metrics.observe_query(t.elapsed());
    Ok(Json(page).into_response())
}

fn bad_param(b: BadParam) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "HSK-400-INVALID-QUERY", b.reason).with_field(b.field)
}

/// `GET /v1/traces/{trace_id}`.
pub async fn get_trace(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    no_control_chars("trace_id", &id).map_err(bad_param)?;
    let t = Instant::now();
    let view = s.recorder.trace(&id).await?;
    s.metrics.observe_query(t.elapsed());
    found(view.events.is_empty() && view.retention_gaps.is_empty(), &format!("trace {id}"), view)
}

/// `GET /v1/jobs/{job_id}`.
pub async fn get_job(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    no_control_chars("job_id", &id).map_err(bad_param)?;
    let t = Instant::now();
    let view = s.recorder.job(&id).await?;
    s.metrics.observe_query(t.elapsed());
    found(view.events.is_empty() && view.retention_gaps.is_empty(), &format!("job {id}"), view)
}

/// 404 for a view of something never recorded (no event, no retention gap), else the view.
fn found<T: serde::Serialize>(empty: bool, what: &str, view: T) -> Result<Response, ApiError> {
    if empty {
        return Err(ApiError::not_found(what));
    }
    Ok(Json(view).into_response())
}

/// `POST /v1/retention:run`.
pub async fn run_retention(State(s): State<AppState>) -> Result<Response, ApiError> {
    let purged = s.recorder.enforce_retention().await?;
    Ok(Json(serde_json::json!({ "events_purged": purged })).into_response())
}

/// `GET /v1/stats`.
pub async fn get_stats(State(s): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(s.recorder.stats().await?).into_response())
}

/// `GET /metrics` (Prometheus text).
pub async fn get_metrics(State(s): State<AppState>) -> Result<Response, ApiError> {
    let stats = s.recorder.stats().await?;
    let text = s.metrics.render(&stats);
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
