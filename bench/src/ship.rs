//! `flightrec-bench ship`: builds a data directory of N generated events (WAL, compaction),
//! then ships its Parquet files to `--ship-to` (an S3-compatible endpoint from the `AWS_*`
//! variables, e.g. a local moto_server) with flightrec's shipper, beside the baseline of a
//! plain object_store PUT of the same files to the same store, and prints both in MB/s.
//! Each is run `--reps` times, alternating, each time under a fresh prefix.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use flightrec::compact::Compactor;
use flightrec::compact::files::parquet_files;
use flightrec::datadir::{DirLock, Layout};
use flightrec::ship::{HostId, ShipConfig, ShipTarget, Shipper};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};

use crate::BenchError;
use crate::query::err;

pub fn run(data_dir: &Path, events: u64, ship_to: &str, reps: usize) -> Result<ExitCode, BenchError> {
    let start = chrono::Utc::now() - chrono::Duration::days(2);
    let step = (2 * 86_400_000_000 / events.max(1) as i64).max(1);
    crate::query::generate(data_dir, events, start, step, None, &mut crate::query::Compaction::default())?;
    let _lock = DirLock::compactor(data_dir)?;
    let mut compactor = Compactor::open(&Layout::new(data_dir))?;
    compactor.run_once()?;
    let files = parquet_files(&Layout::new(data_dir).events_dir());
    let bytes: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    println!("ship: {} Parquet files, {:.1} MB, to {ship_to}", files.len(), bytes as f64 / 1e6);
    let runtime = tokio::runtime::Runtime::new().map_err(BenchError::io("start tokio"))?;
    let base = ShipTarget::parse(ship_to).map_err(|e| err("parse --ship-to")(e.to_string()))?;
    let host = HostId::new("bench").map_err(|e| err("host id")(e.to_string()))?;
    let (mut ours, mut plain) = (Vec::new(), Vec::new());
    for rep in 0..reps {
        let prefix = format!("{}/rep-{rep}-{}", base.prefix(), chrono::Utc::now().timestamp_millis());
        let target = ShipTarget::with_store(
            &format!("{ship_to}#{prefix}"),
            base.store().clone(),
            ObjectPath::from(prefix.as_str()),
        );
        let shipper = Shipper::new(compactor.catalog().reader()?, data_dir, ShipConfig::new(target, host.clone()));
        let t = Instant::now();
        let report = runtime.block_on(shipper.pass()).map_err(|e| err("ship")(e.to_string()))?;
        ours.push(report.bytes as f64 / 1e6 / t.elapsed().as_secs_f64());
        if !report.failed.is_empty() {
            return Err(err("ship")(format!("{} files failed: {:?}", report.failed.len(), report.failed.first())));
        }
        let t = Instant::now();
        runtime.block_on(plain_puts(&base, &format!("{prefix}-plain"), data_dir, &files))?;
        plain.push(bytes as f64 / 1e6 / t.elapsed().as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or_default()
    };
    let (ours, plain) = (median(&mut ours), median(&mut plain));
    println!("flightrec ship (upload + catalog record per file): median {ours:.1} MB/s over {reps} runs");
    println!(
        "    baseline plain object_store put of the same files: median {plain:.1} MB/s   flightrec/baseline = {:.2}x",
        ours / plain.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

/// One PUT per file, in order, under `prefix`: the least a shipper must do.
async fn plain_puts(target: &ShipTarget, prefix: &str, root: &Path, files: &[PathBuf]) -> Result<(), BenchError> {
    for file in files {
        let relative = file.strip_prefix(root).unwrap_or(file).display().to_string();
        let data = tokio::fs::read(file).await.map_err(BenchError::io("read a Parquet file"))?;
        let key = ObjectPath::from(format!("{prefix}/{relative}").as_str());
        target.store().put(&key, PutPayload::from(data)).await.map_err(|e| err("plain put")(e.to_string()))?;
    }
    Ok(())
}
