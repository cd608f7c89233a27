//! Baselines of `flightrec-bench query --baselines`, on the same data in the same run:
//! - DuckDB reading the NDJSON with `read_json` and writing zstd Parquet (what compaction
//!   does, without the WAL decoding, the catalog or the crash-safe steps);
//! - the trace, job and one-hour questions as full scans of every Parquet file of the data
//!   directory (DuckDB's own row-group pruning, but no catalog to pick the files).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::BenchError;
use crate::measure::{page_start, percentile};

fn db(what: &'static str) -> impl FnOnce(duckdb::Error) -> BenchError {
    move |e| BenchError::Io { what: what.into(), source: std::io::Error::other(e.to_string()) }
}

/// `COPY (SELECT * FROM read_json(ndjson)) TO out (zstd Parquet)`; returns events/s.
pub fn read_json_to_parquet(ndjson: &Path, out: &Path) -> Result<f64, BenchError> {
    let conn = duckdb::Connection::open_in_memory().map_err(db("open DuckDB"))?;
    let t = Instant::now();
    let (ndjson_path, out_path) = (ndjson.display().to_string(), out.display().to_string());
    let sql = "COPY (SELECT * FROM read_json(?, format = 'newline_delimited', maximum_object_size = 16777216)) \
               TO ? (FORMAT parquet, COMPRESSION zstd)";
    conn.execute(sql, [&ndjson_path, &out_path]).map_err(db("read_json baseline"))?;
    let secs = t.elapsed().as_secs_f64();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM read_parquet(?)", [&out_path], |r| r.get(0))
        .map_err(db("count read_json baseline rows"))?;
    let _ = std::fs::remove_file(out);
    Ok(rows as f64 / secs.max(1e-9))
}

/// Median milliseconds of the trace, job and one-hour questions as full scans.
pub fn full_scans(
    data_dir: &Path,
    samples: &[(String, String)],
    start: chrono::DateTime<chrono::Utc>,
    days: u32,
    reps: usize,
) -> Result<Vec<f64>, BenchError> {
    let conn = duckdb::Connection::open_in_memory().map_err(db("open DuckDB"))?;
    // $1: the glob of every Parquet file, bound like the values.
    let glob = data_dir.join("events/**/*.parquet").display().to_string();
    let files = "read_parquet($1, hive_partitioning = true)";
    let by = |col: &str| format!("SELECT * FROM {files} WHERE {col} = $2 ORDER BY timestamp, event_id");
    let page = format!(
        "SELECT * FROM {files} WHERE timestamp >= $2::TIMESTAMPTZ AND timestamp < $3::TIMESTAMPTZ \
         ORDER BY timestamp, event_id LIMIT 100"
    );
    let (mut trace, mut job, mut hour) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..reps {
        let (t_id, j_id) = samples.get(i % samples.len().max(1)).cloned().unwrap_or_default();
        trace.push(timed(&conn, &by("trace_id"), &[glob.clone(), t_id])?);
        job.push(timed(&conn, &by("job_id"), &[glob.clone(), j_id])?);
        let from = page_start(start, days, i);
        let to = from + chrono::Duration::hours(1);
        hour.push(timed(&conn, &page, &[glob.clone(), from.to_rfc3339(), to.to_rfc3339()])?);
    }
    Ok([trace, job, hour].into_iter().map(median_ms).collect())
}

fn timed(conn: &duckdb::Connection, sql: &str, params: &[String]) -> Result<Duration, BenchError> {
    let t = Instant::now();
    let mut stmt = conn.prepare(sql).map_err(db("prepare full scan"))?;
    let mut rows = stmt.query(duckdb::params_from_iter(params)).map_err(db("run full scan"))?;
    while rows.next().map_err(db("read full scan"))?.is_some() {}
    Ok(t.elapsed())
}

/// The median the same way the query benchmark reports flightrec's.
fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort();
    percentile(&v, 0.5).as_secs_f64() * 1000.0
}
