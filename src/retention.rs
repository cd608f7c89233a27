//! Retention: drops whole segments whose newest event is older than the window
//! (default 7 days), and remembers what it dropped (FR-EVT-004).
//!
//! Compacted segments: marked `dropping` in the catalog, their Parquet files deleted, then in
//! one transaction their row moves to `retention_log` and their trace and job index rows are
//! kept with `dropped = true`, so a query for a trace or job can say that evidence is missing
//! and for which time range. A crash between the steps leaves `dropping` rows, finished by
//! the next run. Sealed WAL segments not compacted yet are dropped the same way (their index
//! rows are written as dropped). The newest WAL segment (the writer's) and any segment with an
//! event inside the window are never dropped, nor, when shipping is configured, a compacted
//! segment with a file not shipped yet ([`enforce_keeping`]: logged and reported instead).

use chrono::{DateTime, Duration, Utc};

use crate::compact::catalog::{SegmentState, Source};
use crate::compact::error::io;
use crate::compact::{Compactor, StoreError};
use crate::fsio::remove_file_durable;

/// The default retention window.
pub const DEFAULT_WINDOW_DAYS: u32 = 7;

/// One segment retention dropped (or would drop, in a dry run).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Dropped {
    pub segment: u64,
    /// LSN of the segment's last event (None when unknown).
    pub last_lsn: Option<u64>,
    /// `parquet` (compacted) or `wal` (not compacted yet).
    pub source: Source,
    pub events: u64,
    pub newest: Option<DateTime<Utc>>,
    pub files: Vec<String>,
}

/// What one retention run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RetentionReport {
    pub cutoff: DateTime<Utc>,
    pub dry_run: bool,
    pub events_purged: u64,
    pub dropped: Vec<Dropped>,
    /// Expired segments kept because a file of theirs is not shipped yet.
    pub kept_unshipped: Vec<u64>,
}

/// Drops every segment whose newest event is older than `now - window`.
/// Returns what was dropped; `events_purged` counts the events.
pub fn enforce(
    compactor: &mut Compactor,
    window: Duration,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<RetentionReport, StoreError> {
    enforce_keeping(compactor, window, now, dry_run, None)
}

/// [`enforce`], keeping every compacted segment with a file not shipped to `ship_target`
/// (the `--ship-to` URL) yet: such files exist nowhere else.
pub fn enforce_keeping(
    compactor: &mut Compactor,
    window: Duration,
    now: DateTime<Utc>,
    dry_run: bool,
    ship_target: Option<&str>,
) -> Result<RetentionReport, StoreError> {
    let cutoff = now - window;
    let mut dropped = compacted_candidates(compactor, cutoff)?;
    let kept_unshipped = keep_unshipped(compactor, &mut dropped, ship_target)?;
    if !dry_run {
        drop_compacted(compactor, &dropped, window)?;
    }
    dropped.extend(drop_old_wal_segments(compactor, cutoff, window, dry_run)?);
    let events_purged = dropped.iter().map(|d| d.events).sum();
    Ok(RetentionReport { cutoff, dry_run, events_purged, dropped, kept_unshipped })
}

/// Takes out of `dropped` the segments (not already `dropping`) with a file not shipped to
/// `ship_target`, and returns them.
fn keep_unshipped(
    compactor: &Compactor,
    dropped: &mut Vec<Dropped>,
    ship_target: Option<&str>,
) -> Result<Vec<u64>, StoreError> {
    let Some(target) = ship_target else { return Ok(Vec::new()) };
    let unshipped: std::collections::BTreeSet<u64> =
        compactor.catalog().unshipped_files(target)?.into_iter().map(|f| f.segment).collect();
    let mut kept = Vec::new();
    dropped.retain(|d| {
        let keep = unshipped.contains(&d.segment);
        if keep {
            kept.push(d.segment);
        }
        !keep
    });
    if !kept.is_empty() {
        tracing::warn!(
            segments = kept.len(),
            target,
            "retention kept expired segments whose Parquet files are not shipped yet"
        );
    }
    Ok(kept)
}

fn micros_to_time(micros: Option<i64>) -> Option<DateTime<Utc>> {
    micros.and_then(DateTime::from_timestamp_micros)
}

fn compacted_candidates(compactor: &Compactor, cutoff: DateTime<Utc>) -> Result<Vec<Dropped>, StoreError> {
    let cutoff_us = cutoff.timestamp_micros();
    let rows = compactor.catalog().segments()?;
    Ok(rows
        .into_iter()
        .filter(|s| s.state == SegmentState::Dropping || s.max_ts_micros.is_none_or(|t| t < cutoff_us))
        .map(|s| Dropped {
            segment: s.segment,
            last_lsn: s.last_lsn,
            source: Source::Parquet,
            events: s.events,
            newest: micros_to_time(s.max_ts_micros),
            files: s.files,
        })
        .collect())
}

fn drop_compacted(compactor: &Compactor, dropped: &[Dropped], window: Duration) -> Result<(), StoreError> {
    if dropped.is_empty() {
        return Ok(());
    }
    let ids: Vec<u64> = dropped.iter().map(|d| d.segment).collect();
    compactor.catalog().mark_dropping(&ids)?;
    for file in dropped.iter().flat_map(|d| &d.files) {
        let path = compactor.layout().root.join(file);
        remove_file_durable(compactor.layout().fs.as_ref(), &path).map_err(io("delete expired Parquet file", &path))?;
    }
    compactor.catalog().drop_segments(&ids, window_days(window))
}

fn window_days(window: Duration) -> f64 {
    window.num_seconds() as f64 / 86_400.0
}

/// Drops sealed, not yet compacted WAL segments whose newest event is before the cutoff.
fn drop_old_wal_segments(
    compactor: &mut Compactor,
    cutoff: DateTime<Utc>,
    window: Duration,
    dry_run: bool,
) -> Result<Vec<Dropped>, StoreError> {
    let segments = compactor.layout().segments();
    let mut dropped = Vec::new();
    for sealed in segments.list_sealed()? {
        let (segment, path) = (sealed.first_lsn, sealed.path);
        let Some(staged) = compactor.stage(segment, &path)? else { continue };
        let bounds = compactor.catalog().staged_bounds()?;
        let (newest, first, last) = (bounds.newest_micros, bounds.first_lsn, bounds.last_lsn);
        if newest.is_some_and(|t| t >= cutoff.timestamp_micros()) || staged.events == 0 {
            continue;
        }
        let file = path.file_name().map(|n| format!("wal/{}", n.to_string_lossy())).unwrap_or_default();
        if !dry_run {
            let lsns = (first.unwrap_or(segment), last.unwrap_or(segment));
            compactor.catalog().drop_staged_wal_segment(segment, lsns, &file, window_days(window))?;
            segments.delete(&path)?;
        }
        dropped.push(Dropped {
            segment,
            last_lsn: last,
            source: Source::Wal,
            events: staged.events,
            newest: micros_to_time(newest),
            files: vec![file],
        });
    }
    Ok(dropped)
}
