//! The Parquet files under `events/`, read without the catalog (for `stats` and tools that
//! must not take the compactor lock).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use duckdb::Connection;
use duckdb::types::Value;
use uuid::Uuid;

use super::error::{StoreError, db};

/// What the Parquet files hold.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ParquetSummary {
    pub files: u64,
    pub bytes: u64,
    pub events: u64,
    pub oldest_micros: Option<i64>,
    pub newest_micros: Option<i64>,
}

/// Every `*.parquet` file under `events/date=*/`, sorted.
pub fn parquet_files(events_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(partitions) = std::fs::read_dir(events_dir) else { return out };
    for partition in partitions.flatten() {
        let Ok(files) = std::fs::read_dir(partition.path()) else { continue };
        out.extend(files.flatten().map(|f| f.path()).filter(|p| p.extension().is_some_and(|e| e == "parquet")));
    }
    out.sort();
    out
}

/// Counts the events of the Parquet files with DuckDB (footers and the timestamp column).
pub fn summarize(events_dir: &Path) -> Result<ParquetSummary, StoreError> {
    let files = parquet_files(events_dir);
    let mut summary = ParquetSummary {
        files: files.len() as u64,
        bytes: files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum(),
        ..ParquetSummary::default()
    };
    if files.is_empty() {
        return Ok(summary);
    }
    let list = path_list(files.iter().map(|f| f.display().to_string()));
    let conn = crate::compact::duck::open_in_memory()?;
    let sql = "SELECT count(*), epoch_us(min(timestamp)), epoch_us(max(timestamp)) FROM read_parquet(?)";
    let (events, oldest, newest): (u64, Option<i64>, Option<i64>) =
        conn.query_row(sql, [list], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(db("read Parquet files"))?;
    summary.events = events;
    summary.oldest_micros = oldest;
    summary.newest_micros = newest;
    Ok(summary)
}

/// Event ids of the Parquet files written within the last `window` (by their modification
/// time), read without the catalog: what a writer without the compactor lock remembers for
/// de-duplication besides its WAL.
pub fn recent_event_ids(events_dir: &Path, window: chrono::Duration, limit: usize) -> Result<Vec<Uuid>, StoreError> {
    let since = SystemTime::now().checked_sub(window.to_std().unwrap_or_default()).unwrap_or(SystemTime::UNIX_EPOCH);
    let written_since = |f: &PathBuf| std::fs::metadata(f).and_then(|m| m.modified()).is_ok_and(|t| t >= since);
    let files: Vec<PathBuf> = parquet_files(events_dir).into_iter().filter(written_since).collect();
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let conn = Connection::open_in_memory().map_err(db("open DuckDB"))?;
    newest_event_ids(&conn, path_list(files.iter().map(|f| f.display().to_string())), limit)
}

/// The ids of the newest `limit` events (by LSN) of the Parquet `files`, oldest first, parsed
/// as they are read: the de-duplication memory holds at most `limit` ids, so reading more
/// (as strings) would only cost memory at open.
pub fn newest_event_ids(conn: &Connection, files: Value, limit: usize) -> Result<Vec<Uuid>, StoreError> {
    let sql = "SELECT event_id FROM (SELECT event_id, lsn FROM read_parquet(?) ORDER BY lsn DESC LIMIT ?) ORDER BY lsn";
    let mut stmt = conn.prepare(sql).map_err(db("read recent ids"))?;
    let limit = u64::try_from(limit).unwrap_or(u64::MAX);
    let mut rows = stmt.query(duckdb::params![files, limit]).map_err(db("read recent ids"))?;
    let mut ids = Vec::new();
    while let Some(row) = rows.next().map_err(db("read recent ids"))? {
        let id: String = row.get(0).map_err(db("read recent ids"))?;
        ids.extend(Uuid::parse_str(&id).ok());
    }
    Ok(ids)
}

/// The highest LSN in the Parquet files, read without the catalog (so without the compactor
/// lock): the newest segment's files are found by name (`seg-<first LSN>.parquet`) and their
/// largest `lsn` read from the files. 0 when there are none.
pub fn highest_lsn(events_dir: &Path) -> Result<u64, StoreError> {
    let files = parquet_files(events_dir);
    let first_lsn = |f: &PathBuf| {
        let stem = f.file_stem()?.to_str()?.strip_prefix("seg-")?;
        stem.parse::<u64>().ok()
    };
    let Some(newest) = files.iter().filter_map(first_lsn).max() else { return Ok(0) };
    let list = path_list(files.iter().filter(|f| first_lsn(f) == Some(newest)).map(|f| f.display().to_string()));
    let conn = crate::compact::duck::open_in_memory()?;
    let sql = "SELECT coalesce(max(lsn), 0)::UBIGINT FROM read_parquet(?)";
    let last: u64 = conn.query_row(sql, [list], |r| r.get(0)).map_err(db("read the newest Parquet files"))?;
    Ok(last.max(newest))
}

/// Paths as one DuckDB `VARCHAR[]` parameter: `read_parquet(?)` and the catalog's `files`
/// column take them bound, so no path is ever spliced into SQL text.
pub fn path_list<S: AsRef<str>>(paths: impl IntoIterator<Item = S>) -> Value {
    Value::List(paths.into_iter().map(|p| Value::Text(p.as_ref().to_string())).collect())
}
