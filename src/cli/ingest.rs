//! `flightrec ingest FILE|-`: records an NDJSON file line by line. A bad line is reported
//! with its number and reason and does not stop the lines after it.

use std::io::{BufRead, BufReader, IsTerminal};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use flightrec::datadir::DataDir;
use flightrec::error::Code;
use flightrec::ingest::{MAX_EVENT_BYTES, check_future_skew, prepare_json};
use flightrec::ndjson::{Line, LineReader, is_blank};
use flightrec::redact::Redactor;
use flightrec::server::api::MAX_REJECTED_LISTED;
use flightrec::wal::{Wal, WalHooks, WalOptions};

use super::{CliError, print_json};

/// Events appended to the WAL per request (one fdatasync each in sync mode).
const BATCH: usize = 1024;

#[derive(Debug, Default, serde::Serialize)]
struct Summary {
    accepted: u64,
    rejected_count: u64,
    redacted: u64,
    trace_ids_assigned: u64,
    rejected: Vec<Rejection>,
}

#[derive(Debug, serde::Serialize)]
struct Rejection {
    line: u64,
    code: Code,
    field: String,
    message: String,
}

pub fn run(
    data_dir: &Path,
    file: &str,
    opts: &WalOptions,
    max_future_skew: chrono::Duration,
    json: bool,
) -> Result<ExitCode, CliError> {
    let (input, size): (Box<dyn BufRead>, Option<u64>) = if file == "-" {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let f = std::fs::File::open(file).map_err(CliError::io(format!("open {file}")))?;
        let size = f.metadata().ok().map(|m| m.len());
        (Box::new(BufReader::with_capacity(1 << 20, f)), size)
    };
    let dir = DataDir::open(data_dir)?;
    let lsn_floor = flightrec::compact::files::highest_lsn(&dir.layout().events_dir())?;
    let wal_opts = WalOptions { lsn_floor, ..opts.clone() };
    let (wal, _) = Wal::open(&dir.layout().wal_dir(), wal_opts, WalHooks::default())?;
    let redactor = Redactor::builtin();
    let mut reader = LineReader::new(input, MAX_EVENT_BYTES);
    let mut summary = Summary::default();
    let mut batch = Vec::with_capacity(BATCH);
    let mut buf = Vec::new();
    let mut progress = Progress::new(size);
    while let Some(line) = reader.next_line(&mut buf).map_err(CliError::io(format!("read {file}")))? {
        let line_no = reader.line_no;
        let prepared = match line {
            Line::TooLong { len } => {
                let message = format!("line is {len} bytes; the limit is {MAX_EVENT_BYTES}");
                summary.reject(line_no, Code::EventTooLarge, String::new(), message, json);
                continue;
            }
            Line::Bytes if is_blank(&buf) => continue,
            Line::Bytes => prepare_json(&redactor, &buf)
                .and_then(|p| check_future_skew(&p, chrono::Utc::now(), max_future_skew).map(|()| p)),
        };
        match prepared {
            Ok(p) => {
                summary.redacted += u64::from(p.redacted);
                summary.trace_ids_assigned += u64::from(p.trace_id_assigned);
                batch.push(p.payload);
                if batch.len() >= BATCH {
                    summary.accepted += append(&wal, &mut batch, opts)?;
                }
            }
            Err(e) => summary.reject(line_no, e.code(), e.field, e.reason, json),
        }
        progress.tick(line_no, reader.bytes_read, &summary);
    }
    summary.accepted += append(&wal, &mut batch, opts)?;
    wal.close()?;
    report(&summary, json, dir.root())
}

fn append(wal: &Wal, batch: &mut Vec<Vec<u8>>, opts: &WalOptions) -> Result<u64, CliError> {
    let n = batch.len() as u64;
    wal.append_batch_blocking(std::mem::take(batch), opts.durability)?;
    Ok(n)
}

impl Summary {
    fn reject(&mut self, line: u64, code: Code, field: String, message: String, json: bool) {
        self.rejected_count += 1;
        if !json {
            let at = if field.is_empty() { String::new() } else { format!(" at {field}") };
            println!("line {line}: rejected: {code}{at}: {message}");
        } else if self.rejected.len() < MAX_REJECTED_LISTED {
            self.rejected.push(Rejection { line, code, field, message });
        }
    }
}

fn report(summary: &Summary, json: bool, root: &Path) -> Result<ExitCode, CliError> {
    if json {
        print_json(summary)?;
    } else {
        println!(
            "accepted {}, rejected {}, redacted {}, trace_ids assigned {} (data dir {})",
            summary.accepted,
            summary.rejected_count,
            summary.redacted,
            summary.trace_ids_assigned,
            root.display()
        );
    }
    Ok(if summary.rejected_count > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Prints progress to standard error every two seconds on long runs.
struct Progress {
    start: Instant,
    last: Instant,
    size: Option<u64>,
    enabled: bool,
}

impl Progress {
    fn new(size: Option<u64>) -> Progress {
        let now = Instant::now();
        Progress { start: now, last: now, size, enabled: std::io::stderr().is_terminal() || size.is_some() }
    }

    fn tick(&mut self, lines: u64, bytes: u64, summary: &Summary) {
        if !self.enabled || !lines.is_multiple_of(4096) || self.last.elapsed() < Duration::from_secs(2) {
            return;
        }
        self.last = Instant::now();
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let pct = self.size.filter(|&s| s > 0).map(|s| format!(" ({:.0}%)", bytes as f64 * 100.0 / s as f64));
        eprintln!(
            "ingest: {lines} lines{}, {} accepted, {} rejected, {:.1} MB/s",
            pct.unwrap_or_default(),
            summary.accepted,
            summary.rejected_count,
            bytes as f64 / secs / 1e6
        );
    }
}
