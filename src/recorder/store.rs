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

/// What one page of `q` must read of the Parquet files: [`parquet_scan`]'s files, and of a
/// query that filters by time alone only those that hold its page (see [`page_range`]).
pub fn page_scan(catalog: &Catalog, root: &Path, q: &EventQuery) -> Result<ParquetScan, StoreError> {
    if !only_time_bounds(q) {
        return parquet_scan(catalog, root, q);
    }
    let (from, to) = time_range(q);
    let range = page_range(catalog.segment_spans(from, to)?, (from, to), q.page_size() as u64 + 1, q.descending);
    Ok(ParquetScan::new(files_overlapping(catalog, root, range)?, None, q))
}

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
        None => ParquetScan::new(files_overlapping(catalog, root, time_range(q))?, None, q),
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

/// Absolute paths of the files whose events can lie in `[from, to)` (µs; None: unbounded).
fn files_overlapping(
    catalog: &Catalog,
    root: &Path,
    (from, to): (Option<i64>, Option<i64>),
) -> Result<Vec<String>, StoreError> {
    let files = catalog.files_overlapping(from, to)?;
    Ok(files.into_iter().map(|f| root.join(f).display().to_string()).collect())
}

/// The range `[from, to)` (µs; None: unbounded) of `q`'s bounds and cursor. A cursor narrows
/// it: after it (ascending, inclusive) or up to it (descending, inclusive, so `min_ts <
/// cursor + 1µs`).
fn time_range(q: &EventQuery) -> (Option<i64>, Option<i64>) {
    let (after, before) = q.cursor_bounds();
    let from = [q.from.map(|f| f.timestamp_micros()), after].into_iter().flatten().max();
    let to = [q.to.map(|t| t.timestamp_micros()), before.map(|c| c.saturating_add(1))].into_iter().flatten().min();
    (from, to)
}

/// True when `q` filters by time alone (bounds, cursor): then every compacted event of a
/// segment inside its range matches it, and the catalog's event counts tell where a page ends.
fn only_time_bounds(q: &EventQuery) -> bool {
    let EventQuery {
        event_id,
        job_id,
        trace_id,
        model_session_id,
        model_id,
        tool_id,
        wsid,
        from: _,
        to: _,
        event_type,
        event_types,
        surface,
        actor,
        text,
        limit: _,
        cursor: _,
        descending: _,
    } = q;
    [event_id, job_id, trace_id, model_session_id, model_id, tool_id, wsid, surface, text].iter().all(|f| f.is_none())
        && event_type.is_none()
        && event_types.is_none()
        && actor.is_none()
}

/// The part of `[from, to)` (µs) that holds the first `need` compacted events in page order,
/// given each segment's span and event count: the newest segments inside the range (oldest,
/// ascending) are counted until they hold `need` events; the page's events are then at or
/// after the oldest start among them (at or before the newest end, ascending). A segment the
/// range cuts is not counted (how many of its events are inside is not known), but it is
/// still read when it overlaps the narrowed range. The range is left as it is when the
/// segments inside it hold fewer than `need`.
fn page_range(
    mut spans: Vec<(i64, i64, u64)>,
    (from, to): (Option<i64>, Option<i64>),
    need: u64,
    descending: bool,
) -> (Option<i64>, Option<i64>) {
    let inside = |&(min, max, _): &(i64, i64, u64)| from.is_none_or(|f| min >= f) && to.is_none_or(|t| max < t);
    spans.retain(inside);
    if descending {
        spans.sort_unstable_by_key(|&(_, max, _)| std::cmp::Reverse(max));
    } else {
        spans.sort_unstable_by_key(|&(min, _, _)| min);
    }
    let mut counted = 0u64;
    let (mut oldest_start, mut newest_end) = (i64::MAX, i64::MIN);
    for (min, max, events) in spans {
        counted = counted.saturating_add(events);
        (oldest_start, newest_end) = (oldest_start.min(min), newest_end.max(max));
        if counted >= need {
            return if descending {
                (Some(from.map_or(oldest_start, |f| f.max(oldest_start))), to)
            } else {
                let end = newest_end.saturating_add(1);
                (from, Some(to.map_or(end, |t| t.min(end))))
            };
        }
    }
    (from, to)
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

/// Calls `remember` with the event ids (a chunk at a time) of the Parquet files compacted
/// within the last `window`, at most the newest `limit` (to seed de-duplication; see
/// [`files::newest_event_ids`] for why this never holds more than a chunk of them as text).
pub fn recent_event_ids(
    catalog: &Catalog,
    root: &Path,
    window: chrono::Duration,
    limit: usize,
    remember: &mut dyn FnMut(&[Uuid]),
) -> Result<(), StoreError> {
    let since = (chrono::Utc::now() - window).timestamp_micros();
    let files: Vec<String> =
        catalog.files_compacted_since(since)?.iter().map(|f| root.join(f).display().to_string()).collect();
    files::newest_event_ids(catalog.parquet_connection(), &files, limit, remember)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::page_range;

    /// Three segments of 5 events: 0–9, 10–19, 20–29 µs.
    fn spans() -> Vec<(i64, i64, u64)> {
        vec![(10, 19, 5), (0, 9, 5), (20, 29, 5)]
    }

    #[test]
    fn a_page_range_ends_where_the_counted_segments_hold_the_page() {
        assert_eq!(page_range(spans(), (None, None), 6, true), (Some(10), None), "the two newest hold 10");
        assert_eq!(page_range(spans(), (None, None), 5, true), (Some(20), None), "the newest holds 5");
        assert_eq!(page_range(spans(), (None, None), 6, false), (None, Some(20)), "the two oldest, to exclusive");
        assert_eq!(page_range(spans(), (None, None), 16, true), (None, None), "fewer than needed: unchanged");
        assert_eq!(page_range(Vec::new(), (None, Some(7)), 1, true), (None, Some(7)));
    }

    #[test]
    fn a_segment_the_range_cuts_is_not_counted() {
        // 20–29 is cut by `to`: only 10–19 is inside, and its 5 events are not 6.
        assert_eq!(page_range(spans(), (Some(5), Some(25)), 6, true), (Some(5), Some(25)));
        // 0–9 is cut by `from`: counted are 20–29 and 10–19.
        assert_eq!(page_range(spans(), (Some(5), None), 6, true), (Some(10), None));
        // A bound tighter than the counted segments' start stays.
        assert_eq!(page_range(spans(), (Some(12), None), 5, true), (Some(20), None));
        assert_eq!(page_range(spans(), (Some(10), None), 6, true), (Some(10), None));
        assert_eq!(page_range(spans(), (None, Some(15)), 5, false), (None, Some(10)));
    }
}
