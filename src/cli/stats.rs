//! `flightrec stats`: what the data directory holds, read-only and without a lock; with
//! `--url`, what a running server's `GET /v1/stats` says. Both show the same [`Totals`] and
//! [`ShipStats`] (locally: as of the last ship pass, from its status file).

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use flightrec::datadir::Layout;
use flightrec::ship::{ShipStats, StatusFile};
use flightrec::stats::{Part, Totals};
use flightrec::wal::inspect;

use super::{CliError, print_json};

/// The totals and the files they are in.
#[derive(serde::Serialize)]
struct DirStats {
    data_dir: String,
    #[serde(flatten)]
    totals: Totals,
    wal_segments: usize,
    wal_bytes: u64,
    parquet_bytes: u64,
    first_lsn: Option<u64>,
    last_lsn: Option<u64>,
    damage: usize,
    #[serde(flatten)]
    ship: ShipStats,
}

/// Only the timestamp of a stored event (the rest is skipped).
#[derive(serde::Deserialize)]
struct Stamp {
    timestamp: DateTime<Utc>,
}

pub fn run(root: &Path, json: bool) -> Result<ExitCode, CliError> {
    let layout = Layout::new(root);
    let mut wal_part = Part::default();
    let wal = inspect(&layout.wal_dir(), &mut |_, rec| {
        if let Ok(s) = serde_json::from_slice::<Stamp>(rec.json) {
            wal_part.include(s.timestamp.timestamp_micros());
        }
    })?;
    wal_part.events = wal.records();
    let parquet = flightrec::compact::files::summarize(&layout.events_dir())?;
    let compacted =
        Part { events: parquet.events, oldest_micros: parquet.oldest_micros, newest_micros: parquet.newest_micros };
    let stats = DirStats {
        data_dir: root.display().to_string(),
        totals: Totals::new(wal_part, compacted, parquet.files),
        wal_segments: wal.segments.len(),
        wal_bytes: wal.segments.iter().map(|s| s.bytes).sum(),
        parquet_bytes: parquet.bytes,
        first_lsn: wal.first_lsn(),
        last_lsn: wal.last_lsn(),
        damage: wal.damage_count(),
        ship: StatusFile::read(root).map(|f| f.stats(chrono::Utc::now())).unwrap_or_default(),
    };
    if json {
        print_json(&stats)?;
    } else {
        println!("data dir        {}", stats.data_dir);
        print_events(&stats.totals);
        println!("WAL segments    {} ({} bytes)", stats.wal_segments, stats.wal_bytes);
        println!("Parquet files   {} ({} bytes)", stats.totals.parquet_files, stats.parquet_bytes);
        print_span(&stats.totals);
        print_ship(&stats.ship);
        if stats.damage > 0 {
            println!("damage          {} (run `flightrec verify` for details)", stats.damage);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `flightrec stats --url`: the server's answer, printed like the local one.
pub fn run_remote(server: &flightrec::client::Endpoint, json: bool) -> Result<ExitCode, CliError> {
    let answer = super::remote::stats(server)?;
    if json {
        print_json(&answer)?;
        return Ok(ExitCode::SUCCESS);
    }
    let decode = |e: serde_json::Error| CliError::Io { what: "decode the server's stats".into(), source: e.into() };
    let ship: ShipStats = serde_json::from_value(answer.clone()).map_err(decode)?;
    let totals: Totals = serde_json::from_value(answer).map_err(decode)?;
    println!("server          {}", server.url);
    print_events(&totals);
    println!("Parquet files   {}", totals.parquet_files);
    print_span(&totals);
    print_ship(&ship);
    Ok(ExitCode::SUCCESS)
}

fn print_ship(s: &ShipStats) {
    let Some(url) = &s.ship_to else { return };
    println!(
        "shipped         {} files to {url}, {} waiting (oldest {:.0} s)",
        s.shipped_files, s.unshipped_files, s.ship_lag_seconds
    );
    if let Some(e) = &s.last_ship_error {
        println!("ship error      {e}");
    }
}

fn print_events(t: &Totals) {
    println!("events          {} ({} in the WAL, {} compacted)", t.events, t.wal_events, t.compacted_events);
}

fn print_span(t: &Totals) {
    let ts = |t: Option<DateTime<Utc>>| t.map_or("-".to_string(), |t| t.to_rfc3339());
    println!("oldest / newest {} / {}", ts(t.oldest), ts(t.newest));
}
