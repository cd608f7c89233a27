//! The recorder's read side over the catalog: which Parquet files a query must read (pruned by
//! time range, trace and job index), and what retention dropped of a trace or job.

use std::path::Path;

use chrono::DateTime;
use duckdb::Connection;

use crate::compact::error::{StoreError, db, sql_str};
use crate::query::EventQuery;
use crate::query::views::RetentionGap;

/// Absolute paths of the Parquet files that can hold events matching `q`.
pub fn files_for(conn: &Connection, root: &Path, q: &EventQuery) -> Result<Vec<String>, StoreError> {
    let mut conds = vec!["state = 'compacted'".to_string()];
    conds.extend(q.from.map(|f| format!("max_ts >= make_timestamp({})::TIMESTAMPTZ", f.timestamp_micros())));
    conds.extend(q.to.map(|t| format!("min_ts < make_timestamp({})::TIMESTAMPTZ", t.timestamp_micros())));
    conds.extend(q.cursor.as_ref().map(|c| format!("max_ts >= make_timestamp({})::TIMESTAMPTZ", c.micros)));
    if let Some(trace) = &q.trace_id {
        conds.push(format!("segment IN (SELECT segment FROM cat.trace_index WHERE trace_id = {})", sql_str(trace)));
    }
    if let Some(job) = &q.job_id {
        conds.push(format!("segment IN (SELECT segment FROM cat.job_index WHERE job_id = {})", sql_str(job)));
    }
    let sql = format!("SELECT unnest(files) FROM cat.segments WHERE {} ORDER BY segment", conds.join(" AND "));
    let mut stmt = conn.prepare(&sql).map_err(db("choose Parquet files"))?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db("choose Parquet files"))?;
    let files = rows.collect::<Result<Vec<_>, _>>().map_err(db("choose Parquet files"))?;
    Ok(files.into_iter().map(|f| root.join(f).display().to_string()).collect())
}

/// What retention dropped of one trace (`index` = `trace_index`) or job (`job_index`).
pub fn retention_gaps(
    conn: &Connection,
    index: &str,
    column: &str,
    id: &str,
    what: &str,
) -> Result<Vec<RetentionGap>, StoreError> {
    let sql = format!(
        "SELECT sum(events)::UBIGINT, epoch_us(min(min_ts)), epoch_us(max(max_ts)) FROM cat.{index} WHERE {column} = {} AND dropped",
        sql_str(id)
    );
    let (events, from, to): (Option<u64>, Option<i64>, Option<i64>) =
        conn.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(db("read retention gaps"))?;
    let at = |t: Option<i64>| t.and_then(DateTime::from_timestamp_micros);
    Ok(match events {
        Some(n) if n > 0 => vec![RetentionGap::new(what, n, at(from), at(to))],
        _ => Vec::new(),
    })
}

/// Event ids of the Parquet files compacted within the last `window` (to seed de-duplication).
pub fn recent_event_ids(conn: &Connection, root: &Path, window: chrono::Duration) -> Result<Vec<String>, StoreError> {
    let since = (chrono::Utc::now() - window).timestamp_micros();
    let sql =
        format!("SELECT unnest(files) FROM cat.segments WHERE compacted_at >= make_timestamp({since})::TIMESTAMPTZ");
    let mut stmt = conn.prepare(&sql).map_err(db("list recent files"))?;
    let files = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db("list recent files"))?;
    let files = files.collect::<Result<Vec<_>, _>>().map_err(db("list recent files"))?;
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let list = files.iter().map(|f| sql_str(&root.join(f).display().to_string())).collect::<Vec<_>>().join(", ");
    let mut stmt =
        conn.prepare(&format!("SELECT event_id FROM read_parquet([{list}])")).map_err(db("read recent ids"))?;
    let ids = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db("read recent ids"))?;
    ids.collect::<Result<Vec<_>, _>>().map_err(db("read recent ids"))
}
