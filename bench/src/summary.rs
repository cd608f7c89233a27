//! `flightrec-bench summary`: builds a data directory of N generated events spread over D days
//! (compacted chunk by chunk, so the WAL never holds more than one chunk; the newest `--tail`
//! events are left in the WAL, as in a live recorder), then times `Recorder::summary` (what
//! `GET /v1/summary` runs) for 24-hour windows and for the whole range. Beside it, in the same
//! run on the same files: a plain `count(*)` of the window, the same scan extracting the
//! payload fields the summary reads from the JSON payloads (what reading the files written
//! before the summary columns costs), the same scan reading the typed summary columns, and
//! the one-hour page.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use flightrec::compact::Compactor;
use flightrec::datadir::{DataDir, DirLock, Layout};
use flightrec::query::EventQuery;
use flightrec::query::summary::{Range, SummaryQuery};
use flightrec::recorder::{FlightRecorder, Recorder, RecorderConfig};
use flightrec::workload::Generator;

use crate::BenchError;
use crate::fill::Filler;
use crate::measure::{peak_rss_mb, percentile};
use crate::query::err;

/// Summaries of the whole range timed (each reads every event).
const WHOLE_RANGE_REPS: usize = 3;

/// Events written between two compactions while building.
const CHUNK: u64 = 1_000_000;

/// What the benchmark builds and how often it asks.
pub struct SummaryArgs {
    pub events: u64,
    pub days: u32,
    pub reps: usize,
    /// The newest events left uncompacted (in the WAL tail).
    pub tail: u64,
}

pub fn run(data_dir: &Path, args: &SummaryArgs) -> Result<ExitCode, BenchError> {
    let start = Utc::now() - chrono::Duration::days(i64::from(args.days));
    build(data_dir, args, start)?;
    let runtime = tokio::runtime::Runtime::new().map_err(BenchError::io("start tokio"))?;
    runtime.block_on(measure(data_dir, args, start))?;
    println!("peak RSS of this process: {} MB", peak_rss_mb());
    Ok(ExitCode::SUCCESS)
}

/// Appends the events chunk by chunk, compacting each sealed chunk but the tail.
fn build(data_dir: &Path, args: &SummaryArgs, start: DateTime<Utc>) -> Result<(), BenchError> {
    let step = (i64::from(args.days) * 86_400_000_000 / args.events.max(1) as i64).max(1);
    let dir = DataDir::open(data_dir)?;
    let _lock = DirLock::compactor(data_dir)?;
    let mut compactor = Compactor::open(&Layout::new(data_dir))?;
    let mut filler = Filler::open(&dir)?;
    let mut generator = Generator::new(11, start, step);
    let compacted = args.events.saturating_sub(args.tail);
    let t = Instant::now();
    let mut compact_secs = 0.0;
    for i in 0..args.events {
        filler.push(generator.next_json())?;
        let done = i + 1;
        if done <= compacted && (done % CHUNK == 0 || done == compacted) {
            filler.flush()?;
            filler.wal().seal_blocking()?;
            let c = Instant::now();
            compactor.run_once()?;
            compact_secs += c.elapsed().as_secs_f64();
        }
    }
    let intake = filler.finish()?;
    intake.wal().close()?;
    println!(
        "built: {} events over {} days in {:.1} s ({compact_secs:.1} s compacting); {} left in the WAL tail",
        args.events,
        args.days,
        t.elapsed().as_secs_f64(),
        args.events - compacted
    );
    Ok(())
}

/// Median and p95 of the durations, in ms.
fn report(name: &str, mut v: Vec<Duration>) -> f64 {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = ms(percentile(&v, 0.5));
    println!("{name:<44} median {median:>8.2} ms   p95 {:>8.2} ms   ({} runs)", ms(percentile(&v, 0.95)), v.len());
    median
}

/// The 24-hour window of repetition `i`.
fn window(start: DateTime<Utc>, days: u32, i: usize) -> Range {
    let hours = (i as i64 * 7919) % (i64::from(days.max(2)) * 24 - 24);
    let from = flightrec::event::time::truncate_micros(start + chrono::Duration::hours(hours));
    Range { from, to: from + chrono::Duration::hours(24) }
}

fn summary_query(range: Range) -> SummaryQuery {
    SummaryQuery { range, job_id: None, trace_id: None, bucket_seconds: range.default_bucket() }
}

async fn measure(data_dir: &Path, args: &SummaryArgs, start: DateTime<Utc>) -> Result<(), BenchError> {
    let mut config = RecorderConfig::new(data_dir);
    config.retention = chrono::Duration::days(3650);
    let recorder = Recorder::open(config).await.map_err(|e| err("open recorder")(e.to_string()))?;
    let scans = Scans::open(data_dir)?;
    let (mut day, mut count, mut extract, mut typed, mut page) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut seen = 0u64;
    for i in 0..args.reps {
        let range = window(start, args.days, i);
        let t = Instant::now();
        seen += recorder.summary(summary_query(range)).await.map_err(|e| err("summary")(e.to_string()))?.total_events;
        day.push(t.elapsed());
        count.push(scans.time(Scans::COUNT, range)?);
        extract.push(scans.time(Scans::EXTRACT, range)?);
        typed.push(scans.time(Scans::TYPED, range)?);
        let q = EventQuery {
            from: Some(range.from),
            to: Some(range.from + chrono::Duration::hours(1)),
            limit: Some(100),
            ..Default::default()
        };
        let t = Instant::now();
        recorder.query(q).await.map_err(|e| err("page")(e.to_string()))?;
        page.push(t.elapsed());
    }
    println!("({seen} events summarized in the 24-hour runs)");
    let ours = report("summary, 24-hour window", day);
    let plain = report("  baseline: count(*) of the window", count);
    let json = report("  baseline: the window's payload fields (JSON)", extract);
    let columns = report("  baseline: the window's summary columns", typed);
    let paged = report("  baseline: one-hour page of 100 events", page);
    println!(
        "summary / count(*) = {:.1}x   summary / JSON extraction = {:.1}x   summary / columns = {:.1}x   \
         summary / page = {:.1}x",
        ours / plain.max(1e-9),
        ours / json.max(1e-9),
        ours / columns.max(1e-9),
        ours / paged.max(1e-9)
    );
    let whole = Range {
        from: flightrec::event::time::truncate_micros(start - chrono::Duration::hours(1)),
        to: flightrec::event::time::now_micros() + chrono::Duration::hours(1),
    };
    let (mut all, mut all_count) = (Vec::new(), Vec::new());
    for _ in 0..WHOLE_RANGE_REPS {
        let t = Instant::now();
        let s = recorder.summary(summary_query(whole)).await.map_err(|e| err("summary")(e.to_string()))?;
        all.push(t.elapsed());
        if s.total_events != args.events {
            return Err(err("summary")(format!("the whole range counts {} of {} events", s.total_events, args.events)));
        }
        all_count.push(scans.time(Scans::COUNT, whole)?);
    }
    let ours = report("summary, whole range", all);
    let plain = report("  baseline: count(*) of the whole range", all_count);
    println!("summary / count(*) = {:.1}x", ours / plain.max(1e-9));
    recorder.shutdown().await.map_err(|e| err("shutdown")(e.to_string()))
}

/// The baselines' own DuckDB connection over every Parquet file of the data directory.
struct Scans {
    conn: duckdb::Connection,
    glob: String,
}

impl Scans {
    const COUNT: &'static str = "SELECT count(*)::BIGINT FROM read_parquet($1) WHERE timestamp >= make_timestamp($2)::TIMESTAMPTZ AND timestamp < make_timestamp($3)::TIMESTAMPTZ";
    const EXTRACT: &'static str = "SELECT count(f[1]) + count(f[4]) + count(f[7]) + count(f[8])::BIGINT FROM (SELECT \
        CASE WHEN type IN ('llm_inference', 'tool_call', 'capability_decision', 'job_lifecycle') THEN \
        json_extract_string(payload, ['$.token_usage.prompt', '$.token_usage.completion', '$.latency_ms', '$.tool_id', \
        '$.ok', '$.timing.duration_ms', '$.decision', '$.phase', '$.status', '$.job_kind', '$.duration_ms']) END AS f \
        FROM read_parquet($1) WHERE timestamp >= make_timestamp($2)::TIMESTAMPTZ AND timestamp < make_timestamp($3)::TIMESTAMPTZ)";
    const TYPED: &'static str = "SELECT (count(prompt_tokens) + count(completion_tokens) + count(latency_ms) + count(tool_id) \
        + count(tool_ok) + count(duration_ms) + count(decision) + count(job_phase) + count(job_status) + count(job_kind))::BIGINT \
        FROM read_parquet($1) WHERE timestamp >= make_timestamp($2)::TIMESTAMPTZ AND timestamp < make_timestamp($3)::TIMESTAMPTZ";

    fn open(data_dir: &Path) -> Result<Scans, BenchError> {
        let conn = duckdb::Connection::open_in_memory().map_err(|e| err("open DuckDB")(e.to_string()))?;
        conn.execute_batch("SET parquet_metadata_cache = true").map_err(|e| err("DuckDB")(e.to_string()))?;
        let glob = data_dir.join("events").join("**").join("*.parquet").display().to_string();
        Ok(Scans { conn, glob })
    }

    fn time(&self, sql: &str, range: Range) -> Result<Duration, BenchError> {
        let t = Instant::now();
        let (from, to) = (range.from.timestamp_micros(), range.to.timestamp_micros());
        let _: i64 = self
            .conn
            .query_row(sql, duckdb::params![self.glob, from, to], |r| r.get(0))
            .map_err(|e| err("baseline scan")(e.to_string()))?;
        Ok(t.elapsed())
    }
}
