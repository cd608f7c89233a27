//! `flightrec-bench ingest`: durable ingest through flightrec's ingest path (parse, validate,
//! redact, de-duplicate, WAL append: [`Intake`]) from N concurrent tokio tasks, one run per
//! writer count; `--prepared` times the bare WAL append, `--recorder` the whole recorder.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flightrec::datadir::DataDir;
use flightrec::error::Code;
use flightrec::event::{Event, parse_event};
use flightrec::ingest::prepare_json;
use flightrec::recorder::{Intake, Recorder, RecorderConfig};
use flightrec::redact::Redactor;
use flightrec::wal::{Durability, Wal, WalHooks, WalOptions};
use flightrec::workload::Generator;

use crate::BenchError;
use crate::measure::{CpuCost, CpuSpan};

/// Generated events the writers cycle through (one pool, made before the clock starts; not
/// for the recorder's), and how far apart in it the writers start.
const POOL: usize = 16_384;
const POOL_STRIDE: usize = 61;

struct RunResult {
    events: u64,
    secs: f64,
    latencies_us: Vec<u32>,
    cpu: CpuCost,
}

pub struct BenchArgs<'a> {
    pub writers: &'a [usize],
    pub seconds: f64,
    pub baselines: bool,
    /// Go through the whole recorder (query tail, compaction and retention running) instead of
    /// the ingest path alone.
    pub recorder: bool,
    /// Offered load in events/s over all writers (each writer sends on a fixed schedule);
    /// None: every writer sends as fast as its appends return.
    pub rate: Option<f64>,
    /// Append already validated, redacted and encoded events (the bare WAL append).
    pub prepared: bool,
    /// Record typed events built in Rust (validate, redact, encode; no JSON parsing).
    pub typed: bool,
}

/// One event a writer sends: JSON (or a WAL payload in a `--prepared` run), or typed.
#[derive(Clone)]
enum PoolEvent {
    Bytes(Vec<u8>),
    Typed(Box<Event>),
}

impl PoolEvent {
    /// The same event under a new `event_id`: the pool repeats, and the ingest path stores an
    /// id once (a JSON event without the generator's `"event_id":"` is sent as it is).
    fn renewed(self) -> PoolEvent {
        match self {
            PoolEvent::Bytes(mut json) => {
                if let Some(at) = json.windows(EVENT_ID_KEY.len()).position(|w| w == EVENT_ID_KEY) {
                    let start = at + EVENT_ID_KEY.len();
                    if let Some(id) = json.get_mut(start..start + uuid::fmt::Hyphenated::LENGTH) {
                        crate::measure::fresh_id().hyphenated().encode_lower(id);
                    }
                }
                PoolEvent::Bytes(json)
            }
            PoolEvent::Typed(mut event) => {
                event.event_id = crate::measure::fresh_id();
                PoolEvent::Typed(event)
            }
        }
    }
}

const EVENT_ID_KEY: &[u8] = br#""event_id":""#;

/// Where the writers record.
#[derive(Clone)]
enum Sink {
    /// `--prepared`: the bare WAL append of payloads prepared before the clock starts.
    Wal(Arc<Wal>),
    /// flightrec's ingest path (prepare, de-duplicate, append) without the rest of the
    /// recorder (query tail, compaction, retention).
    Intake(Intake),
    Recorder(Recorder),
}

impl Sink {
    /// Records one event (JSON, a WAL payload when prepared, or typed); returns its event_id
    /// once acknowledged (empty for a bare payload), or the error's code and message.
    async fn record(&self, event: PoolEvent, durability: Durability) -> Result<String, (Code, String)> {
        let d = Some(durability);
        let recorded = match (self, event) {
            (Sink::Wal(wal), PoolEvent::Bytes(payload)) => {
                wal.append(payload, durability).await.map_err(|e| (e.code(), e.to_string()))?;
                return Ok(String::new());
            }
            (Sink::Wal(_), PoolEvent::Typed(_)) => {
                return Err((Code::InvalidEvent, "a --prepared run appends payloads, not typed events".into()));
            }
            (Sink::Intake(i), PoolEvent::Bytes(json)) => i.record_json(&json, d).await,
            (Sink::Intake(i), PoolEvent::Typed(event)) => i.record(*event, d).await,
            (Sink::Recorder(r), PoolEvent::Bytes(json)) => r.record_json(&json, d).await,
            (Sink::Recorder(r), PoolEvent::Typed(event)) => r.record(*event, d).await,
        };
        recorded.map(|r| r.event_id.to_string()).map_err(|e| (e.code(), e.to_string()))
    }

    fn stats(&self) -> flightrec::wal::WalStats {
        match self {
            Sink::Wal(wal) => wal.stats(),
            Sink::Intake(i) => i.wal().stats(),
            Sink::Recorder(r) => r.wal_stats(),
        }
    }
}

pub fn run(data_dir: &Path, opts: &WalOptions, args: BenchArgs<'_>) -> Result<ExitCode, BenchError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(BenchError::io("start tokio runtime"))?;
    let mut wal_dir = None;
    let sink = if args.recorder {
        let mut config = RecorderConfig::new(data_dir);
        config.wal = opts.clone();
        Sink::Recorder(runtime.block_on(Recorder::open(config))?)
    } else if args.prepared {
        let dir = DataDir::open(data_dir)?;
        let (wal, _) = Wal::open(&dir.layout().wal_dir(), opts.clone(), WalHooks::default())?;
        wal_dir = Some(dir);
        Sink::Wal(Arc::new(wal))
    } else {
        let dir = DataDir::open(data_dir)?;
        let mut config = RecorderConfig::new(data_dir);
        config.wal = opts.clone();
        let intake = Intake::open_writer(&dir, &config)?;
        wal_dir = Some(dir);
        Sink::Intake(intake)
    };
    let fsync_loop =
        if args.baselines { Some(super::ingest_baselines::fdatasync_loop(data_dir, args.seconds)?) } else { None };
    for &n in args.writers {
        let before = sink.stats();
        let pace = Pace { writers: n.max(1), seconds: args.seconds, rate: args.rate };
        let result = runtime.block_on(run_writers(&sink, pace, opts, args.typed))?;
        let after = sink.stats();
        report(n, opts, &result, after.fsyncs - before.fsyncs);
        println!(
            "    fdatasync latency mean {}us p50 <= {}us p99 <= {}us; dropped (async queue full) {}",
            (after.fsync_micros_total - before.fsync_micros_total) / (after.fsyncs - before.fsyncs).max(1),
            fsync_percentile(&before, &after, 0.5),
            fsync_percentile(&before, &after, 0.99),
            after.dropped - before.dropped
        );
        let rate = result.events as f64 / result.secs.max(1e-9);
        let naive =
            if args.baselines { Some(super::ingest_baselines::naive_duckdb(data_dir, n, args.seconds)?) } else { None };
        let probe = if args.baselines && opts.durability == Durability::Sync {
            Some(super::group_commit_probe::group_commit_probe(&runtime, data_dir, n, args.seconds)?)
        } else {
            None
        };
        for b in fsync_loop.iter().chain(naive.iter()).chain(probe.iter()) {
            let cpu = b.cpu.map(|c| format!("   {c}")).unwrap_or_default();
            println!(
                "    baseline {:<28} {:>10.0} events/s   flightrec/baseline = {:.2}x{cpu}",
                b.name,
                b.events_per_sec,
                rate / b.events_per_sec.max(1e-9)
            );
        }
    }
    match sink {
        Sink::Wal(wal) => wal.close()?,
        Sink::Intake(i) => i.wal().close()?,
        Sink::Recorder(r) => runtime.block_on(r.shutdown())?,
    }
    drop(wal_dir);
    Ok(ExitCode::SUCCESS)
}

/// How many writers, for how long, at what offered load.
#[derive(Clone, Copy)]
struct Pace {
    writers: usize,
    seconds: f64,
    rate: Option<f64>,
}

impl Pace {
    /// When writer `w` sends its `i`-th event (None: at once).
    fn send_time(&self, start: Instant, w: usize, i: usize) -> Option<tokio::time::Instant> {
        let rate = self.rate.filter(|r| *r > 0.0)?;
        let interval = self.writers as f64 / rate;
        let offset = interval * w as f64 / self.writers as f64;
        Some((start + Duration::from_secs_f64(offset + interval * i as f64)).into())
    }
}

async fn run_writers(sink: &Sink, pace: Pace, opts: &WalOptions, typed: bool) -> Result<RunResult, BenchError> {
    let writers = pace.writers;
    // The cost of making events stays out of the measurement: the bare-WAL and ingest-path
    // runs cycle through one pool of events made before the clock starts (the ingest path
    // de-duplicates, so each event it is sent gets a new id). The recorder's writers generate
    // each event.
    let pooled = !matches!(sink, Sink::Recorder(_));
    let renew = matches!(sink, Sink::Intake(_));
    let pool = Arc::new(if pooled { event_pool(sink, typed)? } else { Vec::new() });
    let deadline = (pace.seconds > 0.0).then(|| Instant::now() + Duration::from_secs_f64(pace.seconds));
    let start = Instant::now();
    let cpu = CpuSpan::start();
    let mut tasks = Vec::with_capacity(writers);
    for w in 0..writers {
        let (sink, durability, pool) = (sink.clone(), opts.durability, pool.clone());
        let seed = fastrand::u64(..) ^ w as u64;
        tasks.push(tokio::spawn(async move {
            let mut generator = Generator::new(seed, chrono::Utc::now(), 1_000);
            let mut latencies = Vec::new();
            let mut i = 0usize;
            while deadline.is_none_or(|d| Instant::now() < d) {
                let event = match pool.get((w * POOL_STRIDE + i) % POOL.max(1)) {
                    Some(event) if renew => event.clone().renewed(),
                    Some(event) => event.clone(),
                    None => PoolEvent::Bytes(generator.next_json().into_bytes()),
                };
                if let Some(at) = pace.send_time(start, w, i) {
                    tokio::time::sleep_until(at).await;
                }
                i += 1;
                let t0 = Instant::now();
                match sink.record(event, durability).await {
                    Ok(_) => {}
                    // async mode: a full queue drops the event (counted by the WAL).
                    Err((Code::QueueFull, _)) => {
                        tokio::task::yield_now().await;
                        continue;
                    }
                    Err((_, message)) => return Err(message),
                }
                latencies.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
            }
            Ok::<Vec<u32>, String>(latencies)
        }));
    }
    let mut latencies_us = Vec::new();
    for task in tasks {
        let lat = task
            .await
            .map_err(|e| BenchError::Io { what: "writer task".into(), source: std::io::Error::other(e.to_string()) })?
            .map_err(|e| BenchError::Io { what: "append".into(), source: std::io::Error::other(e) })?;
        latencies_us.extend(lat);
    }
    let (events, secs) = (latencies_us.len() as u64, start.elapsed().as_secs_f64());
    Ok(RunResult { events, secs, latencies_us, cpu: cpu.per_event(events) })
}

/// The pool of events the writers cycle through: generated JSON, the WAL payloads
/// of a `--prepared` run (parsed, validated, redacted, encoded), or typed events.
fn event_pool(sink: &Sink, typed: bool) -> Result<Vec<PoolEvent>, BenchError> {
    let failed = |what: &str, e: String| BenchError::Io { what: what.into(), source: std::io::Error::other(e) };
    let mut generator = Generator::new(fastrand::u64(..), chrono::Utc::now(), 1_000);
    let pool: Vec<Vec<u8>> = (0..POOL).map(|_| generator.next_json().into_bytes()).collect();
    if typed {
        let parsed = pool.iter().map(|json| parse_event(json).map(|p| PoolEvent::Typed(Box::new(p.event))));
        return parsed.collect::<Result<_, _>>().map_err(|e| failed("parse generated events", e.to_string()));
    }
    if matches!(sink, Sink::Wal(_)) {
        let payloads = prepared_pool(&pool).map_err(|e| failed("prepare events", e))?;
        return Ok(payloads.into_iter().map(PoolEvent::Bytes).collect());
    }
    Ok(pool.into_iter().map(PoolEvent::Bytes).collect())
}

/// The events of a `--prepared` run as WAL payloads, prepared once (parse, validate, redact,
/// encode) before the clock starts.
fn prepared_pool(pool: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, String> {
    let redactor = Redactor::builtin();
    pool.iter().map(|json| prepare_json(&redactor, json).map(|p| p.payload).map_err(|e| e.to_string())).collect()
}

/// The histogram bound at or under which fraction `p` of this run's fdatasyncs finished.
fn fsync_percentile(before: &flightrec::wal::WalStats, after: &flightrec::wal::WalStats, p: f64) -> u64 {
    let counts: Vec<(u64, u64)> = after
        .fsync_histogram
        .iter()
        .zip(&before.fsync_histogram)
        .map(|((le, a), (_, b))| (*le, a.saturating_sub(*b)))
        .collect();
    let total = after.fsyncs.saturating_sub(before.fsyncs).max(1) as f64;
    counts.iter().find(|(_, n)| *n as f64 >= total * p).map_or(u64::MAX, |(le, _)| *le)
}

fn report(writers: usize, opts: &WalOptions, r: &RunResult, fsyncs: u64) {
    let mut lat = r.latencies_us.clone();
    lat.sort_unstable();
    let pct = |p: f64| crate::measure::percentile(&lat, p);
    println!(
        "durability={} writers={writers:<4} events={:<9} rate={:>10.0} events/s  fsyncs={fsyncs} ({:.1} events/fsync)  latency p50={}us p99={}us p999={}us  {}",
        opts.durability,
        r.events,
        r.events as f64 / r.secs.max(1e-9),
        r.events as f64 / (fsyncs.max(1)) as f64,
        pct(0.5),
        pct(0.99),
        pct(0.999),
        r.cpu
    );
}
