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
//! delete their WAL segments.
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
pub mod summary_fields;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::datadir::Layout;
use crate::failpoint;
use crate::fsio::{FileWriter, create_dir_durable, remove_file_durable};
use crate::wal::format::segment_file_name;
use crate::wal::{Unverified, scan_segment};

pub use catalog::Catalog;
use catalog::CompactedSegment;
use decode::SortedSegment;
use duckdb::arrow::record_batch::RecordBatch;
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

/// What a run calls with the LSN ranges (first, last) each catalog transaction recorded.
pub type Released<'a> = dyn FnMut(&[(u64, u64)]) + 'a;

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

/// A segment whose Parquet files are written and whose events are staged, waiting for the
/// catalog transaction that records it.
struct Written {
    segment: u64,
    path: PathBuf,
    files: Vec<String>,
    /// Directories the files were renamed into, not fsynced yet.
    dirs: Vec<PathBuf>,
    parquet_bytes: u64,
    staged: Staged,
    /// The [`STAGING_COLUMNS`] of its events.
    index: Vec<RecordBatch>,
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
        remove_tmp_files(&self.layout)?;
        let mut segments = self.layout.segments().list()?;
        let in_wal: Vec<u64> = segments.iter().map(|s| s.first_lsn).collect();
        let done: BTreeMap<u64, u64> = self.catalog.listed_events(&in_wal)?;
        // Each segment ends where the next begins; the newest (the writer's) is not compacted.
        let next_firsts: Vec<u64> = segments.iter().skip(1).map(|s| s.first_lsn).collect();
        segments.pop();
        let mut pending = Vec::new();
        let paths: Vec<PathBuf> = segments.iter().map(|s| s.path.clone()).collect();
        for (i, (segment, next_first)) in segments.into_iter().zip(next_firsts).enumerate() {
            let (first_lsn, path) = (segment.first_lsn, segment.path);
            // The next segment is read from the disk while this one is decoded and written.
            if i == 0 {
                self.layout.segments().prefetch(&path);
            }
            if let Some(next) = paths.get(i + 1) {
                self.layout.segments().prefetch(next);
            }
            if let Some(events) = done.get(&first_lsn) {
                self.finish_interrupted(first_lsn, &path, *events, next_first, report)?;
                released(&[(first_lsn, next_first.saturating_sub(1))]);
                continue;
            }
            match self.write_segment(first_lsn, &path, report) {
                Ok(Some(written)) => pending.push(written),
                Ok(None) => {}
                Err(e) => {
                    // The segments written before this one are finished, so the report
                    // says what they did; this one is compacted again by the next run.
                    self.record_written(std::mem::take(&mut pending), report, released)?;
                    return Err(e);
                }
            }
            let events: u64 = pending.iter().map(|w| w.staged.events).sum();
            if pending.len() >= self.segments_per_transaction || events >= EVENTS_PER_TRANSACTION {
                self.record_written(std::mem::take(&mut pending), report, released)?;
            }
        }
        self.record_written(pending, report, released)
    }

    /// A segment the catalog lists already (a run stopped before deleting it): deleted when
    /// it holds exactly the events the catalog counts, else quarantined.
    fn finish_interrupted(
        &mut self,
        segment: u64,
        path: &Path,
        cataloged: u64,
        next_first: u64,
        report: &mut CompactReport,
    ) -> Result<(), StoreError> {
        let bytes = self.layout.segments().map(path)?;
        let unverified = match scan_segment(&bytes, &mut |_| {}) {
            Ok(scan) => scan.unverified(cataloged),
            Err(header) => Some(Unverified::Unreadable(header)),
        };
        drop(bytes);
        report.ranges.push((segment, next_first.saturating_sub(1)));
        report.finished_interrupted += 1;
        self.retire_segment(segment, path, unverified, report)
    }

    /// Deletes a compacted WAL segment, or moves it to the quarantine when it is unverified.
    fn retire_segment(
        &self,
        segment: u64,
        path: &Path,
        unverified: Option<Unverified>,
        report: &mut CompactReport,
    ) -> Result<(), StoreError> {
        let segments = self.layout.segments();
        let Some(reason) = unverified else {
            return Ok(segments.delete(path)?);
        };
        let file = segments.quarantine(path, QUARANTINED_SUFFIX)?;
        tracing::warn!(segment = %path.display(), %reason, quarantine = %file, "WAL segment kept in the quarantine");
        report.quarantined.push(Quarantined { segment, file, reason: reason.to_string() });
        Ok(())
    }

    /// Compacts one sealed segment in a transaction of its own (see the module doc for the
    /// steps and crash points).
    pub fn compact_segment(&mut self, segment: u64, path: &Path, report: &mut CompactReport) -> Result<(), StoreError> {
        let written = self.write_segment(segment, path, report)?;
        self.record_written(written.into_iter().collect(), report, &mut |_| {})
    }

    /// Decodes a segment and writes its Parquet files (their directories not fsynced yet).
    /// None when its header is unreadable: it is quarantined at once.
    fn write_segment(
        &mut self,
        segment: u64,
        path: &Path,
        report: &mut CompactReport,
    ) -> Result<Option<Written>, StoreError> {
        let bytes = self.layout.segments().map(path)?;
        let sorted = match SortedSegment::new_mapped(&bytes, segment) {
            Ok(sorted) => sorted,
            Err(header) => {
                drop(bytes);
                self.retire_segment(segment, path, Some(Unverified::Unreadable(header)), report)?;
                return Ok(None);
            }
        };
        let mut gathered = Gathered::default();
        let (files, dirs) = self.write_parquet_files(segment, &sorted, &mut gathered)?;
        let staged = staged(&sorted, &gathered, bytes.len());
        drop(sorted);
        drop(bytes);
        let index = gathered.index;
        failpoint::hit("compact:after_rename");
        let parquet_bytes = files.iter().map(|f| file_len(&self.layout.root.join(f))).sum::<u64>();
        Ok(Some(Written { segment, path: path.to_path_buf(), files, dirs, parquet_bytes, staged, index }))
    }

    /// Makes the renames of written segments durable (one fsync per partition directory),
    /// records them in one catalog transaction, then deletes their WAL files (one fsync of
    /// `wal/`) or quarantines the unverified ones.
    fn record_written(
        &mut self,
        mut written: Vec<Written>,
        report: &mut CompactReport,
        released: &mut Released<'_>,
    ) -> Result<(), StoreError> {
        if written.is_empty() {
            return Ok(());
        }
        let dirs: BTreeSet<&PathBuf> = written.iter().flat_map(|w| &w.dirs).collect();
        for dir in dirs {
            self.layout.fs.sync_dir(dir).map_err(io("fsync partition directory", dir))?;
        }
        self.catalog.stage_all(written.iter().flat_map(|w| w.index.iter().cloned()).collect())?;
        let rows: Vec<CompactedSegment<'_>> = written
            .iter()
            .map(|w| CompactedSegment { segment: w.segment, files: &w.files, bytes: w.parquet_bytes })
            .collect();
        self.catalog.record_segments(&rows)?;
        failpoint::hit("compact:after_catalog");
        // The catalog lists them all now: their events leave the tail even if a delete fails.
        let ranges: Vec<(u64, u64)> =
            written.iter().map(|w| (w.segment, w.staged.last_lsn.unwrap_or(w.segment))).collect();
        released(&ranges);
        report.ranges.extend(ranges);
        let verified: Vec<PathBuf> =
            written.iter().filter(|w| w.staged.unverified.is_none()).map(|w| w.path.clone()).collect();
        self.layout.segments().delete_all(&verified)?;
        for w in &mut written {
            if let Some(reason) = w.staged.unverified.take() {
                self.retire_segment(w.segment, &w.path, Some(reason), report)?;
            }
        }
        for w in written {
            report.segments += 1;
            report.events += w.staged.events;
            report.parquet_bytes += w.parquet_bytes;
            report.wal_bytes += w.staged.wal_bytes;
            report.undecodable_records += w.staged.undecodable;
            report.parquet_files.extend(w.files);
        }
        Ok(())
    }

    /// Decodes a sealed segment and stages its catalog rows, a row group at a time.
    /// None when its header is unreadable.
    pub fn stage(&mut self, segment: u64, path: &Path) -> Result<Option<Staged>, StoreError> {
        let bytes = self.layout.segments().map(path)?;
        let Ok(sorted) = SortedSegment::new_mapped(&bytes, segment) else { return Ok(None) };
        let mut gathered = Gathered::default();
        for rows in sorted.all_row_groups() {
            let (batch, undecodable) = sorted.decode(rows).map_err(arrow_error(segment))?;
            gathered.index.push(batch::staging_columns(&batch).map_err(arrow_error(segment))?);
            gathered.events += batch.num_rows() as u64;
            gathered.undecodable += undecodable;
        }
        let staged = staged(&sorted, &gathered, bytes.len());
        self.catalog.stage_all(gathered.index)?;
        Ok(Some(staged))
    }

    /// Writes one Parquet file per date of the segment's events; returns their relative paths
    /// and the directories whose entries (the renames) are still to be fsynced.
    fn write_parquet_files(
        &self,
        segment: u64,
        sorted: &SortedSegment<'_>,
        gathered: &mut Gathered,
    ) -> Result<(Vec<String>, Vec<PathBuf>), StoreError> {
        let stem = segment_file_name(segment).replace(".wal", "");
        let (mut files, mut dirs) = (Vec::new(), Vec::new());
        for date in sorted.dates() {
            let rel = format!("events/date={}/seg-{stem}.parquet", date.date);
            let target = self.layout.root.join(&rel);
            let dir = target.parent().map(Path::to_path_buf).unwrap_or_default();
            let fs = self.layout.fs.as_ref();
            if !dir.exists() {
                fs.create_dir_all(&dir).map_err(io("create partition directory", &dir))?;
                let events = self.layout.events_dir();
                fs.sync_dir(&events).map_err(io("fsync events directory", &events))?;
            }
            // A leading dot: Parquet readers (pyarrow, Spark, Trino) skip such files while
            // they are being written, and the `*.parquet` glob does not match them.
            let tmp = dir.join(format!(".seg-{stem}.parquet.tmp"));
            let file = fs.create(&tmp).map_err(io("create Parquet file", &tmp))?;
            let file = parquet_file::write_date(sorted, date, FileWriter::new(fs, file), gathered)
                .map_err(|e| StoreError::Parquet { path: tmp.clone(), reason: e.to_string() })?
                .into_file();
            fs.sync_all(&file).map_err(io("fsync Parquet file", &tmp))?;
            failpoint::hit("compact:before_rename");
            fs.rename(&tmp, &target).map_err(io("rename Parquet file", &target))?;
            files.push(rel);
            dirs.push(dir);
        }
        Ok((files, dirs))
    }
}

/// What a segment's events came to, once they were all decoded: what the catalog and the
/// deletion of its WAL file go by.
fn staged(sorted: &SortedSegment<'_>, gathered: &Gathered, wal_bytes: usize) -> Staged {
    let events = gathered.events;
    Staged {
        events,
        undecodable: sorted.undecodable + gathered.undecodable,
        wal_bytes: wal_bytes as u64,
        last_lsn: sorted.last_lsn,
        unverified: sorted.scan.unverified(events),
    }
}

fn arrow_error(segment: u64) -> impl Fn(duckdb::arrow::error::ArrowError) -> StoreError {
    move |e| StoreError::Arrow { segment, reason: e.to_string() }
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
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
