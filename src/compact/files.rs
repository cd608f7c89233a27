//! The Parquet files under `events/`, read without the catalog (for `stats` and tools that
//! must not take the compactor lock).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use duckdb::Connection;
use duckdb::arrow::array::AsArray;
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

/// Calls `remember` with the event ids (a chunk at a time) of the Parquet files written within
/// the last `window` (by their modification time), at most the newest `limit`, read without
/// the catalog: what a writer without the compactor lock remembers for de-duplication besides
/// its WAL.
pub fn recent_event_ids(
    events_dir: &Path,
    window: chrono::Duration,
    limit: usize,
    remember: &mut dyn FnMut(&[Uuid]),
) -> Result<(), StoreError> {
    let since = SystemTime::now().checked_sub(window.to_std().unwrap_or_default()).unwrap_or(SystemTime::UNIX_EPOCH);
    let written_since = |f: &PathBuf| std::fs::metadata(f).and_then(|m| m.modified()).is_ok_and(|t| t >= since);
    let mut files: Vec<PathBuf> = parquet_files(events_dir).into_iter().filter(written_since).collect();
    // Segment order (`seg-<first LSN>`, zero-padded), then date: the newest events last.
    files.sort_by(|a, b| (a.file_name(), a).cmp(&(b.file_name(), b)));
    let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let conn = crate::compact::duck::open_in_memory()?;
    newest_event_ids(&conn, &files, limit, remember)
}

/// Calls `remember` with the ids of the newest `limit` events (or a few more) of the Parquet
/// `files`, given oldest first (segment order), oldest first (by LSN: inside a row group the
/// rows are ordered by type, not by arrival). Only the newest files that hold `limit` events
/// are read (their row counts come from the footers), and they are sorted one segment (the
/// files of one name) at a time, so what DuckDB sorts is bounded by one segment's events
/// whatever the capacity; the ids are streamed a chunk at a time and parsed into 16-byte
/// UUIDs as they come, never held as text on this side; `remember` gets them a chunk at a
/// time (one call per Arrow batch, so the de-duplication memory loads them in bulk).
pub fn newest_event_ids(
    conn: &Connection,
    files: &[String],
    limit: usize,
    remember: &mut dyn FnMut(&[Uuid]),
) -> Result<(), StoreError> {
    let files = newest_files(conn, files, limit)?;
    let mut stmt = conn.prepare("SELECT event_id FROM read_parquet(?) ORDER BY lsn").map_err(db("read recent ids"))?;
    let mut chunk = Vec::new();
    for segment in files.chunk_by(|a, b| Path::new(a).file_name() == Path::new(b).file_name()) {
        for batch in stmt.stream_arrow([path_list(segment)]).map_err(db("read recent ids"))? {
            let batch = batch.map_err(db("read recent ids"))?;
            let Some(ids) = batch.columns().first().and_then(|c| c.as_string_opt::<i32>()) else {
                return Err(StoreError::Arrow { segment: 0, reason: "event_id is not a string column".into() });
            };
            chunk.clear();
            chunk.extend(ids.iter().flatten().filter_map(|id| Uuid::parse_str(id).ok()));
            remember(&chunk);
        }
    }
    Ok(())
}

/// The shortest tail of `files` whose footers count at least `limit` rows (all of them when
/// they hold fewer).
fn newest_files(conn: &Connection, files: &[String], limit: usize) -> Result<Vec<String>, StoreError> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let sql = "SELECT file_name, sum(row_group_num_rows)::UBIGINT FROM \
               (SELECT DISTINCT file_name, row_group_id, row_group_num_rows FROM parquet_metadata(?)) GROUP BY file_name";
    let mut stmt = conn.prepare(sql).map_err(db("read Parquet footers"))?;
    let rows = stmt.query_map([path_list(files)], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)));
    let counts: std::collections::HashMap<String, u64> =
        rows.map_err(db("read Parquet footers"))?.collect::<Result<_, _>>().map_err(db("read Parquet footers"))?;
    let (mut rows, mut start) = (0u64, files.len());
    while start > 0 && rows < limit as u64 {
        start -= 1;
        rows += files.get(start).and_then(|f| counts.get(f)).copied().unwrap_or(0);
    }
    Ok(files.get(start..).unwrap_or_default().to_vec())
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
