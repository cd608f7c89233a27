//! The catalog, `catalog.duckdb`: which segments are compacted into which Parquet files,
//! which segments hold which traces and jobs, and what retention dropped.
//!
//! [`Catalog`] runs every statement on the catalog tables (`cat.*`); nothing else names them.
//! Every value is a bound parameter; states and sources are the enums of [`schema`], stored
//! as the strings older catalogs hold.
//!
//! Ownership: only the process holding the compactor lock opens this file, read-write.
//! DuckDB allows one read-write process or several read-only ones, never both, so analysts
//! never open it: the Parquet files are their interface.

mod filters;
mod lookup;
mod schema;
mod shipments;
mod staged;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use duckdb::arrow::record_batch::RecordBatch;
use duckdb::types::Value;
use duckdb::{Connection, Row, params};

use super::error::{StoreError, db};
use super::files::path_list;
use filters::IdFilters;
pub use lookup::{DroppedSpanRow, IdIndex};
use schema::unknown_string;
pub use schema::{SCHEMA_VERSION, SegmentState, Source};
pub use shipments::{RemoteObject, ShipCounts, Shipped, Unshipped};
use staged::Staged;

/// The tables of the catalog's connection (in memory, not in the catalog file) that hold the
/// index rows of the staged segments ([`staged::index_schema`]) until a transaction copies
/// them into `cat.trace_index` and `cat.job_index`.
const STAGED_INDEX_SQL: &str = "CREATE OR REPLACE TABLE staged_traces \
     (id VARCHAR, segment UBIGINT, min_ts TIMESTAMPTZ, max_ts TIMESTAMPTZ, events UBIGINT); \
     CREATE OR REPLACE TABLE staged_jobs \
     (id VARCHAR, segment UBIGINT, min_ts TIMESTAMPTZ, max_ts TIMESTAMPTZ, events UBIGINT);";
/// The columns of a segment's batch that [`Catalog::stage`] takes.
pub const STAGING_COLUMNS: [&str; 5] = ["trace_id", "job_id", "timestamp", "lsn", "segment"];

/// A staged segment to record as compacted: its Parquet files (relative paths) and their bytes.
#[derive(Debug, Clone, Copy)]
pub struct CompactedSegment<'a> {
    pub segment: u64,
    pub files: &'a [String],
    pub bytes: u64,
}

/// One compacted segment as the catalog knows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SegmentRow {
    pub segment: u64,
    pub events: u64,
    pub bytes: u64,
    /// Parquet paths relative to the data directory.
    pub files: Vec<String>,
    pub state: SegmentState,
    pub max_ts_micros: Option<i64>,
    pub last_lsn: Option<u64>,
}

/// One segment's row of the trace or job index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRow {
    pub segment: u64,
    /// Retention dropped the segment: these events are gone.
    pub dropped: bool,
    pub events: u64,
    pub min_ts_micros: Option<i64>,
    pub max_ts_micros: Option<i64>,
    /// The segment's Parquet files while it is compacted (None: dropped, dropping, or not
    /// compacted).
    pub files: Option<Vec<String>>,
}

/// A segment retention dropped (`retention_log`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DroppedRow {
    pub segment: u64,
    pub first_lsn: Option<u64>,
    pub last_lsn: Option<u64>,
    pub events: u64,
    pub source: Source,
    pub files: Vec<String>,
    pub window_days: f64,
}

/// Bounds of the staged segment's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagedBounds {
    pub newest_micros: Option<i64>,
    pub first_lsn: Option<u64>,
    pub last_lsn: Option<u64>,
}

/// Totals of the catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CatalogStats {
    /// Compacted segments (not being dropped), their events, files and time range.
    pub segments: u64,
    pub events: u64,
    pub files: u64,
    pub oldest_micros: Option<i64>,
    pub newest_micros: Option<i64>,
    /// What retention dropped: segments, events, and trace and job index rows kept as gaps.
    pub dropped_segments: u64,
    pub dropped_events: u64,
    pub dropped_index_rows: u64,
}

/// An in-memory DuckDB connection with `catalog.duckdb` attached as `cat`.
pub struct Catalog {
    conn: Connection,
    /// The id filters of every segment with index rows, shared by the connections cloned
    /// from this one (the compactor's adds to them; the readers' lookups read them).
    filters: Arc<RwLock<IdFilters>>,
    /// What the next transaction records of the staged segments.
    staged: RefCell<Staged>,
}

impl Catalog {
    /// Opens the catalog at `path` (creating it), migrated to [`SCHEMA_VERSION`].
    pub fn open(path: &Path) -> Result<Catalog, StoreError> {
        let conn = crate::compact::duck::open_in_memory()?;
        let attach = db(format!("open catalog {}", path.display()));
        conn.execute("ATTACH ? AS cat", [path.display().to_string()]).map_err(attach)?;
        schema::migrate(&conn, path)?;
        let filters = match IdFilters::load(&conn) {
            Ok(filters) => filters,
            Err(unreadable) => {
                // The filters are derived data: the index rows they were built of rebuild them.
                tracing::warn!(catalog = %path.display(), %unreadable, "id filters unreadable: rebuilding them");
                let tx = conn.unchecked_transaction().map_err(db("rebuild the id filters"))?;
                let built = filters::build_from_index_rows(&tx).map_err(db("rebuild the id filters"))?;
                tx.commit().map_err(db("rebuild the id filters"))?;
                let mut filters = IdFilters::default();
                filters.add(built);
                filters
            }
        };
        Ok(Catalog { conn, filters: Arc::new(RwLock::new(filters)), staged: RefCell::default() })
    }

    /// A second connection to the same catalog, for queries: it caches Parquet footers
    /// between queries (DuckDB re-reads a footer whose file changed).
    pub fn reader(&self) -> Result<Catalog, StoreError> {
        let conn = self.conn.try_clone().map_err(db("open query connection"))?;
        conn.execute_batch("SET parquet_metadata_cache = true").map_err(db("enable the Parquet metadata cache"))?;
        Ok(Catalog { conn, filters: Arc::clone(&self.filters), staged: RefCell::default() })
    }

    /// The connection, to read the Parquet files the catalog chose (its footer cache is
    /// warm); the catalog tables are read and written through the methods only.
    pub(crate) fn parquet_connection(&self) -> &Connection {
        &self.conn
    }

    /// Every segment the catalog lists, in LSN order.
    pub fn segments(&self) -> Result<Vec<SegmentRow>, StoreError> {
        let sql = "SELECT segment, events, bytes, files, state, epoch_us(max_ts), last_lsn FROM cat.segments \
                   ORDER BY segment";
        let segment = |r: &Row<'_>| {
            let state: String = r.get(4)?;
            Ok(SegmentRow {
                segment: r.get(0)?,
                events: r.get(1)?,
                bytes: r.get(2)?,
                files: text_list(r, 3)?.unwrap_or_default(),
                state: SegmentState::parse(&state).ok_or_else(|| unknown_string(4, "segment state", &state))?,
                max_ts_micros: r.get(5)?,
                last_lsn: r.get(6)?,
            })
        };
        self.rows("list catalog segments", sql, params![], segment)
    }

    /// The events the catalog counts for each of `segments` it lists (whatever its state).
    pub fn listed_events(&self, segments: &[u64]) -> Result<BTreeMap<u64, u64>, StoreError> {
        let (Some(first), Some(last)) = (segments.iter().min(), segments.iter().max()) else {
            return Ok(BTreeMap::new());
        };
        let sql = "SELECT segment, events FROM cat.segments \
                   WHERE segment BETWEEN ? AND ? AND list_contains(?::UBIGINT[], segment)";
        let rows = self.rows("find listed segments", sql, params![first, last, id_list(segments)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        Ok(rows.into_iter().collect())
    }

    /// The highest LSN the catalog has seen: of compacted segments, of dropped ones, and of
    /// the segments its indexes name (0 for an empty catalog).
    pub fn highest_lsn(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row(
                "SELECT coalesce(max(lsn), 0)::UBIGINT FROM (
                     SELECT max(greatest(segment, coalesce(last_lsn, 0))) AS lsn FROM cat.segments
                     UNION ALL SELECT max(greatest(segment, coalesce(last_lsn, 0))) FROM cat.retention_log
                     UNION ALL SELECT max(segment) FROM cat.trace_index
                     UNION ALL SELECT max(segment) FROM cat.job_index)",
                [],
                |r| r.get(0),
            )
            .map_err(db("read the highest LSN of the catalog"))
    }

    /// Stages one segment's [`STAGING_COLUMNS`], replacing what was staged.
    pub fn stage(&self, index_columns: RecordBatch) -> Result<(), StoreError> {
        self.stage_all(vec![index_columns])
    }

    /// Stages several segments' [`STAGING_COLUMNS`], replacing what was staged: aggregated
    /// here (see [`staged`]), their index rows appended to the staged index tables.
    pub fn stage_all(&self, index_columns: Vec<RecordBatch>) -> Result<(), StoreError> {
        let mut staged = Staged::default();
        for batch in &index_columns {
            staged.add(batch)?;
        }
        drop(index_columns);
        self.conn.execute_batch(STAGED_INDEX_SQL).map_err(db("create the staged index tables"))?;
        for (index, table) in [(IdIndex::Trace, "staged_traces"), (IdIndex::Job, "staged_jobs")] {
            let rows = staged.index_rows(index).map_err(|e| StoreError::Arrow {
                segment: staged.all().map_or(0, |s| s.first_lsn),
                reason: format!("the staged {} index rows: {e}", index.what()),
            })?;
            let mut appender = self.conn.appender(table).map_err(db("open appender"))?;
            appender.append_record_batch(rows).map_err(db("append index rows"))?;
            appender.flush().map_err(db("flush appender"))?;
        }
        self.staged.replace(staged);
        Ok(())
    }

    /// The newest timestamp and the LSN range of the staged events.
    pub fn staged_bounds(&self) -> Result<StagedBounds, StoreError> {
        let all = self.staged.borrow().all();
        Ok(StagedBounds {
            newest_micros: all.map(|s| s.max_ts),
            first_lsn: all.map(|s| s.first_lsn),
            last_lsn: all.map(|s| s.last_lsn),
        })
    }

    /// Records the staged segment as compacted into `files` (`bytes` of Parquet), with its
    /// trace and job index rows, in one transaction replacing any rows an interrupted run left.
    pub fn record_segment(&self, segment: u64, files: &[String], bytes: u64) -> Result<(), StoreError> {
        self.record_segments(&[CompactedSegment { segment, files, bytes }])
    }

    /// [`Catalog::record_segment`] for several staged segments in one transaction: each
    /// transaction has a fixed cost, which small segments would otherwise pay one by one.
    pub fn record_segments(&self, segments: &[CompactedSegment<'_>]) -> Result<(), StoreError> {
        let ids: Vec<u64> = segments.iter().map(|s| s.segment).collect();
        let (Some(first), Some(last)) = (ids.iter().min(), ids.iter().max()) else { return Ok(()) };
        self.transaction(&format!("record segments {first}..={last} in the catalog"), |tx| {
            delete_segment_rows(tx, &ids, true)?;
            let mut insert = tx.prepare(
                "INSERT INTO cat.segments VALUES (?::UBIGINT, ?::UBIGINT, ?::UBIGINT, \
                 make_timestamp(?::BIGINT)::TIMESTAMPTZ, make_timestamp(?::BIGINT)::TIMESTAMPTZ, ?::UBIGINT, \
                 ?::UBIGINT, ?::VARCHAR[], ?, now(), true)",
            )?;
            let staged = self.staged.borrow();
            for s in segments {
                let span = staged.segment(s.segment);
                insert.execute(params![
                    s.segment,
                    span.map(|e| e.first_lsn),
                    span.map(|e| e.last_lsn),
                    span.map(|e| e.min_ts),
                    span.map(|e| e.max_ts),
                    span.map_or(0, |e| e.events),
                    s.bytes,
                    path_list(s.files),
                    SegmentState::Compacted.as_str(),
                ])?;
            }
            drop(staged);
            self.index_staged(tx, &ids, false)
        })
    }

    /// Marks compacted segments `dropping`: retention deletes their files next.
    pub fn mark_dropping(&self, segments: &[u64]) -> Result<(), StoreError> {
        self.transaction("mark segments dropping", |tx| {
            for segment in segments {
                tx.execute(
                    "UPDATE cat.segments SET state = ? WHERE segment = ?",
                    params![SegmentState::Dropping.as_str(), segment],
                )?;
            }
            Ok(())
        })
    }

    /// Moves compacted segments (their files deleted) to the retention log in one
    /// transaction; their index rows stay, marked dropped, so lookups can report the gap.
    pub fn drop_segments(&self, segments: &[u64], window_days: f64) -> Result<(), StoreError> {
        self.transaction("log dropped segments", |tx| {
            for segment in segments {
                tx.execute(
                    "INSERT INTO cat.retention_log SELECT segment, first_lsn, last_lsn, min_ts, max_ts, events, \
                     ?, files, now(), ? FROM cat.segments WHERE segment = ?",
                    params![Source::Parquet.as_str(), window_days, segment],
                )?;
                tx.execute("UPDATE cat.trace_index SET dropped = true WHERE segment = ?", [segment])?;
                tx.execute("UPDATE cat.job_index SET dropped = true WHERE segment = ?", [segment])?;
                tx.execute("DELETE FROM cat.segments WHERE segment = ?", [segment])?;
            }
            Ok(())
        })
    }

    /// Logs the staged WAL segment (never compacted) as dropped from `file`, its LSNs
    /// `first..=last`, with its index rows marked dropped, in one transaction.
    pub fn drop_staged_wal_segment(
        &self,
        segment: u64,
        (first, last): (u64, u64),
        file: &str,
        window_days: f64,
    ) -> Result<(), StoreError> {
        self.transaction("log dropped WAL segment", |tx| {
            tx.execute(
                "DELETE FROM cat.retention_log WHERE segment = ? AND source = ?",
                params![segment, Source::Wal.as_str()],
            )?;
            delete_segment_rows(tx, &[segment], false)?;
            let all = self.staged.borrow().all();
            tx.execute(
                "INSERT INTO cat.retention_log VALUES (?::UBIGINT, ?::UBIGINT, ?::UBIGINT, \
                 make_timestamp(?::BIGINT)::TIMESTAMPTZ, make_timestamp(?::BIGINT)::TIMESTAMPTZ, ?::UBIGINT, \
                 ?, ?::VARCHAR[], now(), ?)",
                params![
                    segment,
                    first,
                    last,
                    all.map(|s| s.min_ts),
                    all.map(|s| s.max_ts),
                    all.map_or(0, |s| s.events),
                    Source::Wal.as_str(),
                    path_list([file]),
                    window_days
                ],
            )?;
            self.index_staged(tx, &[segment], true)
        })
    }

    /// Files of the compacted segments whose events can lie in `[from, to)` (µs since the
    /// epoch; None: unbounded), in segment order.
    pub fn files_overlapping(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT unnest(files) FROM cat.segments WHERE state = $1 \
                   AND ($2::BIGINT IS NULL OR max_ts >= make_timestamp($2::BIGINT)::TIMESTAMPTZ) \
                   AND ($3::BIGINT IS NULL OR min_ts < make_timestamp($3::BIGINT)::TIMESTAMPTZ) \
                   ORDER BY segment";
        let params = params![SegmentState::Compacted.as_str(), from, to];
        self.rows("choose Parquet files", sql, params, |r| r.get(0))
    }

    /// The time span (µs since the epoch) and event count of each compacted segment whose
    /// events can lie in `[from, to)`, for choosing the fewest files that hold a page.
    pub fn segment_spans(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<(i64, i64, u64)>, StoreError> {
        let sql = "SELECT epoch_us(min_ts), epoch_us(max_ts), events FROM cat.segments WHERE state = $1 \
                   AND min_ts IS NOT NULL AND max_ts IS NOT NULL \
                   AND ($2::BIGINT IS NULL OR max_ts >= make_timestamp($2::BIGINT)::TIMESTAMPTZ) \
                   AND ($3::BIGINT IS NULL OR min_ts < make_timestamp($3::BIGINT)::TIMESTAMPTZ)";
        let params = params![SegmentState::Compacted.as_str(), from, to];
        self.rows("read segment spans", sql, params, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    }

    /// Files of the compacted segments written before the summary's typed payload columns
    /// (`summary_columns` false), in segment order: the summary reads their payloads as JSON.
    pub fn files_without_summary_columns(&self) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT unnest(files) FROM cat.segments WHERE state = $1 AND NOT summary_columns ORDER BY segment";
        self.rows("list files without summary columns", sql, [SegmentState::Compacted.as_str()], |r| r.get(0))
    }

    /// Files of the segments compacted at or after `since` (µs since the epoch), in segment
    /// order.
    pub fn files_compacted_since(&self, since: i64) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT unnest(files) FROM cat.segments WHERE compacted_at >= make_timestamp(?)::TIMESTAMPTZ \
                   ORDER BY segment";
        self.rows("list recent files", sql, [since], |r| r.get(0))
    }

    /// Every segment retention dropped, in the order it dropped them.
    pub fn retention_log(&self) -> Result<Vec<DroppedRow>, StoreError> {
        let sql = "SELECT segment, first_lsn, last_lsn, events, source, files, window_days FROM cat.retention_log \
                   ORDER BY dropped_at, segment";
        let row = |r: &Row<'_>| {
            let source: String = r.get(4)?;
            Ok(DroppedRow {
                segment: r.get(0)?,
                first_lsn: r.get(1)?,
                last_lsn: r.get(2)?,
                events: r.get(3)?,
                source: Source::parse(&source).ok_or_else(|| unknown_string(4, "retention source", &source))?,
                files: text_list(r, 5)?.unwrap_or_default(),
                window_days: r.get(6)?,
            })
        };
        self.rows("read the retention log", sql, params![], row)
    }

    /// Totals of the compacted segments and of what retention dropped.
    pub fn stats(&self) -> Result<CatalogStats, StoreError> {
        let sql = "SELECT count(*)::UBIGINT, coalesce(sum(events), 0)::UBIGINT, coalesce(sum(len(files)), 0)::UBIGINT, \
                   epoch_us(min(min_ts)), epoch_us(max(max_ts)), \
                   (SELECT count(*) FROM cat.retention_log WHERE source <> 'remote')::UBIGINT, \
                   (SELECT coalesce(sum(events), 0) FROM cat.retention_log WHERE source <> 'remote')::UBIGINT, \
                   (SELECT count(*) FROM cat.trace_index WHERE dropped)::UBIGINT \
                   + (SELECT count(*) FROM cat.job_index WHERE dropped)::UBIGINT \
                   FROM cat.segments WHERE state = ?";
        let stats = |r: &Row<'_>| {
            Ok(CatalogStats {
                segments: r.get(0)?,
                events: r.get(1)?,
                files: r.get(2)?,
                oldest_micros: r.get(3)?,
                newest_micros: r.get(4)?,
                dropped_segments: r.get(5)?,
                dropped_events: r.get(6)?,
                dropped_index_rows: r.get(7)?,
            })
        };
        self.conn.query_row(sql, [SegmentState::Compacted.as_str()], stats).map_err(db("read catalog totals"))
    }

    /// Inserts the trace and job index rows of the staged `segments`, and their id filters
    /// (in the catalog, and in memory before the transaction commits: a lookup meanwhile may
    /// read a segment that has no rows yet, never miss one that has). A trace id that is not a
    /// UUID (FR-EVT requires one; an event cannot have another) is left out of the index rather
    /// than stopping compaction.
    fn index_staged(&self, tx: &Connection, segments: &[u64], dropped: bool) -> duckdb::Result<()> {
        for (table, source, id) in
            [("trace_index", "staged_traces", "trace_id"), ("job_index", "staged_jobs", "job_id")]
        {
            tx.execute(
                &format!(
                    "INSERT INTO cat.{table} ({id}, segment, min_ts, max_ts, events, dropped) \
                     SELECT id, segment, min_ts, max_ts, events, ?::BOOLEAN FROM {source} \
                     WHERE list_contains(?::UBIGINT[], segment)"
                ),
                params![dropped, id_list(segments)],
            )?;
        }
        let built = self.staged.borrow().filters(segments);
        filters::store(tx, &built, segments)?;
        filters::write(&self.filters).add(built);
        Ok(())
    }

    /// The rows of one query, mapped by `row`.
    fn rows<T>(
        &self,
        what: &str,
        sql: &str,
        params: impl duckdb::Params,
        row: impl FnMut(&Row<'_>) -> duckdb::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        query_rows(&self.conn, what, sql, params, row)
    }

    /// Runs `statements` in one transaction: committed when they all succeed, else rolled back.
    fn transaction(
        &self,
        what: &str,
        statements: impl FnOnce(&Connection) -> duckdb::Result<()>,
    ) -> Result<(), StoreError> {
        // Dropped without a commit (an error below), the transaction rolls back.
        let tx = self.conn.unchecked_transaction().map_err(db(what))?;
        statements(&tx).and_then(|()| tx.commit()).map_err(db(what))
    }
}

/// The rows of one statement on `conn`, mapped by `row`; `what` names it in the error.
pub(crate) fn query_rows<T>(
    conn: &Connection,
    what: &str,
    sql: &str,
    params: impl duckdb::Params,
    row: impl FnMut(&Row<'_>) -> duckdb::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare(sql).map_err(db(what))?;
    let rows = stmt.query_map(params, row).map_err(db(what))?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db(what))
}

/// Deletes the rows of a list of segments (the range bounding them, then the list) from
/// `cat.segments` and the two indexes.
const DELETE_SEGMENT_ROWS: [&str; 3] = [
    "DELETE FROM cat.segments WHERE segment BETWEEN ? AND ? AND list_contains(?::UBIGINT[], segment)",
    "DELETE FROM cat.trace_index WHERE segment BETWEEN ? AND ? AND list_contains(?::UBIGINT[], segment)",
    "DELETE FROM cat.job_index WHERE segment BETWEEN ? AND ? AND list_contains(?::UBIGINT[], segment)",
];

/// Deletes the rows of `segments` from both indexes, and from `cat.segments` too when
/// `listing` (before they are written again). The range bounds let DuckDB skip the row groups
/// of other segments (segments are inserted in LSN order).
fn delete_segment_rows(tx: &Connection, segments: &[u64], listing: bool) -> duckdb::Result<()> {
    let (Some(first), Some(last)) = (segments.iter().min(), segments.iter().max()) else { return Ok(()) };
    let ids = id_list(segments);
    let statements = if listing { &DELETE_SEGMENT_ROWS[..] } else { &DELETE_SEGMENT_ROWS[1..] };
    for sql in statements {
        tx.execute(sql, params![first, last, ids.clone()])?;
    }
    Ok(())
}

/// Segment ids as a `UBIGINT[]` parameter.
fn id_list(segments: &[u64]) -> Value {
    Value::List(segments.iter().map(|s| Value::UBigInt(*s)).collect())
}

/// A `VARCHAR[]` column as strings (None when NULL).
fn text_list(r: &Row<'_>, column: usize) -> duckdb::Result<Option<Vec<String>>> {
    let not_text = |v: &Value| {
        let reason = format!("a non-text item {v:?} in a list of files");
        duckdb::Error::FromSqlConversionFailure(column, duckdb::types::Type::Text, reason.into())
    };
    match r.get::<_, Value>(column)? {
        Value::Null => Ok(None),
        Value::List(items) => items
            .into_iter()
            .map(|v| match v {
                Value::Text(s) => Ok(s),
                other => Err(not_text(&other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        other => Err(not_text(&other)),
    }
}
