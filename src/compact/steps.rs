//! The steps of compacting one segment (see the module doc of [`super`] for their order and
//! why a crash between any two is safe): read it (verify and sort), write its Parquet files,
//! record written segments in the catalog, then delete or quarantine their WAL files. Each
//! step takes the data directory's [`Layout`], and only recording takes the [`Catalog`], so
//! a run can record one batch while it writes the next.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use duckdb::arrow::record_batch::RecordBatch;

use super::catalog::{Catalog, CompactedSegment};
use super::decode::SortedSegment;
use super::error::{StoreError, io};
use super::parquet_file::{self, Gathered};
use super::{CompactReport, QUARANTINED_SUFFIX, Quarantined, Released, Staged};
use crate::datadir::Layout;
use crate::failpoint;
use crate::fsio::FileWriter;
use crate::wal::format::segment_file_name;
use crate::wal::{Corruption, Unverified, scan_segment};

/// A segment whose Parquet files are written and whose events are staged, waiting for the
/// catalog transaction that records it.
pub(super) struct Written {
    pub(super) segment: u64,
    path: PathBuf,
    files: Vec<String>,
    /// Directories the files were renamed into, not fsynced yet.
    dirs: Vec<PathBuf>,
    parquet_bytes: u64,
    pub(super) staged: Staged,
    /// The [`super::catalog::STAGING_COLUMNS`] of its events.
    index: Vec<RecordBatch>,
}

/// Maps a sealed segment and verifies and sorts its events; the inner error says its header
/// is unreadable.
pub(super) fn read_sorted(
    layout: &Layout,
    segment: u64,
    path: &Path,
) -> Result<Result<SortedSegment<'static>, Corruption>, StoreError> {
    let bytes = layout.segments().map(path)?;
    Ok(SortedSegment::new_mapped(bytes, segment))
}

/// Reads a segment and writes its Parquet files (their directories not fsynced yet). None
/// when its header is unreadable: it is quarantined at once.
pub(super) fn write_segment(
    layout: &Layout,
    segment: u64,
    path: &Path,
    report: &mut CompactReport,
) -> Result<Option<Written>, StoreError> {
    let read = read_sorted(layout, segment, path)?;
    write_or_quarantine(layout, segment, path, read, report)
}

/// Writes the Parquet files of a segment [`read_sorted`] read (their directories not fsynced
/// yet). None when its header was unreadable: it is quarantined at once.
pub(super) fn write_or_quarantine(
    layout: &Layout,
    segment: u64,
    path: &Path,
    read: Result<SortedSegment<'_>, Corruption>,
    report: &mut CompactReport,
) -> Result<Option<Written>, StoreError> {
    match read {
        Ok(sorted) => write_sorted(layout, segment, path, sorted).map(Some),
        Err(header) => {
            retire_segment(layout, segment, path, Some(Unverified::Unreadable(header)), report)?;
            Ok(None)
        }
    }
}

/// Writes the Parquet files of a verified and sorted segment.
fn write_sorted(layout: &Layout, segment: u64, path: &Path, sorted: SortedSegment<'_>) -> Result<Written, StoreError> {
    let mut gathered = Gathered::default();
    let (files, dirs) = write_parquet_files(layout, segment, &sorted, &mut gathered)?;
    let staged = staged(&sorted, &gathered);
    drop(sorted);
    failpoint::hit("compact:after_rename");
    let parquet_bytes = files.iter().map(|f| file_len(&layout.root.join(f))).sum::<u64>();
    Ok(Written { segment, path: path.to_path_buf(), files, dirs, parquet_bytes, staged, index: gathered.index })
}

/// What a segment's events came to, once they were all decoded: what the catalog and the
/// deletion of its WAL file go by.
pub(super) fn staged(sorted: &SortedSegment<'_>, gathered: &Gathered) -> Staged {
    let events = gathered.events;
    Staged {
        events,
        undecodable: sorted.undecodable + gathered.undecodable,
        wal_bytes: sorted.wal_bytes() as u64,
        last_lsn: sorted.last_lsn,
        unverified: sorted.scan.unverified(events),
    }
}

/// Writes one Parquet file per date of the segment's events; returns their relative paths
/// and the directories whose entries (the renames) are still to be fsynced.
fn write_parquet_files(
    layout: &Layout,
    segment: u64,
    sorted: &SortedSegment<'_>,
    gathered: &mut Gathered,
) -> Result<(Vec<String>, Vec<PathBuf>), StoreError> {
    let stem = segment_file_name(segment).replace(".wal", "");
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    for date in sorted.dates() {
        let rel = format!("events/date={}/seg-{stem}.parquet", date.date);
        let target = layout.root.join(&rel);
        let dir = target.parent().map(Path::to_path_buf).unwrap_or_default();
        let fs = layout.fs.as_ref();
        if !dir.exists() {
            fs.create_dir_all(&dir).map_err(io("create partition directory", &dir))?;
            let events = layout.events_dir();
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

/// A segment the catalog lists already (a run stopped before deleting it): deleted when it
/// holds exactly the events the catalog counts, else quarantined.
pub(super) fn finish_interrupted(
    layout: &Layout,
    segment: u64,
    path: &Path,
    cataloged: u64,
    next_first: u64,
    report: &mut CompactReport,
) -> Result<(), StoreError> {
    let bytes = layout.segments().map(path)?;
    let unverified = match scan_segment(&bytes, &mut |_| {}) {
        Ok(scan) => scan.unverified(cataloged),
        Err(header) => Some(Unverified::Unreadable(header)),
    };
    drop(bytes);
    report.ranges.push((segment, next_first.saturating_sub(1)));
    report.finished_interrupted += 1;
    retire_segment(layout, segment, path, unverified, report)
}

/// Deletes a compacted WAL segment, or moves it to the quarantine when it is unverified.
fn retire_segment(
    layout: &Layout,
    segment: u64,
    path: &Path,
    unverified: Option<Unverified>,
    report: &mut CompactReport,
) -> Result<(), StoreError> {
    let segments = layout.segments();
    let Some(reason) = unverified else {
        return Ok(segments.delete(path)?);
    };
    let file = segments.quarantine(path, QUARANTINED_SUFFIX)?;
    tracing::warn!(segment = %path.display(), %reason, quarantine = %file, "WAL segment kept in the quarantine");
    report.quarantined.push(Quarantined { segment, file, reason: reason.to_string() });
    Ok(())
}

/// Makes the renames of written segments durable (one fsync per partition directory),
/// records them in one catalog transaction, calls `released` with their ranges, then deletes
/// their WAL files (one fsync of `wal/`) or quarantines the unverified ones.
pub(super) fn record_written(
    layout: &Layout,
    catalog: &mut Catalog,
    mut written: Vec<Written>,
    report: &mut CompactReport,
    released: &mut Released<'_>,
) -> Result<(), StoreError> {
    if written.is_empty() {
        return Ok(());
    }
    let dirs: BTreeSet<&PathBuf> = written.iter().flat_map(|w| &w.dirs).collect();
    for dir in dirs {
        layout.fs.sync_dir(dir).map_err(io("fsync partition directory", dir))?;
    }
    catalog.stage_all(written.iter_mut().flat_map(|w| std::mem::take(&mut w.index)).collect())?;
    let rows: Vec<CompactedSegment<'_>> = written
        .iter()
        .map(|w| CompactedSegment { segment: w.segment, files: &w.files, bytes: w.parquet_bytes })
        .collect();
    catalog.record_segments(&rows)?;
    failpoint::hit("compact:after_catalog");
    // The catalog lists them all now: their events leave the tail even if a delete fails.
    let ranges: Vec<(u64, u64)> = written.iter().map(|w| (w.segment, w.staged.last_lsn.unwrap_or(w.segment))).collect();
    released(&ranges);
    report.ranges.extend(ranges);
    let verified: Vec<PathBuf> =
        written.iter().filter(|w| w.staged.unverified.is_none()).map(|w| w.path.clone()).collect();
    layout.segments().delete_all(&verified)?;
    for w in &mut written {
        if let Some(reason) = w.staged.unverified.take() {
            retire_segment(layout, w.segment, &w.path, Some(reason), report)?;
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

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}
