//! The summary and the jobs list in DuckDB: the matching rows of the chosen Parquet files and
//! of the WAL tail become one temporary table (`summary_rows`, the payload fields the summary
//! reads extracted once), which each part of the summary then aggregates.
//!
//! Invariants: the tail's rows are appended to a temporary table and joined to the Parquet rows
//! in SQL, so every aggregate (percentiles included) sees one row set; a tail row whose LSN is
//! also in the Parquet rows is left out (the event was compacted after the tail snapshot); the
//! statement's text holds column names and placeholders only, every value is a parameter. The
//! temporary tables are the connection's own and are dropped after each use.

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

/// The columns read of a Parquet file, in [`TAIL_TABLE`] order.
const PARQUET_COLUMNS: &str =
    "type, epoch_us(timestamp) AS ts, lsn, job_id, model_id, capability_id, payload::VARCHAR AS payload";

/// The payload fields the summary reads, extracted with one JSON parse per row, only from the
/// types that have them.
const EXTRACT: &str = "SELECT type, ts, job_id, model_id, capability_id, f[1]::BIGINT AS prompt, \
    f[2]::BIGINT AS completion, f[3]::BIGINT AS latency, f[4] AS tool_id, f[5]::BOOLEAN AS ok, \
    f[6]::BIGINT AS tool_ms, f[7] AS decision, f[8] AS phase, f[9] AS status, f[10] AS job_kind, \
    f[11]::BIGINT AS job_ms FROM (SELECT *, CASE WHEN type IN ('llm_inference', 'tool_call', \
    'capability_decision', 'job_lifecycle') THEN json_extract_string(payload, ['$.token_usage.prompt', \
    '$.token_usage.completion', '$.latency_ms', '$.tool_id', '$.ok', '$.timing.duration_ms', '$.decision', \
    '$.phase', '$.status', '$.job_kind', '$.duration_ms']) END AS f FROM rows)";

/// One row per job of `summary_rows`, as [`JobRow`] (times in µs), computed once for both job
/// lists.
const JOBS_TABLE: &str = "CREATE OR REPLACE TEMP TABLE summary_jobs AS SELECT job_id, job_kind, coalesce(fin_status, 'running') AS status, \
    coalesce(started_ts, first_ts) AS started, finished_ts, \
    coalesce(fin_ms, (finished_ts - started_ts) // 1000) AS duration_ms, events, models FROM ( \
    SELECT job_id, arg_min(job_kind, ts) FILTER (WHERE job_kind IS NOT NULL) AS job_kind, \
    min(ts) FILTER (WHERE type = 'job_lifecycle' AND phase = 'started') AS started_ts, min(ts) AS first_ts, \
    max(ts) FILTER (WHERE type = 'job_lifecycle' AND phase = 'finished') AS finished_ts, \
    arg_max(status, ts) FILTER (WHERE type = 'job_lifecycle' AND phase = 'finished') AS fin_status, \
    arg_max(job_ms, ts) FILTER (WHERE type = 'job_lifecycle' AND phase = 'finished') AS fin_ms, \
    count(*) AS events, to_json(list_sort(list_distinct(list(model_id))))::VARCHAR AS models \
    FROM summary_rows WHERE job_id IS NOT NULL GROUP BY job_id)";

/// Fills `summary_rows` with the events of `files` and `tail` matching `filter` (the tail's
/// rows must already match it).
fn load_rows(
    conn: &Connection,
    files: &[String],
    tail: &[Arc<StoredEvent>],
    filter: &crate::query::EventQuery,
) -> Result<(), StoreError> {
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
    appender.flush().map_err(db("append tail rows"))?;
    drop(appender);
    let mut b = Params::default();
    let (parquet, tail_rows) = if files.is_empty() {
        (String::new(), "SELECT * FROM summary_tail".to_string())
    } else {
        let list = b.bind(path_list(files));
        let cond = where_clause(filter, &mut b);
        let scan = format!("FROM read_parquet({list}, union_by_name = true) WHERE {cond}");
        // Only Parquet rows at or after the tail's first LSN can be in both; the LSN column
        // alone is read for them (row-group statistics skip the rest). Not a shared CTE: that
        // would materialize every payload read.
        let tail_rows = match tail.iter().map(|e| e.lsn).min() {
            Some(first) => {
                let first = b.bind(first);
                format!("SELECT * FROM summary_tail WHERE lsn NOT IN (SELECT lsn {scan} AND lsn >= {first})")
            }
            None => "SELECT * FROM summary_tail".to_string(),
        };
        (format!("SELECT {PARQUET_COLUMNS} {scan} UNION ALL "), tail_rows)
    };
    let sql = format!("CREATE OR REPLACE TEMP TABLE summary_rows AS WITH rows AS ({parquet}{tail_rows}) {EXTRACT}");
    conn.execute(&sql, duckdb::params_from_iter(b.values())).map_err(db("read the summary's events"))?;
    Ok(())
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
    files: &[String],
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
    files: &[String],
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
    files: &[String],
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
    let sql = "SELECT tool_id, count(*)::UBIGINT, count_if(NOT ok)::UBIGINT, quantile_disc(tool_ms, 0.5)::UBIGINT, \
               quantile_disc(tool_ms, 0.95)::UBIGINT FROM summary_rows WHERE type = 'tool_call' AND tool_id IS NOT NULL \
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

/// Up to `limit` jobs where `cond` holds, in `order` (both fixed SQL of this module).
fn job_rows(conn: &Connection, cond: &str, order: &str, limit: usize) -> Result<Vec<JobRow>, StoreError> {
    let sql = format!("SELECT * FROM summary_jobs WHERE {cond} ORDER BY {order} LIMIT $1");
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
