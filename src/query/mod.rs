//! Queries: filter by ids, workspace, time range, type, surface, actor and id text;
//! (timestamp, event_id) order, oldest or newest first; keyset pagination with an opaque cursor.
//!
//! A page merges two sources: the Parquet files (DuckDB; the files are chosen by the catalog
//! in the recorder, or by the date partitions when reading a data directory without the
//! catalog) and the WAL tail (the in-memory [`tail::TailIndex`] in the recorder, or the WAL
//! read from disk). Events are deduplicated by LSN, so an event that is in both while it is
//! being compacted appears once.

pub mod model;
pub mod params;
#[cfg(feature = "store")]
pub mod parquet;
#[cfg(feature = "store")]
pub mod reader;
#[cfg(feature = "store")]
pub mod sql;
pub mod summary;
// Public only with `internals` (the recovery benchmark of bench/ replays the WAL into it).
#[cfg(feature = "internals")]
pub mod tail;
#[cfg(all(feature = "store", not(feature = "internals")))]
pub(crate) mod tail;
pub mod views;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use model::{Cursor, DEFAULT_LIMIT, EventPage, EventQuery, MAX_LIMIT, StoredEvent};

/// Merges tail and Parquet results into one page of at most `q.page_size()` events.
/// `parquet` must hold up to `page_size + 1` events so the next cursor can be known.
pub fn merge_page(q: &EventQuery, tail: Vec<Arc<StoredEvent>>, parquet: Vec<StoredEvent>) -> EventPage {
    let limit = q.page_size();
    let mut by_lsn: BTreeMap<u64, StoredEvent> = parquet.into_iter().map(|e| (e.lsn, e)).collect();
    for e in tail {
        by_lsn.entry(e.lsn).or_insert_with(|| (*e).clone());
    }
    let mut events: Vec<StoredEvent> = by_lsn.into_values().collect();
    q.sort(&mut events);
    let more = events.len() > limit;
    events.truncate(limit);
    let next_cursor = if more { events.last().map(|e| Cursor::after(e).encode()) } else { None };
    EventPage { events, next_cursor }
}
