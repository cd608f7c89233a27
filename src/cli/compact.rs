//! `flightrec compact [--watch]`: compacts sealed WAL segments into Parquet.
//!
//! Takes the compactor lock. When no writer holds the data directory, it first seals the
//! newest segment too, so everything recorded so far is compacted; when a recorder is
//! running, the newest segment stays its own. `--watch` keeps running and compacts each
//! segment as the writer seals it (notify on `wal/`, with a periodic rescan as a fallback).
//! With `--ship-to`, the files are shipped too: once after the run, or, with `--watch`, by a
//! background shipper woken after each compaction (it never holds up the next one).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use flightrec::compact::{CompactReport, Compactor};
use flightrec::datadir::{DataDir, DataDirError, DirLock, Layout};
use flightrec::ship::{ShipConfig, Shipper};
use flightrec::wal::{Wal, WalHooks, WalOptions};
use notify::{RecursiveMode, Watcher};

use super::{CliError, print_json};

pub fn run(data_dir: &Path, watch: bool, json: bool, ship: Option<ShipConfig>) -> Result<ExitCode, CliError> {
    let _lock = DirLock::compactor(data_dir)?;
    let layout = Layout::new(data_dir);
    let mut compactor = Compactor::open(&layout)?;
    let lsn_floor = compactor.catalog().highest_lsn()?;
    let sealed_newest = seal_newest_if_no_writer(data_dir, lsn_floor)?;
    let report = compactor.run_once()?;
    print_report(&report, json, sealed_newest)?;
    let shipper = match ship {
        Some(config) => Some(Arc::new(Shipper::new(compactor.catalog().reader()?, data_dir, config))),
        None => None,
    };
    if watch {
        if let Some(shipper) = &shipper {
            super::ship::spawn_background(shipper.clone())?;
        }
        watch_loop(&mut compactor, &layout, json, shipper.as_deref())?;
    }
    let Some(shipper) = shipper else { return Ok(ExitCode::SUCCESS) };
    let runtime = tokio::runtime::Runtime::new().map_err(CliError::io("start tokio"))?;
    let pass = runtime.block_on(shipper.pass())?;
    super::ship::print_pass(shipper.config(), &pass, json)?;
    Ok(if pass.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Seals the newest WAL segment when no writer is running. Returns whether it could.
fn seal_newest_if_no_writer(data_dir: &Path, lsn_floor: u64) -> Result<bool, CliError> {
    let dir = match DataDir::open(data_dir) {
        Ok(dir) => dir,
        Err(DataDirError::Locked { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let opts = WalOptions { lsn_floor, ..WalOptions::default() };
    let (wal, _) = Wal::open(&dir.layout().wal_dir(), opts, WalHooks::default())?;
    wal.seal_blocking()?;
    wal.close()?;
    Ok(true)
}

fn watch_loop(
    compactor: &mut Compactor,
    layout: &Layout,
    json: bool,
    shipper: Option<&Shipper>,
) -> Result<(), CliError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(tx).map_err(notify_err)?;
    let wal_dir = layout.wal_dir();
    std::fs::create_dir_all(&wal_dir).map_err(CliError::io(format!("create {}", wal_dir.display())))?;
    watcher.watch(&wal_dir, RecursiveMode::NonRecursive).map_err(notify_err)?;
    eprintln!("compact: watching {} for sealed segments (Ctrl-C to stop)", wal_dir.display());
    loop {
        let _ = rx.recv_timeout(Duration::from_secs(10));
        // A seal creates the next segment: let the burst of events settle, then rescan.
        std::thread::sleep(Duration::from_millis(100));
        while rx.try_recv().is_ok() {}
        let report = compactor.run_once()?;
        if report.segments > 0 || report.finished_interrupted > 0 || !report.quarantined.is_empty() {
            print_report(&report, json, false)?;
        }
        if report.segments > 0
            && let Some(shipper) = shipper
        {
            shipper.wake();
        }
    }
}

fn notify_err(e: notify::Error) -> CliError {
    CliError::Io { what: "watch the WAL directory".into(), source: std::io::Error::other(e.to_string()) }
}

fn print_report(r: &CompactReport, json: bool, sealed_newest: bool) -> Result<(), CliError> {
    if json {
        return print_json(r);
    }
    let ratio = if r.wal_bytes > 0 { r.parquet_bytes as f64 / r.wal_bytes as f64 * 100.0 } else { 0.0 };
    println!(
        "compacted {} segments, {} events into {} Parquet files ({} bytes, {ratio:.1}% of the WAL bytes){}",
        r.segments,
        r.events,
        r.parquet_files.len(),
        r.parquet_bytes,
        if sealed_newest { "" } else { "; the newest segment belongs to a running writer" }
    );
    for f in &r.parquet_files {
        println!("  {f}");
    }
    if r.finished_interrupted > 0 {
        println!("finished {} segments an interrupted run had compacted", r.finished_interrupted);
    }
    for q in &r.quarantined {
        println!("kept WAL segment {} in the quarantine ({}): {}", q.segment, q.file, q.reason);
    }
    if r.undecodable_records > 0 {
        println!("skipped {} records whose JSON did not decode", r.undecodable_records);
    }
    Ok(())
}
