//! `flightrec-bench query`: builds a data directory of N generated events spread over D days
//! (WAL, then compaction), then measures through the recorder a trace lookup, a job lookup and
//! a one-hour page. Prints the compaction rate, the Parquet size as a share of the NDJSON and
//! the process's peak RSS. With `--baselines`, in the same run: DuckDB's own `read_json` of
//! the same NDJSON into zstd Parquet (vs compaction), and the same three questions as full
//! scans of the same Parquet files without the catalog (vs the recorder's lookups).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use flightrec::compact::{CompactReport, Compactor};
use flightrec::datadir::DataDir;
use flightrec::query::EventQuery;
use flightrec::recorder::{FlightRecorder, Recorder, RecorderConfig};
use flightrec::stored::StoredEnvelope;
use flightrec::workload::Generator;

use crate::BenchError;
use crate::fill::Filler;
use crate::measure::{page_start, peak_rss_mb, percentile, reset_peak_rss};

/// Wraps an error message as a [`BenchError`] saying what failed.
pub(crate) fn err(what: &str) -> impl FnOnce(String) -> BenchError + '_ {
    move |e| BenchError::Io { what: what.to_string(), source: std::io::Error::other(e) }
}

/// What the query benchmark generates: `events` over the last `days`, compacted after every
/// `compact_every` events (0: once, after all).
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub events: u64,
    pub days: u32,
    pub compact_every: u64,
}

pub fn run(data_dir: &Path, load: Load, reps: usize, baselines: bool) -> Result<ExitCode, BenchError> {
    let Load { events, days, compact_every } = load;
    let start = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
    let step = (i64::from(days) * 86_400_000_000 / events.max(1) as i64).max(1);
    let ndjson_copy = baselines.then(|| data_dir.join("bench-events.ndjson"));
    std::fs::create_dir_all(data_dir).map_err(BenchError::io("create data directory"))?;
    let (ndjson_bytes, samples, report, secs) = {
        let _lock = flightrec::datadir::DirLock::compactor(data_dir)?;
        let mut compactor = Compactor::open(&flightrec::datadir::Layout::new(data_dir))?;
        let mut compaction = Compaction::new(&mut compactor, compact_every);
        let (bytes, samples) = generate(data_dir, events, start, step, ndjson_copy.as_deref(), &mut compaction)?;
        compaction.run()?;
        (bytes, samples, compaction.report, compaction.secs)
    };
    println!(
        "compaction: {} events in {secs:.2} s = {:.0} events/s; Parquet {} bytes = {:.1}% of {} NDJSON bytes",
        report.events,
        report.events as f64 / secs,
        report.parquet_bytes,
        report.parquet_bytes as f64 * 100.0 / ndjson_bytes as f64,
        ndjson_bytes
    );
    println!("peak RSS after ingest + compaction: {} MB", peak_rss_mb());
    if let Some(ndjson) = &ndjson_copy {
        let base = super::query_baselines::read_json_to_parquet(ndjson, &data_dir.join("bench-read-json.parquet"))?;
        let rate = report.events as f64 / secs;
        println!(
            "    baseline DuckDB read_json -> Parquet: {:.0} events/s   flightrec/baseline = {:.2}x",
            base,
            rate / base.max(1e-9)
        );
        let _ = std::fs::remove_file(ndjson);
    }
    let ingest_and_compaction_peak = peak_rss_mb();
    reset_peak_rss();
    let runtime = tokio::runtime::Runtime::new().map_err(BenchError::io("start tokio"))?;
    let medians = runtime.block_on(measure(data_dir, &samples, start, days, reps))?;
    if baselines {
        let scans = super::query_baselines::full_scans(data_dir, &samples, start, days, reps)?;
        for ((name, ours), theirs) in medians.iter().zip(scans) {
            println!(
                "    baseline full Parquet scan, {name:<28} median {:>8.2} ms   baseline/flightrec = {:.1}x",
                theirs,
                theirs / ours.max(1e-9)
            );
        }
    }
    println!("peak RSS of this process (baselines included): {} MB", peak_rss_mb().max(ingest_and_compaction_peak));
    Ok(ExitCode::SUCCESS)
}

/// The compactor of a query benchmark's data directory, and what its runs did so far.
#[derive(Default)]
pub(crate) struct Compaction<'c> {
    compactor: Option<&'c mut Compactor>,
    every: u64,
    report: CompactReport,
    secs: f64,
}

impl<'c> Compaction<'c> {
    /// Compacts with `compactor` after every `every` events generated (0: only when asked).
    pub(crate) fn new(compactor: &'c mut Compactor, every: u64) -> Compaction<'c> {
        Compaction { compactor: Some(compactor), every, ..Compaction::default() }
    }

    /// Events compacted and Parquet bytes written so far, and the seconds it took.
    pub(crate) fn done(&self) -> (&CompactReport, f64) {
        (&self.report, self.secs)
    }

    /// Compacts the sealed segments, adding to the report and the time.
    pub(crate) fn run(&mut self) -> Result<(), BenchError> {
        let Some(compactor) = self.compactor.as_deref_mut() else { return Ok(()) };
        let t = Instant::now();
        let report = compactor.run_once()?;
        self.secs += t.elapsed().as_secs_f64();
        self.report.events += report.events;
        self.report.parquet_bytes += report.parquet_bytes;
        Ok(())
    }
}

/// Appends the events to the WAL (sealing as it goes); returns the NDJSON size and sampled
/// (trace_id, job_id) pairs.
pub(crate) fn generate(
    data_dir: &Path,
    events: u64,
    start: chrono::DateTime<chrono::Utc>,
    step: i64,
    ndjson_copy: Option<&Path>,
    compaction: &mut Compaction<'_>,
) -> Result<(u64, Vec<(String, String)>), BenchError> {
    let dir = DataDir::open(data_dir)?;
    let mut copy = match ndjson_copy {
        Some(p) => {
            Some(std::io::BufWriter::new(std::fs::File::create(p).map_err(BenchError::io("create NDJSON copy"))?))
        }
        None => None,
    };
    let mut filler = Filler::open(&dir)?;
    let mut generator = Generator::new(11, start, step);
    let (mut bytes, mut samples) = (0u64, Vec::new());
    let t = Instant::now();
    for i in 0..events {
        let line = generator.next_json();
        bytes += line.len() as u64 + 1;
        if let Some(w) = copy.as_mut() {
            writeln!(w, "{line}").map_err(BenchError::io("write NDJSON copy"))?;
        }
        if i % 9_973 == 0
            && let Ok(e) = StoredEnvelope::parse(line.as_bytes())
        {
            samples.push((e.trace_id.to_string(), e.job_id.as_deref().unwrap_or_default().to_string()));
        }
        filler.push(line)?;
        if compaction.every > 0 && (i + 1) % compaction.every == 0 {
            filler.flush()?;
            filler.wal().seal_blocking()?;
            compaction.run()?;
        }
    }
    let intake = filler.finish()?;
    if let Some(w) = copy.as_mut() {
        w.flush().map_err(BenchError::io("write NDJSON copy"))?;
    }
    intake.wal().seal_blocking()?;
    intake.wal().close()?;
    let secs = t.elapsed().as_secs_f64() - compaction.secs;
    println!("ingest: {events} events in {secs:.2} s (batch durability, one writer; compaction runs aside)");
    Ok((bytes, samples))
}

async fn measure(
    data_dir: &Path,
    samples: &[(String, String)],
    start: chrono::DateTime<chrono::Utc>,
    days: u32,
    reps: usize,
) -> Result<Vec<(&'static str, f64)>, BenchError> {
    let mut config = RecorderConfig::new(data_dir);
    config.retention = chrono::Duration::days(3650);
    let recorder = Recorder::open(config).await.map_err(|e| err("open recorder")(e.to_string()))?;
    let (mut trace_ms, mut job_ms, mut page_ms, mut found) = (Vec::new(), Vec::new(), Vec::new(), 0usize);
    for i in 0..reps {
        let Some((trace, job)) = samples.get(i % samples.len().max(1)) else {
            return Err(err("measure")("no events to query: pass --events 1 or more".into()));
        };
        let t = Instant::now();
        found += recorder.trace(trace).await.map_err(|e| err("trace")(e.to_string()))?.events.len();
        trace_ms.push(t.elapsed());
        let t = Instant::now();
        found += recorder.job(job).await.map_err(|e| err("job")(e.to_string()))?.events.len();
        job_ms.push(t.elapsed());
        let from = page_start(start, days, i);
        let q = EventQuery {
            from: Some(from),
            to: Some(from + chrono::Duration::hours(1)),
            limit: Some(100),
            ..Default::default()
        };
        let t = Instant::now();
        found += recorder.query(q).await.map_err(|e| err("page")(e.to_string()))?.events.len();
        page_ms.push(t.elapsed());
    }
    recorder.shutdown().await.map_err(|e| err("shutdown")(e.to_string()))?;
    let mut medians = Vec::new();
    for (name, mut v) in [("trace lookup", trace_ms), ("job lookup", job_ms), ("one-hour page (100 events)", page_ms)] {
        v.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let at = |p: f64| percentile(&v, p);
        println!("{name:<28} median {:>7.2} ms   p90 {:>7.2} ms   ({} runs)", ms(at(0.5)), ms(at(0.9)), v.len());
        medians.push((name, ms(at(0.5))));
    }
    println!("({found} events returned in all)");
    println!("peak RSS while the recorder opened and answered (from the RSS at its start): {} MB", peak_rss_mb());
    Ok(medians)
}
