//! Helpers shared by the unit tests of several modules.

use std::path::Path;

use crate::ingest::{Prepared, prepare_json};
use crate::redact::Redactor;
use crate::wal::{Durability, Wal, WalHooks, WalOptions};
use crate::workload::Generator;

/// Writes `sealed` generated events into a WAL segment it then seals, and `active` more into
/// the newest segment, in `wal_dir`; returns the events as prepared, in LSN order.
pub fn wal_with_sealed_and_active(wal_dir: &Path, seed: u64, sealed: usize, active: usize) -> Vec<Prepared> {
    let redactor = Redactor::builtin();
    let mut generator = Generator::new(seed, chrono::Utc::now(), 1_000);
    let prepared: Vec<Prepared> =
        (0..sealed + active).map(|_| prepare_json(&redactor, generator.next_json().as_bytes()).unwrap()).collect();
    let (wal, _) = Wal::open(wal_dir, WalOptions::default(), WalHooks::default()).unwrap();
    let (first, rest) = prepared.split_at(sealed);
    wal.append_batch_blocking(first.iter().map(|p| p.payload.clone()).collect(), Durability::Sync).unwrap();
    wal.seal_blocking().unwrap();
    wal.append_batch_blocking(rest.iter().map(|p| p.payload.clone()).collect(), Durability::Sync).unwrap();
    wal.close().unwrap();
    prepared
}
