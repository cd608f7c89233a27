//! What a WAL directory holds, segment by segment: built by recovery as it repairs, and by
//! [`inspect`] for `verify`, `stats` and the queries of a directory no recorder has open,
//! read-only.

use std::path::Path;

use super::error::WalError;
use super::format::Corruption;
use super::scan::{Damage, EventRecord, SegmentScan, scan_segment};
use super::segments::SegmentDir;

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
    pub unreadable: Option<Corruption>,
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

/// Scans every segment of `wal_dir` read-only, calling `visit(segment first LSN, record)` for
/// each valid event record in LSN order.
pub fn inspect(wal_dir: &Path, visit: &mut dyn FnMut(u64, EventRecord<'_>)) -> Result<WalReport, WalError> {
    let dir = SegmentDir::real(wal_dir);
    let segments = dir.list()?;
    let mut report = WalReport::default();
    let n = segments.len();
    for (i, seg) in segments.iter().enumerate() {
        let bytes = dir.read(&seg.path, i + 1 < n)?;
        let scanned = scan_segment(&bytes, &mut |rec| visit(seg.first_lsn, rec));
        report.segments.push(segment_report(&seg.path, seg.first_lsn, bytes.len() as u64, scanned));
    }
    Ok(report)
}

/// The report of one scanned segment (`first_lsn` from its name, for an unreadable header).
pub(super) fn segment_report(
    path: &Path,
    first_lsn: u64,
    bytes: u64,
    scanned: Result<SegmentScan, Corruption>,
) -> SegmentReport {
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
