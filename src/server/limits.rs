//! Bounds on what one request may make the server do, and the JSON shape of every refusal:
//! media types and body sizes per POST route, the number of requests served at once (more are
//! shed with 503 and `Retry-After`), and a rewrite of axum's plain-text refusals (404, 405,
//! 400, ...) into `{code, message}`. The checks run in `gate`, the server's one middleware.

use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, RETRY_AFTER_SECS};
use crate::error::Code;

/// Requests served at once, by default; more are answered 503 at once.
pub const MAX_CONCURRENT_REQUESTS: usize = 64;
/// Most bytes of a plain-text refusal quoted in its JSON message.
const QUOTED_BODY: usize = 4096;

/// What one POST route takes: its media types and its body limit.
#[derive(Debug, Clone, Copy)]
pub struct PostRoute {
    pub route: &'static str,
    pub types: &'static [&'static str],
    /// A request without `Content-Type` (a route without a body) is let through.
    pub body_optional: bool,
    /// The most bytes its body may hold; None: the default limit of the extractors
    /// ([`super::MAX_BODY`]).
    pub max_body: Option<u64>,
}

const MAX_BODY: Option<u64> = Some(super::MAX_BODY as u64);

/// Every POST route. A POST route not listed here takes any media type: the OpenAPI test
/// (`openapi.rs`) holds every documented POST route to an entry.
pub const POST_ROUTES: &[PostRoute] = &[
    PostRoute { route: "/v1/events", types: &["application/json"], body_optional: false, max_body: MAX_BODY },
    PostRoute {
        route: "/v1/events:ndjson",
        types: &["application/x-ndjson"],
        body_optional: false,
        max_body: Some(super::MAX_NDJSON_BYTES),
    },
    // OTLP/HTTP: binary protobuf or OTLP/JSON.
    PostRoute {
        route: "/v1/traces",
        types: &["application/x-protobuf", "application/json"],
        body_optional: false,
        max_body: MAX_BODY,
    },
    PostRoute {
        route: "/v1/logs",
        types: &["application/x-protobuf", "application/json"],
        body_optional: false,
        max_body: MAX_BODY,
    },
    PostRoute { route: "/v1/retention:run", types: &["application/json"], body_optional: true, max_body: None },
];

/// The POST route a request is for, if any.
pub fn post_route(method: &Method, path: &str) -> Option<&'static PostRoute> {
    if method != Method::POST {
        return None;
    }
    POST_ROUTES.iter().find(|r| r.route == path)
}

/// 415 for any other `Content-Type` than the route's (a form or `text/plain`, which a page on
/// another site can send without a preflight, included). A `charset` parameter must say UTF-8.
pub fn check_media_type(route: &PostRoute, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers.get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or("(not text)"));
    let ok = match given {
        None => route.body_optional,
        Some(v) => v.parse::<mime::Mime>().is_ok_and(|t| {
            route.types.iter().any(|want| t.essence_str().eq_ignore_ascii_case(want))
                && t.get_param(mime::CHARSET).is_none_or(|c| c == mime::UTF_8)
        }),
    };
    if ok {
        return Ok(());
    }
    let want = route.types.join(" or ");
    let got = given.map_or_else(|| "no Content-Type".to_string(), |g| format!("`{g}`"));
    let msg = format!("POST {} takes `Content-Type: {want}` (UTF-8); the request has {got}", route.route);
    Err(ApiError::new(Code::UnsupportedMediaType, msg))
}

/// How many requests run at once: a request beyond the limit is answered 503 with
/// `Retry-After` at once instead of queueing (a queue would only grow under a flood). One
/// semaphore for every route, each request holding its permit until its handler has answered.
#[derive(Debug, Clone)]
pub struct ConcurrencyGate(std::sync::Arc<tokio::sync::Semaphore>);

impl ConcurrencyGate {
    pub fn new(max: usize) -> ConcurrencyGate {
        ConcurrencyGate(std::sync::Arc::new(tokio::sync::Semaphore::new(max.max(1))))
    }

    /// A permit to run, held until dropped; None when as many requests as allowed run.
    pub fn try_enter(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.0.clone().try_acquire_owned().ok()
    }
}

/// The answer beyond the [`ConcurrencyGate`]'s limit.
pub fn overloaded() -> Response {
    let msg = format!("the server is serving as many requests as it takes at once; retry in {RETRY_AFTER_SECS} s");
    ApiError::new(Code::Overloaded, msg).into_response()
}

/// The refusal for `status` (the body limit's 413, the timeout's 408).
pub fn refusal(status: StatusCode) -> ApiError {
    as_api_error(status, "")
}

/// An error response that is not JSON (axum's own refusals are plain text or empty) as
/// `{code, message}`, quoting the original text.
pub async fn as_json_error(resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if resp.status().as_u16() < 400 || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, QUOTED_BODY).await.unwrap_or_default();
    let mut err = as_api_error(parts.status, String::from_utf8_lossy(&text).trim()).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            err.headers_mut().insert(name.clone(), value.clone());
        }
    }
    err
}

/// The code of a plain refusal of axum or tower-http, by its status. A status no code names
/// (none of the layers in use sends one) is answered as the nearest general refusal.
fn code_of_status(status: StatusCode) -> Code {
    match status {
        StatusCode::NOT_FOUND => Code::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => Code::MethodNotAllowed,
        StatusCode::REQUEST_TIMEOUT => Code::Timeout,
        StatusCode::PAYLOAD_TOO_LARGE => Code::BodyTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Code::UnsupportedMediaType,
        StatusCode::UNPROCESSABLE_ENTITY => Code::UnprocessableEntity,
        StatusCode::UNAUTHORIZED => Code::Unauthorized,
        s if s.is_client_error() => Code::BadRequest,
        _ => Code::InternalServerError,
    }
}

fn as_api_error(status: StatusCode, text: &str) -> ApiError {
    let code = code_of_status(status);
    let message = match code {
        Code::BodyTooLarge => format!(
            "the body is over this route's limit ({} MiB for POST /v1/events and the OTLP routes, {} MiB for NDJSON)",
            super::MAX_BODY >> 20,
            super::MAX_NDJSON_BYTES >> 20
        ),
        Code::Timeout => "the request took longer than the server's --request-timeout".to_string(),
        _ if text.is_empty() => status.canonical_reason().unwrap_or("Error").to_string(),
        _ => text.to_string(),
    };
    ApiError::new(code, message)
}

/// The error of reading a streamed body: 413 when it went over the route's limit.
pub fn body_error(e: axum::Error) -> ApiError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return as_api_error(StatusCode::PAYLOAD_TOO_LARGE, "");
        }
        cause = c.source();
    }
    ApiError::new(Code::Body, format!("reading the body failed: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn plain_refusals_get_a_code_named_after_their_status() {
        assert_eq!(as_api_error(StatusCode::METHOD_NOT_ALLOWED, "").code.as_str(), "HSK-405-METHOD-NOT-ALLOWED");
        assert_eq!(as_api_error(StatusCode::PAYLOAD_TOO_LARGE, "x").code.as_str(), "HSK-413-BODY-TOO-LARGE");
        assert_eq!(as_api_error(StatusCode::REQUEST_TIMEOUT, "").code.as_str(), "HSK-408-TIMEOUT");
        assert_eq!(as_api_error(StatusCode::NOT_FOUND, "").code.as_str(), "HSK-404-NOT-FOUND");
        assert_eq!(as_api_error(StatusCode::INTERNAL_SERVER_ERROR, "").status(), StatusCode::INTERNAL_SERVER_ERROR);
        let e = as_api_error(StatusCode::BAD_REQUEST, "Failed to deserialize query string");
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("HSK-400-BAD-REQUEST", "Failed to deserialize query string")
        );
    }

    #[tokio::test]
    async fn a_body_over_its_limit_is_413_and_a_broken_one_400() {
        use http_body_util::BodyExt;
        let limited = http_body_util::Limited::new(axum::body::Body::from("longer than 2 bytes"), 2);
        let over = axum::body::Body::new(limited).collect().await.unwrap_err();
        assert_eq!(body_error(over).status(), StatusCode::PAYLOAD_TOO_LARGE);
        let broken = axum::Error::new(std::io::Error::other("reset"));
        assert_eq!(body_error(broken).code.as_str(), "HSK-400-BODY");
    }
}
