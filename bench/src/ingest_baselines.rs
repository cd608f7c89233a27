//! Baselines that `flightrec-bench ingest --baselines` runs beside flightrec in the same process, on
//! the same disk, with the same generated events:
//! - `fdatasync loop`: one thread writes each event and fdatasyncs it (the disk's per-event
//!   durable-write limit, what a naive durable logger does);
//! - `naive DuckDB`: one `duckdb::Connection` behind a mutex, one autocommitted `INSERT` per
//!   event, from the same number of writer threads;
//! - `group-commit probe` (in `sync` runs): the machine's ceiling for the same group commit
//!   without flightrec's work, see [`super::group_commit_probe`].

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flightrec::workload::Generator;

use crate::BenchError;

/// Events per second of one baseline run.
pub struct Baseline {
    pub name: &'static str,
    pub events_per_sec: f64,
    /// The CPU its events cost, where it is measured (the group-commit probe).
    pub cpu: Option<crate::measure::CpuCost>,
}

fn events(n: usize) -> Vec<String> {
    let mut g = Generator::new(5, chrono::Utc::now(), 1_000);
    (0..n).map(|_| g.next_json()).collect()
}

/// One thread: write one event, fdatasync, repeat, for `seconds`.
pub fn fdatasync_loop(dir: &Path, seconds: f64) -> Result<Baseline, BenchError> {
    let path = dir.join("baseline-fdatasync.log");
    let mut file = std::fs::File::create(&path).map_err(BenchError::io("create baseline file"))?;
    let lines = events(1024);
    let (start, deadline) = (Instant::now(), Duration::from_secs_f64(seconds));
    let mut n = 0usize;
    while start.elapsed() < deadline {
        file.write_all(lines[n % lines.len()].as_bytes()).map_err(BenchError::io("write baseline file"))?;
        file.sync_data().map_err(BenchError::io("fdatasync baseline file"))?;
        n += 1;
    }
    let _ = std::fs::remove_file(&path);
    Ok(Baseline {
        name: "fdatasync loop (1 thread)",
        events_per_sec: n as f64 / start.elapsed().as_secs_f64(),
        cpu: None,
    })
}

/// `writers` threads share one DuckDB connection; each event is one autocommitted INSERT.
pub fn naive_duckdb(dir: &Path, writers: usize, seconds: f64) -> Result<Baseline, BenchError> {
    let path = dir.join("baseline-naive.duckdb");
    let db = |e: duckdb::Error| BenchError::Io {
        what: "naive DuckDB baseline".into(),
        source: std::io::Error::other(e.to_string()),
    };
    let conn = duckdb::Connection::open(&path).map_err(db)?;
    conn.execute_batch("CREATE TABLE events (event_id VARCHAR, type VARCHAR, ts TIMESTAMPTZ, event JSON)")
        .map_err(db)?;
    let conn = Arc::new(Mutex::new(conn));
    let lines = Arc::new(events(1024));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let handles: Vec<_> = (0..writers.max(1))
        .map(|w| {
            let (conn, lines) = (conn.clone(), lines.clone());
            std::thread::spawn(move || {
                let mut n = 0usize;
                while Instant::now() < deadline {
                    let line = &lines[(w * 131 + n) % lines.len()];
                    let Ok(c) = conn.lock() else { break };
                    let id = crate::measure::fresh_id().to_string();
                    let ok =
                        c.execute("INSERT INTO events VALUES (?, 'x', now(), ?)", duckdb::params![id, line]).is_ok();
                    drop(c);
                    n += usize::from(ok);
                }
                n
            })
        })
        .collect();
    let total: usize = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    let secs = start.elapsed().as_secs_f64();
    drop(conn);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("duckdb.wal"));
    Ok(Baseline { name: "naive DuckDB INSERT", events_per_sec: total as f64 / secs, cpu: None })
}
