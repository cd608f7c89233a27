//! The recorder's read side over the catalog: which Parquet files a query must read (pruned by
//! time range, trace and job index), and what retention dropped of a trace or job.

use std::path::Path;

use chrono::DateTime;
use duckdb::Connection;

use crate::compact::Compactor;
use crate::compact::error::{StoreError, db, sql_str};
use crate::query::EventQuery;
use crate::query::parquet::{ParquetScan, Span};
use crate::query::views::RetentionGap;

/// The recorder's query connection: a second connection to the compactor's database (the
/// catalog is attached there), caching Parquet footers between queries (DuckDB re-reads a
/// footer whose file changed).
pub fn query_connection(compactor: &Compactor) -> Result<Connection, StoreError> {
    let conn = compactor.connection().try_clone().map_err(db("open query connection"))?;
    conn.execute_batch("SET parquet_metadata_cache = true").map_err(db("enable the Parquet metadata cache"))?;
    Ok(conn)
}

/// What a query must read of the Parquet files: absolute paths of the files that can hold
/// events matching `q`, and, for a trace or job lookup, the time span the index says its
/// compacted events lie in (files are sorted by time, so the span prunes row groups).
pub fn parquet_scan(conn: &Connection, root: &Path, q: &EventQuery) -> Result<ParquetScan, StoreError> {
    let ids = [(&q.trace_id, Index::TRACE), (&q.job_id, Index::JOB)];
    let mut found: Option<Indexed> = None;
    for (id, index) in ids.into_iter().filter_map(|(id, index)| id.as_deref().map(|id| (id, index))) {
        let this = lookup(conn, root, index, id)?;
        found = Some(match found {
            Some(other) => other.and(this),
            None => this,
        });
    }
    Ok(match found {
        Some(found) => ParquetScan::new(found.files, found.span, q),
        None => ParquetScan::new(files_in_time_range(conn, root, q)?, None, q),
    })
}

fn files_in_time_range(conn: &Connection, root: &Path, q: &EventQuery) -> Result<Vec<String>, StoreError> {
    let mut conds = vec!["state = 'compacted'".to_string()];
    conds.extend(q.from.map(|f| format!("max_ts >= make_timestamp({})::TIMESTAMPTZ", f.timestamp_micros())));
    conds.extend(q.to.map(|t| format!("min_ts < make_timestamp({})::TIMESTAMPTZ", t.timestamp_micros())));
    let (after, before) = q.cursor_bounds();
    conds.extend(after.map(|c| format!("max_ts >= make_timestamp({c})::TIMESTAMPTZ")));
    conds.extend(before.map(|c| format!("min_ts <= make_timestamp({c})::TIMESTAMPTZ")));
    let sql = format!("SELECT unnest(files) FROM cat.segments WHERE {} ORDER BY segment", conds.join(" AND "));
    let mut stmt = conn.prepare(&sql).map_err(db("choose Parquet files"))?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db("choose Parquet files"))?;
    let files = rows.collect::<Result<Vec<_>, _>>().map_err(db("choose Parquet files"))?;
    Ok(files.into_iter().map(|f| root.join(f).display().to_string()).collect())
}

/// One of the catalog's id indexes.
#[derive(Debug, Clone, Copy)]
pub struct Index {
    table: &'static str,
    column: &'static str,
    /// What a retention gap calls the id's events ("trace", "job").
    what: &'static str,
}

impl Index {
    pub const TRACE: Index = Index { table: "trace_index", column: "trace_id", what: "trace" };
    pub const JOB: Index = Index { table: "job_index", column: "job_id", what: "job" };
}

/// What the catalog knows of one trace or job.
#[derive(Debug, Default)]
pub struct Indexed {
    /// Absolute paths of the Parquet files of the segments holding its compacted events.
    pub files: Vec<String>,
    /// The time span of its compacted events.
    pub span: Option<Span>,
    /// What retention dropped of it.
    pub gaps: Vec<RetentionGap>,
}

impl Indexed {
    /// What two ids have in common (an event with both): the shared files, the overlap.
    fn and(self, other: Indexed) -> Indexed {
        let span = self.span.zip(other.span).map(|(a, b)| a.intersect(b));
        let files = self.files.into_iter().filter(|f| other.files.contains(f)).collect();
        Indexed { files, span, gaps: Vec::new() }
    }
}

/// One id's rows of the index with their segments' files, in one query.
pub fn lookup(conn: &Connection, root: &Path, index: Index, id: &str) -> Result<Indexed, StoreError> {
    let sql = format!(
        "SELECT i.dropped, i.events, epoch_us(i.min_ts), epoch_us(i.max_ts), array_to_string(s.files, chr(10)) \
         FROM cat.{} i LEFT JOIN cat.segments s ON s.segment = i.segment AND s.state = 'compacted' \
         WHERE i.{} = {} ORDER BY i.segment",
        index.table,
        index.column,
        sql_str(id)
    );
    let what = format!("look up {} {id} in the catalog", index.what);
    let mut stmt = conn.prepare(&sql).map_err(db(what.clone()))?;
    let rows = stmt
        .query_map([], |r| {
            let row: IndexRow = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
            Ok(row)
        })
        .map_err(db(what.clone()))?;
    let rows = rows.collect::<Result<Vec<_>, _>>().map_err(db(what))?;
    Ok(indexed(root, index, rows))
}

/// dropped, events, min_ts µs, max_ts µs, the segment's files (newline-separated).
type IndexRow = (bool, u64, Option<i64>, Option<i64>, Option<String>);

fn indexed(root: &Path, index: Index, rows: Vec<IndexRow>) -> Indexed {
    let mut found = Indexed::default();
    let (mut dropped, mut dropped_span) = (0u64, None);
    for (is_dropped, events, min_ts, max_ts, files) in rows {
        let span = min_ts.zip(max_ts).map(|(first, last)| Span { first, last });
        if is_dropped {
            dropped += events;
            dropped_span = widen(dropped_span, span);
            continue;
        }
        let Some(files) = files else { continue };
        found.files.extend(files.split('\n').filter(|f| !f.is_empty()).map(|f| root.join(f).display().to_string()));
        found.span = widen(found.span, span);
    }
    if dropped > 0 {
        let at = |t: Option<i64>| t.and_then(DateTime::from_timestamp_micros);
        let (from, to) = (dropped_span.map(|s| s.first), dropped_span.map(|s| s.last));
        found.gaps.push(RetentionGap::new(index.what, dropped, at(from), at(to)));
    }
    found
}

fn widen(a: Option<Span>, b: Option<Span>) -> Option<Span> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.union(b)),
        (a, b) => a.or(b),
    }
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
