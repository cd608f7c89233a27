//! The recorder's read side over the catalog: which Parquet files a query must read (pruned by
//! time range, trace and job index), and what retention dropped of a trace or job.

use std::collections::HashSet;
use std::path::Path;

use chrono::DateTime;
use uuid::Uuid;

use crate::compact::catalog::{Catalog, IdIndex, IndexRow};
use crate::compact::error::StoreError;
use crate::compact::files;
use crate::query::EventQuery;
use crate::query::parquet::{ParquetScan, Span};
use crate::query::summary::sql::SummaryFiles;
use crate::query::views::RetentionGap;

/// What a query must read of the Parquet files: absolute paths of the files that can hold
/// events matching `q`, and, for a trace or job lookup, the time span the index says its
/// compacted events lie in (files are sorted by time, so the span prunes row groups).
pub fn parquet_scan(catalog: &Catalog, root: &Path, q: &EventQuery) -> Result<ParquetScan, StoreError> {
    let ids = [(&q.trace_id, IdIndex::Trace), (&q.job_id, IdIndex::Job)];
    let mut found: Option<Indexed> = None;
    for (id, index) in ids.into_iter().filter_map(|(id, index)| id.as_deref().map(|id| (id, index))) {
        let this = lookup(catalog, root, index, id)?;
        found = Some(match found {
            Some(other) => other.and(this),
            None => this,
        });
    }
    Ok(match found {
        Some(found) => ParquetScan::new(found.files, found.span, q),
        None => ParquetScan::new(files_in_time_range(catalog, root, q)?, None, q),
    })
}

/// The files of [`parquet_scan`] for the summary, split by whether they hold the typed
/// summary columns (the catalog's `summary_columns`).
pub fn summary_files(catalog: &Catalog, root: &Path, q: &EventQuery) -> Result<SummaryFiles, StoreError> {
    let files = parquet_scan(catalog, root, q)?.files;
    let without: HashSet<String> =
        catalog.files_without_summary_columns()?.into_iter().map(|f| root.join(f).display().to_string()).collect();
    Ok(SummaryFiles::split(files, &without))
}

fn files_in_time_range(catalog: &Catalog, root: &Path, q: &EventQuery) -> Result<Vec<String>, StoreError> {
    // A cursor narrows the range: after it (ascending, inclusive) or up to it (descending,
    // inclusive, so `min_ts < cursor + 1µs`).
    let (after, before) = q.cursor_bounds();
    let from = [q.from.map(|f| f.timestamp_micros()), after].into_iter().flatten().max();
    let to = [q.to.map(|t| t.timestamp_micros()), before.map(|c| c.saturating_add(1))].into_iter().flatten().min();
    let files = catalog.files_overlapping(from, to)?;
    Ok(files.into_iter().map(|f| root.join(f).display().to_string()).collect())
}

/// What the catalog knows of one trace or job.
#[derive(Debug, Default)]
pub struct Indexed {
    /// Absolute paths of the Parquet files of the segments holding its compacted events.
    pub files: Vec<String>,
    /// The time span of its compacted events.
    pub span: Option<Span>,
    /// What retention dropped of it.
    pub gaps: Vec<RetentionGap>,
}

impl Indexed {
    /// What two ids have in common (an event with both): the shared files, the overlap.
    fn and(self, other: Indexed) -> Indexed {
        let span = self.span.zip(other.span).map(|(a, b)| a.intersect(b));
        let files = self.files.into_iter().filter(|f| other.files.contains(f)).collect();
        Indexed { files, span, gaps: Vec::new() }
    }
}

/// What the catalog knows of one trace or job id.
pub fn lookup(catalog: &Catalog, root: &Path, index: IdIndex, id: &str) -> Result<Indexed, StoreError> {
    Ok(indexed(root, index, catalog.index_rows(index, id)?))
}

fn indexed(root: &Path, index: IdIndex, rows: Vec<IndexRow>) -> Indexed {
    let mut found = Indexed::default();
    let (mut dropped, mut dropped_span) = (0u64, None);
    for row in rows {
        let span = row.min_ts_micros.zip(row.max_ts_micros).map(|(first, last)| Span { first, last });
        if row.dropped {
            dropped += row.events;
            dropped_span = widen(dropped_span, span);
            continue;
        }
        let Some(files) = row.files else { continue };
        found.files.extend(files.iter().map(|f| root.join(f).display().to_string()));
        found.span = widen(found.span, span);
    }
    if dropped > 0 {
        let at = |t: Option<i64>| t.and_then(DateTime::from_timestamp_micros);
        let (from, to) = (dropped_span.map(|s| s.first), dropped_span.map(|s| s.last));
        found.gaps.push(RetentionGap::new(index.what(), dropped, at(from), at(to)));
    }
    found
}

fn widen(a: Option<Span>, b: Option<Span>) -> Option<Span> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.union(b)),
        (a, b) => a.or(b),
    }
}

/// Calls `remember` with the event ids of the Parquet files compacted within the last
/// `window`, at most the newest `limit` (to seed de-duplication; see
/// [`files::newest_event_ids`] for why this never holds more than a chunk of them as text).
pub fn recent_event_ids(
    catalog: &Catalog,
    root: &Path,
    window: chrono::Duration,
    limit: usize,
    remember: &mut dyn FnMut(Uuid),
) -> Result<(), StoreError> {
    let since = (chrono::Utc::now() - window).timestamp_micros();
    let files: Vec<String> =
        catalog.files_compacted_since(since)?.iter().map(|f| root.join(f).display().to_string()).collect();
    files::newest_event_ids(catalog.parquet_connection(), &files, limit, remember)
}
