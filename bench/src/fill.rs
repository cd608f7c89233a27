//! Filling a data directory with generated events the way flightrec records them: through its
//! ingest path ([`Intake`]: prepare, de-duplicate, append), in batches, with batch durability.

use flightrec::datadir::DataDir;
use flightrec::recorder::{Intake, RecorderConfig};
use flightrec::wal::{Durability, Wal};

use crate::BenchError;

/// Events recorded per WAL request.
const BATCH: usize = 4096;

pub struct Filler {
    intake: Intake,
    runtime: tokio::runtime::Runtime,
    batch: Vec<String>,
}

impl Filler {
    /// An intake on `dir`, whose writer lock the caller holds.
    pub fn open(dir: &DataDir) -> Result<Filler, BenchError> {
        let mut config = RecorderConfig::new(dir.root());
        config.wal.durability = Durability::Batch;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(BenchError::io("start tokio runtime"))?;
        let intake = Intake::open_writer(dir, &config)?;
        Ok(Filler { intake, runtime, batch: Vec::with_capacity(BATCH) })
    }

    /// Records one JSON event (with the next ones, as one batch).
    pub fn push(&mut self, json: String) -> Result<(), BenchError> {
        self.batch.push(json);
        if self.batch.len() >= BATCH {
            self.record_batch()?;
        }
        Ok(())
    }

    /// Records the events pushed so far (so a seal after it holds them all).
    pub fn flush(&mut self) -> Result<(), BenchError> {
        self.record_batch()
    }

    /// The WAL the events go to.
    pub fn wal(&self) -> &Wal {
        self.intake.wal()
    }

    /// Records the events not recorded yet; the WAL stays open (close it through [`Filler::wal`]).
    pub fn finish(mut self) -> Result<Intake, BenchError> {
        self.record_batch()?;
        Ok(self.intake)
    }

    fn record_batch(&mut self) -> Result<(), BenchError> {
        let batch = std::mem::take(&mut self.batch);
        let slices: Vec<&[u8]> = batch.iter().map(String::as_bytes).collect();
        for result in self.runtime.block_on(self.intake.record_json_batch(&slices, None)) {
            result?;
        }
        Ok(())
    }
}
