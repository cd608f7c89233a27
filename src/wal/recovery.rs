//! Reading a WAL directory at open (recovery) and for `verify` (inspection, read-only).
//!
//! Inspection scans every segment in LSN order and reports what it finds without changing a
//! byte. Recovery does the same and then repairs: bad bytes are copied to `wal/quarantine/`,
//! a torn tail of the newest segment is cut off, unreadable segment files are moved to the
//! quarantine, and the newest unsealed segment becomes the active one again. Neither ever
//! panics on what it reads; only I/O errors stop them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{WalError, io_err};
use super::format::parse_segment_file_name;
use super::scan::{Damage, EventRecord, SegmentScan, scan_segment};
use super::segment::ActiveSegment;
use crate::fsio::{FileSystem, Fs, RealFs, create_dir_durable, write_file_durable};

/// Name of the folder, inside `wal/`, that keeps bytes recovery could not decode.
pub const QUARANTINE_DIR: &str = "quarantine";

/// What one segment holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SegmentReport {
    pub file: String,
    pub first_lsn: u64,
    pub last_lsn: Option<u64>,
    pub records: u64,
    pub sealed: bool,
    pub bytes: u64,
    pub created_micros: i64,
    pub damage: Vec<Damage>,
    pub torn_tail: Option<Damage>,
    /// Set when the header cannot be read; nothing else in the file was decoded.
    pub unreadable: Option<String>,
}

/// What a WAL directory holds: every segment in LSN order.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WalReport {
    pub segments: Vec<SegmentReport>,
    /// Files moved or copied into `wal/quarantine/` (recovery only).
    pub quarantined: Vec<String>,
    /// Bytes cut off the newest segment's torn tail (recovery only).
    pub truncated_bytes: u64,
}

impl WalReport {
    pub fn records(&self) -> u64 {
        self.segments.iter().map(|s| s.records).sum()
    }
    pub fn first_lsn(&self) -> Option<u64> {
        self.segments.iter().filter_map(|s| s.last_lsn.map(|_| s.first_lsn)).min()
    }
    pub fn last_lsn(&self) -> Option<u64> {
        self.segments.iter().filter_map(|s| s.last_lsn).max()
    }
    /// Damaged records and unreadable segments; a torn tail of the newest segment is normal
    /// after a crash and is not counted.
    pub fn damage_count(&self) -> usize {
        let n = self.segments.len();
        self.segments
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let tail = usize::from(s.torn_tail.is_some() && i + 1 < n);
                s.damage.len() + tail + usize::from(s.unreadable.is_some())
            })
            .sum()
    }
}

/// The segment files of a WAL directory, sorted by first LSN.
pub fn list_segments(fs: &dyn FileSystem, wal_dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let mut out = Vec::new();
    let entries = match fs.read_dir(wal_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err("list WAL directory", wal_dir)(e)),
    };
    for path in entries {
        if let Some(lsn) = parse_segment_file_name(&path) {
            out.push((lsn, path));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads a segment file. Sealed segments (all but the newest) never change size, so they are
/// memory-mapped; the newest may be cut while we read it and is read into memory instead.
#[derive(Debug)]
pub enum SegmentBytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

/// A sealed segment's mapping, shared with whoever keeps references into it (the query tail
/// after recovery). The mapping stays valid after the compactor deletes the file.
pub type MappedSegment = Arc<SegmentBytes>;

impl std::ops::Deref for SegmentBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            SegmentBytes::Mapped(m) => m,
            SegmentBytes::Owned(v) => v,
        }
    }
}

pub fn read_segment(fs: &dyn FileSystem, path: &Path, sealed: bool) -> Result<SegmentBytes, WalError> {
    let file = fs.open_read(path).map_err(io_err("open segment", path))?;
    if !sealed {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut &file, &mut bytes).map_err(io_err("read segment", path))?;
        return Ok(SegmentBytes::Owned(bytes));
    }
    // SAFETY: sealed segments are never written, cut or extended again (the writer only
    // appends to the newest segment); they are only deleted, which leaves a mapping valid.
    #[allow(unsafe_code)]
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_err("map segment", path))?;
    Ok(SegmentBytes::Mapped(map))
}

/// Scans every segment read-only, calling `visit(segment first LSN, record)` for each valid
/// event record in LSN order.
pub fn inspect(wal_dir: &Path, visit: &mut dyn FnMut(u64, EventRecord<'_>)) -> Result<WalReport, WalError> {
    let segments = list_segments(&RealFs, wal_dir)?;
    let mut report = WalReport::default();
    let n = segments.len();
    for (i, (first_lsn, path)) in segments.iter().enumerate() {
        let bytes = read_segment(&RealFs, path, i + 1 < n)?;
        let scanned = scan_segment(&bytes, &mut |rec| visit(*first_lsn, rec));
        report.segments.push(segment_report(path, *first_lsn, bytes.len() as u64, scanned));
    }
    Ok(report)
}

fn segment_report(path: &Path, first_lsn: u64, bytes: u64, scanned: Result<SegmentScan, String>) -> SegmentReport {
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match scanned {
        Ok(s) => SegmentReport {
            file,
            first_lsn: s.first_lsn,
            last_lsn: s.last_lsn,
            records: s.event_records,
            sealed: s.sealed_next_lsn.is_some(),
            bytes,
            created_micros: s.created_micros,
            damage: s.damage,
            torn_tail: s.torn_tail,
            unreadable: None,
        },
        Err(reason) => SegmentReport {
            file,
            first_lsn,
            last_lsn: None,
            records: 0,
            sealed: false,
            bytes,
            created_micros: 0,
            damage: Vec::new(),
            torn_tail: None,
            unreadable: Some(reason),
        },
    }
}

/// Recovers a WAL directory for writing and returns the active segment to append to,
/// with the next LSN to assign (above `lsn_floor`).
pub fn recover(
    fs: &Fs,
    wal_dir: &Path,
    prealloc: u64,
    lsn_floor: u64,
    visit: &mut dyn FnMut(u64, EventRecord<'_>),
) -> Result<(ActiveSegment, u64, WalReport), WalError> {
    create_dir_durable(fs.as_ref(), wal_dir).map_err(io_err("create WAL directory", wal_dir))?;
    remove_tmp_files(fs.as_ref(), wal_dir)?;
    let segments = list_segments(fs.as_ref(), wal_dir)?;
    let mut report = WalReport::default();
    let mut next_lsn = 1u64;
    let mut reusable: Option<(PathBuf, SegmentScan)> = None;
    let n = segments.len();
    for (i, (first_lsn, path)) in segments.iter().enumerate() {
        let newest = i + 1 == n;
        let bytes: MappedSegment = Arc::new(read_segment(fs.as_ref(), path, !newest)?);
        // Sealed segments are shared with the visitor; the newest is read into a buffer as long
        // as the preallocated file, which nobody should keep, so its records are not.
        let shared = matches!(*bytes, SegmentBytes::Mapped(_)).then_some(&bytes);
        let scanned = scan_segment(&bytes, &mut |rec| visit(*first_lsn, EventRecord { mapped: shared, ..rec }));
        let seg = segment_report(path, *first_lsn, bytes.len() as u64, scanned.clone());
        for d in seg.damage.iter().chain(seg.torn_tail.iter()) {
            report.quarantined.extend(quarantine_bytes(fs.as_ref(), wal_dir, path, &bytes, d)?);
            tracing::warn!(segment = %path.display(), offset = d.offset, len = d.len, reason = %d.reason, "WAL damage");
        }
        drop(bytes);
        match scanned {
            Ok(s) => {
                next_lsn = next_lsn.max(s.last_lsn.map_or(s.first_lsn, |l| l.saturating_add(1)));
                next_lsn = next_lsn.max(s.sealed_next_lsn.unwrap_or(0));
                if newest && s.sealed_next_lsn.is_none() {
                    report.truncated_bytes = seg.torn_tail.as_ref().map_or(0, |t| t.len);
                    reusable = Some((path.clone(), s));
                }
            }
            Err(reason) => {
                tracing::warn!(segment = %path.display(), %reason, "unreadable WAL segment moved to quarantine");
                report.quarantined.push(move_to_quarantine(fs.as_ref(), wal_dir, path, "unreadable")?);
                next_lsn = next_lsn.max(*first_lsn);
            }
        }
        report.segments.push(seg);
    }
    if next_lsn <= lsn_floor {
        if let Some((path, s)) = reusable.take() {
            if s.event_records == 0 {
                // It holds no record: nothing to keep, and left behind it would look unsealed.
                crate::fsio::remove_file_durable(fs.as_ref(), &path).map_err(io_err("remove empty segment", &path))?;
            } else {
                tracing::warn!(
                segment = %path.display(),
                lsn_floor,
                "the newest WAL segment reuses LSNs the catalog holds; new records go to a new segment \
                 and the compactor will quarantine this one"
                );
            }
        }
        next_lsn = lsn_floor + 1;
    }
    let active = match reusable {
        Some((path, s)) => {
            ActiveSegment::reopen(fs, &path, s.first_lsn, s.created_micros, s.end_offset, s.event_records, prealloc)?
        }
        None => ActiveSegment::create(fs, wal_dir, next_lsn, prealloc)?,
    };
    Ok((active, next_lsn, report))
}

fn remove_tmp_files(fs: &dyn FileSystem, wal_dir: &Path) -> Result<(), WalError> {
    let entries = fs.read_dir(wal_dir).map_err(io_err("list WAL directory", wal_dir))?;
    let mut removed = false;
    for path in entries {
        if path.extension().is_some_and(|e| e == "tmp") {
            fs.remove_file(&path).map_err(io_err("remove unfinished segment", &path))?;
            removed = true;
        }
    }
    if removed {
        fs.sync_dir(wal_dir).map_err(io_err("fsync WAL directory", wal_dir))?;
    }
    Ok(())
}

fn quarantine_dir(fs: &dyn FileSystem, wal_dir: &Path) -> Result<PathBuf, WalError> {
    let dir = wal_dir.join(QUARANTINE_DIR);
    create_dir_durable(fs, &dir).map_err(io_err("create quarantine directory", &dir))?;
    Ok(dir)
}

/// A file kept in `wal/quarantine/`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuarantinedFile {
    pub file: String,
    pub bytes: u64,
    /// A whole segment (moved there), not a copy of some damaged bytes.
    pub segment: bool,
}

/// The files in `wal/quarantine/`, sorted by name (none when it does not exist).
pub fn quarantined_files(wal_dir: &Path) -> Vec<QuarantinedFile> {
    let Ok(entries) = std::fs::read_dir(wal_dir.join(QUARANTINE_DIR)) else { return Vec::new() };
    let mut files: Vec<QuarantinedFile> = entries
        .flatten()
        .map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let bytes = e.metadata().map(|m| m.len()).unwrap_or(0);
            QuarantinedFile { segment: file.contains(".wal."), file, bytes }
        })
        .collect();
    files.sort_by(|a, b| a.file.cmp(&b.file));
    files
}

/// Copies the damaged bytes to `quarantine/<segment>-<offset>.bad` (once: an existing copy
/// from an earlier open is kept). Returns the file written, if any.
fn quarantine_bytes(
    fs: &dyn FileSystem,
    wal_dir: &Path,
    segment: &Path,
    bytes: &[u8],
    d: &Damage,
) -> Result<Option<String>, WalError> {
    let start = usize::try_from(d.offset).unwrap_or(usize::MAX).min(bytes.len());
    let end = usize::try_from(d.offset + d.len).unwrap_or(usize::MAX).min(bytes.len());
    let Some(bad) = bytes.get(start..end).filter(|b| !b.is_empty()) else {
        return Ok(None);
    };
    let stem = segment.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = quarantine_dir(fs, wal_dir)?;
    let target = dir.join(format!("{stem}-{:012}.bad", d.offset));
    if target.exists() {
        return Ok(None);
    }
    write_file_durable(fs, &target, bad).map_err(io_err("write quarantine file", &target))?;
    Ok(Some(target.display().to_string()))
}

/// Moves a whole segment to `quarantine/<segment>.<suffix>` (durably: both directories are
/// fsynced); returns where it went.
pub fn move_to_quarantine(
    fs: &dyn FileSystem,
    wal_dir: &Path,
    segment: &Path,
    suffix: &str,
) -> Result<String, WalError> {
    let dir = quarantine_dir(fs, wal_dir)?;
    let name = segment.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let target = dir.join(format!("{name}.{suffix}"));
    fs.rename(segment, &target).map_err(io_err("move segment to quarantine", segment))?;
    fs.sync_dir(&dir).map_err(io_err("fsync quarantine directory", &dir))?;
    fs.sync_dir(wal_dir).map_err(io_err("fsync WAL directory", wal_dir))?;
    Ok(target.display().to_string())
}
