//! The catalog's schema: the tables, their migrations, and the strings its state and source
//! columns hold (converted here only, so the stored strings stay those of older catalogs).
//!
//! The schema is versioned (`catalog_meta.schema_version`); [`MIGRATIONS`] lists the step
//! from each version to the next, applied in a transaction on open.

use std::path::Path;

use duckdb::{Connection, params};

use crate::compact::error::{StoreError, db};

/// Schema version this build writes.
pub const SCHEMA_VERSION: i64 = 5;

/// The migration to version `i + 1` is `MIGRATIONS[i]`.
const MIGRATIONS: [&str; 5] = [
    r"
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
        source VARCHAR NOT NULL,          -- 'parquet' | 'wal' (| 'remote', version 2)
        files VARCHAR[] NOT NULL,
        dropped_at TIMESTAMPTZ NOT NULL,
        window_days DOUBLE NOT NULL
    );
",
    // Version 2: trace ids (UUIDs, FR-EVT) stored as `UUID`, 16 bytes, instead of their
    // 36-character text. The ART index over them is what the catalog holds in memory, one key
    // per trace and segment; with 16-byte keys it takes a fraction of the memory. DuckDB
    // cannot change the type of an indexed column (nor drop the index and alter the column in
    // one transaction), so the table is copied into one of the new type and renamed.
    r"
    CREATE TABLE cat.trace_index_v2 (
        trace_id UUID NOT NULL, segment UBIGINT NOT NULL,
        min_ts TIMESTAMPTZ, max_ts TIMESTAMPTZ, events UBIGINT NOT NULL,
        dropped BOOLEAN NOT NULL DEFAULT false
    );
    INSERT INTO cat.trace_index_v2 SELECT trace_id::UUID, segment, min_ts, max_ts, events, dropped
        FROM cat.trace_index ORDER BY segment;
    DROP TABLE cat.trace_index;
    ALTER TABLE cat.trace_index_v2 RENAME TO trace_index;
    CREATE INDEX trace_index_id ON cat.trace_index (trace_id);
",
    // Version 3: the files shipped to object storage.
    r"
    -- One row per Parquet file shipped to a target (a segment has a file per UTC date), written
    -- only once the object is complete under its key.
    CREATE TABLE cat.shipments (
        file VARCHAR NOT NULL,            -- Parquet path relative to the data directory
        target VARCHAR NOT NULL,          -- the --ship-to URL
        segment UBIGINT NOT NULL,
        object_key VARCHAR NOT NULL,      -- the object's key in the bucket, prefix included
        bytes UBIGINT NOT NULL,
        etag VARCHAR,
        shipped_at TIMESTAMPTZ NOT NULL,
        max_ts TIMESTAMPTZ,               -- newest event of the segment (remote retention)
        remote_dropped_at TIMESTAMPTZ,    -- remote retention deleted the object
        PRIMARY KEY (file, target)
    );
",
    // Version 4: whether a segment's files hold the summary's typed payload columns
    // (`compact::summary_fields`). Segments compacted before them are false: the summary reads
    // their payloads as JSON.
    r"
    ALTER TABLE cat.segments ADD COLUMN summary_columns BOOLEAN DEFAULT false;
",
    // Version 5: per-segment Bloom filters of the ids in the trace and job indexes
    // (`catalog::filters`) instead of ART indexes over them, which DuckDB held in memory whole
    // and which grew with the data until compaction ran out of memory. The filters of the
    // existing index rows are built by [`after_migration`].
    r"
    DROP INDEX IF EXISTS cat.trace_index_id;
    DROP INDEX IF EXISTS cat.job_index_id;
    -- One row per segment with index rows and kind of id: Parquet's split-block Bloom filter
    -- (Thrift header, then the bit set) of the ids of that segment's index rows.
    CREATE OR REPLACE TABLE cat.id_filters (
        segment UBIGINT NOT NULL,
        kind VARCHAR NOT NULL,            -- 'trace' | 'job'
        filter BLOB NOT NULL
    );
",
];

/// What a migration does besides its SQL, in its transaction: version 5 builds the id filters
/// of the index rows the catalog already holds.
fn after_migration(tx: &Connection, to: i64) -> duckdb::Result<()> {
    if to == 5 {
        super::filters::build_from_index_rows(tx)?;
    }
    Ok(())
}

/// Creates the tables of a new catalog, or migrates an older one, to [`SCHEMA_VERSION`].
pub fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS cat.catalog_meta (key VARCHAR PRIMARY KEY, value BIGINT)")
        .map_err(db("create catalog_meta"))?;
    let version: i64 = conn
        .query_row("SELECT coalesce(max(value), 0) FROM cat.catalog_meta WHERE key = ?", [VERSION_KEY], |r| r.get(0))
        .map_err(db("read catalog schema version"))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::CatalogTooNew { path: path.to_path_buf(), found: version, known: SCHEMA_VERSION });
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
        let to = i as i64 + 1;
        let failed = db(format!("migrate catalog to version {to}"));
        // Dropped without a commit (an error below), the transaction rolls back.
        let tx = conn.unchecked_transaction().map_err(db("begin a catalog migration"))?;
        let applied = tx
            .execute_batch(step)
            .and_then(|()| after_migration(&tx, to))
            .and_then(|()| {
                tx.execute("INSERT OR REPLACE INTO cat.catalog_meta VALUES (?, ?)", params![VERSION_KEY, to])
            })
            .and_then(|_| tx.commit());
        applied.map_err(failed)?;
    }
    Ok(())
}

/// The `catalog_meta` key of the schema version.
const VERSION_KEY: &str = "schema_version";

/// Where a cataloged segment is in its life (`segments.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SegmentState {
    /// Its Parquet files are written and queried.
    Compacted,
    /// Retention is deleting its files; the next run finishes it.
    Dropping,
}

/// Where retention dropped a segment from (`retention_log.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A compacted segment: its Parquet files.
    Parquet,
    /// A sealed WAL segment not compacted yet.
    Wal,
    /// Shipped objects remote retention deleted from the bucket (`files`: their keys); the
    /// local files are dropped by their own `parquet` row.
    Remote,
}

impl SegmentState {
    pub fn as_str(self) -> &'static str {
        match self {
            SegmentState::Compacted => "compacted",
            SegmentState::Dropping => "dropping",
        }
    }

    /// The state a stored string names (None: a string this build never writes).
    pub fn parse(s: &str) -> Option<SegmentState> {
        [SegmentState::Compacted, SegmentState::Dropping].into_iter().find(|v| v.as_str() == s)
    }
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Parquet => "parquet",
            Source::Wal => "wal",
            Source::Remote => "remote",
        }
    }

    /// The source a stored string names (None: a string this build never writes).
    pub fn parse(s: &str) -> Option<Source> {
        [Source::Parquet, Source::Wal, Source::Remote].into_iter().find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored state or source string this build does not know, as a row-decoding error.
pub fn unknown_string(column: usize, what: &str, value: &str) -> duckdb::Error {
    let reason = format!("unknown {what} `{value}` in the catalog");
    duckdb::Error::FromSqlConversionFailure(column, duckdb::types::Type::Text, reason.into())
}
