//! The compactor: sealed WAL segments become Parquet files and catalog rows.
//!
//! For each sealed segment: verify it (memory-mapped) and sort its events by their keys, then
//! write one Parquet file per UTC date to `events/date=YYYY-MM-DD/seg-<first LSN>.parquet`,
//! decoding the events a row group at a time (arrow-rs, zstd, sorted by time, see
//! [`parquet_file`]) and keeping the columns the catalog aggregates into its rows;
//! each file written as `.seg-<first LSN>.parquet.tmp`,
//! fsynced, renamed and its directory fsynced. Then record up to
//! [`SEGMENTS_PER_TRANSACTION`] such segments, their traces and jobs, in the catalog in one
//! transaction (its fixed cost would otherwise make small segments pile up); only then
//! delete their WAL segments. A run does these steps on both cores ([`pipeline`]): the next
//! segment is verified and sorted, and the last transaction recorded, while a segment is
//! written; the steps of each segment keep their order.
//!
//! Why a crash at any step is safe (`docs`: the same argument, longer):
//! - before the rename: only `*.tmp` files exist; they are deleted on the next run and the
//!   segment, still in the WAL and not in the catalog, is compacted again;
//! - after the rename, before the catalog: the Parquet files exist but the catalog does not
//!   list the segment (nor any other of its transaction), so it is compacted again and the
//!   files are replaced by identical ones (same names): no event is duplicated;
//! - after the catalog, before the WAL deletes: the catalog lists the segments, so the next
//!   run only deletes their WAL files.
//!
//! A WAL segment is deleted only when its scan was clean (no damaged record, nothing after
//! its seal record) and the event count of its seal record matches the events stored;
//! otherwise its decodable events are compacted all the same and the segment is moved to
//! `wal/quarantine/<segment>.wal.quarantined` (logged, in the report, counted by `verify`
//! and the metrics) instead of being deleted. A crash-interrupted run checks the same
//! before it deletes, against the catalog's count.
//!
//! Ownership: the compactor (the process holding the compactor lock) owns `events/`,
//! `catalog.duckdb`, and the sealed WAL segments, which it alone deletes.

pub mod batch;
pub mod catalog;
mod decode;
pub mod duck;
pub mod error;
pub mod files;
pub mod parquet_file;
mod pipeline;
mod steps;
pub mod summary_fields;

use std::collections::BTreeMap;
use std::path::Path;

use crate::datadir::Layout;
use crate::fsio::{create_dir_durable, remove_file_durable};
use crate::wal::Unverified;

pub use catalog::Catalog;
pub use error::StoreError;
use error::io;
use parquet_file::Gathered;

/// What one compaction pass did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct CompactReport {
    pub segments: u64,
    pub events: u64,
    pub parquet_files: Vec<String>,
    pub parquet_bytes: u64,
    pub wal_bytes: u64,
    /// WAL segments deleted because the catalog already listed them (an interrupted run).
    pub finished_interrupted: u64,
    /// Records whose checksum held but whose JSON did not decode (skipped, reported).
    pub undecodable_records: u64,
    /// The LSN range of every segment compacted (or finished), first to last.
    pub ranges: Vec<(u64, u64)>,
    /// Segments moved to `wal/quarantine/` instead of being deleted.
    pub quarantined: Vec<Quarantined>,
}

/// What a run calls with the LSN ranges (first, last) each catalog transaction recorded, on
/// the thread that recorded them (the run's catalog thread, see [`pipeline`]).
pub type Released<'a> = dyn FnMut(&[(u64, u64)]) + Send + 'a;

impl CompactReport {
    /// Adds what another part of the run did.
    fn absorb(&mut self, other: CompactReport) {
        self.segments += other.segments;
        self.events += other.events;
        self.parquet_files.extend(other.parquet_files);
        self.parquet_bytes += other.parquet_bytes;
        self.wal_bytes += other.wal_bytes;
        self.finished_interrupted += other.finished_interrupted;
        self.undecodable_records += other.undecodable_records;
        self.ranges.extend(other.ranges);
        self.quarantined.extend(other.quarantined);
    }
}

/// A WAL segment the compactor kept in the quarantine, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Quarantined {
    pub segment: u64,
    pub file: String,
    pub reason: String,
}

/// The most segments one catalog transaction records (see the module doc).
pub const SEGMENTS_PER_TRANSACTION: usize = 64;

/// A transaction also closes once its segments hold this many events, which bounds what is
/// staged for it (large segments get a transaction each, as their cost is in the data).
const EVENTS_PER_TRANSACTION: u64 = 200_000;

/// Suffix of segments the compactor moves to the quarantine.
pub const QUARANTINED_SUFFIX: &str = "quarantined";

/// What [`Compactor::stage`] loaded.
#[derive(Debug, Clone)]
pub struct Staged {
    pub events: u64,
    pub undecodable: u64,
    pub wal_bytes: u64,
    /// LSN of the segment's last valid event record.
    pub last_lsn: Option<u64>,
    /// Why the segment must be kept rather than deleted once compacted (see the module doc).
    pub unverified: Option<Unverified>,
}

/// Compacts sealed segments; holds the catalog.
pub struct Compactor {
    layout: Layout,
    catalog: Catalog,
    segments_per_transaction: usize,
}

impl Compactor {
    /// Opens the catalog (creating or migrating it). The caller holds the compactor lock.
    pub fn open(layout: &Layout) -> Result<Compactor, StoreError> {
        create_dir_durable(layout.fs.as_ref(), &layout.events_dir())
            .map_err(io("create events directory", layout.events_dir()))?;
        let catalog = Catalog::open(&layout.catalog_path())?;
        // DuckDB fsyncs its own files but not the directory holding them: make the entry of a
        // catalog it just created durable before any WAL segment is deleted on its word.
        layout.fs.sync_dir(&layout.root).map_err(io("fsync data directory", &layout.root))?;
        Ok(Compactor { layout: layout.clone(), catalog, segments_per_transaction: SEGMENTS_PER_TRANSACTION })
    }

    /// Sets how many segments one catalog transaction records at most (at least 1; the
    /// benchmark compares 1, one transaction per segment, with the default).
    pub fn set_segments_per_transaction(&mut self, segments: usize) {
        self.segments_per_transaction = segments.max(1);
    }

    /// The catalog (retention and queries use it).
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Compacts every sealed segment the catalog does not list yet, and finishes runs a
    /// crash interrupted. The newest WAL segment is the writer's and is left alone.
    pub fn run_once(&mut self) -> Result<CompactReport, StoreError> {
        let mut report = CompactReport::default();
        self.run_into(&mut report)?;
        Ok(report)
    }

    /// [`Compactor::run_once`], reporting into `report` as it goes: when a segment fails, the
    /// report still says what the segments before it did (their ranges left the WAL).
    pub fn run_into(&mut self, report: &mut CompactReport) -> Result<(), StoreError> {
        self.run_releasing(report, &mut |_| {})
    }

    /// [`Compactor::run_into`], calling `released` with the LSN ranges of the segments each
    /// catalog transaction recorded (or each interrupted run finished) as soon as it
    /// committed, before the next segment is read: the recorder's query tail releases their
    /// records (and with them the segments' mappings) while a long run goes on.
    pub fn run_releasing(&mut self, report: &mut CompactReport, released: &mut Released<'_>) -> Result<(), StoreError> {
        self.run_while(report, released, &mut || true)
    }

    /// [`Compactor::run_releasing`], asking `keep_going` after each segment whether to take
    /// the next one: the segments a run stops before are left to the next run, untouched.
    pub fn run_while(
        &mut self,
        report: &mut CompactReport,
        released: &mut Released<'_>,
        keep_going: &mut dyn FnMut() -> bool,
    ) -> Result<(), StoreError> {
        remove_tmp_files(&self.layout)?;
        let segments = self.layout.segments().list()?;
        let in_wal: Vec<u64> = segments.iter().map(|s| s.first_lsn).collect();
        let done: BTreeMap<u64, u64> = self.catalog.listed_events(&in_wal)?;
        // Each segment ends where the next begins; the newest (the writer's) is not compacted.
        let planned = segments
            .iter()
            .zip(segments.iter().skip(1))
            .map(|(s, next)| pipeline::Planned {
                first_lsn: s.first_lsn,
                path: s.path.clone(),
                next_first: next.first_lsn,
                cataloged: done.get(&s.first_lsn).copied(),
            })
            .collect();
        let per_transaction = self.segments_per_transaction;
        pipeline::run(&self.layout, &mut self.catalog, per_transaction, planned, report, released, keep_going)
    }

    /// Sealed WAL segments waiting for a run (interrupted ones included).
    pub fn sealed_waiting(&self) -> Result<usize, StoreError> {
        Ok(self.layout.segments().list_sealed()?.len())
    }

    /// Compacts one sealed segment in a transaction of its own, on this thread (see the
    /// module doc for the steps and crash points).
    pub fn compact_segment(&mut self, segment: u64, path: &Path, report: &mut CompactReport) -> Result<(), StoreError> {
        let written = steps::write_segment(&self.layout, segment, path, report)?;
        steps::record_written(&self.layout, &mut self.catalog, written.into_iter().collect(), report, &mut |_| {})
    }

    /// Decodes a sealed segment and stages its catalog rows, a row group at a time.
    /// None when its header is unreadable.
    pub fn stage(&mut self, segment: u64, path: &Path) -> Result<Option<Staged>, StoreError> {
        let Ok(sorted) = steps::read_sorted(&self.layout, segment, path)? else { return Ok(None) };
        let mut gathered = Gathered::default();
        for rows in sorted.all_row_groups() {
            let (batch, undecodable) = sorted.decode(rows).map_err(arrow_error(segment))?;
            gathered.index.push(batch::staging_columns(&batch).map_err(arrow_error(segment))?);
            gathered.events += batch.num_rows() as u64;
            gathered.undecodable += undecodable;
        }
        let staged = steps::staged(&sorted, &gathered);
        self.catalog.stage_all(gathered.index)?;
        Ok(Some(staged))
    }
}

fn arrow_error(segment: u64) -> impl Fn(duckdb::arrow::error::ArrowError) -> StoreError {
    move |e| StoreError::Arrow { segment, reason: e.to_string() }
}

/// Deletes `*.tmp` files left under `events/` by an interrupted run.
fn remove_tmp_files(layout: &Layout) -> Result<(), StoreError> {
    let fs = layout.fs.as_ref();
    let events = layout.events_dir();
    let partitions = match fs.read_dir(&events) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io("list events directory", &events)(e)),
    };
    for dir in partitions.into_iter().filter(|d| d.is_dir()) {
        let files = fs.read_dir(&dir).map_err(io("list partition directory", &dir))?;
        for path in files {
            if path.extension().is_some_and(|e| e == "tmp") {
                remove_file_durable(fs, &path).map_err(io("delete unfinished Parquet file", &path))?;
            }
        }
    }
    Ok(())
}
