//! Handshake's client routes: `GET /api/flight_recorder` and its alias `GET /api/events`, which
//! Handshake's Flight Recorder view (`getEvents()`) reads. They answer a JSON array of
//! Handshake's `FlightEvent`, newest first, at most [`MAX_ROWS`], with Handshake's filters.
//! Every filter is part of the query (the WAL tail and the Parquet files alike), so the 200
//! rows are the newest 200 *matching* events, however old they are. docs/handshake.md holds
//! the mapping of flightrec's types onto Handshake's `event_type` names.

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};

use super::AppState;
use super::api::bad_param;
use super::error::ApiError;
use super::openapi::{ErrorReply, Refusals};
use crate::event::time::{format_rfc3339, truncate_micros};
use crate::event::{Actor, EventType};
use crate::query::params::{BadParam, actor_param, each_param, text_schema, time_param, unknown_param, uuid_param};
use crate::query::{EventQuery, StoredEvent};
use crate::recorder::FlightRecorder;

/// Most events one answer holds (Handshake's page).
pub const MAX_ROWS: usize = 200;

/// flightrec's types whose Handshake `event_type` differs from their own name. Every other
/// type Handshake knows by flightrec's name; a type in neither list is Handshake's `system`.
const RENAMED: [(&str, &str); 2] = [("capability_decision", "capability_action"), ("job_lifecycle", "system")];
/// Types named alike in both.
const SAME_NAME: [&str; 7] = [
    "terminal_command",
    "editor_edit",
    "diagnostic",
    "debug_bundle_export",
    "llm_inference",
    "tool_call",
    "workflow_recovery",
];
/// Handshake types flightrec has no events of: filtering by one is valid and finds nothing.
const NEVER_RECORDED: [&str; 2] = ["security_violation", "governance_pack_export"];
/// The surfaces Handshake filters by.
const SURFACES: [&str; 6] = ["monaco", "canvas", "sheet", "terminal", "connector", "system"];

/// Handshake's `event_type` for a flightrec type.
pub fn handshake_type(ty: &str) -> &'static str {
    if let Some((_, name)) = RENAMED.iter().find(|(t, _)| *t == ty) {
        return name;
    }
    SAME_NAME.iter().find(|t| **t == ty).copied().unwrap_or("system")
}

/// The flightrec types an `event_type` filter selects: those Handshake calls by that name, or
/// the one flightrec type of that name.
fn types_named(name: &str) -> Result<Vec<EventType>, BadParam> {
    let mut types: Vec<EventType> = EventType::ALL.into_iter().filter(|t| handshake_type(t.as_str()) == name).collect();
    if types.is_empty() {
        types.extend(EventType::from_name(name));
    }
    if types.is_empty() && !NEVER_RECORDED.contains(&name) {
        let mut known: Vec<&str> = EventType::ALL.iter().map(|t| handshake_type(t.as_str())).collect();
        known.extend(NEVER_RECORDED);
        known.sort_unstable();
        known.dedup();
        let reason = format!("unknown event type `{name}`; Handshake's names: {}", known.join(", "));
        return Err(BadParam { field: "event_type".into(), reason });
    }
    Ok(types)
}

/// Decodes Handshake's filters into the newest-first query of [`MAX_ROWS`] events.
pub fn parse_filters(pairs: &[(String, String)]) -> Result<EventQuery, BadParam> {
    let mut q = EventQuery { limit: Some(MAX_ROWS), descending: true, ..EventQuery::default() };
    each_param(pairs, |key, value| {
        let v = value.to_string();
        match key {
            "event_id" => q.event_id = Some(uuid_param(key, value)?),
            "trace_id" => q.trace_id = Some(uuid_param(key, value)?),
            "job_id" => q.job_id = Some(v),
            "model_session_id" => q.model_session_id = Some(v),
            "wsid" => q.wsid = Some(v),
            "from" => q.from = Some(time_param(key, value)?),
            // Handshake's `to` includes its instant; flightrec's bound excludes it.
            "to" => q.to = Some(truncate_micros(time_param(key, value)?) + chrono::Duration::microseconds(1)),
            "actor" => q.actor = Some(actor_param(key, value)?),
            "event_type" => q.event_types = Some(types_named(value)?),
            "surface" if SURFACES.contains(&value) => q.surface = Some(v),
            "surface" => {
                let reason = format!("unknown surface `{value}`; known: {}", SURFACES.join(", "));
                return Err(BadParam { field: key.into(), reason });
            }
            other => {
                let known = "event_id, job_id, trace_id, model_session_id, from, to, actor, surface, event_type, wsid";
                return Err(unknown_param(other, known));
            }
        }
        Ok(())
    })?;
    Ok(q)
}

/// Handshake's `FlightEvent`: every field present, absent ones `null`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FlightEvent {
    #[schema(format = "uuid")]
    pub event_id: String,
    #[schema(format = "uuid")]
    pub trace_id: String,
    #[schema(format = "date-time")]
    pub timestamp: String,
    #[schema(value_type = crate::event::Actor, inline)]
    pub actor: String,
    /// flightrec records no actor id: the actor, as Handshake sets it when none is given.
    pub actor_id: String,
    pub event_type: &'static str,
    pub job_id: Option<String>,
    /// A workflow recovery's `workflow_run_id`; None for other types.
    pub workflow_id: Option<String>,
    pub model_id: Option<String>,
    pub model_session_id: Option<String>,
    /// Handshake's list is never null: empty when the event names no workspace.
    pub wsids: Vec<String>,
    pub activity_span_id: Option<String>,
    pub session_span_id: Option<String>,
    pub capability_id: Option<String>,
    pub policy_decision_id: Option<String>,
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
}

/// The payload field a workflow id comes from.
#[derive(serde::Deserialize)]
struct WorkflowRun {
    workflow_run_id: Option<String>,
}

impl From<StoredEvent> for FlightEvent {
    fn from(e: StoredEvent) -> FlightEvent {
        let workflow_id = match e.ty.as_str() {
            "workflow_recovery" => {
                serde_json::from_str::<WorkflowRun>(e.payload.get()).ok().and_then(|w| w.workflow_run_id)
            }
            _ => None,
        };
        FlightEvent {
            event_type: handshake_type(&e.ty),
            timestamp: format_rfc3339(&e.timestamp),
            actor_id: e.actor.clone(),
            event_id: e.event_id,
            trace_id: e.trace_id,
            actor: e.actor,
            job_id: e.job_id,
            workflow_id,
            model_id: e.model_id,
            model_session_id: e.model_session_id,
            wsids: e.wsids.unwrap_or_default(),
            activity_span_id: e.activity_span_id,
            session_span_id: e.session_span_id,
            capability_id: e.capability_id,
            policy_decision_id: e.policy_decision_id,
            payload: e.payload,
        }
    }
}

/// The parameters [`parse_filters`] decodes, as the OpenAPI document lists them.
pub struct HandshakeFilters;

impl utoipa::IntoParams for HandshakeFilters {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let string = || ObjectBuilder::new().schema_type(Type::String);
        let format = |f: KnownFormat| string().format(Some(SchemaFormat::KnownFormat(f))).min_length(Some(1));
        let one_of = |names: Vec<&str>| string().enum_values(Some(names));
        let mut types: Vec<&str> = EventType::ALL.iter().map(|t| handshake_type(t.as_str())).collect();
        types.extend(EventType::ALL.iter().map(|t| t.as_str()));
        types.extend(NEVER_RECORDED);
        types.sort_unstable();
        types.dedup();
        [
            ("event_id", string().format(Some(SchemaFormat::Custom("uuid".into())))),
            ("trace_id", string().format(Some(SchemaFormat::Custom("uuid".into())))),
            ("job_id", text_schema()),
            ("model_session_id", text_schema()),
            ("wsid", text_schema()),
            ("from", format(KnownFormat::DateTime)),
            ("to", format(KnownFormat::DateTime).description(Some("Inclusive"))),
            ("actor", one_of(Actor::NAMES.to_vec())),
            ("event_type", one_of(types)),
            ("surface", one_of(SURFACES.to_vec())),
        ]
        .into_iter()
        .map(|(name, schema)| {
            Parameter::builder().name(name).parameter_in(ParameterIn::Query).schema(Some(schema)).build()
        })
        .collect()
    }
}

/// `GET /api/flight_recorder`.
#[utoipa::path(get, path = "/api/flight_recorder",
    summary = "Handshake's route: FlightEvent array, newest first, at most 200, every filter applied first",
    params(HandshakeFilters),
    responses(
        (status = 200, description = "The newest matching events", body = Vec<FlightEvent>),
        (status = 400, response = ErrorReply),
        Refusals,
        (status = 500, response = ErrorReply),
    ))]
pub async fn flight_recorder(
    state: State<AppState>,
    params: Query<Vec<(String, String)>>,
) -> Result<Json<Vec<FlightEvent>>, ApiError> {
    list_events(state, params).await
}

/// `GET /api/events`, the alias of [`flight_recorder`].
#[utoipa::path(get, path = "/api/events", summary = "Alias of GET /api/flight_recorder",
    params(HandshakeFilters),
    responses(
        (status = 200, description = "The newest matching events", body = Vec<FlightEvent>),
        (status = 400, response = ErrorReply),
        Refusals,
        (status = 500, response = ErrorReply),
    ))]
pub async fn events(
    state: State<AppState>,
    params: Query<Vec<(String, String)>>,
) -> Result<Json<Vec<FlightEvent>>, ApiError> {
    list_events(state, params).await
}

async fn list_events(
    State(s): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Vec<FlightEvent>>, ApiError> {
    let q = parse_filters(&params).map_err(bad_param)?;
    let page = s.metrics.timed_query(s.recorder.query(q)).await?;
    Ok(Json(page.events.into_iter().map(FlightEvent::from).collect()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Result<EventQuery, BadParam> {
        parse_filters(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>())
    }

    #[test]
    fn every_flightrec_type_has_a_handshake_name_and_is_found_by_it() {
        for t in EventType::ALL {
            let name = handshake_type(t.as_str());
            let q = p(&[("event_type", name)]).unwrap();
            assert!(q.event_types.unwrap().contains(&t), "{t} under {name}");
        }
        assert_eq!(handshake_type("capability_decision"), "capability_action");
        let system = p(&[("event_type", "system")]).unwrap().event_types.unwrap();
        assert_eq!(system.len(), 3, "{system:?}");
        for t in [EventType::JobLifecycle, EventType::Span, EventType::Log] {
            assert!(system.contains(&t), "{t} is Handshake's system: {system:?}");
        }
        assert_eq!(p(&[("event_type", "job_lifecycle")]).unwrap().event_types.unwrap(), vec![EventType::JobLifecycle]);
        assert_eq!(p(&[("event_type", "security_violation")]).unwrap().event_types.unwrap(), vec![]);
    }

    #[test]
    fn bad_filters_name_their_parameter() {
        for (k, v) in [
            ("event_type", "nope"),
            ("surface", "desk"),
            ("event_id", "42"),
            ("trace_id", "x"),
            ("from", "today"),
            ("to", "2026-13-01T00:00:00Z"),
            ("actor", "robot"),
            ("limit", "5"),
        ] {
            assert_eq!(p(&[(k, v)]).unwrap_err().field, k, "{k}={v}");
        }
        let q = p(&[("to", "2026-11-25T00:00:00Z")]).unwrap();
        assert_eq!(q.to.unwrap().to_rfc3339(), "2026-11-25T00:00:00.000001+00:00", "`to` includes its instant");
        assert!(q.descending && q.limit == Some(MAX_ROWS));
    }
}
