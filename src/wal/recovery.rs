//! Recovery at open: repairs a WAL directory so the writer can append to it again.
//!
//! It reads every segment in LSN order (through [`SegmentDir`]), hands each valid event
//! record to the caller's replay, and repairs what it finds: unfinished `*.tmp` segment files
//! are removed, bad bytes are copied to `wal/quarantine/`, segments whose header does not
//! decode are moved there, a torn tail of the newest segment is cut off, and the newest
//! unsealed segment becomes the active one again. It never panics on what it reads; only I/O
//! errors stop it.

use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::error::{WalError, io_err};
use super::format::Corruption;
use super::prescan::{Ahead, ReadAhead, StopOnDrop, event_id};
use super::report::{WalReport, segment_report};
use super::scan::{Damage, EventRecord, SegmentScan, scan_segment};
use super::segment::ActiveSegment;
use super::segments::{MappedSegment, SegmentBytes, SegmentDir, SegmentFile};
use crate::fsio::{Fs, create_dir_durable, remove_file_durable, write_file_durable};

/// Called for every valid event record recovery replays, in LSN order, with the mapping of the
/// sealed segment it lies in (None for the newest segment, mapped for the scan alone and
/// reopened for appends afterwards: nobody may keep references into that) and its event id:
/// the one the record carries (payload version 2), else what [`ReadAhead`](super::ReadAhead)
/// read from its JSON.
pub type Replay<'r> = dyn FnMut(Option<&MappedSegment>, EventRecord<'_>, Option<Uuid>) + 'r;

/// Recovers a WAL directory for writing and returns the active segment to append to,
/// with the next LSN to assign (above `lsn_floor`).
pub fn recover(
    fs: &Fs,
    wal_dir: &Path,
    prealloc: u64,
    lsn_floor: u64,
    read_ahead: &ReadAhead,
    replay: &mut Replay<'_>,
) -> Result<(ActiveSegment, u64, WalReport), WalError> {
    create_dir_durable(fs.as_ref(), wal_dir).map_err(io_err("create WAL directory", wal_dir))?;
    let dir = SegmentDir::new(fs.clone(), wal_dir);
    dir.remove_unfinished()?;
    let segments = dir.list()?;
    let mut walk = Walk { report: WalReport::default(), next_lsn: 1, reusable: None };
    let n = segments.len();
    let ahead =
        Ahead::new(&dir, read_ahead, segments.iter().take(n.saturating_sub(1)).map(|s| s.path.clone()).collect());
    std::thread::scope(|scope| -> Result<(), WalError> {
        let _stop = StopOnDrop(&ahead);
        if n > 2 {
            std::thread::Builder::new()
                .name("flightrec-wal-scan".into())
                .spawn_scoped(scope, || ahead.help())
                .map_err(io_err("start recovery scan thread", wal_dir))?;
        }
        for (i, seg) in segments.iter().enumerate() {
            let newest = i + 1 == n;
            let (bytes, scanned) = if newest {
                let bytes = dir.map_newest_in_recovery(&seg.path)?;
                let scanned = scan_segment(&bytes, &mut |rec| replay(bytes.mapping(), rec, event_id(&rec, read_ahead)));
                (bytes, scanned)
            } else {
                let sealed = ahead.take(i)?;
                sealed.records().for_each(|(rec, id)| replay(sealed.bytes.mapping(), rec, id));
                ahead.recycle(sealed)
            };
            walk.repair(&dir, seg, newest, bytes, scanned)?;
        }
        Ok(())
    })?;
    let Walk { report, mut next_lsn, mut reusable } = walk;
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
        Some((path, s)) => ActiveSegment::reopen(fs, &path, &s, prealloc)?,
        None => ActiveSegment::create(fs, wal_dir, next_lsn, prealloc)?,
    };
    Ok((active, next_lsn, report))
}

/// What recovery has learnt from the segments walked so far.
struct Walk {
    report: WalReport,
    /// The next LSN to assign, from the records and seals seen.
    next_lsn: u64,
    /// The newest segment, when it is unsealed and can take appends again, with its scan.
    reusable: Option<(PathBuf, SegmentScan)>,
}

impl Walk {
    /// Reports the scan of segment `seg` (its bytes `bytes`, released here), copies its damage to the
    /// quarantine and moves it there whole when its header does not decode.
    fn repair(
        &mut self,
        dir: &SegmentDir,
        seg: &SegmentFile,
        newest: bool,
        bytes: SegmentBytes,
        scanned: Result<SegmentScan, Corruption>,
    ) -> Result<(), WalError> {
        let path = &seg.path;
        let seg_report = segment_report(path, seg.first_lsn, bytes.len() as u64, scanned.clone());
        for d in seg_report.damage.iter().chain(seg_report.torn_tail.iter()) {
            self.report.quarantined.extend(quarantine_bytes(dir, path, &bytes, d)?);
            tracing::warn!(segment = %path.display(), offset = d.offset, len = d.len, reason = %d.reason, "WAL damage");
        }
        drop(bytes);
        match scanned {
            Ok(s) => {
                self.next_lsn = self.next_lsn.max(s.last_lsn.map_or(s.first_lsn, |l| l.saturating_add(1)));
                self.next_lsn = self.next_lsn.max(s.sealed_next_lsn.unwrap_or(0));
                if newest && s.sealed_next_lsn.is_none() {
                    self.report.truncated_bytes = seg_report.torn_tail.as_ref().map_or(0, |t| t.len);
                    self.reusable = Some((path.clone(), s));
                }
            }
            Err(reason) => {
                tracing::warn!(segment = %path.display(), %reason, "unreadable WAL segment moved to quarantine");
                self.report.quarantined.push(dir.quarantine(path, "unreadable")?);
                self.next_lsn = self.next_lsn.max(seg.first_lsn);
            }
        }
        self.report.segments.push(seg_report);
        Ok(())
    }
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
