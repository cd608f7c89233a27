#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Analysts read the Parquet files while the recorder ingests and compacts: Python duckdb and
//! pyarrow (the README's commands) in another process never see a partial file or a lock
//! error, and the counts they see never go down.
//!
//! Needs python3 with duckdb and pyarrow (`.ci/run` installs them). Outside CI a machine
//! without them skips this test with a message; in CI (`CI` set) it fails instead.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const READER: &str = r#"
import sys, time
import duckdb, pyarrow.dataset as ds
events_dir = sys.argv[1]
deadline = time.time() + float(sys.argv[2])
glob = events_dir + "/**/*.parquet"
last_duck = last_arrow = 0
loops = 0
while time.time() < deadline:
    n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning = true)").fetchall()[0][0]
    assert n >= last_duck, f"duckdb count went down: {last_duck} -> {n}"
    last_duck = n
    m = ds.dataset(events_dir, format="parquet", partitioning="hive").count_rows()
    assert m >= last_arrow, f"pyarrow count went down: {last_arrow} -> {m}"
    last_arrow = m
    loops += 1
print(f"loops={loops} duckdb={last_duck} pyarrow={last_arrow}")
"#;

fn python_has_modules() -> bool {
    Command::new("python3").args(["-c", "import duckdb, pyarrow"]).status().is_ok_and(|s| s.success())
}

#[test]
fn python_duckdb_and_pyarrow_read_while_ingest_and_compaction_run() {
    if !python_has_modules() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have python3 with duckdb and pyarrow (.ci/run installs them)"
        );
        eprintln!("SKIPPED: python3 -m pip install duckdb pyarrow to run this test");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_flightrec");
    let mut writer = common::ack_writer(tmp.path())
        .args(["--writers", "4", "--durability", "batch"])
        .args(["--segment-bytes", "131072", "--segment-age", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Start the compactor once the writer holds the data directory (it has acknowledged an
    // event), and keep draining the writer's output so it never blocks on a full pipe.
    let mut acks = BufReader::new(writer.stdout.take().unwrap());
    let mut first = String::new();
    acks.read_line(&mut first).unwrap();
    std::thread::spawn(move || std::io::copy(&mut acks, &mut std::io::sink()));
    let mut compactor = Command::new(bin)
        .arg("--data-dir")
        .arg(tmp.path())
        .args(["compact", "--watch"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let events = tmp.path().join("events");
    let start = Instant::now();
    while flightrec::compact::files::parquet_files(&events).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(60), "no Parquet file appeared");
        std::thread::sleep(Duration::from_millis(100));
    }
    let reader = Command::new("python3").args(["-c", READER]).arg(&events).arg("8").output().unwrap();
    writer.kill().unwrap();
    compactor.kill().unwrap();
    writer.wait().unwrap();
    compactor.wait().unwrap();
    let out = String::from_utf8_lossy(&reader.stdout);
    assert!(reader.status.success(), "reader failed: {out}\n{}", String::from_utf8_lossy(&reader.stderr));
    let counts: Vec<u64> =
        out.trim().split(' ').filter_map(|kv| kv.split_once('=')).map(|(_, v)| v.parse().unwrap()).collect();
    assert!(counts[0] > 10, "the reader looped: {out}");
    assert!(counts[1] > 0 && counts[2] > 0, "the reader saw events: {out}");
}
