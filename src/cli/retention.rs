//! `flightrec retention [--dry-run]`: drops segments older than the window.

use std::path::Path;
use std::process::ExitCode;

use flightrec::compact::Compactor;
use flightrec::datadir::{DirLock, Layout};
use flightrec::retention::enforce_keeping;

use super::{CliError, print_json};

/// `ship_to`: the configured ship target, whose unshipped files are kept.
pub fn run(data_dir: &Path, days: u32, dry_run: bool, json: bool, ship_to: Option<&str>) -> Result<ExitCode, CliError> {
    let _lock = DirLock::compactor(data_dir)?;
    let mut compactor = Compactor::open(&Layout::new(data_dir))?;
    let window = chrono::Duration::days(i64::from(days));
    let report = enforce_keeping(&mut compactor, window, chrono::Utc::now(), dry_run, ship_to)?;
    if json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if dry_run { "would drop" } else { "dropped" };
    for d in &report.dropped {
        let newest = d.newest.map_or("-".to_string(), |t| t.to_rfc3339());
        println!(
            "{verb} segment {} ({}, {} events, newest {newest}): {}",
            d.segment,
            d.source,
            d.events,
            d.files.join(", ")
        );
    }
    if !report.kept_unshipped.is_empty() {
        let kept: Vec<String> = report.kept_unshipped.iter().map(u64::to_string).collect();
        println!("kept expired segments not shipped to {} yet: {}", ship_to.unwrap_or("-"), kept.join(", "));
    }
    println!(
        "{verb} {} segments, {} events older than {} ({days}-day window)",
        report.dropped.len(),
        report.events_purged,
        report.cutoff.to_rfc3339()
    );
    Ok(ExitCode::SUCCESS)
}
