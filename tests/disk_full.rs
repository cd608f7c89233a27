#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! A full disk. On a real one (a small tmpfs the test mounts; skipped, with the reason
//! printed, where mounting is not permitted; in CI, which runs as root, that fails), ingest
//! until the disk is full: the next segment cannot be preallocated, so the caller gets
//! `HSK-507-DISK-FULL` (HTTP 507) and so do later appends, the writer not poisoned; once
//! space is freed, appends resume without a restart and every acknowledged event is stored
//! exactly once. A failed write of records (injected through the `fsio` seam: preallocated
//! segments make a real one rare) still poisons the writer until it is reopened.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::parquet_query;
use flightrec::fsio::{Fault, FaultyFs, Op};
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
    // Not poisoned: while the disk stays full, appends get 507 again. The compactor, woken by
    // the seal, may meanwhile turn a sealed segment into a smaller Parquet file and free the
    // difference; what then fits is acknowledged like any event.
    let mut refused = 0;
    for _ in 0..50_000 {
        match recorder.record_json(generator.next_json().as_bytes(), Some(Durability::Sync)).await {
            Ok(r) => acked.push(r.event_id.to_string()),
            Err(later) => {
                assert_eq!(later.code(), "HSK-507-DISK-FULL", "the writer waits for space, not poisoned: {later}");
                refused += 1;
                if refused == 3 {
                    break;
                }
            }
        }
    }
    assert_eq!(refused, 3, "the disk stays full until the ballast goes");

    // The operator frees space; the same recorder takes events again.
    std::fs::remove_file(ballast).unwrap();
    let after = recorder.record_json(generator.next_json().as_bytes(), Some(Durability::Sync)).await.unwrap();
    acked.push(after.event_id.to_string());
    recorder.seal().await.unwrap();
    recorder.compact_now().await.unwrap();
    recorder.shutdown().await.unwrap();
    drop(recorder);
    assert_stored_once(&data_dir, &acked);
}

fn assert_stored_once(data_dir: &Path, acked: &[String]) {
    let rows = parquet_query(data_dir, "SELECT event_id::VARCHAR, count(*)::VARCHAR FROM EVENTS GROUP BY 1");
    let stored: std::collections::HashMap<String, String> =
        rows.into_iter().map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap())).collect();
    for id in acked {
        assert_eq!(stored.get(id).map(String::as_str), Some("1"), "acknowledged event {id} is stored once");
    }
}

/// Records sync events until one fails; returns the acknowledged ids and the error.
async fn record_until_error(
    recorder: &Recorder,
    generator: &mut Generator,
    max: usize,
) -> (Vec<String>, Option<String>) {
    let mut acked = Vec::new();
    for _ in 0..max {
        match recorder.record_json(generator.next_json().as_bytes(), Some(Durability::Sync)).await {
            Ok(r) => acked.push(r.event_id.to_string()),
            Err(e) => return (acked, Some(e.code().to_string())),
        }
    }
    (acked, None)
}

fn faulty_config(data_dir: &Path, fs: &Arc<FaultyFs>) -> RecorderConfig {
    let mut config = config(data_dir);
    config.wal.segment_bytes = 16 * 1024;
    config.wal.fs = fs.clone();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enospc_creating_a_segment_is_waited_out_but_enospc_writing_records_poisons() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = Arc::new(FaultyFs::new());
    let recorder = Recorder::open(faulty_config(tmp.path(), &fs)).await.unwrap();
    let mut generator = Generator::new(5, chrono::Utc::now(), 1_000);
    // Every segment preallocation finds the disk full until the faults are disarmed.
    for nth in 1..=10_000 {
        fs.arm(Op::Preallocate, nth, Fault::Errno(libc::ENOSPC));
    }
    let (mut acked, error) = record_until_error(&recorder, &mut generator, 5_000).await;
    assert_eq!(error.as_deref(), Some("HSK-507-DISK-FULL"), "a 16 KiB segment fills before 5,000 events");
    for _ in 0..3 {
        let (more, error) = record_until_error(&recorder, &mut generator, 1).await;
        assert_eq!((more.len(), error.as_deref()), (0, Some("HSK-507-DISK-FULL")), "still full, not poisoned");
    }
    assert!(fs.injected() >= 4, "every append tried to create the segment again");
    fs.disarm();
    let (more, error) = record_until_error(&recorder, &mut generator, 200).await;
    assert_eq!((more.len(), error), (200, None), "space is free: appends resume without a restart");
    acked.extend(more);

    // A record write that fails: the data of the group is at risk, so the writer is poisoned.
    // The compactor writes Parquet through the same seam, and the 16 KiB segments above sealed
    // many times: seal and compact first, so the next write is the record's, in a fresh segment.
    recorder.seal().await.unwrap();
    recorder.compact_now().await.unwrap();
    let writes_before = fs.count(Op::Write);
    fs.arm(Op::Write, 1, Fault::Errno(libc::ENOSPC));
    let (more, error) = record_until_error(&recorder, &mut generator, 1).await;
    assert_eq!((more.len(), error.as_deref()), (0, Some("HSK-507-DISK-FULL")));
    assert_eq!(fs.count(Op::Write), writes_before + 1, "the failed write was the record's, nothing else wrote");
    let (_, error) = record_until_error(&recorder, &mut generator, 1).await;
    assert_eq!(error.as_deref(), Some("HSK-500-WAL-POISONED"), "a failed record write poisons");
    let _ = recorder.shutdown().await;
    drop(recorder);

    let recorder = Recorder::open(config(tmp.path())).await.unwrap();
    recorder.seal().await.unwrap();
    recorder.compact_now().await.unwrap();
    recorder.shutdown().await.unwrap();
    drop(recorder);
    assert_stored_once(tmp.path(), &acked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_cut_by_a_full_disk_says_which_events_it_stored_and_a_retry_stores_each_once() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = Arc::new(FaultyFs::new());
    let recorder = Recorder::open(faulty_config(tmp.path(), &fs)).await.unwrap();
    let mut generator = Generator::new(7, chrono::Utc::now(), 1_000);
    let lines: Vec<String> = (0..200).map(|_| generator.next_json()).collect();
    let slices: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
    // The batch fills the open 16 KiB segment, which is sealed; the next one cannot be created.
    for nth in 1..=10_000 {
        fs.arm(Op::Preallocate, nth, Fault::Errno(libc::ENOSPC));
    }
    let first = recorder.record_json_batch(&slices, Some(Durability::Sync)).await;
    let stored = first.iter().take_while(|r| r.as_ref().is_ok_and(|r| !r.duplicate)).count();
    assert!(stored > 0 && stored < 200, "the batch straddles the segment: {stored} of 200 stored");
    for r in &first[stored..] {
        let e = r.as_ref().expect_err("after the cut every event failed");
        assert_eq!(e.code(), "HSK-507-DISK-FULL", "{e}");
    }

    fs.disarm();
    let retry = recorder.record_json_batch(&slices, Some(Durability::Sync)).await;
    let duplicates: Vec<bool> = retry.iter().map(|r| r.as_ref().unwrap().duplicate).collect();
    assert_eq!(duplicates, (0..200).map(|i| i < stored).collect::<Vec<_>>(), "the stored ones are duplicates now");
    let ids: Vec<String> = retry.iter().map(|r| r.as_ref().unwrap().event_id.to_string()).collect();
    recorder.seal().await.unwrap();
    recorder.compact_now().await.unwrap();
    recorder.shutdown().await.unwrap();
    drop(recorder);
    assert_stored_once(tmp.path(), &ids);
}
