//! `flightrec stats`: what the data directory holds, read-only.

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use flightrec::datadir::Layout;
use flightrec::wal::inspect;

use super::{CliError, print_json};

#[derive(serde::Serialize)]
struct Stats {
    data_dir: String,
    events: u64,
    wal_events: u64,
    compacted_events: u64,
    wal_segments: usize,
    wal_bytes: u64,
    parquet_files: u64,
    parquet_bytes: u64,
    oldest: Option<DateTime<Utc>>,
    newest: Option<DateTime<Utc>>,
    first_lsn: Option<u64>,
    last_lsn: Option<u64>,
    damage: usize,
}

/// Only the timestamp of a stored event (the rest is skipped).
#[derive(serde::Deserialize)]
struct Stamp {
    timestamp: DateTime<Utc>,
}

pub fn run(root: &Path, json: bool) -> Result<ExitCode, CliError> {
    let layout = Layout::new(root);
    let mut oldest: Option<DateTime<Utc>> = None;
    let mut newest: Option<DateTime<Utc>> = None;
    let wal = inspect(&layout.wal_dir(), &mut |_, rec| {
        if let Ok(s) = serde_json::from_slice::<Stamp>(rec.json) {
            oldest = Some(oldest.map_or(s.timestamp, |o| o.min(s.timestamp)));
            newest = Some(newest.map_or(s.timestamp, |n| n.max(s.timestamp)));
        }
    })?;
    let parquet = flightrec::compact::files::summarize(&layout.events_dir())?;
    let from_micros = |t: Option<i64>| t.and_then(DateTime::from_timestamp_micros);
    let oldest = [oldest, from_micros(parquet.oldest_micros)].into_iter().flatten().min();
    let newest = [newest, from_micros(parquet.newest_micros)].into_iter().flatten().max();
    let stats = Stats {
        data_dir: root.display().to_string(),
        events: wal.records() + parquet.events,
        wal_events: wal.records(),
        compacted_events: parquet.events,
        wal_segments: wal.segments.len(),
        wal_bytes: wal.segments.iter().map(|s| s.bytes).sum(),
        parquet_files: parquet.files,
        parquet_bytes: parquet.bytes,
        oldest,
        newest,
        first_lsn: wal.first_lsn(),
        last_lsn: wal.last_lsn(),
        damage: wal.damage_count(),
    };
    if json {
        print_json(&stats)?;
    } else {
        let ts = |t: Option<DateTime<Utc>>| t.map_or("-".to_string(), |t| t.to_rfc3339());
        println!("data dir        {}", stats.data_dir);
        println!(
            "events          {} ({} in the WAL, {} compacted)",
            stats.events, stats.wal_events, stats.compacted_events
        );
        println!("WAL segments    {} ({} bytes)", stats.wal_segments, stats.wal_bytes);
        println!("Parquet files   {} ({} bytes)", stats.parquet_files, stats.parquet_bytes);
        println!("oldest / newest {} / {}", ts(stats.oldest), ts(stats.newest));
        if stats.damage > 0 {
            println!("damage          {} (run `flightrec verify` for details)", stats.damage);
        }
    }
    Ok(ExitCode::SUCCESS)
}
