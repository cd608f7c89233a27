//! JSON errors of the HTTP API: `{code, message, field?}` with the status of the code. The
//! one place a [`Code`] becomes an HTTP status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::Code;
use crate::recorder::RecorderError;

/// An error response (the OpenAPI document's `Error`).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
}

/// The HTTP status a code is sent with: the number in it.
pub fn status_of(code: Code) -> StatusCode {
    StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into(), field: None }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    pub fn status(&self) -> StatusCode {
        status_of(self.code)
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(Code::NotFound, format!("{what} not found"))
    }

    pub fn bad_json(reason: impl std::fmt::Display) -> ApiError {
        ApiError::new(Code::InvalidJson, format!("the body is not valid JSON: {reason}"))
    }
}

impl From<RecorderError> for ApiError {
    fn from(e: RecorderError) -> ApiError {
        let reason = match &e {
            RecorderError::InvalidEvent(inv) => inv.reason.clone(),
            RecorderError::InvalidQuery { reason, .. } => reason.clone(),
            other => other.to_string(),
        };
        ApiError { code: e.code(), message: reason, field: e.field().map(String::from) }
    }
}

/// The `Retry-After` of every refusal that carries one, in seconds.
pub const RETRY_AFTER_SECS: u64 = 1;

/// Seconds a client should wait before retrying a refusal that passes by itself (a full
/// ingest queue drains, the WAL writer retries a full disk every 500 ms); `None` for the
/// others, which a retry alone does not fix.
fn retry_after(code: Code) -> Option<u64> {
    match code {
        Code::QueueFull | Code::BufferFull | Code::DiskFull | Code::Overloaded => Some(RETRY_AFTER_SECS),
        _ => None,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = retry_after(self.code);
        let mut resp = (self.status(), Json(self)).into_response();
        if let Some(secs) = retry {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::DataDirError;
    use crate::event::InvalidEvent;
    use crate::wal::WalError;

    #[test]
    fn refusals_that_pass_by_themselves_say_when_to_retry_and_the_others_do_not() {
        let retry = |e: RecorderError| {
            let resp = ApiError::from(e).into_response();
            resp.headers().get(axum::http::header::RETRY_AFTER).map(|v| v.to_str().unwrap_or_default().to_string())
        };
        assert_eq!(retry(WalError::QueueFull { capacity: 1 }.into()).as_deref(), Some("1"));
        assert_eq!(retry(WalError::DiskFull { op: "create", path: "w".into() }.into()).as_deref(), Some("1"));
        assert_eq!(retry(InvalidEvent::new("type", "unknown").into()), None);
        assert_eq!(retry(WalError::Poisoned { cause: "fsync".into() }.into()), None, "poisoned needs a reopen");
    }

    #[test]
    fn every_recorder_error_is_sent_with_the_status_of_its_code() {
        let cases: Vec<(RecorderError, u16, &str)> = vec![
            (InvalidEvent::new("type", "unknown").into(), 400, "HSK-400-INVALID-EVENT"),
            (RecorderError::invalid_query("limit", "too big"), 400, "HSK-400-INVALID-QUERY"),
            (WalError::TooLarge { size: 2, max: 1 }.into(), 413, "HSK-413-EVENT-TOO-LARGE"),
            (WalError::QueueFull { capacity: 1 }.into(), 429, "HSK-429-QUEUE-FULL"),
            (WalError::Closed.into(), 503, "HSK-503-CLOSED"),
            (RecorderError::ShuttingDown, 503, "HSK-503-SHUTTING-DOWN"),
            (
                DataDirError::Locked { dir: "d".into(), role: "writer", holder: String::new() }.into(),
                409,
                "HSK-409-LOCKED",
            ),
            (DataDirError::Io(WalError::DiskFull { op: "lock", path: "d".into() }).into(), 507, "HSK-507-DISK-FULL"),
            (WalError::Poisoned { cause: "fsync".into() }.into(), 500, "HSK-500-WAL-POISONED"),
            (WalError::DiskFull { op: "write", path: "w".into() }.into(), 507, "HSK-507-DISK-FULL"),
        ];
        for (e, status, code) in cases {
            let text = e.to_string();
            assert!(text.starts_with(&format!("{code}: ")), "the message starts with its code: {text}");
            let api = ApiError::from(e);
            assert_eq!((api.status().as_u16(), api.code.as_str()), (status, code), "{text}");
        }
    }
}
