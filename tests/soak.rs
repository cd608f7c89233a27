#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! kill -9 soak: a recorder process (`flightrec-ack-writer --recorder`: de-duplication, query tail,
//! background compaction woken by one-second seals of 4 MiB segments, retention at open) takes events from 16
//! concurrent writers and prints each acknowledged event_id; it is killed with SIGKILL at a
//! random moment, restarted, killed again... After every round every acknowledged event is
//! present exactly once, and every Parquet file reads in DuckDB.
//!
//! Rounds: `FLIGHTREC_SOAK_ROUNDS` (default 10; the long local run used 100).

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn stored_counts(data: &Path) -> HashMap<String, u64> {
    let out = Command::new(env!("CARGO_BIN_EXE_flightrec"))
        .arg("--data-dir")
        .arg(data)
        .args(["sql", "--json", "SELECT event_id, count(*) AS n FROM events GROUP BY event_id"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["event_id"].as_str().unwrap().to_string(), v["n"].as_str().unwrap().parse().unwrap())
        })
        .collect()
}

fn every_parquet_file_reads(data: &Path) -> usize {
    let files = flightrec::compact::files::parquet_files(&data.join("events"));
    let conn = duckdb::Connection::open_in_memory().unwrap();
    for f in &files {
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM read_parquet('{}')", f.display()), [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{} does not read: {e}", f.display()));
        assert!(n > 0, "{} is empty", f.display());
    }
    files.len()
}

#[test]
fn acknowledged_events_survive_repeated_kill_9_during_compaction() {
    let rounds: usize = std::env::var("FLIGHTREC_SOAK_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut acked: Vec<String> = Vec::new();
    for round in 0..rounds {
        // Killed at a random moment once the recorder is up (recovery, de-duplication seeding
        // and the first compaction pass done): the first acknowledgement says so.
        let args = ["--recorder", "--writers", "16", "--segment-bytes", "4194304", "--segment-age", "1"];
        let ids = common::ingest_then_kill_9(&data, &args, Duration::from_millis(fastrand::u64(100..1_500)));
        assert!(!ids.is_empty(), "round {round}: nothing acknowledged");
        acked.extend(ids);

        let stored = stored_counts(&data);
        for id in &acked {
            assert_eq!(stored.get(id), Some(&1), "round {round}: acknowledged {id} must be stored exactly once");
        }
        assert!(stored.values().all(|&n| n == 1), "round {round}: an event is stored twice");
        every_parquet_file_reads(&data);
    }
    let files = every_parquet_file_reads(&data);
    println!("{rounds} rounds, {} acknowledged events, all present once; {files} Parquet files read", acked.len());
    assert!(files > 0, "compaction ran between the kills");
}
