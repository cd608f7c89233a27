//! The OpenAPI document of the API, served at `/v1/openapi.json`. It is derived, not written:
//! each handler's `#[utoipa::path]` gives its path, parameters, body and responses, the
//! `ToSchema` types it takes and sends give the schemas, and the router registers each route
//! from its handler's attribute (`routes!` in `server::documented_routes`), so the path a route
//! is served at and the path it is documented at are one string. This module adds what every
//! route shares (info, security, the error responses) and the schemas no Rust type spells.
//!
//! Documenting a new route: put `#[utoipa::path(<method>, path = "...", responses(...))]` on
//! its handler (list `Refusals` and each other status it can answer) and register it with
//! `.routes(routes!(handler))` in `super::documented_routes`, not with `.route(...)`. The test
//! below fails for a route the router serves that the document lacks.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::content::Content;
use utoipa::openapi::header::Header;
use utoipa::openapi::info::Info;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, Required};
use utoipa::{IntoParams, IntoResponses, OpenApi, PartialSchema, ToResponse, ToSchema};

use super::AppState;
use crate::query::params::text_schema;
use crate::wal::Durability;

const DESCRIPTION: &str = "A flight recorder for AI-agent runtimes. Errors are {code, message, field?} with stable \
HSK-* codes. When the server runs with a token, every route but /healthz needs Authorization: Bearer <token>. \
Authentication is optional in the document because it depends on how the server was started. Every route but \
/healthz refuses (403) a Host the server does not answer to (its address, localhost, 127.0.0.1, [::1] with its \
port, or an --allowed-host name), an Origin other than the server's own, and Sec-Fetch-Site: cross-site (except \
a GET of the static UI). POST routes take only their own media types (415 otherwise). Requests beyond the \
server's concurrency limit get 503 with Retry-After.";

/// What every route shares; the routes' own parts are merged in by [`document`].
#[derive(OpenApi)]
#[openapi(
    components(schemas(super::error::ApiError, NdjsonBody), responses(ErrorReply, Overloaded)),
    security((), ("bearer" = [])),
    modifiers(&Shared)
)]
struct ApiDoc;

/// The info, the bearer scheme and the `Event` schema (the parser's envelope, whose lifetime
/// the attribute cannot spell).
struct Shared;

impl utoipa::Modify for Shared {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let mut info = Info::new("flightrec", env!("CARGO_PKG_VERSION"));
        info.description = Some(DESCRIPTION.to_string());
        doc.info = info;
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components.schemas.insert("Event".into(), crate::event::RawEnvelope::schema());
    }
}

/// The whole document: the shared parts with the paths and schemas of `routes`.
pub fn document(routes: impl IntoIterator<Item = utoipa::openapi::OpenApi>) -> utoipa::openapi::OpenApi {
    routes.into_iter().fold(ApiDoc::openapi(), |doc, part| doc.merge_from(part))
}

/// `GET /v1/openapi.json`.
#[utoipa::path(get, path = "/v1/openapi.json", summary = "This document",
    responses((status = 200, description = "OpenAPI 3", body = Object), Refusals))]
pub async fn get_document(State(s): State<AppState>) -> Response {
    Json(s.openapi.as_ref()).into_response()
}

/// The response `Error`: `{code, message, field?}`.
pub struct ErrorReply;

impl<'r> ToResponse<'r> for ErrorReply {
    fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
        let body = Content::new(Some(Ref::from_schema_name("Error")));
        ("Error", ResponseBuilder::new().description("An error").content("application/json", body).build().into())
    }
}

/// The response `Overloaded`: an `Error` with `Retry-After`.
pub struct Overloaded;

impl<'r> ToResponse<'r> for Overloaded {
    fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
        let description = "More requests than the server serves at once (--max-concurrent-requests); retry after \
                           Retry-After seconds";
        let body = Content::new(Some(Ref::from_schema_name("Error")));
        let retry_after = Header::new(ObjectBuilder::new().schema_type(Type::Integer));
        let response = ResponseBuilder::new()
            .description(description)
            .header("Retry-After", retry_after)
            .content("application/json", body)
            .build();
        ("Overloaded", response.into())
    }
}

/// The refusals of every route behind the token: no or a wrong token (401), a request from
/// another site or Host (403), more requests than the server serves at once (503).
pub struct Refusals;

impl IntoResponses for Refusals {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        by_status(&[("401", "Error"), ("403", "Error"), ("503", "Overloaded")])
    }
}

/// The errors of a route that records a body: too slow (408), too large (413), of another
/// media type (415), the async queue full (429), storage failing (500) or full (507).
pub struct IngestErrors;

impl IntoResponses for IngestErrors {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        by_status(&[
            ("408", "Error"),
            ("413", "Error"),
            ("415", "Error"),
            ("429", "Error"),
            ("500", "Error"),
            ("507", "Error"),
        ])
    }
}

/// The errors of a trace or job view: a bad id (400), nothing recorded (404), storage failing (500).
pub struct ViewErrors;

impl IntoResponses for ViewErrors {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        by_status(&[("400", "Error"), ("404", "Error"), ("500", "Error")])
    }
}

/// (status, name of a response component) pairs as references.
fn by_status(pairs: &[(&str, &str)]) -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
    pairs.iter().map(|&(status, name)| (status.to_string(), RefOr::Ref(Ref::from_response_name(name)))).collect()
}

/// The body of `POST /v1/events`: one `Event` or an array of them.
pub struct EventOrBatch;

impl PartialSchema for EventOrBatch {
    fn schema() -> RefOr<Schema> {
        let event = || Ref::from_schema_name("Event");
        OneOfBuilder::new().item(event()).item(ArrayBuilder::new().items(event())).into()
    }
}

impl ToSchema for EventOrBatch {}

/// The 400 of `POST /v1/events`: an `IngestResult` when the event (or every event of the
/// array) was rejected, an `Error` when the body is not JSON or a parameter is bad.
pub struct IngestRefusal;

impl PartialSchema for IngestRefusal {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new().item(Ref::from_schema_name("IngestResult")).item(Ref::from_schema_name("Error")).into()
    }
}

impl ToSchema for IngestRefusal {}

/// The body of `POST /v1/events:ndjson`: events, one a line.
pub struct NdjsonBody;

impl PartialSchema for NdjsonBody {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::String).description(Some("Events, one JSON object a line")).into()
    }
}

impl ToSchema for NdjsonBody {}

/// An OTLP/JSON export request or response (the OTLP specification's JSON mapping of the
/// protobuf messages: hex ids, int64 as strings).
pub struct OtlpJson;

impl PartialSchema for OtlpJson {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::Object).description(Some("OTLP/JSON (opentelemetry-proto)")).into()
    }
}

impl ToSchema for OtlpJson {}

/// An OTLP protobuf export request or response.
pub struct OtlpProtobuf;

impl PartialSchema for OtlpProtobuf {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .description(Some("OTLP protobuf (opentelemetry-proto)"))
            .into()
    }
}

impl ToSchema for OtlpProtobuf {}

/// `?durability=sync|batch|async` of the ingest routes.
pub struct DurabilityParam;

impl IntoParams for DurabilityParam {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let modes =
            ObjectBuilder::new().schema_type(Type::String).enum_values(Some(Durability::ALL.map(Durability::as_str)));
        vec![Parameter::builder().name("durability").parameter_in(ParameterIn::Query).schema(Some(modes)).build()]
    }
}

/// The id in the path of `/v1/traces/{trace_id}`.
pub struct TraceIdParam;

impl IntoParams for TraceIdParam {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![path_param("trace_id")]
    }
}

/// The id in the path of `/v1/jobs/{job_id}`.
pub struct JobIdParam;

impl IntoParams for JobIdParam {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![path_param("job_id")]
    }
}

fn path_param(name: &str) -> Parameter {
    Parameter::builder()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(text_schema()))
        .build()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeSet;

    use crate::recorder::{Recorder, RecorderConfig};
    use crate::server::{ServerOptions, documented_routes, router, ui};

    /// The paths `router` serves, read from its `Debug` (axum has no other way to list them),
    /// less axum's own fallback paths.
    fn served_paths(router: &axum::Router) -> BTreeSet<String> {
        let text = format!("{router:?}");
        let route = regex::Regex::new(r#"RouteId\(\d+\): "([^"]*)""#).unwrap();
        route.captures_iter(&text).map(|c| c[1].to_string()).filter(|p| !p.contains("__private__axum")).collect()
    }

    #[test]
    fn every_route_the_router_serves_is_documented_and_every_documented_path_is_served() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let recorder = rt.block_on(Recorder::open(RecorderConfig::new(dir.path()))).unwrap();
        let app = router(recorder.clone(), &ServerOptions::default(), "127.0.0.1:7080".parse().unwrap());
        let served = served_paths(&app);
        let (_, _, doc) = documented_routes();
        let documented: BTreeSet<String> = doc.paths.paths.keys().cloned().collect();
        let assets: BTreeSet<String> = ui::asset_paths().map(String::from).collect();
        assert!(served.contains("/v1/events") && served.contains("/"), "the router's paths were read: {served:?}");
        let api: BTreeSet<String> = served.difference(&assets).cloned().collect();
        assert_eq!(api, documented, "a route is served undocumented, or documented but not served");
        rt.block_on(recorder.shutdown()).unwrap();
    }

    #[test]
    fn every_documented_post_route_has_its_media_types_and_body_limit() {
        let (_, _, doc) = documented_routes();
        let posts: BTreeSet<String> =
            doc.paths.paths.iter().filter(|(_, item)| item.post.is_some()).map(|(path, _)| path.clone()).collect();
        let listed: BTreeSet<String> = crate::server::limits::POST_ROUTES.iter().map(|r| r.route.to_string()).collect();
        assert!(posts.contains("/v1/events"), "the document's POST routes were read: {posts:?}");
        assert_eq!(posts, listed, "a POST route without its entry in limits::POST_ROUTES takes any body");
    }
}
