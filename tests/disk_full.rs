#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! A real full disk: the recorder runs on a small tmpfs the test mounts (skipped, with the
//! reason printed, where mounting is not permitted; in CI, which runs as root, that fails).
//! Ingest until the disk is full: the caller gets `HSK-507-DISK-FULL` (HTTP 507), later
//! appends `HSK-500-WAL-POISONED`; after space is freed, reopening keeps every acknowledged
//! event exactly once and accepts more.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::parquet_query;
use flightrec::recorder::{Recorder, RecorderConfig};
use flightrec::wal::Durability;
use flightrec::workload::Generator;

/// A tmpfs mounted for the life of the value.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?.keep();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!("mount -t tmpfs failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(Tmpfs { dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Fills the file system with a ballast file, then gives `keep` bytes back.
fn fill_leaving(dir: &Path, keep: u64) -> PathBuf {
    let path = dir.join("ballast");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0xAB_u8; 64 * 1024];
    let mut len = 0u64;
    while let Ok(n) = file.write(&chunk) {
        if n == 0 {
            break;
        }
        len += n as u64;
    }
    file.set_len(len.saturating_sub(keep)).unwrap();
    file.sync_all().unwrap();
    path
}

fn config(data_dir: &Path) -> RecorderConfig {
    let mut config = RecorderConfig::new(data_dir);
    config.wal.segment_bytes = 256 * 1024;
    config.compaction_interval = Duration::from_secs(3600);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_appends_clearly_and_loses_nothing_acknowledged() {
    let fs = match Tmpfs::mount("16m") {
        Ok(fs) => fs,
        Err(reason) => {
            assert!(std::env::var_os("CI").is_none(), "CI runs as root and must mount a tmpfs: {reason}");
            eprintln!("SKIPPED: a real disk-full test needs a tmpfs mount: {reason}");
            return;
        }
    };
    let data_dir = fs.dir.join("data");
    let recorder = Recorder::open(config(&data_dir)).await.unwrap();
    let ballast = fill_leaving(&fs.dir, 1024 * 1024);

    let mut generator = Generator::new(3, chrono::Utc::now(), 1_000);
    let mut acked = Vec::new();
    let mut first_error = None;
    for _ in 0..50_000 {
        let line = generator.next_json();
        match recorder.record_json(line.as_bytes(), Some(Durability::Sync)).await {
            Ok(r) => acked.push(r.event_id.to_string()),
            Err(e) => {
                first_error = Some(e);
                break;
            }
        }
    }
    let e = first_error.expect("16 MiB fill up before 50,000 events");
    assert_eq!((e.code().as_str(), e.code().status()), ("HSK-507-DISK-FULL", 507), "{e}");
    assert!(e.to_string().contains("free space"), "the message says what to do: {e}");
    assert!(!acked.is_empty(), "some events fit before the disk was full");
    eprintln!("disk full after {} acknowledged events: {e}", acked.len());
    let later = recorder.record_json(generator.next_json().as_bytes(), Some(Durability::Sync)).await.unwrap_err();
    assert_eq!(later.code(), "HSK-500-WAL-POISONED", "{later}");
    let _ = recorder.shutdown().await;
    drop(recorder);

    // The operator frees space and restarts.
    std::fs::remove_file(ballast).unwrap();
    let recorder = Recorder::open(config(&data_dir)).await.unwrap();
    let after = recorder.record_json(generator.next_json().as_bytes(), Some(Durability::Sync)).await.unwrap();
    recorder.seal().await.unwrap();
    recorder.compact_now().await.unwrap();
    recorder.shutdown().await.unwrap();
    drop(recorder);

    let rows = parquet_query(&data_dir, "SELECT event_id::VARCHAR, count(*)::VARCHAR FROM EVENTS GROUP BY 1");
    let stored: std::collections::HashMap<String, String> =
        rows.into_iter().map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap())).collect();
    for id in acked.iter().chain([&after.event_id.to_string()]) {
        assert_eq!(stored.get(id).map(String::as_str), Some("1"), "acknowledged event {id} is stored once");
    }
}
