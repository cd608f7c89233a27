//! Retention: drops whole segments whose newest event is older than the window
//! (default 7 days), and remembers what it dropped (FR-EVT-004).
//!
//! Compacted segments: marked `dropping` in the catalog, their Parquet files deleted, then in
//! one transaction their row moves to `retention_log` and their trace and job index rows are
//! kept with `dropped = true`, so a query for a trace or job can say that evidence is missing
//! and for which time range. A crash between the steps leaves `dropping` rows, finished by
//! the next run. Sealed WAL segments not compacted yet are dropped the same way (their index
//! rows are written as dropped). The newest WAL segment (the writer's) and any segment with an
//! event inside the window are never dropped.

use chrono::{DateTime, Duration, Utc};

use crate::compact::error::{db, io};
use crate::compact::{Compactor, StoreError, index_staged_sql, sql_list};
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
    pub source: &'static str,
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
}

/// Drops every segment whose newest event is older than `now - window`.
/// Returns what was dropped; `events_purged` counts the events.
pub fn enforce(
    compactor: &mut Compactor,
    window: Duration,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<RetentionReport, StoreError> {
    let cutoff = now - window;
    let mut dropped = compacted_candidates(compactor, cutoff)?;
    if !dry_run {
        drop_compacted(compactor, &dropped, window)?;
    }
    dropped.extend(drop_old_wal_segments(compactor, cutoff, window, dry_run)?);
    let events_purged = dropped.iter().map(|d| d.events).sum();
    Ok(RetentionReport { cutoff, dry_run, events_purged, dropped })
}

fn micros_to_time(micros: Option<i64>) -> Option<DateTime<Utc>> {
    micros.and_then(DateTime::from_timestamp_micros)
}

fn compacted_candidates(compactor: &Compactor, cutoff: DateTime<Utc>) -> Result<Vec<Dropped>, StoreError> {
    let cutoff_us = cutoff.timestamp_micros();
    let rows = crate::compact::catalog::segments(compactor.connection())?;
    Ok(rows
        .into_iter()
        .filter(|s| s.state == "dropping" || s.max_ts_micros.is_none_or(|t| t < cutoff_us))
        .map(|s| Dropped {
            segment: s.segment,
            last_lsn: s.last_lsn,
            source: "parquet",
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
    let ids = dropped.iter().map(|d| d.segment.to_string()).collect::<Vec<_>>().join(", ");
    compactor.transaction(
        "mark segments dropping",
        &format!("UPDATE cat.segments SET state = 'dropping' WHERE segment IN ({ids})"),
    )?;
    for file in dropped.iter().flat_map(|d| &d.files) {
        let path = compactor.layout().root.join(file);
        remove_file_durable(compactor.layout().fs.as_ref(), &path).map_err(io("delete expired Parquet file", &path))?;
    }
    let days = window.num_seconds() as f64 / 86_400.0;
    let sql = format!(
        "INSERT INTO cat.retention_log
             SELECT segment, first_lsn, last_lsn, min_ts, max_ts, events, 'parquet', files, now(), {days}
             FROM cat.segments WHERE segment IN ({ids});
         UPDATE cat.trace_index SET dropped = true WHERE segment IN ({ids});
         UPDATE cat.job_index SET dropped = true WHERE segment IN ({ids});
         DELETE FROM cat.segments WHERE segment IN ({ids})"
    );
    compactor.transaction("log dropped segments", &sql)
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
        let (newest, first, last): (Option<i64>, Option<u64>, Option<u64>) = compactor
            .connection()
            .query_row("SELECT epoch_us(max(timestamp)), min(lsn), max(lsn) FROM staging", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(db("read staged segment"))?;
        if newest.is_some_and(|t| t >= cutoff.timestamp_micros()) || staged.events == 0 {
            continue;
        }
        let file = path.file_name().map(|n| format!("wal/{}", n.to_string_lossy())).unwrap_or_default();
        let files = vec![file];
        if !dry_run {
            let days = window.num_seconds() as f64 / 86_400.0;
            let (first, last) = (first.unwrap_or(segment), last.unwrap_or(segment));
            let sql = format!(
                "DELETE FROM cat.retention_log WHERE segment = {segment} AND source = 'wal';
                 DELETE FROM cat.trace_index WHERE segment = {segment};
                 DELETE FROM cat.job_index WHERE segment = {segment};
                 INSERT INTO cat.retention_log SELECT {segment}, {first}, {last}, min(timestamp), max(timestamp), count(*),
                     'wal', {}, now(), {days} FROM staging;
                 {}",
                sql_list(&files),
                index_staged_sql(segment, true)
            );
            compactor.transaction("log dropped WAL segment", &sql)?;
            segments.delete(&path)?;
        }
        dropped.push(Dropped {
            segment,
            last_lsn: last,
            source: "wal",
            events: staged.events,
            newest: micros_to_time(newest),
            files,
        });
    }
    Ok(dropped)
}
