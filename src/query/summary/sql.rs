//! The summary and the jobs list in DuckDB: the matching rows of the chosen Parquet files and
//! of the WAL tail are one row set (the `rows` CTE, with the payload fields the summary reads),
//! which three statements aggregate straight from the files: events per bucket and type; the
//! models, tools, capabilities and job counts in one grouping by (type, model, tool or
//! capability); the jobs, with the models of the listed ones. Nothing is materialized but
//! the tail's rows and the per-job table: writing the row set to a table cost more than all
//! the aggregates. Files with the typed summary columns (`compact::summary_fields`) give the
//! payload fields as columns; files written before them, and the tail, give them by one JSON
//! extraction per row (in each statement that reads them).
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
use crate::query::EventQuery;
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

/// One row per job of `rows`, as [`JobRow`] (times in µs) without its models: its events and
/// first event over every row, the rest over its lifecycle events (only those have a phase).
const PER_JOB: &str = "SELECT job_id, arg_min(job_kind, ts) FILTER (WHERE job_kind IS NOT NULL) AS job_kind, \
    coalesce(arg_max(status, ts) FILTER (WHERE phase = 'finished'), 'running') AS status, \
    coalesce(min(ts) FILTER (WHERE phase = 'started'), min(ts)) AS started, \
    max(ts) FILTER (WHERE phase = 'finished') AS finished_ts, \
    coalesce(arg_max(duration, ts) FILTER (WHERE phase = 'finished'), \
    (max(ts) FILTER (WHERE phase = 'finished') - min(ts) FILTER (WHERE phase = 'started')) // 1000) AS duration_ms, \
    count(*) AS events FROM rows WHERE job_id IS NOT NULL GROUP BY job_id";

/// The models, tools, capabilities and job counts: one group per (type, model of an
/// `llm_inference`, tool of a `tool_call`, capability of a `capability_decision`).
const PARTS: &str = "SELECT type, CASE type WHEN 'llm_inference' THEN model_id WHEN 'tool_call' THEN tool_id \
    WHEN 'capability_decision' THEN capability_id END AS key, count(*)::UBIGINT, \
    coalesce(sum(prompt), 0)::UBIGINT, coalesce(sum(completion), 0)::UBIGINT, \
    quantile_disc(latency, 0.5)::UBIGINT, quantile_disc(latency, 0.95)::UBIGINT, \
    count_if(NOT ok)::UBIGINT, quantile_disc(duration, 0.5)::UBIGINT, quantile_disc(duration, 0.95)::UBIGINT, \
    count_if(decision = 'allow')::UBIGINT, count_if(decision = 'deny')::UBIGINT, \
    count_if(phase = 'started')::UBIGINT, count_if(phase = 'finished' AND status = 'ok')::UBIGINT, \
    count_if(phase = 'finished' AND status = 'failed')::UBIGINT, \
    count_if(phase = 'finished' AND status = 'cancelled')::UBIGINT \
    FROM rows WHERE type IN ('llm_inference', 'tool_call', 'capability_decision', 'job_lifecycle') GROUP BY ALL";

/// The `rows` CTE over `files` and the tail table, matching `filter` (the tail's rows must
/// already match it), with its parameters in `b`.
fn rows_cte(files: &SummaryFiles, tail: &[Arc<StoredEvent>], filter: &EventQuery, b: &mut Params) -> String {
    let scan = |files: &[String], b: &mut Params| {
        let list = b.bind(path_list(files));
        let cond = where_clause(filter, b);
        format!("FROM read_parquet({list}, union_by_name = true) WHERE {cond}")
    };
    let typed = if files.typed.is_empty() {
        String::new()
    } else {
        format!("SELECT {TYPED_FILE_COLUMNS} {} UNION ALL ", scan(&files.typed, b))
    };
    let mut json_rows = tail_rows(files, tail, b, &scan);
    if !files.json.is_empty() {
        json_rows = format!("SELECT {JSON_FILE_COLUMNS} {} UNION ALL {json_rows}", scan(&files.json, b));
    }
    format!("WITH json_rows AS ({json_rows}), rows AS ({typed}{EXTRACT})")
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

/// What the statements read: the files, the tail (in `summary_tail`), the filter.
struct Source<'a> {
    conn: &'a Connection,
    files: &'a SummaryFiles,
    tail: &'a [Arc<StoredEvent>],
    filter: EventQuery,
}

impl Source<'_> {
    /// The rows of the statement `select` writes after the `rows` CTE (binding its own
    /// parameters after the CTE's), mapped by `row`.
    fn rows<T>(
        &self,
        what: &str,
        select: impl FnOnce(&mut Params) -> String,
        row: impl FnMut(&duckdb::Row<'_>) -> duckdb::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut b = Params::default();
        let cte = rows_cte(self.files, self.tail, &self.filter, &mut b);
        let select = select(&mut b);
        rows(self.conn, what, &format!("{cte} {select}"), duckdb::params_from_iter(b.values()), row)
    }
}

/// Runs `f` over the source of `files` and `tail` (its rows in `summary_tail`), then drops
/// the tail's table.
fn with_source<T>(
    conn: &Connection,
    files: &SummaryFiles,
    tail: &[Arc<StoredEvent>],
    filter: EventQuery,
    f: impl FnOnce(&Source<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let result = append_tail(conn, tail).and_then(|()| f(&Source { conn, files, tail, filter }));
    if let Err(e) = conn.execute_batch("DROP TABLE IF EXISTS summary_tail") {
        tracing::warn!(error = %e, "dropping the summary's tail table failed");
    }
    result
}

/// The parts of the summary DuckDB computes (everything but the gaps).
pub fn summarize(
    conn: &Connection,
    files: &SummaryFiles,
    tail: &[Arc<StoredEvent>],
    q: &SummaryQuery,
) -> Result<super::Summary, StoreError> {
    with_source(conn, files, tail, q.events(), |src| {
        let buckets = bucket_rows(src, q)?;
        let total_events = buckets.iter().map(|(_, _, n)| n).sum();
        let mut types: Vec<String> = buckets.iter().map(|(_, t, _)| t.clone()).collect();
        types.sort();
        types.dedup();
        let parts = parts(src)?;
        let lists = [
            JobList { cond: "status = 'failed'", order: "started DESC, job_id", limit: MAX_JOB_ROWS },
            JobList { cond: "duration_ms IS NOT NULL", order: "duration_ms DESC, job_id", limit: MAX_JOB_ROWS },
        ];
        let [failed_jobs, slowest_jobs] = job_lists(src, lists)?;
        Ok(super::Summary {
            from: q.range.from,
            to: q.range.to,
            bucket_seconds: q.bucket_seconds,
            total_events,
            types,
            buckets: dense_buckets(&q.range, q.bucket_seconds, buckets),
            models: parts.models,
            tools: parts.tools,
            capabilities: parts.capabilities,
            jobs: parts.jobs,
            failed_jobs,
            slowest_jobs,
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
    with_source(conn, files, tail, q.range.events(None, None), |src| {
        // A fixed spelling of the closed set, never the caller's text.
        let cond = match q.status {
            Some(JobState::Ok) => "status = 'ok'",
            Some(JobState::Failed) => "status = 'failed'",
            Some(JobState::Cancelled) => "status = 'cancelled'",
            Some(JobState::Running) => "status = 'running'",
            None => "true",
        };
        let [jobs] = job_lists(src, [JobList { cond, order: "started DESC, job_id", limit: q.limit }])?;
        Ok(jobs)
    })
}

fn bucket_rows(src: &Source<'_>, q: &SummaryQuery) -> Result<Vec<(i64, String, u64)>, StoreError> {
    let first = q.range.first_bucket_micros(q.bucket_seconds);
    let width = q.bucket_seconds.saturating_mul(1_000_000);
    let sql = |b: &mut Params| {
        let (first, width) = (b.bind(first), b.bind(width));
        format!("SELECT (ts - {first}) // {width}, type, count(*)::UBIGINT FROM rows GROUP BY ALL ORDER BY ALL")
    };
    src.rows("count events by bucket", sql, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
}

/// The summary's models, tools, capabilities and job counts.
#[derive(Default)]
struct Parts {
    models: Vec<ModelUsage>,
    tools: Vec<ToolUsage>,
    capabilities: Vec<CapabilityDecisions>,
    jobs: JobCounts,
}

/// One group of [`PARTS`]: its type, key and columns 2 onwards.
type PartRow = (String, Option<String>, [Option<u64>; 14]);

fn parts(src: &Source<'_>) -> Result<Parts, StoreError> {
    let groups = src.rows(
        "summarize models, tools and capabilities",
        |_| PARTS.to_string(),
        |r| {
            let mut n = [None; 14];
            for (i, v) in n.iter_mut().enumerate() {
                *v = r.get(i + 2)?;
            }
            Ok::<PartRow, _>((r.get(0)?, r.get(1)?, n))
        },
    )?;
    let mut out = Parts::default();
    for (ty, key, n) in groups {
        let count = |i: usize| n[i].unwrap_or(0);
        match (ty.as_str(), key) {
            ("llm_inference", Some(model_id)) => out.models.push(ModelUsage {
                model_id,
                calls: count(0),
                prompt_tokens: count(1),
                completion_tokens: count(2),
                latency_ms_p50: n[3],
                latency_ms_p95: n[4],
            }),
            ("tool_call", Some(tool_id)) => out.tools.push(ToolUsage {
                tool_id,
                calls: count(0),
                failures: count(5),
                duration_ms_p50: n[6],
                duration_ms_p95: n[7],
            }),
            ("capability_decision", Some(capability_id)) => {
                out.capabilities.push(CapabilityDecisions { capability_id, allow: count(8), deny: count(9) });
            }
            ("job_lifecycle", _) => {
                let j = &mut out.jobs;
                j.started += count(10);
                j.ok += count(11);
                j.failed += count(12);
                j.cancelled += count(13);
            }
            _ => {}
        }
    }
    out.models.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.model_id.cmp(&b.model_id)));
    out.tools.sort_by(|a, b| (b.failures, b.calls).cmp(&(a.failures, a.calls)).then_with(|| a.tool_id.cmp(&b.tool_id)));
    out.capabilities.sort_by(|a, b| b.deny.cmp(&a.deny).then_with(|| a.capability_id.cmp(&b.capability_id)));
    out.models.truncate(MAX_LIST);
    out.tools.truncate(MAX_LIST);
    out.capabilities.truncate(MAX_LIST);
    Ok(out)
}

/// One list of jobs: those where `cond` holds, in `order`, at most `limit` (`cond` and
/// `order` are fixed SQL of this module).
struct JobList {
    cond: &'static str,
    order: &'static str,
    limit: usize,
}

/// The jobs of each of `lists`, with their models (gathered for the listed jobs only), from
/// one statement over the per-job table.
fn job_lists<const N: usize>(src: &Source<'_>, lists: [JobList; N]) -> Result<[Vec<JobRow>; N], StoreError> {
    let picked: Vec<String> = lists
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!(
                "SELECT * FROM (SELECT {i} AS list, row_number() OVER (ORDER BY {order}) AS rank, * FROM per_job \
                 WHERE {cond} ORDER BY {order} LIMIT {limit})",
                order = l.order,
                cond = l.cond,
                limit = l.limit
            )
        })
        .collect();
    let sql = format!(
        ", per_job AS MATERIALIZED ({PER_JOB}), picked AS ({}), \
         models AS (SELECT job_id, to_json(list_sort(list_distinct(list(model_id))))::VARCHAR AS models \
         FROM rows WHERE job_id IN (SELECT job_id FROM picked) GROUP BY job_id) \
         SELECT picked.*, coalesce(models, '[]') FROM picked LEFT JOIN models USING (job_id) ORDER BY list, rank",
        picked.join(" UNION ALL ")
    );
    let rows = src.rows("list jobs", |_| sql, |r| Ok((r.get::<_, i64>(0)?, job_row(r)?)))?;
    let mut out: [Vec<JobRow>; N] = std::array::from_fn(|_| Vec::new());
    for (list, row) in rows {
        if let Some(l) = usize::try_from(list).ok().and_then(|i| out.get_mut(i)) {
            l.push(row);
        }
    }
    Ok(out)
}

/// A [`JobRow`] from a [`job_lists`] row (list, rank, then the per-job columns and models).
fn job_row(r: &duckdb::Row<'_>) -> duckdb::Result<JobRow> {
    let status: String = r.get(4)?;
    let models: String = r.get(9)?;
    let at = |us: i64| DateTime::from_timestamp_micros(us).unwrap_or_default();
    let conv = |e: String| duckdb::Error::FromSqlConversionFailure(4, duckdb::types::Type::Text, e.into());
    Ok(JobRow {
        job_id: r.get(2)?,
        job_kind: r.get(3)?,
        status: JobState::from_name(&status).ok_or_else(|| conv(format!("unknown job status `{status}`")))?,
        started_at: at(r.get(5)?),
        finished_at: r.get::<_, Option<i64>>(6)?.map(at),
        duration_ms: r.get::<_, Option<i64>>(7)?.and_then(|d| u64::try_from(d).ok()),
        events: r.get(8)?,
        models: serde_json::from_str(&models).map_err(|e| conv(e.to_string()))?,
    })
}
