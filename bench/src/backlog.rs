//! The compaction backlog under small segments: a writer fills segments of `--segment-kib`
//! at `--seals` a second (batch durability, the segments sealing as they fill) while a
//! compactor thread runs back to back, as the recorder's does when seals wake it. Sealed
//! segments not yet compacted are sampled every second. Run twice in one process on the same
//! disk: one catalog transaction per segment (the compactor before it batched), then the
//! default number of segments per transaction.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flightrec::compact::{Compactor, SEGMENTS_PER_TRANSACTION};
use flightrec::datadir::{DataDir, DirLock};
use flightrec::ingest::prepare_json;
use flightrec::redact::Redactor;
use flightrec::wal::{Durability, Wal, WalHooks, WalOptions};
use flightrec::workload::Generator;

use crate::BenchError;
use crate::query::err;

/// What the benchmark offers: segment size, seals a second, seconds per mode.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub segment_kib: u64,
    pub seals: f64,
    pub seconds: f64,
    /// Only the default (batched) mode, e.g. for a long run.
    pub batched_only: bool,
}

/// What one mode did.
struct Outcome {
    sealed: u64,
    compacted: u64,
    /// Sealed segments waiting, sampled each second.
    backlog: Vec<usize>,
    /// The longest compaction run.
    longest_run: Duration,
}

pub fn run(data_dir: &Path, load: Load) -> Result<std::process::ExitCode, BenchError> {
    println!(
        "compaction backlog: {} KiB segments, {} seals/s offered, {} s per mode",
        load.segment_kib, load.seals, load.seconds
    );
    let payloads = payloads(20_000)?;
    let modes = [("one transaction per segment", 1), ("batched", SEGMENTS_PER_TRANSACTION)];
    for (name, per_tx) in modes.into_iter().filter(|(_, per_tx)| !load.batched_only || *per_tx > 1) {
        let dir = data_dir.join(format!("backlog-{per_tx}"));
        let out = run_mode(&dir, load, per_tx, &payloads)?;
        let secs = load.seconds;
        let samples: Vec<String> = out.backlog.iter().map(usize::to_string).collect();
        println!(
            "  {name} ({per_tx} segments/transaction max): sealed {} ({:.0}/s), compacted {} ({:.0}/s), \
             longest run {:.0} ms, backlog max {} end {}; per second: {}",
            out.sealed,
            out.sealed as f64 / secs,
            out.compacted,
            out.compacted as f64 / secs,
            out.longest_run.as_secs_f64() * 1e3,
            out.backlog.iter().max().copied().unwrap_or(0),
            out.backlog.last().copied().unwrap_or(0),
            samples.join(" "),
        );
    }
    println!("peak RSS of this process: {} MB", crate::measure::peak_rss_mb());
    Ok(std::process::ExitCode::SUCCESS)
}

/// Event payloads, prepared (validated, redacted, encoded) before the clock starts.
fn payloads(n: usize) -> Result<Vec<Vec<u8>>, BenchError> {
    let redactor = Redactor::builtin();
    let mut generator = Generator::new(17, chrono::Utc::now(), 1_000);
    (0..n)
        .map(|_| {
            let line = generator.next_json();
            prepare_json(&redactor, line.as_bytes()).map(|p| p.payload).map_err(|e| err("generate")(e.to_string()))
        })
        .collect()
}

fn run_mode(dir: &Path, load: Load, per_tx: usize, payloads: &[Vec<u8>]) -> Result<Outcome, BenchError> {
    let data = DataDir::open(dir)?;
    let _compactor_lock = DirLock::compactor(dir)?;
    let opts = WalOptions { segment_bytes: load.segment_kib * 1024, ..WalOptions::default() };
    let (wal, _) = Wal::open(&data.layout().wal_dir(), opts, WalHooks::default())?;
    let mut compactor = Compactor::open(data.layout())?;
    compactor.set_segments_per_transaction(per_tx);
    let stop = Arc::new(AtomicBool::new(false));
    let compacting = {
        let stop = stop.clone();
        std::thread::spawn(move || compact_until(&mut compactor, &stop))
    };
    let segments = data.layout().segments();
    let bytes_per_sec = load.seals * (load.segment_kib * 1024) as f64;
    let (start, mut written, mut next_sample) = (Instant::now(), 0f64, 1.0);
    let (mut backlog, mut i) = (Vec::new(), 0usize);
    while start.elapsed().as_secs_f64() < load.seconds {
        let due = start.elapsed().as_secs_f64() * bytes_per_sec;
        let mut batch = Vec::new();
        while written < due {
            let p = &payloads[i % payloads.len()];
            written += p.len() as f64;
            batch.push(p.clone());
            i += 1;
        }
        wal.append_batch_blocking(batch, Durability::Batch)?;
        if start.elapsed().as_secs_f64() >= next_sample {
            backlog.push(segments.list_sealed()?.len());
            next_sample += 1.0;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let sealed = wal.stats().sealed_segments;
    stop.store(true, Ordering::Relaxed);
    let (compacted, longest_run) = compacting.join().map_err(|_| err("compactor thread")("panicked".into()))??;
    wal.close()?;
    Ok(Outcome { sealed, compacted, backlog, longest_run })
}

/// Runs compaction back to back until `stop`; returns the segments compacted and the longest run.
fn compact_until(compactor: &mut Compactor, stop: &AtomicBool) -> Result<(u64, Duration), BenchError> {
    let (mut compacted, mut longest) = (0u64, Duration::ZERO);
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let report = compactor.run_once()?;
        longest = longest.max(t.elapsed());
        compacted += report.segments;
        if report.segments == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    Ok((compacted, longest))
}
