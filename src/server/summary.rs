//! `GET /v1/summary` and `GET /v1/jobs`: the overview of a time range and its jobs list, for
//! the UI's first screen (contract: the `query::summary` types).

use axum::Json;
use axum::extract::{Query, State};

use super::AppState;
use super::api::bad_param;
use super::error::ApiError;
use super::openapi::{ErrorReply, Refusals};
use crate::query::summary::params::{JobsParams, SummaryParams, jobs_params, summary_params};
use crate::query::summary::{JobList, Summary};

/// `GET /v1/summary`.
#[utoipa::path(get, path = "/v1/summary",
    summary = "Overview of a time range: events per bucket and type, models, tools, capabilities, jobs, retention gaps",
    params(SummaryParams),
    responses(
        (status = 200, description = "The summary", body = Summary),
        (status = 400, response = ErrorReply),
        Refusals,
        (status = 500, response = ErrorReply),
    ))]
pub async fn get_summary(
    State(s): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Summary>, ApiError> {
    let q = summary_params(&params, crate::event::time::now_micros()).map_err(bad_param)?;
    let summary = s.metrics.timed_query(s.recorder.summary(q)).await?;
    Ok(Json(summary))
}

/// `GET /v1/jobs`.
#[utoipa::path(get, path = "/v1/jobs", summary = "Jobs with events in a time range, newest first",
    params(JobsParams),
    responses(
        (status = 200, description = "The jobs", body = JobList),
        (status = 400, response = ErrorReply),
        Refusals,
        (status = 500, response = ErrorReply),
    ))]
pub async fn get_jobs(
    State(s): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<JobList>, ApiError> {
    let q = jobs_params(&params, crate::event::time::now_micros()).map_err(bad_param)?;
    let jobs = s.metrics.timed_query(s.recorder.jobs(q)).await?;
    Ok(Json(jobs))
}
