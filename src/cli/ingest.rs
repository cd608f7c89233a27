//! `flightrec ingest FILE|-`: records an NDJSON file line by line, through the recorder's
//! ingest path ([`Intake`]: prepare, de-duplicate, append), so an event already recorded is
//! counted as a duplicate and stored once. A bad line is reported with its number and reason
//! and does not stop the lines after it.

use std::io::{BufRead, BufReader, IsTerminal};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use flightrec::datadir::DataDir;
use flightrec::error::Code;
use flightrec::ingest::MAX_EVENT_BYTES;
use flightrec::ndjson::{Line, LineReader, is_blank};
use flightrec::recorder::{Intake, Recorded, RecorderConfig, RecorderError};
use flightrec::server::api::MAX_REJECTED_LISTED;
use flightrec::wal::WalOptions;

use super::{CliError, print_json};

/// Lines recorded per WAL request (one fdatasync each in sync mode), and most bytes of lines
/// held before they are recorded.
const BATCH: usize = 1024;
const BATCH_BYTES: usize = 4 << 20;

#[derive(Debug, Default, serde::Serialize)]
struct Summary {
    accepted: u64,
    duplicates: u64,
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

/// The lines read and not recorded yet, with their line numbers.
#[derive(Default)]
struct Pending {
    lines: Vec<(u64, Vec<u8>)>,
    bytes: usize,
}

/// Where the lines go, and how the rejections are reported.
struct Ingest {
    intake: Intake,
    runtime: tokio::runtime::Runtime,
    summary: Summary,
    json: bool,
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
    let mut config = RecorderConfig::new(dir.root());
    config.wal = opts.clone();
    config.max_future_skew = max_future_skew;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::io("start the tokio runtime"))?;
    let intake = Intake::open_writer(&dir, &config)?;
    let mut ingest = Ingest { intake, runtime, summary: Summary::default(), json };
    let mut reader = LineReader::new(input, MAX_EVENT_BYTES);
    let mut pending = Pending::default();
    let mut buf = Vec::new();
    let mut progress = Progress::new(size);
    while let Some(line) = reader.next_line(&mut buf).map_err(CliError::io(format!("read {file}")))? {
        let line_no = reader.line_no;
        match line {
            Line::TooLong { len } => {
                // The lines before it first, so the rejections come out in line order.
                ingest.record(&mut pending)?;
                let message = format!("line is {len} bytes; the limit is {MAX_EVENT_BYTES}");
                ingest.summary.reject(line_no, Code::EventTooLarge, String::new(), message, json);
            }
            Line::Bytes if is_blank(&buf) => continue,
            Line::Bytes => {
                pending.bytes += buf.len();
                pending.lines.push((line_no, std::mem::take(&mut buf)));
                if pending.lines.len() >= BATCH || pending.bytes >= BATCH_BYTES {
                    ingest.record(&mut pending)?;
                }
            }
        }
        progress.tick(line_no, reader.bytes_read, &ingest.summary);
    }
    ingest.record(&mut pending)?;
    ingest.intake.wal().close()?;
    report(&ingest.summary, json, dir.root())
}

impl Ingest {
    /// Records the pending lines as one batch; a storage error (not a line's fault) stops.
    fn record(&mut self, pending: &mut Pending) -> Result<(), CliError> {
        let lines = std::mem::take(&mut pending.lines);
        pending.bytes = 0;
        let slices: Vec<&[u8]> = lines.iter().map(|(_, b)| b.as_slice()).collect();
        let results = self.runtime.block_on(self.intake.record_json_batch(&slices, None));
        for ((line, _), result) in lines.iter().zip(results) {
            match result {
                Ok(r) => self.summary.count(&r),
                Err(RecorderError::InvalidEvent(e)) => {
                    let code = e.code();
                    self.summary.reject(*line, code, e.field, e.reason, self.json);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

impl Summary {
    fn count(&mut self, r: &Recorded) {
        if r.duplicate {
            self.duplicates += 1;
        } else {
            self.accepted += 1;
            self.redacted += u64::from(r.redacted);
            self.trace_ids_assigned += u64::from(r.trace_id_assigned);
        }
    }

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
            "accepted {}, duplicates {}, rejected {}, redacted {}, trace_ids assigned {} (data dir {})",
            summary.accepted,
            summary.duplicates,
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
