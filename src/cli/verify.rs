//! `flightrec verify [DIR]`: checks every WAL segment and every event in it, read-only.

use std::path::Path;
use std::process::ExitCode;

use flightrec::datadir::Layout;
use flightrec::event::parse_event;
use flightrec::wal::{QuarantinedFile, WalReport, inspect};

use super::{CliError, print_json};

#[derive(serde::Serialize)]
struct VerifyReport {
    data_dir: String,
    segments: usize,
    records: u64,
    first_lsn: Option<u64>,
    last_lsn: Option<u64>,
    damage: usize,
    /// Records whose checksum is right but whose event does not validate.
    invalid_events: u64,
    /// Whole segments in `wal/quarantine/`: their events may be missing until someone looks.
    quarantined_segments: usize,
    ok: bool,
    wal: WalReport,
    /// Everything in `wal/quarantine/` (whole segments and copies of damaged bytes).
    quarantine: Vec<QuarantinedFile>,
}

pub fn run(root: &Path, json: bool) -> Result<ExitCode, CliError> {
    let layout = Layout::new(root);
    if !root.is_dir() {
        return Err(CliError::Io {
            what: format!("verify {}", root.display()),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such data directory"),
        });
    }
    let mut invalid_events = 0u64;
    let wal = inspect(&layout.wal_dir(), &mut |_, rec| {
        if parse_event(rec.json).is_err() {
            invalid_events += 1;
        }
    })?;
    let damage = wal.damage_count();
    let quarantine = layout.segments().quarantined_files();
    let quarantined_segments = quarantine.iter().filter(|f| f.segment).count();
    let report = VerifyReport {
        data_dir: root.display().to_string(),
        segments: wal.segments.len(),
        records: wal.records(),
        first_lsn: wal.first_lsn(),
        last_lsn: wal.last_lsn(),
        damage,
        invalid_events,
        quarantined_segments,
        ok: damage == 0 && invalid_events == 0 && quarantined_segments == 0,
        wal,
        quarantine,
    };
    if json {
        print_json(&report)?;
    } else {
        print_text(&report);
    }
    Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn print_text(r: &VerifyReport) {
    println!("data dir {}", r.data_dir);
    for s in &r.wal.segments {
        let lsns = match s.last_lsn {
            Some(last) => format!("LSN {}..={}", s.first_lsn, last),
            None => "empty".to_string(),
        };
        let state = if s.sealed { "sealed" } else { "open" };
        println!("  {}  {state:6}  {:>8} records  {lsns}  {} bytes", s.file, s.records, s.bytes);
        if let Some(reason) = &s.unreadable {
            println!("    DAMAGE: unreadable segment: {reason}");
        }
        for d in &s.damage {
            println!("    DAMAGE at offset {} ({} bytes): {}", d.offset, d.len, d.reason);
        }
        if let Some(t) = &s.torn_tail {
            println!("    torn tail at offset {} ({} bytes): {} (recovery cuts it)", t.offset, t.len, t.reason);
        }
    }
    for q in &r.quarantine {
        let what = if q.segment { "QUARANTINED SEGMENT" } else { "quarantined bytes" };
        println!("  {what}: wal/quarantine/{} ({} bytes)", q.file, q.bytes);
    }
    let range = match (r.first_lsn, r.last_lsn) {
        (Some(a), Some(b)) => format!("LSN {a}..={b}"),
        _ => "no records".to_string(),
    };
    println!(
        "{} segments, {} records, {range}, {} damaged, {} invalid events, {} quarantined segments: {}",
        r.segments,
        r.records,
        r.damage,
        r.invalid_events,
        r.quarantined_segments,
        if r.ok { "OK" } else { "PROBLEMS FOUND" }
    );
}
