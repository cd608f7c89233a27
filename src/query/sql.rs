//! `flightrec sql`: DuckDB SQL over a view `events` that covers the Parquet files and the WAL
//! tail, opened without any lock (the catalog stays the recorder's), so it runs while a
//! recorder is serving. Every result value is rendered as text.
//!
//! Read-only by construction: the text must parse as exactly one `SELECT` (DuckDB's own parser
//! decides, through `json_serialize_sql`, so `COPY … TO`, `ATTACH`, `INSTALL`, `SET` and a
//! second statement smuggled after a `;` are refused before anything runs), and the
//! connection reads files only below the data directory (`enable_external_access = false`
//! with `allowed_directories`), with its configuration locked so no statement can lift that.

use std::path::Path;

use duckdb::Connection;

use crate::compact::batch::{BatchBuilder, columns_sql};
use crate::compact::error::{StoreError, db};
use crate::compact::files::{parquet_files, path_list};
use crate::compact::summary_fields::SummaryFields;
use crate::datadir::Layout;
use crate::stored::StoredEnvelope;
use crate::wal::inspect;

/// A query's result: column names and rows of text (NULL as None).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SqlResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// Opens an in-memory DuckDB with the view `events` over the data directory at `root`.
pub fn open_events_view(root: &Path) -> Result<Connection, StoreError> {
    let layout = Layout::new(root);
    let conn = crate::compact::duck::open_in_memory()?;
    conn.execute_batch(&format!("CREATE TABLE wal_events ({})", columns_sql())).map_err(db("create WAL table"))?;
    let mut builder = BatchBuilder::default();
    inspect(&layout.wal_dir(), &mut |segment, rec| {
        if let Ok((e, fields)) = StoredEnvelope::parse_with(rec.json, SummaryFields::read) {
            builder.push(&e, &fields.unwrap_or_default(), rec.lsn, segment, rec.redacted);
        }
    })?;
    let batch = builder.finish().map_err(|e| StoreError::Arrow { segment: 0, reason: e.to_string() })?;
    let mut appender = conn.appender("wal_events").map_err(db("open appender"))?;
    appender.append_record_batch(batch).map_err(db("load WAL events"))?;
    appender.flush().map_err(db("load WAL events"))?;
    drop(appender);
    let wal = "SELECT * EXCLUDE (date) REPLACE (payload::JSON AS payload) FROM wal_events";
    let view = if parquet_files(&layout.events_dir()).is_empty() {
        format!("CREATE VIEW events AS {wal}")
    } else {
        // A view cannot hold a parameter: the glob is a variable, set through one.
        let glob = layout.events_dir().join("**").join("*.parquet").display().to_string();
        conn.execute("SET VARIABLE parquet_glob = ?", [glob]).map_err(db("set the Parquet glob"))?;
        format!(
            "CREATE VIEW parquet_events AS SELECT * EXCLUDE (date) FROM read_parquet(getvariable('parquet_glob'), hive_partitioning = true, union_by_name = true);
             CREATE VIEW events AS SELECT * FROM parquet_events
                 UNION ALL BY NAME {wal} WHERE lsn NOT IN (SELECT lsn FROM parquet_events)"
        )
    };
    conn.execute_batch(&view).map_err(db("create the events view"))?;
    confine_to(&conn, root)?;
    Ok(conn)
}

/// Lets the connection read files below `root` only, and locks its configuration.
fn confine_to(conn: &Connection, root: &Path) -> Result<(), StoreError> {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let dir = format!("{}/", root.display().to_string().trim_end_matches('/'));
    let confine = db("confine SQL to the data directory");
    conn.execute("SET allowed_directories = ?", [path_list([dir])]).map_err(confine)?;
    conn.execute_batch("SET enable_external_access = false; SET lock_configuration = true;")
        .map_err(db("confine SQL to the data directory"))
}

/// Refuses anything but exactly one `SELECT` statement, with DuckDB's parser as the judge.
fn check_single_select(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    let (failed, message, statements): (bool, Option<String>, Option<u64>) = conn
        .query_row(
            "SELECT (s->>'$.error')::BOOLEAN, s->>'$.error_message', json_array_length(s->'$.statements') \
             FROM (SELECT json_serialize_sql(?::VARCHAR) AS s)",
            [sql],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(db("parse SQL"))?;
    let refuse = |reason: String| Err(StoreError::SqlRefused { reason });
    if failed {
        let why = message.unwrap_or_default();
        return refuse(format!("only one read-only SELECT statement is allowed ({why})"));
    }
    match statements {
        Some(1) => Ok(()),
        Some(0) | None => refuse("the SQL text holds no statement".into()),
        Some(n) => refuse(format!("the SQL text holds {n} statements; run one SELECT at a time")),
    }
}

/// Runs one read-only `SELECT` and returns its result as text.
pub fn run_sql(conn: &Connection, sql: &str) -> Result<SqlResult, StoreError> {
    let sql = sql.trim().trim_end_matches(';');
    check_single_select(conn, sql)?;
    let wrapped = format!("SELECT COLUMNS(*)::VARCHAR FROM ({sql})");
    // The statement is the user's: its errors (a missing column, a file outside the data
    // directory) are theirs to fix, so they are refusals, not internal errors.
    let refused = |e: duckdb::Error| StoreError::SqlRefused { reason: e.to_string() };
    let mut stmt = conn.prepare(&wrapped).map_err(refused)?;
    let mut rows = stmt.query([]).map_err(refused)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db("read SQL result"))? {
        let n = row.as_ref().column_count();
        out.push(
            (0..n)
                .map(|i| row.get::<_, Option<String>>(i))
                .collect::<Result<Vec<_>, _>>()
                .map_err(db("read SQL result"))?,
        );
    }
    let columns = rows.as_ref().map(|s| s.column_names()).unwrap_or_default();
    Ok(SqlResult { columns, rows: out })
}
