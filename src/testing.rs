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

/// The value of `field` (`"Rss:"`, `"VmFlags:"`, ...) of this process's mapping that holds
/// `address`, from /proc/self/smaps; None when no mapping holds it or it lacks the field.
#[cfg(target_os = "linux")]
pub fn smaps_field(address: usize, field: &str) -> Option<String> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut inside = false;
    for line in smaps.lines() {
        if let Some((range, _)) = line.split_once(' ')
            && let Some((start, end)) = range.split_once('-')
            && let (Ok(start), Ok(end)) = (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16))
        {
            inside = (start..end).contains(&address);
        } else if inside && let Some(value) = line.strip_prefix(field) {
            return Some(value.to_string());
        }
    }
    None
}
