//! The third `flightrec-bench ingest --baselines` baseline: the machine's ceiling for durable group
//! commit, as the performance targets' probe measures it. Tokio tasks send 400-byte records (a CRC32
//! and the bytes, no parsing, validation, redaction or LSNs) to one writer thread, which
//! takes whatever is waiting as a group, writes it with one write and makes it durable with
//! one fdatasync before answering every task of the group. The file is zero-filled before
//! the clock starts (the fastest fdatasync this disk offers, see BENCHMARKS.md) and written
//! round and round.
//!
//! flightrec's `sync` ingest can only approach this figure: it does the same I/O plus the
//! work the probe leaves out.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::sync::oneshot;

use crate::BenchError;
use crate::ingest_baselines::Baseline;
use crate::measure::CpuSpan;

/// The probe's file: written round and round, zero-filled first.
const FILE_BYTES: u64 = 256 * 1024 * 1024;
const RECORD_BYTES: usize = 400;

struct Record {
    bytes: Vec<u8>,
    ack: oneshot::Sender<()>,
}

/// Runs `writers` tasks on `runtime` against the probe writer for `seconds`.
pub fn group_commit_probe(runtime: &Runtime, dir: &Path, writers: usize, seconds: f64) -> Result<Baseline, BenchError> {
    let path = dir.join("baseline-group-commit.log");
    let file = zero_filled(&path)?;
    let (tx, rx) = sync_channel::<Record>(65_536);
    let writer = std::thread::spawn(move || write_groups(&file, &rx));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let cpu = CpuSpan::start();
    let total: u64 = runtime.block_on(async {
        let tasks: Vec<_> = (0..writers.max(1))
            .map(|w| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let payload = vec![u8::try_from(w % 251).unwrap_or(0); RECORD_BYTES];
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        let (ack, done) = oneshot::channel();
                        if tx.send(Record { bytes: payload.clone(), ack }).is_err() || done.await.is_err() {
                            break;
                        }
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap_or(0);
        }
        total
    });
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu.per_event(total);
    drop(tx);
    let written = writer.join().unwrap_or_else(|_| Err(std::io::Error::other("probe writer panicked")));
    let _ = std::fs::remove_file(&path);
    written.map_err(BenchError::io("group-commit probe"))?;
    Ok(Baseline { name: "group-commit probe", events_per_sec: total as f64 / secs, cpu: Some(cpu) })
}

fn zero_filled(path: &Path) -> Result<File, BenchError> {
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(BenchError::io("create probe file"))?;
    let zeros = vec![0u8; 1 << 20];
    for chunk in 0..FILE_BYTES >> 20 {
        file.write_all_at(&zeros, chunk << 20).map_err(BenchError::io("zero-fill probe file"))?;
    }
    file.sync_all().map_err(BenchError::io("fsync probe file"))?;
    Ok(file)
}

/// The probe's writer thread: one write + one fdatasync per group, then every ack.
fn write_groups(file: &File, rx: &Receiver<Record>) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1 << 20);
    let mut acks = Vec::new();
    let mut offset = 0u64;
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(record) = next {
            buf.extend_from_slice(&crc32fast::hash(&record.bytes).to_le_bytes());
            buf.extend_from_slice(&record.bytes);
            acks.push(record.ack);
            next = if acks.len() < 4_096 { rx.try_recv().ok() } else { None };
        }
        if offset + buf.len() as u64 > FILE_BYTES {
            offset = 0;
        }
        file.write_all_at(&buf, offset)?;
        file.sync_data()?;
        offset += buf.len() as u64;
        buf.clear();
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
    Ok(())
}
