//! The one middleware every request passes through, doing in order what each request must
//! pass before its handler runs, and shaping every refusal as JSON:
//! 1. the request timeout (408 once it runs out, the body's reading included);
//! 2. on every route but `/healthz` (which says only that the process is up): the browser
//!    guard (`guard`: foreign `Host`, foreign `Origin`, cross-site fetch → 403) and the
//!    concurrency gate (503 with `Retry-After` beyond the limit, see `limits`);
//! 3. the bearer token, when the server has one, on every route but `/healthz` and the static
//!    UI assets (401);
//! 4. for a POST route, its body limit (413 from `Content-Length` before the body is read, and
//!    while a streamed body is read) and its media types (415), from [`limits::post_route`];
//! 5. any error response that is not JSON yet (axum's own 404, 405, 400 rejections) is
//!    rewritten as `{code, message}` ([`limits::as_json_error`]).
//!
//! One layer rather than one per check: axum clones a boxed service and boxes a future for
//! each `from_fn` layer and each route layer on every request, which on the single-event path
//! cost a good part of the server's time (BENCHMARKS.md, "Single events from a second
//! process").

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::guard::{self, AllowedHosts};
use super::limits::{self, ConcurrencyGate, PostRoute};
use super::ui;
use crate::error::Code;

/// The path of the liveness route, which passes every check but the timeout.
pub const HEALTHZ: &str = "/healthz";

/// What the gate checks requests against. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gate {
    pub hosts: Arc<AllowedHosts>,
    pub concurrency: ConcurrencyGate,
    /// The bearer token every route but `/healthz` and the static assets requires.
    pub token: Option<Arc<str>>,
    pub timeout: Duration,
}

/// The middleware (see the module doc).
pub async fn gate(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    let resp = match tokio::time::timeout(gate.timeout, gate.admit(req, next)).await {
        Ok(resp) => resp,
        Err(_) => limits::refusal(StatusCode::REQUEST_TIMEOUT).into_response(),
    };
    limits::as_json_error(resp).await
}

impl Gate {
    async fn admit(&self, req: Request, next: Next) -> Response {
        let path = req.uri().path();
        if path == HEALTHZ {
            return next.run(req).await;
        }
        if let Err(e) = guard::check(&self.hosts, req.method(), path, req.headers()) {
            return e.into_response();
        }
        let Some(_permit) = self.concurrency.try_enter() else {
            return limits::overloaded();
        };
        if !ui::is_static_asset(path) && !self.token_given(req.headers()) {
            let msg = "this server requires `Authorization: Bearer <token>`";
            return ApiError::new(Code::Unauthorized, msg).into_response();
        }
        match limits::post_route(req.method(), path) {
            Some(route) => match checked_body(route, req) {
                Ok(req) => next.run(req).await,
                Err(refusal) => refusal.into_response(),
            },
            None => next.run(req).await,
        }
    }

    /// True when the server has no token or the request carries it.
    fn token_given(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else { return true };
        let given =
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes()))
    }
}

/// A POST route's body checks: the declared length first (so an oversized body is refused
/// unread), then the media type; the body is then limited as it is read, whatever its
/// `Content-Length` said.
fn checked_body(route: &PostRoute, req: Request) -> Result<Request, ApiError> {
    if let Some(max) = route.max_body {
        let declared =
            req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max) {
            return Err(limits::refusal(StatusCode::PAYLOAD_TOO_LARGE));
        }
    }
    limits::check_media_type(route, req.headers())?;
    Ok(match route.max_body {
        Some(max) => {
            let max = usize::try_from(max).unwrap_or(usize::MAX);
            req.map(|body| Body::new(http_body_util::Limited::new(body, max)))
        }
        None => req,
    })
}

/// Compares without an early exit, so timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_equal_only_when_equal() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
