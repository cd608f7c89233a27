//! The OpenAPI document of the API, served at `/v1/openapi.json`. `tests/http.rs` checks that
//! every path in it is routed and every route is in it.

use axum::http::header;
use axum::response::IntoResponse;

/// The document (OpenAPI 3.0).
pub const DOCUMENT: &str = include_str!("openapi.json");

pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
