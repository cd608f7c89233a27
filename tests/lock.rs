#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Two processes on one data directory: the second gets a clear error.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use flightrec::datadir::{DataDir, DataDirError};

#[test]
fn a_second_process_on_the_same_data_directory_fails_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let mut first = common::ack_writer(tmp.path()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    // Once it has acknowledged an event it certainly holds the lock.
    let mut line = String::new();
    BufReader::new(first.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(!line.is_empty());

    let second = Command::new(env!("CARGO_BIN_EXE_flightrec"))
        .args(["ingest", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sample-events.ndjson")])
        .arg("--data-dir")
        .arg(tmp.path())
        .output()
        .unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("HSK-409-LOCKED"), "stderr: {stderr}");
    assert!(stderr.contains(&format!("pid {}", first.id())), "the error names the holder: {stderr}");

    // Once the holder is gone (even by kill -9) the directory can be opened again.
    let dir = DataDir::open(tmp.path()).unwrap();
    let again = DataDir::open(tmp.path()).unwrap_err();
    assert_eq!(again.code(), "HSK-409-LOCKED");
    assert!(matches!(&again, DataDirError::Locked { role: "writer", .. }), "{again}");
    drop(dir);
    DataDir::open(tmp.path()).unwrap();
}
