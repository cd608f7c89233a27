//! Queries over a data directory without taking any lock: the Parquet files found under
//! `events/` (pruned by their date partition) and the WAL read from disk. This is how the CLI
//! queries while a recorder is serving: the catalog is the recorder's, the files are anyone's.

use std::path::Path;

use super::model::{EventPage, EventQuery, StoredEvent};
use super::{merge_page, parquet};
use crate::compact::error::StoreError;
use crate::compact::files::parquet_files;
use crate::datadir::Layout;
use crate::stored::StoredEnvelope;
use crate::wal::inspect;

/// One page of events of the data directory at `root`.
pub fn query_dir(root: &Path, q: &EventQuery) -> Result<EventPage, StoreError> {
    let q = &q.clone().normalized();
    let layout = Layout::new(root);
    let tail = wal_events(&layout, q)?;
    let files = parquet_files(&layout.events_dir()).into_iter().map(|f| f.display().to_string()).collect();
    let scan = parquet::ParquetScan::new(files, None, q);
    let conn = crate::compact::duck::open_in_memory()?;
    let from_parquet = parquet::query_files(&conn, &scan, q, q.page_size() + 1)?;
    Ok(merge_page(q, tail.into_iter().map(std::sync::Arc::new).collect(), from_parquet))
}

/// The WAL's events matching `q`.
fn wal_events(layout: &Layout, q: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
    let mut out = Vec::new();
    inspect(&layout.wal_dir(), &mut |_, rec| {
        let event = StoredEnvelope::parse(rec.json).and_then(|e| StoredEvent::from_envelope(&e, rec.lsn, rec.redacted));
        if let Ok(e) = event
            && e.matches(q)
        {
            out.push(e);
        }
    })?;
    Ok(out)
}
