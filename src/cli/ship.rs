//! `flightrec ship`: ships every compacted Parquet file not shipped to `--ship-to` yet (and,
//! with `--remote-retention-days`, deletes expired objects), then exits: status 1 if some file
//! could not be shipped. Takes the compactor lock, as the catalog is written.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use flightrec::compact::Compactor;
use flightrec::datadir::{DirLock, Layout};
use flightrec::ship::{PassReport, ShipConfig, Shipper};

use super::{CliError, print_json};

/// The report of `ship --json`.
#[derive(serde::Serialize)]
struct ShipOutput<'a> {
    ship_to: &'a str,
    host_id: &'a str,
    #[serde(flatten)]
    report: &'a PassReport,
}

pub fn run(data_dir: &Path, config: ShipConfig, json: bool) -> Result<ExitCode, CliError> {
    let _lock = DirLock::compactor(data_dir)?;
    let compactor = Compactor::open(&Layout::new(data_dir))?;
    let shipper = Shipper::new(compactor.catalog().reader()?, data_dir, config);
    let runtime = tokio::runtime::Runtime::new().map_err(CliError::io("start tokio"))?;
    let report = runtime.block_on(shipper.pass())?;
    print_pass(shipper.config(), &report, json)?;
    Ok(if report.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Prints what a pass did (`compact` prints its pass the same way).
pub fn print_pass(config: &ShipConfig, report: &PassReport, json: bool) -> Result<(), CliError> {
    let (url, host) = (config.target.url(), config.host_id.as_str());
    if json {
        return print_json(&ShipOutput { ship_to: url, host_id: host, report });
    }
    println!("shipped {} Parquet files ({} bytes) to {url} as host={host}", report.shipped.len(), report.bytes);
    for f in &report.failed {
        println!("could not ship {}: {}", f.file, f.error);
    }
    if report.unshipped > 0 {
        println!("{} files are not shipped yet; run `flightrec ship` again", report.unshipped);
    }
    Ok(())
}

/// Runs `shipper` in the background on a runtime of its own (`compact --watch`).
pub fn spawn_background(shipper: Arc<Shipper>) -> Result<(), CliError> {
    let runtime = tokio::runtime::Runtime::new().map_err(CliError::io("start tokio"))?;
    std::thread::Builder::new()
        .name("flightrec-ship".into())
        .spawn(move || {
            // The process ends with the watch loop; the sender lives as long as this thread.
            let (_stop, stop) = tokio::sync::watch::channel(false);
            runtime.block_on(shipper.run(stop));
        })
        .map_err(CliError::io("start the shipping thread"))?;
    Ok(())
}
