#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Injected I/O faults (through the `fsio` seam): for every kind of call the WAL, the
//! compactor and retention make, fail the Nth one (EIO, ENOSPC, short writes) and check that
//! the caller gets a clear error with its code, that the WAL is poisoned (and never retries
//! an fsync) after a failed write or fsync, but not by a full disk while creating its next
//! segment, that no acknowledged event is lost, and that reopening (or the next run) recovers.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use common::{copy_dir, parquet_query, record, segments};
use flightrec::compact::Compactor;
use flightrec::datadir::Layout;
use flightrec::fsio::{Fault, FaultyFs, Op};
use flightrec::recorder::{Recorder, RecorderConfig};
use flightrec::retention::enforce;
use flightrec::wal::{Durability, Wal, WalError, WalHooks, WalOptions, event_payload};
use flightrec::workload::Generator;

/// Small segments, so a run of appends also creates, seals and renames segments.
fn opts(fs: &Arc<FaultyFs>) -> WalOptions {
    WalOptions { segment_bytes: 4 * 1024, fs: fs.clone(), ..WalOptions::default() }
}

fn body(i: usize) -> Vec<u8> {
    format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(200 + i % 50)).into_bytes()
}

/// Every replayed record body of the WAL in `dir` (opened with the real file system), with
/// how often it appears; also checks a new append still works after the reopen.
fn reopen_and_replay(dir: &Path) -> BTreeMap<Vec<u8>, usize> {
    let mut seen = BTreeMap::new();
    let (wal, _) = Wal::open_replaying(dir, WalOptions::default(), WalHooks::default(), &|_| None, &mut |_, rec, _| {
        *seen.entry(rec.json.to_vec()).or_insert(0) += 1;
    })
    .expect("reopening after a fault recovers");
    wal.append_blocking(event_payload(false, b"{\"after\":true}"), Durability::Sync).expect("appends work again");
    wal.close().unwrap();
    seen
}

/// What one fault did to a run of sync appends.
struct Outcome {
    acked: Vec<Vec<u8>>,
    first_error: Option<WalError>,
    /// The writer was not poisoned and took appends again without a reopen.
    recovered: bool,
}

/// Opens a WAL on `fs`, arms `fault` on the `nth` call of `op`, and appends up to 120
/// events one by one in `sync` mode until one fails; then checks the poisoning rules.
fn run_with_fault(dir: &Path, fs: &Arc<FaultyFs>, op: Op, nth: u64, fault: Fault) -> Outcome {
    let (wal, _) = Wal::open(dir, opts(fs), WalHooks::default()).unwrap();
    fs.arm(op, nth, fault);
    let mut acked = Vec::new();
    let mut first_error = None;
    for i in 0..120 {
        match wal.append_blocking(event_payload(false, &body(i)), Durability::Sync) {
            Ok(_) => acked.push(body(i)),
            Err(e) => {
                first_error = Some(e);
                break;
            }
        }
    }
    let mut recovered = false;
    if let Some(e) = &first_error {
        let fsyncs = fs.count(Op::Fsync);
        match wal.append_blocking(event_payload(false, &body(1000)), Durability::Sync) {
            Ok(_) => {
                // A full disk while creating the next segment: nothing written was at risk,
                // so the writer waited for space; the fault fired once, so this append made it.
                assert!(matches!(e, WalError::DiskFull { .. }), "{op:?} #{nth}: only a full disk is waited out: {e}");
                acked.push(body(1000));
                wal.close().unwrap();
                recovered = true;
            }
            Err(later) => {
                assert_eq!(later.code(), "HSK-500-WAL-POISONED", "{op:?} #{nth}: later appends fail: {later}");
                for i in 1..5 {
                    let e = wal.append_blocking(event_payload(false, &body(1000 + i)), Durability::Sync).unwrap_err();
                    assert_eq!(e.code(), "HSK-500-WAL-POISONED", "{op:?} #{nth}: later appends fail: {e}");
                }
                assert!(wal.close().is_err(), "{op:?} #{nth}: close reports the poisoning");
                assert_eq!(fs.count(Op::Fsync), fsyncs, "{op:?} #{nth}: a poisoned writer never fsyncs again");
            }
        }
    } else {
        wal.close().unwrap();
    }
    fs.disarm();
    Outcome { acked, first_error, recovered }
}

/// Reopens `dir`, checks every acknowledged body is there exactly once, and returns what
/// was replayed.
fn assert_all_acked_once(dir: &Path, acked: &[Vec<u8>], what: &str) -> BTreeMap<Vec<u8>, usize> {
    let seen = reopen_and_replay(dir);
    for body in acked {
        assert_eq!(seen.get(body), Some(&1), "{what}: an acknowledged event is present exactly once");
    }
    seen
}

#[test]
fn every_failed_wal_call_poisons_the_writer_and_loses_no_acknowledged_event() {
    let ops = [Op::Write, Op::Fsync, Op::Create, Op::Preallocate, Op::SetLen, Op::Rename, Op::DirFsync];
    let faults = [Fault::Errno(libc::EIO), Fault::Errno(libc::ENOSPC)];
    let mut fired = 0;
    let mut recovered = Vec::new();
    for op in ops {
        for fault in faults {
            for nth in [1, 2, 3, 5, 7] {
                let tmp = tempfile::tempdir().unwrap();
                let fs = Arc::new(FaultyFs::new());
                let out = run_with_fault(tmp.path(), &fs, op, nth, fault);
                let what = format!("{op:?} #{nth} {fault:?}");
                if let Some(e) = &out.first_error {
                    fired += 1;
                    let expected = if fault == Fault::Errno(libc::ENOSPC) { "HSK-507-DISK-FULL" } else { "HSK-500-IO" };
                    assert_eq!(e.code(), expected, "{what}: {e}");
                    assert!(e.to_string().contains(tmp.path().to_str().unwrap()), "{what}: names the file: {e}");
                }
                assert_eq!(fs.injected(), u64::from(out.first_error.is_some()), "{what}: the fault fired once");
                if out.recovered {
                    recovered.push((op, nth));
                }
                assert!(!out.recovered || fault == Fault::Errno(libc::ENOSPC), "{what}: only ENOSPC is waited out");
                assert_all_acked_once(tmp.path(), &out.acked, &what);
            }
        }
    }
    // Every op above is on the append path (writes, fsyncs, and the seal/create of segments).
    assert_eq!(fired, ops.len() * faults.len() * 5, "every armed fault fired");
    // Creating a segment is the only preallocation after open; the first write is of data.
    for nth in [1, 2, 3, 5, 7] {
        assert!(recovered.contains(&(Op::Preallocate, nth)), "ENOSPC preallocating segment #{nth} is waited out");
    }
    assert!(!recovered.contains(&(Op::Write, 1)), "ENOSPC writing records poisons: {recovered:?}");
}

#[test]
fn a_short_write_is_completed_and_a_short_write_then_enospc_is_a_torn_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = Arc::new(FaultyFs::new());
    // A lone short write: the writer writes the rest; nobody sees an error.
    let out = run_with_fault(tmp.path(), &fs, Op::Write, 3, Fault::ShortWrite);
    assert!(out.first_error.is_none(), "a short write is not an error: {:?}", out.first_error.map(|e| e.to_string()));
    assert_eq!(out.acked.len(), 120);
    assert_all_acked_once(tmp.path(), &out.acked, "short write");

    // Half a record reaches the disk, then the disk is full: the append fails, and on
    // reopen the half record is cut as a torn tail.
    let tmp = tempfile::tempdir().unwrap();
    let fs = Arc::new(FaultyFs::new());
    let (wal, _) = Wal::open(tmp.path(), opts(&fs), WalHooks::default()).unwrap();
    for i in 0..5 {
        wal.append_blocking(event_payload(false, &body(i)), Durability::Sync).unwrap();
    }
    fs.arm(Op::Write, 1, Fault::ShortWrite);
    fs.arm(Op::Write, 2, Fault::Errno(libc::ENOSPC));
    let e = wal.append_blocking(event_payload(false, &body(5)), Durability::Sync).unwrap_err();
    assert_eq!(e.code(), "HSK-507-DISK-FULL", "{e}");
    assert!(e.to_string().contains("free space"), "the message says what to do: {e}");
    drop(wal);
    let acked: Vec<Vec<u8>> = (0..5).map(body).collect();
    let seen = assert_all_acked_once(tmp.path(), &acked, "short write then ENOSPC");
    assert!(!seen.contains_key(&body(5)), "the torn half record is not replayed");
}

#[test]
fn a_failed_group_fsync_fails_every_waiter_of_the_group_and_later_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = Arc::new(FaultyFs::new());
    let (wal, _) = Wal::open(tmp.path(), opts(&fs), WalHooks::default()).unwrap();
    let wal = Arc::new(wal);
    fs.arm(Op::Fsync, 10, Fault::Errno(libc::EIO));
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let mut codes = Vec::new();
                for i in 0..50 {
                    let b = body(t * 1000 + i);
                    match wal.append_blocking(event_payload(false, &b), Durability::Sync) {
                        Ok(_) => acked.push(b),
                        Err(e) => codes.push(e.code()),
                    }
                }
                (acked, codes)
            })
        })
        .collect();
    let mut acked = Vec::new();
    let mut codes = Vec::new();
    for t in threads {
        let (a, c) = t.join().unwrap();
        acked.extend(a);
        codes.extend(c);
    }
    assert!(codes.iter().any(|c| *c == "HSK-500-IO"), "the group whose fsync failed gets the I/O error: {codes:?}");
    assert!(codes.iter().all(|c| *c == "HSK-500-IO" || *c == "HSK-500-WAL-POISONED"), "{codes:?}");
    assert_eq!(acked.len() + codes.len(), 16 * 50, "every append got an answer");
    drop(wal);
    assert_all_acked_once(tmp.path(), &acked, "concurrent writers");
}

/// Appends `n` events (real file system, small segments) and returns their bodies.
fn write_events(dir: &Path, n: usize) -> Vec<Vec<u8>> {
    let o = WalOptions { segment_bytes: 4 * 1024, ..WalOptions::default() };
    let (wal, _) = Wal::open(dir, o, WalHooks::default()).unwrap();
    let bodies: Vec<Vec<u8>> = (0..n).map(body).collect();
    for b in &bodies {
        wal.append_blocking(event_payload(false, b), Durability::Sync).unwrap();
    }
    wal.close().unwrap();
    bodies
}

#[test]
fn faults_while_reopening_are_reported_and_a_later_reopen_recovers() {
    // Sealed segments and a torn tail, so recovery lists, reads, copies the damage to the
    // quarantine (create, write, fsync, directory fsync), truncates, preallocates and fsyncs.
    let original = tempfile::tempdir().unwrap();
    let acked = write_events(original.path(), 100);
    let newest = segments(original.path()).pop().unwrap();
    let file = std::fs::OpenOptions::new().append(true).open(&newest).unwrap();
    std::io::Write::write_all(&mut &file, &[0x55; 37]).unwrap();
    drop(file);
    let ops = [
        Op::CreateDir,
        Op::ReadDir,
        Op::Open,
        Op::Create,
        Op::Write,
        Op::Fsync,
        Op::DirFsync,
        Op::SetLen,
        Op::Preallocate,
    ];
    for op in ops {
        let tmp = tempfile::tempdir().unwrap();
        copy_dir(original.path(), tmp.path());
        let fs = Arc::new(FaultyFs::new());
        fs.arm(op, 1, Fault::Errno(libc::EIO));
        match Wal::open(tmp.path(), opts(&fs), WalHooks::default()) {
            Ok(_) => panic!("{op:?}: opening over a failing {op:?} must fail"),
            Err(e) => assert_eq!(e.code(), "HSK-500-IO", "{op:?}: {e}"),
        }
        assert_all_acked_once(tmp.path(), &acked, &format!("fault at open: {op:?}"));
    }
}

/// Records 90 events from `days_ago` days ago as three sealed segments; returns how many.
fn sealed_segments(dir: &Path, days_ago: i64) -> usize {
    let now = chrono::Utc::now();
    let mut generator = Generator::new(7, now - chrono::Duration::days(days_ago), 1_000);
    let lines: Vec<String> = (0..90).map(|_| generator.next_json()).collect();
    record(dir, &lines, 30);
    lines.len()
}

fn parquet_counts(dir: &Path) -> (String, String) {
    let row = parquet_query(dir, "SELECT count(*)::VARCHAR, count(DISTINCT event_id)::VARCHAR FROM EVENTS");
    (row[0][0].clone().unwrap(), row[0][1].clone().unwrap())
}

#[test]
fn a_failed_compaction_step_is_reported_and_the_next_run_finishes_without_duplicates() {
    let mut fired = 0;
    // One transaction for all segments, then one per segment (each recorded on the catalog
    // thread while the next segment is written).
    for per_transaction in [64, 1] {
        for op in [Op::Fsync, Op::Rename, Op::DirFsync, Op::Remove, Op::CreateDir, Op::Open, Op::ReadDir] {
            for nth in [1, 2, 4] {
                fired += fail_a_compaction_step(per_transaction, op, nth);
            }
        }
    }
    eprintln!("{fired} of 42 armed compaction faults fired; every run after one finished");
}

/// Compacts three sealed segments with the `nth` call of `op` failing; 1 when it fired.
fn fail_a_compaction_step(per_transaction: usize, op: Op, nth: u64) -> usize {
    let tmp = tempfile::tempdir().unwrap();
    let events = sealed_segments(tmp.path(), 0);
    let fs = Arc::new(FaultyFs::new());
    let layout = Layout::new(tmp.path()).with_fs(fs.clone());
    let mut compactor = Compactor::open(&layout).unwrap();
    compactor.set_segments_per_transaction(per_transaction);
    fs.arm(op, nth, Fault::Errno(libc::EIO));
    let what = format!("{op:?} #{nth}, {per_transaction} segments per transaction");
    let fired = match compactor.run_once() {
        Err(e) => {
            assert_eq!(e.code(), "HSK-500-IO", "{what}: {e}");
            1
        }
        // The run's first open is the read-ahead hint for the segment it compacts next
        // (`SegmentDir::prefetch`), which is best-effort: the open that reads it is next.
        Ok(_) => {
            assert!(nth > 1 || op == Op::Open, "{what}: the first such call of a compaction run fails it");
            0
        }
    };
    fs.disarm();
    compactor.run_once().unwrap_or_else(|e| panic!("{what}: the next run finishes: {e}"));
    let n = events.to_string();
    assert_eq!(parquet_counts(tmp.path()), (n.clone(), n), "{what}: every event once");
    assert_eq!(segments(&tmp.path().join("wal")).len(), 1, "{what}: only the writer's segment is left");
    fired
}

#[test]
fn a_failed_retention_delete_is_reported_and_the_next_run_finishes() {
    for nth in [1, 2, 3] {
        let tmp = tempfile::tempdir().unwrap();
        let events = sealed_segments(tmp.path(), 10);
        let fs = Arc::new(FaultyFs::new());
        let mut compactor = Compactor::open(&Layout::new(tmp.path()).with_fs(fs.clone())).unwrap();
        compactor.run_once().unwrap();
        fs.arm(Op::Remove, nth, Fault::Errno(libc::EIO));
        let now = chrono::Utc::now();
        let e = enforce(&mut compactor, chrono::Duration::days(7), now, false).unwrap_err();
        assert_eq!(e.code(), "HSK-500-IO", "#{nth}: {e}");
        let report = enforce(&mut compactor, chrono::Duration::days(7), now, false).unwrap();
        assert_eq!(report.events_purged as usize, events, "#{nth}: the segments left half-dropped are finished");
        let left = std::fs::read_dir(tmp.path().join("events"))
            .unwrap()
            .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
            .filter(|f| f.as_ref().unwrap().path().extension().is_some_and(|x| x == "parquet"))
            .count();
        assert_eq!(left, 0, "#{nth}: every expired Parquet file is gone after the second run");
        let logged = compactor.catalog().stats().unwrap().dropped_events;
        assert_eq!(logged as usize, events, "#{nth}: the retention log counts every dropped event once");
    }
}

/// A recorder over `fs` whose background compaction runs at open and then only when asked
/// (or woken by a seal).
fn recorder_config(dir: &Path, fs: &Arc<FaultyFs>) -> RecorderConfig {
    let mut config = RecorderConfig::new(dir);
    config.wal.fs = fs.clone();
    config.compaction_interval = std::time::Duration::from_secs(3600);
    config
}

/// Polls `done` every 10 ms for up to 30 s; true when it held.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..3_000 {
        if done() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compaction_run_that_fails_part_way_takes_the_segments_it_finished_out_of_the_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    // Three sealed segments of 30 (the blocking WAL calls run off the runtime's threads).
    let events = tokio::task::spawn_blocking(move || sealed_segments(&dir, 0) as u64).await.unwrap();
    let fs = Arc::new(FaultyFs::new());
    // The compaction run at open deletes the first segment, then fails deleting the second.
    fs.arm(Op::Remove, 2, Fault::Errno(libc::EIO));
    let recorder = Recorder::open(recorder_config(tmp.path(), &fs)).await.unwrap();
    assert!(eventually(|| fs.injected() == 1).await, "the run at open hit the fault");
    recorder.compact_now().await.unwrap();
    let emptied = eventually(|| recorder.tail_len() == 0).await;
    assert!(emptied, "the first segment's events left the tail: {} still there", recorder.tail_len());
    let stats = recorder.stats().await.unwrap();
    assert_eq!(
        (stats.totals.events, stats.totals.compacted_events, stats.totals.wal_events),
        (events, events, 0),
        "nothing counted twice"
    );
    let n = events.to_string();
    assert_eq!(parquet_counts(tmp.path()), (n.clone(), n));
    recorder.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_while_the_first_append_is_in_flight_gets_that_appends_outcome_not_duplicate() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = Arc::new(FaultyFs::new());
    let recorder = Recorder::open(recorder_config(tmp.path(), &fs)).await.unwrap();
    let mut generator = Generator::new(11, chrono::Utc::now() - chrono::Duration::hours(1), 1_000);
    recorder.record_json(generator.next_json().as_bytes(), Some(Durability::Sync)).await.unwrap();
    let remembered = recorder.stats().await.unwrap().dedup_ids;
    let line = generator.next_json();

    // The first append's fdatasync takes 500 ms and then fails.
    let fsyncs = fs.count(Op::Fsync);
    fs.arm(Op::Fsync, 1, Fault::ErrnoAfter { millis: 500, errno: libc::EIO });
    let first = tokio::spawn({
        let (recorder, line) = (recorder.clone(), line.clone());
        async move { recorder.record_json(line.as_bytes(), Some(Durability::Sync)).await }
    });
    assert!(eventually(|| fs.count(Op::Fsync) > fsyncs).await, "the first append reached its fsync");
    let retry = recorder.record_json(line.as_bytes(), Some(Durability::Sync)).await;
    let first = first.await.unwrap();
    assert_eq!(first.unwrap_err().code(), "HSK-500-IO");
    match retry {
        Ok(r) => panic!("the retry was answered {r:?} although the first append failed"),
        Err(e) => assert_eq!(e.code(), "HSK-500-WAL-POISONED", "the retry tried to store it itself: {e}"),
    }
    let stats = recorder.stats().await.unwrap();
    assert_eq!(stats.dedup_ids, remembered, "failed appends leave nothing in the de-duplication memory");
    let _ = recorder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_directories_are_fsynced_into_their_parents() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("new").join("data");
    let fs = Arc::new(FaultyFs::new());
    let recorder = Recorder::open(recorder_config(&root, &fs)).await.unwrap();
    recorder.shutdown().await.unwrap();
    let synced = fs.synced_dirs();
    for dir in [tmp.path().to_path_buf(), tmp.path().join("new"), root.clone()] {
        assert!(synced.contains(&dir), "{} holds a new directory and was fsynced: {synced:?}", dir.display());
    }

    // A torn tail is copied to a new wal/quarantine/, whose entry in wal/ must be durable.
    let wal_dir = tempfile::tempdir().unwrap();
    let dir = wal_dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || write_events(&dir, 10)).await.unwrap();
    let newest = segments(wal_dir.path()).pop().unwrap();
    let file = std::fs::OpenOptions::new().append(true).open(&newest).unwrap();
    std::io::Write::write_all(&mut &file, &[0x55; 37]).unwrap();
    drop(file);
    let fs = Arc::new(FaultyFs::new());
    let (wal, report) = Wal::open(wal_dir.path(), opts(&fs), WalHooks::default()).unwrap();
    tokio::task::block_in_place(|| wal.close()).unwrap();
    assert_eq!(report.quarantined.len(), 1);
    let synced = fs.synced_dirs();
    assert!(synced.contains(&wal_dir.path().to_path_buf()), "wal/ was fsynced after quarantine/ was made: {synced:?}");
}
