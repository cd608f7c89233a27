//! OTLP/HTTP ingest: `POST /v1/traces` and `POST /v1/logs`, so an OpenTelemetry SDK with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` set to this server exports into the recorder unchanged.
//!
//! A request is binary protobuf (`application/x-protobuf`, the SDKs' default) or OTLP/JSON
//! (`application/json`), optionally gzip-compressed (`Content-Encoding: gzip`; what it expands
//! to is bounded by [`MAX_DECOMPRESSED`]). The spans or records are mapped (`crate::otlp`) and
//! recorded like `POST /v1/events` (same redaction, de-duplication and durability: the answer
//! is sent only once the events are as durable as the mode promises). The answer is OTLP's
//! `Export*ServiceResponse` in the request's encoding; what could not be mapped or recorded is
//! counted in its `partial_success`. A request that cannot be read at all gets the JSON error
//! of every other route.

use std::io::Read;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsPartialSuccess, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceResponse};
use prost::Message;

use super::AppState;
use super::error::ApiError;
use super::openapi::{DurabilityParam, ErrorReply, IngestErrors, OtlpJson, OtlpProtobuf, Refusals};
use crate::error::Code;
use crate::otlp::{Mapped, map_logs, map_traces};
use crate::recorder::RecorderError;
use crate::wal::Durability;

/// Most bytes a gzip body may expand to (the compressed body is limited like any JSON body).
pub const MAX_DECOMPRESSED: usize = 4 * super::MAX_BODY;
const PROTOBUF: &str = "application/x-protobuf";

/// The two encodings of OTLP/HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

/// `POST /v1/traces`.
#[utoipa::path(post, path = "/v1/traces",
    summary = "OTLP/HTTP trace export (protobuf or OTLP/JSON, plain or gzip); spans become FR-EVT events (docs/otlp.md)",
    params(DurabilityParam),
    request_body(content((OtlpJson = "application/json"), (OtlpProtobuf = "application/x-protobuf"))),
    responses(
        (status = 200, description = "ExportTraceServiceResponse in the request's encoding; partial_success counts rejected spans",
            content((OtlpJson = "application/json"), (OtlpProtobuf = "application/x-protobuf"))),
        (status = 400, response = ErrorReply),
        Refusals,
        IngestErrors,
    ))]
pub async fn post_traces(
    State(s): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (encoding, rejected, message) = ingest(&s, &params, &headers, body, map_traces).await?;
    let partial_success =
        (rejected > 0).then_some(ExportTracePartialSuccess { rejected_spans: rejected, error_message: message });
    Ok(answer(encoding, &ExportTraceServiceResponse { partial_success }))
}

/// `POST /v1/logs`.
#[utoipa::path(post, path = "/v1/logs",
    summary = "OTLP/HTTP log export (protobuf or OTLP/JSON, plain or gzip); records become `log` events (docs/otlp.md)",
    params(DurabilityParam),
    request_body(content((OtlpJson = "application/json"), (OtlpProtobuf = "application/x-protobuf"))),
    responses(
        (status = 200, description = "ExportLogsServiceResponse in the request's encoding; partial_success counts rejected records",
            content((OtlpJson = "application/json"), (OtlpProtobuf = "application/x-protobuf"))),
        (status = 400, response = ErrorReply),
        Refusals,
        IngestErrors,
    ))]
pub async fn post_logs(
    State(s): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (encoding, rejected, message) = ingest(&s, &params, &headers, body, map_logs).await?;
    let partial_success =
        (rejected > 0).then_some(ExportLogsPartialSuccess { rejected_log_records: rejected, error_message: message });
    Ok(answer(encoding, &ExportLogsServiceResponse { partial_success }))
}

/// Decodes, maps and records one export request; returns its encoding (the answer's) and
/// how many spans or records were rejected, and why.
async fn ingest<R: Message + Default + serde::de::DeserializeOwned + 'static>(
    s: &AppState,
    params: &[(String, String)],
    headers: &HeaderMap,
    body: Bytes,
    map: fn(&R) -> Mapped,
) -> Result<(Encoding, i64, String), ApiError> {
    let durability = super::api::durability_param(params)?;
    let encoding = encoding(headers);
    let mapped = decode_and_map::<R>(headers, body, encoding, map).await?;
    let (rejected, message) = record(s, durability, mapped).await?;
    Ok((encoding, rejected, message))
}

/// The media-type guard let only the two OTLP types through.
fn encoding(headers: &HeaderMap) -> Encoding {
    let protobuf = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.essence_str().eq_ignore_ascii_case(PROTOBUF));
    if protobuf { Encoding::Protobuf } else { Encoding::Json }
}

/// Gunzips (when asked), decodes and maps off the async threads (all three are CPU work).
async fn decode_and_map<R: Message + Default + serde::de::DeserializeOwned + 'static>(
    headers: &HeaderMap,
    body: Bytes,
    encoding: Encoding,
    map: fn(&R) -> Mapped,
) -> Result<Mapped, ApiError> {
    let gzip = content_encoding_is_gzip(headers)?;
    tokio::task::spawn_blocking(move || {
        let req: R = if gzip { decode(&gunzip(&body)?, encoding)? } else { decode(&body, encoding)? };
        Ok(map(&req))
    })
    .await
    .map_err(|_| ApiError::from(RecorderError::ShuttingDown))?
}

/// `Content-Encoding`: none, `identity` or `gzip`; anything else is refused with 415.
fn content_encoding_is_gzip(headers: &HeaderMap) -> Result<bool, ApiError> {
    let Some(v) = headers.get(header::CONTENT_ENCODING) else { return Ok(false) };
    match v.to_str().map(|s| s.trim().to_ascii_lowercase()) {
        Ok(s) if s == "gzip" => Ok(true),
        Ok(s) if s == "identity" || s.is_empty() => Ok(false),
        _ => Err(ApiError::new(
            Code::UnsupportedEncoding,
            "OTLP bodies may be sent plain or with `Content-Encoding: gzip`; no other encoding is taken",
        )),
    }
}

/// The expanded body, refused with 413 once it grows past [`MAX_DECOMPRESSED`].
fn gunzip(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    let limit = u64::try_from(MAX_DECOMPRESSED).unwrap_or(u64::MAX) + 1;
    flate2::read::MultiGzDecoder::new(body)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::new(Code::InvalidGzip, format!("the gzip body cannot be expanded: {e}")))?;
    if out.len() > MAX_DECOMPRESSED {
        let msg = format!("the gzip body expands to more than {} MiB, this route's limit", MAX_DECOMPRESSED >> 20);
        return Err(ApiError::new(Code::DecompressedTooLarge, msg));
    }
    Ok(out)
}

fn decode<R: Message + Default + serde::de::DeserializeOwned>(bytes: &[u8], encoding: Encoding) -> Result<R, ApiError> {
    let invalid = |what: &str, e: &dyn std::fmt::Display| {
        ApiError::new(Code::InvalidOtlp, format!("the body is not a valid OTLP {what} export request: {e}"))
    };
    match encoding {
        Encoding::Protobuf => R::decode(bytes).map_err(|e| invalid("protobuf", &e)),
        Encoding::Json => serde_json::from_slice(bytes).map_err(|e| invalid("JSON", &e)),
    }
}

/// Records the mapped events; returns how many spans or records were rejected (unmappable, or
/// refused by the recorder) and why. A storage failure fails the whole request, so the
/// exporter retries it (the ids make the retry idempotent).
async fn record(s: &AppState, durability: Option<Durability>, mapped: Mapped) -> Result<(i64, String), ApiError> {
    let mut message = mapped.error_message();
    let mut rejected = mapped.rejected;
    let (mut accepted, mut duplicates) = (0, 0);
    for result in s.recorder.record_batch(mapped.events, durability).await {
        match result {
            Ok(r) if r.duplicate => duplicates += 1,
            Ok(_) => accepted += 1,
            Err(RecorderError::InvalidEvent(e)) => {
                if rejected == mapped.rejected {
                    let sep = if message.is_empty() { "" } else { "; " };
                    message.push_str(&format!("{sep}an event was refused: {}: {}", e.field, e.reason));
                }
                rejected += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    s.metrics.count_ingest(accepted, duplicates, rejected);
    Ok((i64::try_from(rejected).unwrap_or(i64::MAX), message))
}

/// OTLP's response in the request's encoding.
fn answer<T: Message + serde::Serialize>(encoding: Encoding, resp: &T) -> Response {
    match encoding {
        Encoding::Protobuf => ([(header::CONTENT_TYPE, PROTOBUF)], resp.encode_to_vec()).into_response(),
        Encoding::Json => axum::Json(resp).into_response(),
    }
}
