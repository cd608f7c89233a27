//! `flightrec-bench recovery`: writes about `--mb` MiB of WAL (generated ~400-byte events),
//! closes it, then measures replaying it the way the recorder's open does: CRC-verified
//! replay of every segment through `recorder::replay::open_wal` (query tail, de-duplication
//! ids). Not included: opening the DuckDB catalog and the retention pass the recorder also
//! runs at open. Beside it, in the same run: the same files mapped (or read) as recovery does,
//! with a CRC32 over every byte (the least any verified replay must do). Page cache warm for
//! both: the WAL drops its durable pages from the cache as it writes, so one untimed read
//! brings them back first (a restart after `kill -9`; after a power loss the first read comes
//! from the disk). `--rounds N` replays the same WAL N times, each beside a baseline of its own,
//! and prints the median ratio: the machine's speed moves from one minute to the next.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use flightrec::datadir::DataDir;
use flightrec::query::tail::TailIndex;
use flightrec::recorder::RecorderConfig;
use flightrec::recorder::dedup::Dedup;
use flightrec::recorder::replay::open_wal;
use flightrec::wal::{SegmentDir, WalHooks, WalOptions};
use flightrec::workload::Generator;

use crate::BenchError;
use crate::fill::Filler;
use crate::measure::percentile;

pub fn run(data_dir: &Path, mb: u64, rounds: usize) -> Result<ExitCode, BenchError> {
    let dir = DataDir::open(data_dir)?;
    let wal_dir = dir.layout().wal_dir();
    let (events, bytes) = write_wal(&dir, mb * 1024 * 1024)?;
    println!("wrote {events} events, {} MiB of WAL", bytes / (1024 * 1024));
    read_and_crc(&wal_dir)?;
    let mut ratios = Vec::with_capacity(rounds);
    for _ in 0..rounds.max(1) {
        let baseline = read_and_crc(&wal_dir)?;
        let ratio = recover(data_dir, &wal_dir, bytes)? / baseline;
        println!("    baseline read + CRC32 of the same files: {baseline:.0} MB/s   flightrec/baseline = {ratio:.2}x");
        ratios.push(ratio);
    }
    if let (Some(&first), true) = (ratios.first(), ratios.len() > 1) {
        // The first round is what a recorder opening in a fresh process sees; later ones may
        // find memory the first one faulted in still held by the allocator.
        println!("first round (a fresh heap): flightrec/baseline = {first:.2}x");
        ratios.sort_by(f64::total_cmp);
        let at_least_half = ratios.iter().filter(|r| **r >= 0.5).count();
        println!(
            "recovery over {} rounds: flightrec/baseline median {:.2}x (min {:.2}x, max {:.2}x); >= 0.5x in {at_least_half}",
            ratios.len(),
            percentile(&ratios, 0.5),
            percentile(&ratios, 0.0),
            percentile(&ratios, 1.0)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One timed replay of the WAL the way the recorder's open does; prints it, returns MB/s.
fn recover(data_dir: &Path, wal_dir: &Path, bytes: u64) -> Result<f64, BenchError> {
    let t = Instant::now();
    let config = RecorderConfig::new(data_dir);
    let mut tail = TailIndex::default();
    let mut dedup = Dedup::new(config.dedup_window, config.dedup_capacity);
    let now = chrono::Utc::now().timestamp_micros();
    let (wal, report) = open_wal(wal_dir, WalOptions::default(), WalHooks::default(), &mut tail, &mut dedup, now)?;
    let secs = t.elapsed().as_secs_f64();
    let replayed: u64 = report.segments.iter().map(|s| s.records).sum();
    wal.close()?;
    let mbs = bytes as f64 / 1e6 / secs;
    println!(
        "recovery: {replayed} events, {:.0} MB in {secs:.2} s = {mbs:.0} MB/s, {:.0} events/s ({} ids)",
        bytes as f64 / 1e6,
        replayed as f64 / secs,
        dedup.len()
    );
    Ok(mbs)
}

/// Appends generated events in batches until the WAL holds `target` bytes; returns (events, bytes).
fn write_wal(dir: &DataDir, target: u64) -> Result<(u64, u64), BenchError> {
    let mut filler = Filler::open(dir)?;
    let mut generator = Generator::new(13, chrono::Utc::now(), 1_000);
    let mut events = 0u64;
    while filler.wal().stats().bytes_written < target {
        filler.push(generator.next_json())?;
        events += 1;
    }
    let intake = filler.finish()?;
    intake.wal().flush_blocking()?;
    let bytes = intake.wal().stats().bytes_written;
    intake.wal().close()?;
    Ok((events, bytes))
}

/// Maps every segment of the WAL directory the way recovery does and CRC32s all of its bytes
/// (the newest one's preallocated zeros included); MB/s.
fn read_and_crc(wal_dir: &Path) -> Result<f64, BenchError> {
    let t = Instant::now();
    let mut total = 0u64;
    let mut crc = 0u32;
    let dir = SegmentDir::real(wal_dir);
    let segments = dir.list()?;
    let newest = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        let bytes =
            if i < newest { dir.read(&segment.path, true)? } else { dir.map_newest_in_recovery(&segment.path)? };
        crc ^= crc32fast::hash(&bytes);
        total += bytes.len() as u64;
    }
    let secs = t.elapsed().as_secs_f64();
    std::hint::black_box(crc);
    Ok(total as f64 / 1e6 / secs)
}
