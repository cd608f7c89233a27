//! Recovery at open: repairs a WAL directory so the writer can append to it again.
//!
//! It reads every segment in LSN order (through [`SegmentDir`]), hands each valid event
//! record to the caller's replay, and repairs what it finds: unfinished `*.tmp` segment files
//! are removed, bad bytes are copied to `wal/quarantine/`, segments whose header does not
//! decode are moved there, a torn tail of the newest segment is cut off, and the newest
//! unsealed segment becomes the active one again. It never panics on what it reads; only I/O
//! errors stop it.

use std::path::{Path, PathBuf};

use super::error::{WalError, io_err};
use super::report::{WalReport, segment_report};
use super::scan::{Damage, EventRecord, SegmentScan, scan_segment};
use super::segment::ActiveSegment;
use super::segments::{MappedSegment, SegmentDir};
use crate::fsio::{Fs, create_dir_durable, remove_file_durable, write_file_durable};

/// Called for every valid event record recovery replays, in LSN order, with the mapping of the
/// sealed segment it lies in (None for the newest segment, mapped for the scan alone and
/// reopened for appends afterwards: nobody may keep references into that).
pub type Replay<'r> = dyn FnMut(Option<&MappedSegment>, EventRecord<'_>) + 'r;

/// Recovers a WAL directory for writing and returns the active segment to append to,
/// with the next LSN to assign (above `lsn_floor`).
pub fn recover(
    fs: &Fs,
    wal_dir: &Path,
    prealloc: u64,
    lsn_floor: u64,
    replay: &mut Replay<'_>,
) -> Result<(ActiveSegment, u64, WalReport), WalError> {
    create_dir_durable(fs.as_ref(), wal_dir).map_err(io_err("create WAL directory", wal_dir))?;
    let dir = SegmentDir::new(fs.clone(), wal_dir);
    dir.remove_unfinished()?;
    let segments = dir.list()?;
    let mut report = WalReport::default();
    let mut next_lsn = 1u64;
    let mut reusable: Option<(PathBuf, SegmentScan)> = None;
    let n = segments.len();
    for (i, seg) in segments.iter().enumerate() {
        let (path, newest) = (&seg.path, i + 1 == n);
        let bytes = if newest { dir.map_newest_in_recovery(path)? } else { dir.read(path, true)? };
        let scanned = scan_segment(&bytes, &mut |rec| replay(bytes.mapping(), rec));
        let seg_report = segment_report(path, seg.first_lsn, bytes.len() as u64, scanned.clone());
        for d in seg_report.damage.iter().chain(seg_report.torn_tail.iter()) {
            report.quarantined.extend(quarantine_bytes(&dir, path, &bytes, d)?);
            tracing::warn!(segment = %path.display(), offset = d.offset, len = d.len, reason = %d.reason, "WAL damage");
        }
        drop(bytes);
        match scanned {
            Ok(s) => {
                next_lsn = next_lsn.max(s.last_lsn.map_or(s.first_lsn, |l| l.saturating_add(1)));
                next_lsn = next_lsn.max(s.sealed_next_lsn.unwrap_or(0));
                if newest && s.sealed_next_lsn.is_none() {
                    report.truncated_bytes = seg_report.torn_tail.as_ref().map_or(0, |t| t.len);
                    reusable = Some((path.clone(), s));
                }
            }
            Err(reason) => {
                tracing::warn!(segment = %path.display(), %reason, "unreadable WAL segment moved to quarantine");
                report.quarantined.push(dir.quarantine(path, "unreadable")?);
                next_lsn = next_lsn.max(seg.first_lsn);
            }
        }
        report.segments.push(seg_report);
    }
    if next_lsn <= lsn_floor {
        if let Some((path, s)) = reusable.take() {
            if s.event_records == 0 {
                // It holds no record: nothing to keep, and left behind it would look unsealed.
                remove_file_durable(fs.as_ref(), &path).map_err(io_err("remove empty segment", &path))?;
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
        Some((path, s)) => ActiveSegment::reopen(fs, &path, s.created_micros, s.end_offset, s.event_records, prealloc)?,
        None => ActiveSegment::create(fs, wal_dir, next_lsn, prealloc)?,
    };
    Ok((active, next_lsn, report))
}

/// Copies the damaged bytes to `quarantine/<segment>-<offset>.bad` (once: an existing copy
/// from an earlier open is kept). Returns the file written, if any.
fn quarantine_bytes(dir: &SegmentDir, segment: &Path, bytes: &[u8], d: &Damage) -> Result<Option<String>, WalError> {
    let start = usize::try_from(d.offset).unwrap_or(usize::MAX).min(bytes.len());
    let end = usize::try_from(d.offset + d.len).unwrap_or(usize::MAX).min(bytes.len());
    let Some(bad) = bytes.get(start..end).filter(|b| !b.is_empty()) else {
        return Ok(None);
    };
    let stem = segment.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let target = dir.quarantine_dir()?.join(format!("{stem}-{:012}.bad", d.offset));
    if target.exists() {
        return Ok(None);
    }
    write_file_durable(dir.fs(), &target, bad).map_err(io_err("write quarantine file", &target))?;
    Ok(Some(target.display().to_string()))
}
