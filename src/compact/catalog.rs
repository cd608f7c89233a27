//! The catalog, `catalog.duckdb`: which segments are compacted into which Parquet files,
//! which segments hold which traces and jobs, and what retention dropped.
//!
//! Ownership: only the process holding the compactor lock opens this file, read-write.
//! DuckDB allows one read-write process or several read-only ones, never both, so analysts
//! never open it: the Parquet files are their interface.
//!
//! The schema is versioned (`catalog_meta.schema_version`); [`MIGRATIONS`] lists the step
//! from each version to the next, applied in a transaction on open.

use std::path::Path;

use duckdb::{Connection, params};

use super::error::{StoreError, db};

/// Schema version this build writes.
pub const SCHEMA_VERSION: i64 = 1;

/// Name the catalog is attached under in the compactor's connection.
pub const CAT: &str = "cat";

/// The migration to version `i + 1` is `MIGRATIONS[i]`.
const MIGRATIONS: [&str; 1] = [r"
    CREATE TABLE cat.segments (
        segment UBIGINT PRIMARY KEY,      -- first LSN of the WAL segment
        first_lsn UBIGINT, last_lsn UBIGINT,
        min_ts TIMESTAMPTZ, max_ts TIMESTAMPTZ,
        events UBIGINT NOT NULL,
        bytes UBIGINT NOT NULL,           -- Parquet bytes
        files VARCHAR[] NOT NULL,         -- Parquet paths relative to the data directory
        state VARCHAR NOT NULL,           -- 'compacted' | 'dropping'
        compacted_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE cat.trace_index (
        trace_id VARCHAR NOT NULL, segment UBIGINT NOT NULL,
        min_ts TIMESTAMPTZ, max_ts TIMESTAMPTZ, events UBIGINT NOT NULL,
        dropped BOOLEAN NOT NULL DEFAULT false
    );
    CREATE INDEX trace_index_id ON cat.trace_index (trace_id);
    CREATE TABLE cat.job_index (
        job_id VARCHAR NOT NULL, segment UBIGINT NOT NULL,
        min_ts TIMESTAMPTZ, max_ts TIMESTAMPTZ, events UBIGINT NOT NULL,
        dropped BOOLEAN NOT NULL DEFAULT false
    );
    CREATE INDEX job_index_id ON cat.job_index (job_id);
    CREATE TABLE cat.retention_log (
        segment UBIGINT NOT NULL,
        first_lsn UBIGINT, last_lsn UBIGINT,
        min_ts TIMESTAMPTZ, max_ts TIMESTAMPTZ,
        events UBIGINT NOT NULL,
        source VARCHAR NOT NULL,          -- 'parquet' | 'wal'
        files VARCHAR[] NOT NULL,
        dropped_at TIMESTAMPTZ NOT NULL,
        window_days DOUBLE NOT NULL
    );
"];

/// Opens an in-memory DuckDB with the catalog attached as [`CAT`], migrated to
/// [`SCHEMA_VERSION`].
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_in_memory().map_err(db("open DuckDB"))?;
    let attach = format!("ATTACH {} AS {CAT}", super::error::sql_str(&path.display().to_string()));
    conn.execute_batch(&attach).map_err(db(format!("open catalog {}", path.display())))?;
    migrate(&conn, path)?;
    Ok(conn)
}

fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS cat.catalog_meta (key VARCHAR PRIMARY KEY, value BIGINT)")
        .map_err(db("create catalog_meta"))?;
    let version: i64 = conn
        .query_row("SELECT coalesce(max(value), 0) FROM cat.catalog_meta WHERE key = 'schema_version'", [], |r| {
            r.get(0)
        })
        .map_err(db("read catalog schema version"))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::CatalogTooNew { path: path.to_path_buf(), found: version, known: SCHEMA_VERSION });
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
        let to = i as i64 + 1;
        let sql = format!(
            "BEGIN TRANSACTION; {step}; INSERT OR REPLACE INTO cat.catalog_meta VALUES ('schema_version', {to}); COMMIT;"
        );
        if let Err(e) = conn.execute_batch(&sql) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(db(format!("migrate catalog to version {to}"))(e));
        }
    }
    Ok(())
}

/// One compacted segment as the catalog knows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SegmentRow {
    pub segment: u64,
    pub events: u64,
    pub bytes: u64,
    pub files: Vec<String>,
    pub state: String,
    pub max_ts_micros: Option<i64>,
    pub last_lsn: Option<u64>,
}

/// Every segment the catalog lists, in LSN order.
pub fn segments(conn: &Connection) -> Result<Vec<SegmentRow>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT segment, events, bytes, array_to_string(files, chr(10)), state, epoch_us(max_ts), last_lsn \
             FROM cat.segments ORDER BY segment",
        )
        .map_err(db("list catalog segments"))?;
    let rows = stmt
        .query_map(params![], |r| {
            let files: String = r.get(3)?;
            Ok(SegmentRow {
                segment: r.get(0)?,
                events: r.get(1)?,
                bytes: r.get(2)?,
                files: files.split('\n').filter(|f| !f.is_empty()).map(String::from).collect(),
                state: r.get(4)?,
                max_ts_micros: r.get(5)?,
                last_lsn: r.get(6)?,
            })
        })
        .map_err(db("list catalog segments"))?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db("list catalog segments"))
}

/// The highest LSN the catalog has seen: of compacted segments, of dropped ones, and of the
/// segments its indexes name (0 for an empty catalog).
pub fn highest_lsn(conn: &Connection) -> Result<u64, StoreError> {
    conn.query_row(
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
