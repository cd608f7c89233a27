//! The summary and the jobs list in DuckDB: the matching rows of the chosen Parquet files and
//! of the WAL tail become one temporary table (`summary_rows`, with the payload fields the
//! summary reads), which each part of the summary then aggregates. Files with the typed
//! summary columns (`compact::summary_fields`) give those fields as columns; files written
//! before them, and the tail, give them by one JSON extraction per row.
//!
//! Invariants: the three sources are one row set (`UNION ALL` in one statement), so every
//! aggregate (percentiles included) sees every row once whatever source it came from, and the
//! JSON extraction yields per type what the typed columns hold (NULL for the other types); a
//! tail row whose LSN is also in the Parquet rows is left out (the event was compacted after
//! the tail snapshot); the statement's text holds column names and placeholders only, every
//! value is a parameter. The temporary tables are the connection's own and are dropped after
//! each use.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::DateTime;
use duckdb::{Connection, params};

use super::{
    CapabilityDecisions, JobCounts, JobRow, JobState, JobsQuery, MAX_JOB_ROWS, MAX_LIST, ModelUsage, SummaryQuery,
    ToolUsage, dense_buckets,
};
use crate::compact::catalog::query_rows as rows;
use crate::compact::error::{StoreError, db};
use crate::compact::files::path_list;
use crate::query::model::StoredEvent;
use crate::query::parquet::{Params, where_clause};

/// The tail's matching rows, as the Parquet rows are read.
const TAIL_TABLE: &str = "CREATE OR REPLACE TEMP TABLE summary_tail \
    (type VARCHAR, ts BIGINT, lsn UBIGINT, job_id VARCHAR, model_id VARCHAR, capability_id VARCHAR, payload VARCHAR)";

/// The columns read of a file without the summary columns, in [`TAIL_TABLE`] order.
const JSON_FILE_COLUMNS: &str =
    "type, epoch_us(timestamp) AS ts, lsn, job_id, model_id, capability_id, payload::VARCHAR AS payload";

/// The row set's columns read of a file with the summary columns, in [`EXTRACT`] order.
const TYPED_FILE_COLUMNS: &str = "type, epoch_us(timestamp) AS ts, job_id, model_id, capability_id, \
    prompt_tokens AS prompt, completion_tokens AS completion, latency_ms AS latency, tool_id, tool_ok AS ok, \
    duration_ms AS duration, decision, job_phase AS phase, job_status AS status, job_kind";

/// The row set's columns from `json_rows` (a file without the summary columns, or the tail):
/// the payload fields with one JSON parse per row, each kept for the type the typed column
/// holds it for.
const EXTRACT: &str = "SELECT type, ts, job_id, model_id, capability_id, \
    CASE WHEN type = 'llm_inference' THEN f[1]::BIGINT END AS prompt, \
    CASE WHEN type = 'llm_inference' THEN f[2]::BIGINT END AS completion, \
    CASE WHEN type = 'llm_inference' THEN f[3]::BIGINT END AS latency, \
    CASE WHEN type = 'tool_call' THEN f[4] END AS tool_id, CASE WHEN type = 'tool_call' THEN f[5]::BOOLEAN END AS ok, \
    CASE type WHEN 'tool_call' THEN f[6]::BIGINT WHEN 'job_lifecycle' THEN f[11]::BIGINT END AS duration, \
    CASE WHEN type = 'capability_decision' THEN f[7] END AS decision, \
    CASE WHEN type = 'job_lifecycle' THEN f[8] END AS phase, CASE WHEN type = 'job_lifecycle' THEN f[9] END AS status, \
    CASE WHEN type = 'job_lifecycle' THEN f[10] END AS job_kind \
    FROM (SELECT *, CASE WHEN type IN ('llm_inference', 'tool_call', \
    'capability_decision', 'job_lifecycle') THEN json_extract_string(payload, ['$.token_usage.prompt', \
    '$.token_usage.completion', '$.latency_ms', '$.tool_id', '$.ok', '$.timing.duration_ms', '$.decision', \
    '$.phase', '$.status', '$.job_kind', '$.duration_ms']) END AS f FROM json_rows)";

/// The Parquet files a summary reads, by whether they hold the summary columns.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SummaryFiles {
    /// Files with the typed summary columns.
    pub typed: Vec<String>,
    /// Files written before them: their payloads are read as JSON.
    pub json: Vec<String>,
}

impl SummaryFiles {
    /// Splits `files` into those in `without_columns` and the others.
    pub fn split(files: Vec<String>, without_columns: &HashSet<String>) -> SummaryFiles {
        let (json, typed) = files.into_iter().partition(|f| without_columns.contains(f));
        SummaryFiles { typed, json }
    }

    fn all(&self) -> Vec<String> {
        self.typed.iter().chain(&self.json).cloned().collect()
    }
}

/// One row per job of `summary_rows`, as [`JobRow`] (times in µs) without its models,
/// computed once for both job lists: its events and first event over every row, the rest over
/// its lifecycle events only.
const JOBS_TABLE: &str = "CREATE OR REPLACE TEMP TABLE summary_jobs AS SELECT job_id, job_kind, \
    coalesce(fin_status, 'running') AS status, coalesce(started_ts, first_ts) AS started, finished_ts, \
    coalesce(fin_ms, (finished_ts - started_ts) // 1000) AS duration_ms, events FROM ( \
    SELECT job_id, min(ts) AS first_ts, count(*) AS events FROM summary_rows WHERE job_id IS NOT NULL GROUP BY job_id) \
    LEFT JOIN (SELECT job_id, arg_min(job_kind, ts) FILTER (WHERE job_kind IS NOT NULL) AS job_kind, \
    min(ts) FILTER (WHERE phase = 'started') AS started_ts, max(ts) FILTER (WHERE phase = 'finished') AS finished_ts, \
    arg_max(status, ts) FILTER (WHERE phase = 'finished') AS fin_status, \
    arg_max(duration, ts) FILTER (WHERE phase = 'finished') AS fin_ms \
    FROM summary_rows WHERE type = 'job_lifecycle' AND job_id IS NOT NULL GROUP BY job_id) USING (job_id)";

/// Fills `summary_rows` with the events of `files` and `tail` matching `filter` (the tail's
/// rows must already match it).
fn load_rows(
    conn: &Connection,
    files: &SummaryFiles,
    tail: &[Arc<StoredEvent>],
    filter: &crate::query::EventQuery,
) -> Result<(), StoreError> {
    append_tail(conn, tail)?;
    let mut b = Params::default();
    let scan = |files: &[String], b: &mut Params| {
        let list = b.bind(path_list(files));
        let cond = where_clause(filter, b);
        format!("FROM read_parquet({list}, union_by_name = true) WHERE {cond}")
    };
    let typed = if files.typed.is_empty() {
        String::new()
    } else {
        format!("SELECT {TYPED_FILE_COLUMNS} {} UNION ALL ", scan(&files.typed, &mut b))
    };
    let mut json_rows = tail_rows(files, tail, &mut b, &scan);
    if !files.json.is_empty() {
        json_rows = format!("SELECT {JSON_FILE_COLUMNS} {} UNION ALL {json_rows}", scan(&files.json, &mut b));
    }
    let sql =
        format!("CREATE OR REPLACE TEMP TABLE summary_rows AS WITH json_rows AS ({json_rows}) {typed}{EXTRACT}");
    conn.execute(&sql, duckdb::params_from_iter(b.values())).map_err(db("read the summary's events"))?;
    Ok(())
}

/// Fills `summary_tail` with the tail's rows.
fn append_tail(conn: &Connection, tail: &[Arc<StoredEvent>]) -> Result<(), StoreError> {
    conn.execute_batch(TAIL_TABLE).map_err(db("create the summary's tail table"))?;
    let mut appender =
        conn.appender_to_catalog_and_db("summary_tail", "temp", "main").map_err(db("open the tail appender"))?;
    for e in tail {
        let row = params![
            e.ty,
            e.timestamp.timestamp_micros(),
            e.lsn,
            e.job_id,
            e.model_id,
            e.capability_id,
            e.payload.get()
        ];
        appender.append_row(row).map_err(db("append tail rows"))?;
    }
    appender.flush().map_err(db("append tail rows"))
}

/// The tail's rows not also in the Parquet files. Only Parquet rows at or after the tail's
/// first LSN can be in both; the LSN column alone is read for them (row-group statistics skip
/// the rest).
fn tail_rows(
    files: &SummaryFiles,
    tail: &[Arc<StoredEvent>],
    b: &mut Params,
    scan: &impl Fn(&[String], &mut Params) -> String,
) -> String {
    match tail.iter().map(|e| e.lsn).min() {
        Some(first) if !(files.typed.is_empty() && files.json.is_empty()) => {
            let all = scan(&files.all(), b);
            let first = b.bind(first);
            format!("SELECT * FROM summary_tail WHERE lsn NOT IN (SELECT lsn {all} AND lsn >= {first})")
        }
        _ => "SELECT * FROM summary_tail".to_string(),
    }
}

/// Drops the temporary tables (they may hold millions of rows).
fn drop_rows(conn: &Connection) {
    let tables =
        "DROP TABLE IF EXISTS summary_jobs; DROP TABLE IF EXISTS summary_rows; DROP TABLE IF EXISTS summary_tail";
    if let Err(e) = conn.execute_batch(tables) {
        tracing::warn!(error = %e, "dropping the summary's temporary tables failed");
    }
}

/// Runs `f` over `summary_rows` loaded from `files` and `tail`, then drops the tables.
fn with_rows<T>(
    conn: &Connection,
    files: &SummaryFiles,
    tail: &[Arc<StoredEvent>],
    filter: &crate::query::EventQuery,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let result = load_rows(conn, files, tail, filter)
        .and_then(|()| conn.execute_batch(JOBS_TABLE).map_err(db("aggregate jobs")))
        .and_then(|()| f(conn));
    drop_rows(conn);
    result
}

/// The parts of the summary DuckDB computes (everything but the gaps).
pub fn summarize(
    conn: &Connection,
    files: &SummaryFiles,
    tail: &[Arc<StoredEvent>],
    q: &SummaryQuery,
) -> Result<super::Summary, StoreError> {
    with_rows(conn, files, tail, &q.events(), |conn| {
        let buckets = bucket_rows(conn, q)?;
        let total_events = buckets.iter().map(|(_, _, n)| n).sum();
        let mut types: Vec<String> = buckets.iter().map(|(_, t, _)| t.clone()).collect();
        types.sort();
        types.dedup();
        Ok(super::Summary {
            from: q.range.from,
            to: q.range.to,
            bucket_seconds: q.bucket_seconds,
            total_events,
            types,
            buckets: dense_buckets(&q.range, q.bucket_seconds, buckets),
            models: models(conn)?,
            tools: tools(conn)?,
            capabilities: capabilities(conn)?,
            jobs: job_counts(conn)?,
            failed_jobs: job_rows(conn, "status = 'failed'", "started DESC, job_id", MAX_JOB_ROWS)?,
            slowest_jobs: job_rows(conn, "duration_ms IS NOT NULL", "duration_ms DESC, job_id", MAX_JOB_ROWS)?,
            gaps: Vec::new(),
        })
    })
}

/// The jobs of `GET /v1/jobs`, newest `started_at` first.
pub fn list_jobs(
    conn: &Connection,
    files: &SummaryFiles,
    tail: &[Arc<StoredEvent>],
    q: &JobsQuery,
) -> Result<Vec<JobRow>, StoreError> {
    with_rows(conn, files, tail, &q.range.events(None, None), |conn| {
        let cond = match q.status {
            // A fixed spelling of the closed set, never the caller's text.
            Some(s) => format!("status = '{}'", s.as_str()),
            None => "true".to_string(),
        };
        job_rows(conn, &cond, "started DESC, job_id", q.limit)
    })
}

fn bucket_rows(conn: &Connection, q: &SummaryQuery) -> Result<Vec<(i64, String, u64)>, StoreError> {
    let first = q.range.first_bucket_micros(q.bucket_seconds);
    let width = q.bucket_seconds.saturating_mul(1_000_000);
    let sql = "SELECT (ts - $1) // $2, type, count(*)::UBIGINT FROM summary_rows GROUP BY ALL ORDER BY ALL";
    rows(conn, "count events by bucket", sql, params![first, width], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
}

fn models(conn: &Connection) -> Result<Vec<ModelUsage>, StoreError> {
    let sql = "SELECT model_id, count(*)::UBIGINT, coalesce(sum(prompt), 0)::UBIGINT, \
               coalesce(sum(completion), 0)::UBIGINT, quantile_disc(latency, 0.5)::UBIGINT, \
               quantile_disc(latency, 0.95)::UBIGINT FROM summary_rows \
               WHERE type = 'llm_inference' AND model_id IS NOT NULL GROUP BY model_id ORDER BY 2 DESC, 1 LIMIT $1";
    rows(conn, "summarize models", sql, [MAX_LIST as u64], |r| {
        Ok(ModelUsage {
            model_id: r.get(0)?,
            calls: r.get(1)?,
            prompt_tokens: r.get(2)?,
            completion_tokens: r.get(3)?,
            latency_ms_p50: r.get(4)?,
            latency_ms_p95: r.get(5)?,
        })
    })
}

fn tools(conn: &Connection) -> Result<Vec<ToolUsage>, StoreError> {
    let sql = "SELECT tool_id, count(*)::UBIGINT, count_if(NOT ok)::UBIGINT, quantile_disc(duration, 0.5)::UBIGINT, \
               quantile_disc(duration, 0.95)::UBIGINT FROM summary_rows WHERE type = 'tool_call' AND tool_id IS NOT NULL \
               GROUP BY tool_id ORDER BY 3 DESC, 2 DESC, 1 LIMIT $1";
    rows(conn, "summarize tools", sql, [MAX_LIST as u64], |r| {
        Ok(ToolUsage {
            tool_id: r.get(0)?,
            calls: r.get(1)?,
            failures: r.get(2)?,
            duration_ms_p50: r.get(3)?,
            duration_ms_p95: r.get(4)?,
        })
    })
}

fn capabilities(conn: &Connection) -> Result<Vec<CapabilityDecisions>, StoreError> {
    let sql = "SELECT capability_id, count_if(decision = 'allow')::UBIGINT, count_if(decision = 'deny')::UBIGINT \
               FROM summary_rows WHERE type = 'capability_decision' AND capability_id IS NOT NULL \
               GROUP BY capability_id ORDER BY 3 DESC, 1 LIMIT $1";
    rows(conn, "summarize capability decisions", sql, [MAX_LIST as u64], |r| {
        Ok(CapabilityDecisions { capability_id: r.get(0)?, allow: r.get(1)?, deny: r.get(2)? })
    })
}

fn job_counts(conn: &Connection) -> Result<JobCounts, StoreError> {
    // count_if over no rows is NULL.
    let sql = "SELECT coalesce(count_if(phase = 'started'), 0)::UBIGINT, \
               coalesce(count_if(phase = 'finished' AND status = 'ok'), 0)::UBIGINT, \
               coalesce(count_if(phase = 'finished' AND status = 'failed'), 0)::UBIGINT, \
               coalesce(count_if(phase = 'finished' AND status = 'cancelled'), 0)::UBIGINT \
               FROM summary_rows WHERE type = 'job_lifecycle'";
    conn.query_row(sql, [], |r| {
        Ok(JobCounts { started: r.get(0)?, ok: r.get(1)?, failed: r.get(2)?, cancelled: r.get(3)? })
    })
    .map_err(db("count jobs"))
}

/// Up to `limit` jobs where `cond` holds, in `order` (both fixed SQL of this module), with
/// their models (gathered for these jobs only).
fn job_rows(conn: &Connection, cond: &str, order: &str, limit: usize) -> Result<Vec<JobRow>, StoreError> {
    let sql = format!(
        "WITH picked AS (SELECT * FROM summary_jobs WHERE {cond} ORDER BY {order} LIMIT $1), \
         models AS (SELECT job_id, to_json(list_sort(list_distinct(list(model_id))))::VARCHAR AS models \
         FROM summary_rows WHERE job_id IN (SELECT job_id FROM picked) GROUP BY job_id) \
         SELECT picked.*, coalesce(models, '[]') FROM picked LEFT JOIN models USING (job_id) ORDER BY {order}"
    );
    rows(conn, "list jobs", &sql, [limit as u64], |r| {
        let status: String = r.get(2)?;
        let models: String = r.get(7)?;
        let at = |us: i64| DateTime::from_timestamp_micros(us).unwrap_or_default();
        let conv = |e: String| duckdb::Error::FromSqlConversionFailure(2, duckdb::types::Type::Text, e.into());
        Ok(JobRow {
            job_id: r.get(0)?,
            job_kind: r.get(1)?,
            status: JobState::from_name(&status).ok_or_else(|| conv(format!("unknown job status `{status}`")))?,
            started_at: at(r.get(3)?),
            finished_at: r.get::<_, Option<i64>>(4)?.map(at),
            duration_ms: r.get::<_, Option<i64>>(5)?.and_then(|d| u64::try_from(d).ok()),
            events: r.get(6)?,
            models: serde_json::from_str(&models).map_err(|e| conv(e.to_string()))?,
        })
    })
}
