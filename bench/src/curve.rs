//! `flightrec-bench curve`: the cost curve of the questions users ask, at growing sizes. For
//! each size N it builds a fresh data directory of N generated events over D days (compacting
//! every `--compact-every` events, so the WAL on disk stays small), then times through the
//! recorder a trace lookup, a job lookup, a one-hour page, the newest page, a full-text `text=`
//! search and `stats`, first on a quiet recorder, then while W writers record at full speed
//! (`sync`) in the same process, beside the same writers alone (what the lookups cost them).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use flightrec::compact::Compactor;
use flightrec::datadir::{DirLock, Layout};
use flightrec::query::EventQuery;
use flightrec::recorder::{FlightRecorder, Recorder, RecorderConfig};
use flightrec::wal::Durability;
use flightrec::workload::Generator;

use crate::BenchError;
use crate::measure::{page_start, peak_rss_mb, percentile};
use crate::query::{Compaction, err, generate};

/// What the curve builds and asks.
#[derive(Debug, Clone)]
pub struct CurveArgs {
    pub sizes: Vec<u64>,
    pub days: u32,
    /// Lookups of each kind (trace, job, page, stats) on the quiet recorder.
    pub reps: usize,
    /// `text=` searches on the quiet recorder (each scans every file).
    pub text_reps: usize,
    pub compact_every: u64,
    /// Writers recording while the lookups run (0: no loaded phase).
    pub writers: usize,
    /// Seconds of writers alone, then as long with the lookups.
    pub seconds: f64,
    /// Keep each size's data directory (default: deleted once measured).
    pub keep: bool,
}

/// The questions timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    Trace,
    Job,
    Page,
    /// The newest 100 events, no filter (what the UI shows first): the WAL tail's newest.
    Newest,
    /// A rare term (matches one trace): every file is read.
    Text,
    /// A term most events match: the first files read fill the page.
    TextCommon,
    Stats,
}

impl Ask {
    const LOOKUPS: [Ask; 5] = [Ask::Trace, Ask::Job, Ask::Page, Ask::Newest, Ask::Stats];

    fn name(self) -> &'static str {
        match self {
            Ask::Trace => "trace lookup",
            Ask::Job => "job lookup",
            Ask::Page => "one-hour page (100 events)",
            Ask::Newest => "newest 100 events",
            Ask::Text => "text= search, rare term",
            Ask::TextCommon => "text= search, common term",
            Ask::Stats => "stats",
        }
    }
}

/// What a built data directory holds, for choosing the questions.
struct Built {
    samples: Vec<(String, String)>,
    start: DateTime<Utc>,
    days: u32,
}

impl Built {
    /// Asks question `ask` for the `i`-th time; returns the events it returned.
    async fn ask(&self, recorder: &Recorder, ask: Ask, i: usize) -> Result<usize, BenchError> {
        let Some((trace, job)) = self.samples.get(i % self.samples.len().max(1)) else {
            return Err(err("curve")("no events to query: pass sizes of 1 or more".into()));
        };
        let failed = |what: &'static str| move |e: flightrec::recorder::RecorderError| err(what)(e.to_string());
        Ok(match ask {
            Ask::Trace => recorder.trace(trace).await.map_err(failed("trace"))?.events.len(),
            Ask::Job => recorder.job(job).await.map_err(failed("job"))?.events.len(),
            Ask::Page => {
                let from = page_start(self.start, self.days, i);
                let to = Some(from + chrono::Duration::hours(1));
                let q = EventQuery { from: Some(from), to, limit: Some(100), ..Default::default() };
                recorder.query(q).await.map_err(failed("page"))?.events.len()
            }
            Ask::Newest => {
                let q = EventQuery { limit: Some(100), descending: true, ..Default::default() };
                recorder.query(q).await.map_err(failed("newest"))?.events.len()
            }
            Ask::Text => {
                // The tail of a trace id: a rare term, as when someone pastes part of an id.
                let text = trace.get(24..).unwrap_or(trace).to_string();
                let q = EventQuery { text: Some(text), limit: Some(100), ..Default::default() };
                recorder.query(q).await.map_err(failed("text"))?.events.len()
            }
            Ask::TextCommon => {
                let q = EventQuery { text: Some("job-".into()), limit: Some(100), ..Default::default() };
                recorder.query(q).await.map_err(failed("text"))?.events.len()
            }
            Ask::Stats => recorder.stats().await.map_err(failed("stats"))?.totals.events as usize,
        })
    }
}

pub fn run(data_dir: &Path, args: &CurveArgs) -> Result<ExitCode, BenchError> {
    let runtime = tokio::runtime::Runtime::new().map_err(BenchError::io("start tokio"))?;
    for &events in &args.sizes {
        let dir = size_dir(data_dir, events);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(BenchError::io("remove an old curve directory"))?;
        }
        println!("== {events} events over {} days", args.days);
        let built = build(&dir, events, args)?;
        println!("data directory: {} MB on disk", du_mb(&dir));
        runtime.block_on(measure(&dir, &built, args))?;
        if !args.keep {
            std::fs::remove_dir_all(&dir).map_err(BenchError::io("remove the curve directory"))?;
        }
    }
    println!("peak RSS of this process: {} MB", peak_rss_mb());
    Ok(ExitCode::SUCCESS)
}

/// Generates `events` over the last `args.days` into a fresh `dir`, compacting as it goes.
fn build(dir: &Path, events: u64, args: &CurveArgs) -> Result<Built, BenchError> {
    let start = Utc::now() - chrono::Duration::days(i64::from(args.days));
    let step = (i64::from(args.days) * 86_400_000_000 / events.max(1) as i64).max(1);
    std::fs::create_dir_all(dir).map_err(BenchError::io("create data directory"))?;
    let _lock = DirLock::compactor(dir)?;
    let mut compactor = Compactor::open(&Layout::new(dir))?;
    let mut compaction = Compaction::new(&mut compactor, args.compact_every);
    let (ndjson_bytes, samples) = generate(dir, events, start, step, None, &mut compaction)?;
    compaction.run()?;
    let (report, secs) = compaction.done();
    println!(
        "compaction: {} events in {secs:.1} s = {:.0} events/s; Parquet {} MB = {:.1}% of {} MB NDJSON",
        report.events,
        report.events as f64 / secs.max(1e-9),
        report.parquet_bytes >> 20,
        report.parquet_bytes as f64 * 100.0 / ndjson_bytes.max(1) as f64,
        ndjson_bytes >> 20
    );
    Ok(Built { samples, start, days: args.days })
}

/// The size of everything under `dir`, in MB.
fn du_mb(dir: &Path) -> u64 {
    fn walk(p: &Path) -> u64 {
        let Ok(entries) = std::fs::read_dir(p) else { return 0 };
        entries
            .flatten()
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => walk(&e.path()),
                _ => e.metadata().map_or(0, |m| m.len()),
            })
            .sum()
    }
    walk(dir) >> 20
}

async fn measure(dir: &Path, built: &Built, args: &CurveArgs) -> Result<(), BenchError> {
    let mut config = RecorderConfig::new(dir);
    config.retention = chrono::Duration::days(3650);
    let t = Instant::now();
    let recorder = Recorder::open(config).await.map_err(|e| err("open recorder")(e.to_string()))?;
    println!("recorder opened in {:.0} ms", t.elapsed().as_secs_f64() * 1000.0);
    quiet(&recorder, built, args).await?;
    if args.writers > 0 {
        loaded(&recorder, built, args).await?;
    }
    recorder.shutdown().await.map_err(|e| err("shutdown")(e.to_string()))
}

/// The questions on a recorder nothing else uses.
async fn quiet(recorder: &Recorder, built: &Built, args: &CurveArgs) -> Result<(), BenchError> {
    let mut times: Vec<(Ask, Vec<Duration>)> = Ask::LOOKUPS.iter().map(|a| (*a, Vec::new())).collect();
    let mut found = 0;
    for i in 0..args.reps {
        for (ask, v) in times.iter_mut() {
            let t = Instant::now();
            let n = built.ask(recorder, *ask, i).await?;
            v.push(t.elapsed());
            found += if *ask == Ask::Stats { 0 } else { n };
        }
    }
    for ask in [Ask::Text, Ask::TextCommon] {
        let mut text = Vec::new();
        for i in 0..args.text_reps {
            let t = Instant::now();
            found += built.ask(recorder, ask, i).await?;
            text.push(t.elapsed());
        }
        times.push((ask, text));
    }
    for (ask, v) in times {
        print_times("quiet", ask, v);
    }
    println!("    ({found} events returned in all)");
    Ok(())
}

/// The lookups while `args.writers` writers record, after the writers alone.
async fn loaded(recorder: &Recorder, built: &Built, args: &CurveArgs) -> Result<(), BenchError> {
    let alone = write_for(recorder, args, async {
        tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
        Ok(Vec::new())
    })
    .await?;
    let mut with = write_for(recorder, args, async {
        let mut times: Vec<(Ask, Vec<Duration>)> = Ask::LOOKUPS.iter().map(|a| (*a, Vec::new())).collect();
        let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
        let mut i = 0;
        while Instant::now() < deadline {
            for (ask, v) in times.iter_mut() {
                let t = Instant::now();
                built.ask(recorder, *ask, i).await?;
                v.push(t.elapsed());
            }
            i += 1;
        }
        Ok(times)
    })
    .await?;
    for (ask, v) in std::mem::take(&mut with.lookups) {
        print_times(&format!("{} writers", args.writers), ask, v);
    }
    for (what, w) in [("writers alone", &alone), ("writers with the lookups", &with)] {
        println!(
            "{what:<28} {:>9.0} events/s   sync latency p50 {:>6} us   p99 {:>6} us",
            w.events as f64 / w.secs.max(1e-9),
            w.p50_us,
            w.p99_us
        );
    }
    println!("    with lookups / alone = {:.2}x", with.rate() / alone.rate().max(1e-9));
    Ok(())
}

/// What the writers did while `work` ran, and what `work` returned.
struct Written<T> {
    events: u64,
    secs: f64,
    p50_us: u64,
    p99_us: u64,
    lookups: T,
}

impl<T> Written<T> {
    fn rate(&self) -> f64 {
        self.events as f64 / self.secs.max(1e-9)
    }
}

/// Runs `args.writers` writers recording generated events (`sync`) as fast as they are
/// acknowledged until `work` is done.
async fn write_for<T>(
    recorder: &Recorder,
    args: &CurveArgs,
    work: impl Future<Output = Result<T, BenchError>>,
) -> Result<Written<T>, BenchError> {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let tasks: Vec<_> = (0..args.writers).map(|w| tokio::spawn(writer(recorder.clone(), stop.clone(), w))).collect();
    let result = work.await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        let lat = task.await.map_err(|e| err("writer task")(e.to_string()))?.map_err(err("record"))?;
        latencies.extend(lat);
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let (p50_us, p99_us) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    Ok(Written { events: latencies.len() as u64, secs, p50_us, p99_us, lookups: result? })
}

/// One writer: records generated events, each acknowledged after its fdatasync, until `stop`;
/// returns each one's latency in µs.
async fn writer(recorder: Recorder, stop: Arc<AtomicBool>, w: usize) -> Result<Vec<u64>, String> {
    let mut generator = Generator::new(fastrand::u64(..) ^ w as u64, Utc::now(), 1_000);
    let mut latencies = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let json = generator.next_json();
        let t = Instant::now();
        recorder.record_json(json.as_bytes(), Some(Durability::Sync)).await.map_err(|e| e.to_string())?;
        latencies.push(t.elapsed().as_micros() as u64);
    }
    Ok(latencies)
}

fn print_times(phase: &str, ask: Ask, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{phase:<11} {:<28} median {:>8.2} ms   p99 {:>8.2} ms   ({} runs)",
        ask.name(),
        ms(percentile(&v, 0.5)),
        ms(percentile(&v, 0.99)),
        v.len()
    );
}

/// The data directory of one size, under `data_dir`.
fn size_dir(data_dir: &Path, events: u64) -> PathBuf {
    data_dir.join(format!("curve-{events}"))
}
