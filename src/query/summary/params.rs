//! Decoding the query parameters of `GET /v1/summary` and `GET /v1/jobs`, naming the parameter
//! at fault (400 `HSK-400-INVALID-QUERY`), and their OpenAPI description. Unknown parameters
//! are refused, as on `GET /v1/events`.

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};

use super::{
    DEFAULT_JOBS, DEFAULT_RANGE_HOURS, JobState, JobsQuery, MAX_BUCKETS, MAX_JOBS, MAX_RANGE_DAYS, Range, SummaryQuery,
};
use crate::query::params::{BadParam, each_param, text_schema, time_param, unknown_param};

fn bad(field: &str, reason: impl Into<String>) -> BadParam {
    BadParam { field: field.to_string(), reason: reason.into() }
}

/// The range `from`/`to` give (absent `to`: `now`; absent `from`: 24 hours before `to`).
fn range(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<Range, BadParam> {
    let to = to.unwrap_or(now);
    let from = match from {
        Some(f) => f,
        None => to.checked_sub_signed(Duration::hours(DEFAULT_RANGE_HOURS)).ok_or_else(|| bad("to", "is too early"))?,
    };
    if from >= to {
        return Err(bad("from", "must be before `to`"));
    }
    if to.signed_duration_since(from) > Duration::days(MAX_RANGE_DAYS) {
        return Err(bad("from", format!("the range is longer than {MAX_RANGE_DAYS} days; narrow it")));
    }
    Ok(Range { from: crate::event::time::truncate_micros(from), to: crate::event::time::truncate_micros(to) })
}

/// A whole number parameter between `min` and `max`.
fn number(field: &str, value: &str, min: i64, max: i64) -> Result<i64, BadParam> {
    let n: i64 = value.parse().map_err(|_| bad(field, format!("`{value}` is not a whole number")))?;
    if !(min..=max).contains(&n) {
        return Err(bad(field, format!("must be between {min} and {max}")));
    }
    Ok(n)
}

/// Decodes the parameters of `GET /v1/summary`; `now` is the default `to`.
pub fn summary_params(pairs: &[(String, String)], now: DateTime<Utc>) -> Result<SummaryQuery, BadParam> {
    let (mut from, mut to, mut job_id, mut trace_id, mut bucket) = (None, None, None, None, None);
    each_param(pairs, |key, value| {
        match key {
            "from" => from = Some(time_param(key, value)?),
            "to" => to = Some(time_param(key, value)?),
            "job_id" => job_id = Some(value.to_string()),
            "trace_id" => trace_id = Some(value.to_string()),
            "bucket_seconds" => bucket = Some(number(key, value, 1, MAX_RANGE_DAYS * 86_400)?),
            other => return Err(unknown_param(other, "from, to, job_id, trace_id, bucket_seconds")),
        }
        Ok(())
    })?;
    let range = range(from, to, now)?;
    let bucket_seconds = match bucket {
        Some(b) if range.bucket_count(b) > MAX_BUCKETS => {
            let n = range.bucket_count(b);
            return Err(bad("bucket_seconds", format!("makes {n} buckets; at most {MAX_BUCKETS}: widen it")));
        }
        Some(b) => b,
        None => range.default_bucket(),
    };
    Ok(SummaryQuery { range, job_id, trace_id, bucket_seconds })
}

/// Decodes the parameters of `GET /v1/jobs`; `now` is the default `to`.
pub fn jobs_params(pairs: &[(String, String)], now: DateTime<Utc>) -> Result<JobsQuery, BadParam> {
    let (mut from, mut to, mut status, mut limit) = (None, None, None, DEFAULT_JOBS);
    each_param(pairs, |key, value| {
        match key {
            "from" => from = Some(time_param(key, value)?),
            "to" => to = Some(time_param(key, value)?),
            "status" => status = Some(JobState::from_str(value).map_err(|e| bad(key, e.to_string()))?),
            "limit" => limit = usize::try_from(number(key, value, 1, MAX_JOBS as i64)?).unwrap_or(DEFAULT_JOBS),
            other => return Err(unknown_param(other, "from, to, status, limit")),
        }
        Ok(())
    })?;
    Ok(JobsQuery { range: range(from, to, now)?, status, limit })
}

fn time_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .min_length(Some(1))
}

fn integer(min: i64, max: i64) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(min)).maximum(Some(max))
}

fn query_params(list: Vec<(&str, ObjectBuilder, &str)>) -> Vec<Parameter> {
    list.into_iter()
        .map(|(name, schema, about)| {
            Parameter::builder()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .description(Some(about))
                .schema(Some(schema))
                .build()
        })
        .collect()
}

const FROM: &str =
    "Inclusive start (RFC 3339); default 24 hours before `to`. `from` must be before `to`, at most 400 days";
const TO: &str = "Exclusive end (RFC 3339); default now";

/// The parameters [`summary_params`] decodes (`GET /v1/summary`).
pub struct SummaryParams;

impl utoipa::IntoParams for SummaryParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        query_params(vec![
            ("from", time_schema(), FROM),
            ("to", time_schema(), TO),
            ("job_id", text_schema(), "Only this job's events"),
            ("trace_id", text_schema(), "Only this trace's events"),
            (
                "bucket_seconds",
                integer(1, MAX_RANGE_DAYS * 86_400),
                "Bucket width; default the smallest of 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 10800, 21600, \
                 43200, 86400 making at most 120 buckets. More than 1,000 buckets is refused",
            ),
        ])
    }
}

/// The parameters [`jobs_params`] decodes (`GET /v1/jobs`).
pub struct JobsParams;

impl utoipa::IntoParams for JobsParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let status = ObjectBuilder::new().schema_type(Type::String).enum_values(Some(JobState::NAMES.iter().copied()));
        query_params(vec![
            ("from", time_schema(), FROM),
            ("to", time_schema(), TO),
            ("status", status, "Only jobs with this status"),
            ("limit", integer(1, MAX_JOBS as i64), "Most jobs listed (default 50)"),
        ])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_and_refusals_name_the_parameter() {
        let now = crate::event::time::parse_rfc3339("2026-11-30T12:00:00Z").unwrap();
        let q = summary_params(&[], now).unwrap();
        assert_eq!((q.range.to, q.range.to - q.range.from, q.bucket_seconds), (now, Duration::hours(24), 1800));
        let err = |p: &[(&str, &str)]| summary_params(&pairs(p), now).unwrap_err().field;
        assert_eq!(err(&[("from", "2026-11-30T13:00:00Z")]), "from", "from after the default to");
        assert_eq!(err(&[("from", "2024-01-01T00:00:00Z")]), "from", "over 400 days");
        assert_eq!(err(&[("bucket_seconds", "1")]), "bucket_seconds", "86,400 buckets");
        assert_eq!(err(&[("bucket_seconds", "0")]), "bucket_seconds");
        assert_eq!(err(&[("bucket", "60")]), "bucket");
        assert_eq!(summary_params(&pairs(&[("bucket_seconds", "300")]), now).unwrap().bucket_seconds, 300);
        let j = jobs_params(&pairs(&[("status", "failed"), ("limit", "7")]), now).unwrap();
        assert_eq!((j.status, j.limit), (Some(JobState::Failed), 7));
        assert_eq!(jobs_params(&pairs(&[("limit", "501")]), now).unwrap_err().field, "limit");
        assert_eq!(jobs_params(&pairs(&[("status", "done")]), now).unwrap_err().field, "status");
    }
}
