//! JSON errors of the HTTP API: `{code, message, field?}` with the status of the code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::recorder::RecorderError;

/// An error response (the OpenAPI document's `Error`).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError { status, code: code.to_string(), message: message.into(), field: None }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "HSK-404-NOT-FOUND", format!("{what} not found"))
    }

    pub fn bad_json(reason: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "HSK-400-INVALID-JSON", format!("the body is not valid JSON: {reason}"))
    }
}

impl From<RecorderError> for ApiError {
    fn from(e: RecorderError) -> ApiError {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let reason = match &e {
            RecorderError::InvalidEvent(inv) => inv.reason.clone(),
            RecorderError::InvalidQuery { reason, .. } => reason.clone(),
            other => other.to_string(),
        };
        ApiError { status, code: e.code().to_string(), message: reason, field: e.field().map(String::from) }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self)).into_response()
    }
}
