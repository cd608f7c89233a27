//! The overview of a time range (`GET /v1/summary`) and the jobs list (`GET /v1/jobs`) that the
//! UI draws on its first screen: events per bucket and type, per model, tool and capability,
//! job outcomes, failed and slowest jobs, retention gaps; computed in DuckDB ([`sql`]).
//!
//! Invariants:
//! - Sources are those of `GET /v1/events`: the catalog-pruned Parquet files and the WAL tail
//!   snapshotted before them; each event is counted once, by LSN (the Parquet copy wins).
//!   Both sources are aggregated as one row set in one DuckDB statement (the tail's matching
//!   rows are appended to a temporary table), so percentiles are exact whatever part of the
//!   data is still in the tail.
//! - Percentiles are nearest-rank on the integer values (rank `ceil(q * n)`), which is what
//!   DuckDB's `quantile_disc` computes; null when there is no value.
//! - Buckets are aligned to `bucket_seconds` since the Unix epoch and dense: one per bucket
//!   from the one holding `from` to the one holding the last instant before `to`.
//! - Every list is capped ([`MAX_LIST`], [`MAX_JOB_ROWS`]) and sorted with a total order, so
//!   equal inputs give equal answers.

pub mod params;
#[cfg(feature = "store")]
pub mod sql;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::EventQuery;

/// Most entries of `models`, `tools` and `capabilities`.
pub const MAX_LIST: usize = 50;
/// Most entries of `failed_jobs` and `slowest_jobs`.
pub const MAX_JOB_ROWS: usize = 10;
/// Most buckets the default bucket width aims for.
pub const TARGET_BUCKETS: i64 = 120;
/// Most buckets a given `bucket_seconds` may make.
pub const MAX_BUCKETS: i64 = 1_000;
/// Longest range a summary or jobs list covers.
pub const MAX_RANGE_DAYS: i64 = 400;
/// The range when `from` is not given: this long before `to`.
pub const DEFAULT_RANGE_HOURS: i64 = 24;
/// The bucket widths (seconds) the default is chosen from.
pub const BUCKET_STEPS: [i64; 13] = [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 10_800, 21_600, 43_200, 86_400];
/// Jobs one page of `GET /v1/jobs` lists when `limit` is not given, and at most.
pub const DEFAULT_JOBS: usize = 50;
pub const MAX_JOBS: usize = 500;

/// A checked time range: `from < to`, at most [`MAX_RANGE_DAYS`] long, whole microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Range {
    /// The filter of every event of the range (and of a job or trace).
    pub fn events(&self, job_id: Option<&str>, trace_id: Option<&str>) -> EventQuery {
        EventQuery {
            from: Some(self.from),
            to: Some(self.to),
            job_id: job_id.map(String::from),
            trace_id: trace_id.map(String::from),
            ..EventQuery::default()
        }
    }

    fn micros(&self) -> (i64, i64) {
        (self.from.timestamp_micros(), self.to.timestamp_micros())
    }

    /// The number of buckets of `seconds` covering the range.
    pub fn bucket_count(&self, seconds: i64) -> i64 {
        let width = seconds.saturating_mul(1_000_000).max(1);
        let (from, to) = self.micros();
        let first = from.div_euclid(width);
        let last = (to - 1).div_euclid(width);
        last - first + 1
    }

    /// The smallest of [`BUCKET_STEPS`] making at most [`TARGET_BUCKETS`] buckets (the
    /// largest step for a range too long for that).
    pub fn default_bucket(&self) -> i64 {
        BUCKET_STEPS.iter().copied().find(|s| self.bucket_count(*s) <= TARGET_BUCKETS).unwrap_or(86_400)
    }

    /// Start (µs since the epoch) of the bucket holding `from`.
    pub fn first_bucket_micros(&self, seconds: i64) -> i64 {
        let width = seconds.saturating_mul(1_000_000).max(1);
        self.from.timestamp_micros().div_euclid(width) * width
    }
}

/// What `GET /v1/summary` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryQuery {
    pub range: Range,
    pub job_id: Option<String>,
    pub trace_id: Option<String>,
    pub bucket_seconds: i64,
}

impl SummaryQuery {
    pub fn events(&self) -> EventQuery {
        self.range.events(self.job_id.as_deref(), self.trace_id.as_deref())
    }
}

/// What `GET /v1/jobs` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobsQuery {
    pub range: Range,
    pub status: Option<JobState>,
    pub limit: usize,
}

crate::event::string_enum! {
    /// Where a job is, as far as the range shows: how it finished, or `running` when no
    /// `finished` event of it lies in the range.
    pub enum JobState("job status") {
        Ok = "ok",
        Failed = "failed",
        Cancelled = "cancelled",
        Running = "running",
    }
}

/// The overview of a range (`GET /v1/summary`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Summary {
    #[serde(with = "crate::event::time")]
    pub from: DateTime<Utc>,
    #[serde(with = "crate::event::time")]
    pub to: DateTime<Utc>,
    pub bucket_seconds: i64,
    pub total_events: u64,
    /// Every event type occurring in the range, sorted.
    pub types: Vec<String>,
    /// One per bucket, oldest first, empty ones included.
    pub buckets: Vec<Bucket>,
    /// By calls descending, then model_id.
    pub models: Vec<ModelUsage>,
    /// By failures descending, then calls descending, then tool_id.
    pub tools: Vec<ToolUsage>,
    /// By denials descending, then capability_id.
    pub capabilities: Vec<CapabilityDecisions>,
    pub jobs: JobCounts,
    /// Failed jobs, newest `started_at` first.
    pub failed_jobs: Vec<JobRow>,
    /// Jobs with a duration, longest first.
    pub slowest_jobs: Vec<JobRow>,
    /// Stretches retention dropped that overlap the range.
    pub gaps: Vec<Gap>,
}

/// Events of one bucket by type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Bucket {
    #[serde(with = "crate::event::time")]
    pub start: DateTime<Utc>,
    /// Event type -> events of that type in the bucket (types without events left out).
    pub counts: BTreeMap<String, u64>,
}

/// `llm_inference` events of one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ModelUsage {
    pub model_id: String,
    pub calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    #[schema(required = true)]
    pub latency_ms_p50: Option<u64>,
    #[schema(required = true)]
    pub latency_ms_p95: Option<u64>,
}

/// `tool_call` events of one tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ToolUsage {
    pub tool_id: String,
    pub calls: u64,
    /// Calls with `ok: false`.
    pub failures: u64,
    #[schema(required = true)]
    pub duration_ms_p50: Option<u64>,
    #[schema(required = true)]
    pub duration_ms_p95: Option<u64>,
}

/// `capability_decision` events of one capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CapabilityDecisions {
    pub capability_id: String,
    pub allow: u64,
    pub deny: u64,
}

/// `job_lifecycle` events: `started` phases, and `finished` phases by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct JobCounts {
    pub started: u64,
    pub ok: u64,
    pub failed: u64,
    pub cancelled: u64,
}

/// One job as the range shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct JobRow {
    pub job_id: String,
    /// The `job_kind` of its lifecycle events (null when none names one).
    #[schema(required = true)]
    pub job_kind: Option<String>,
    #[schema(inline)]
    pub status: JobState,
    /// Its `started` event's timestamp, else its first event's in the range.
    #[serde(with = "crate::event::time")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "crate::event::time::option")]
    #[schema(required = true)]
    pub finished_at: Option<DateTime<Utc>>,
    /// The `finished` event's `duration_ms`, else finished minus started when both are known.
    #[schema(required = true)]
    pub duration_ms: Option<u64>,
    /// Its events in the range.
    pub events: u64,
    /// Distinct `model_id`s of its events, sorted.
    pub models: Vec<String>,
}

/// The answer of `GET /v1/jobs`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobList {
    /// Newest `started_at` first.
    pub jobs: Vec<JobRow>,
}

/// Consecutive segments (by LSN) retention dropped, whose events lay between `from` and `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Gap {
    #[serde(with = "crate::event::time")]
    pub from: DateTime<Utc>,
    #[serde(with = "crate::event::time")]
    pub to: DateTime<Utc>,
    pub segments: u64,
    /// Events dropped (of the job or trace, when the summary is of one).
    pub events: u64,
}

/// One dropped segment (or one job's or trace's part of it) as the catalog logs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DroppedSpan {
    pub first_lsn: u64,
    pub last_lsn: u64,
    pub min_micros: i64,
    pub max_micros: i64,
    pub events: u64,
}

/// Merges dropped segments adjacent in LSN order into gaps.
pub fn gaps(mut dropped: Vec<DroppedSpan>) -> Vec<Gap> {
    dropped.sort_by_key(|d| d.first_lsn);
    let mut merged: Vec<(DroppedSpan, u64)> = Vec::new();
    for d in dropped {
        match merged.last_mut() {
            Some((last, n)) if d.first_lsn <= last.last_lsn.saturating_add(1) => {
                last.last_lsn = last.last_lsn.max(d.last_lsn);
                last.min_micros = last.min_micros.min(d.min_micros);
                last.max_micros = last.max_micros.max(d.max_micros);
                last.events += d.events;
                *n += 1;
            }
            _ => merged.push((d, 1)),
        }
    }
    let at = |us: i64| DateTime::from_timestamp_micros(us).unwrap_or_default();
    merged
        .into_iter()
        .map(|(d, segments)| Gap { from: at(d.min_micros), to: at(d.max_micros), segments, events: d.events })
        .collect()
}

/// Dense buckets from sparse `(bucket index, type, count)` rows.
pub fn dense_buckets(range: &Range, seconds: i64, rows: Vec<(i64, String, u64)>) -> Vec<Bucket> {
    let first = range.first_bucket_micros(seconds);
    let width = seconds.saturating_mul(1_000_000);
    let n = usize::try_from(range.bucket_count(seconds)).unwrap_or(0);
    let mut buckets: Vec<Bucket> = (0..n)
        .map(|i| Bucket {
            start: DateTime::from_timestamp_micros(first + i as i64 * width).unwrap_or_default(),
            counts: BTreeMap::new(),
        })
        .collect();
    for (i, ty, count) in rows {
        if let Some(b) = usize::try_from(i).ok().and_then(|i| buckets.get_mut(i)) {
            *b.counts.entry(ty).or_default() += count;
        }
    }
    buckets
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn range(from: &str, to: &str) -> Range {
        let t = |s: &str| crate::event::time::parse_rfc3339(s).unwrap();
        Range { from: t(from), to: t(to) }
    }

    #[test]
    fn the_default_bucket_is_the_smallest_step_with_at_most_120_buckets() {
        assert_eq!(range("2026-11-29T00:00:00Z", "2026-11-30T00:00:00Z").default_bucket(), 1800);
        assert_eq!(range("2026-11-29T00:00:00Z", "2026-11-29T00:02:00Z").default_bucket(), 1);
        assert_eq!(range("2026-11-29T00:00:00Z", "2026-11-29T01:00:00Z").default_bucket(), 30);
        assert_eq!(range("2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z").default_bucket(), 86_400);
        let r = range("2026-11-29T00:00:30Z", "2026-11-29T01:00:00Z");
        assert_eq!(r.bucket_count(60), 60, "the bucket holding `from` starts at the minute");
        assert_eq!(
            r.first_bucket_micros(60),
            range("2026-11-29T00:00:00Z", "2026-11-29T00:01:00Z").from.timestamp_micros()
        );
    }

    #[test]
    fn dense_buckets_fill_the_empty_ones_and_gaps_merge_adjacent_segments() {
        let r = range("2026-11-29T00:00:00Z", "2026-11-29T00:05:00Z");
        let b = dense_buckets(&r, 60, vec![(0, "tool_call".into(), 2), (3, "diagnostic".into(), 1)]);
        assert_eq!(b.len(), 5);
        assert_eq!(b[0].counts.get("tool_call"), Some(&2));
        assert!(b[1].counts.is_empty() && b[4].counts.is_empty());
        let span = |first_lsn, last_lsn, min_micros| DroppedSpan {
            first_lsn,
            last_lsn,
            min_micros,
            max_micros: min_micros + 5,
            events: 3,
        };
        let g = gaps(vec![span(11, 20, 100), span(1, 10, 50), span(31, 40, 200)]);
        assert_eq!(g.len(), 2);
        assert_eq!(
            (g[0].segments, g[0].events, g[0].from.timestamp_micros(), g[0].to.timestamp_micros()),
            (2, 6, 50, 105)
        );
        assert_eq!(g[1].segments, 1);
    }
}
