//! The in-memory index of events in the WAL that are not compacted yet (the "tail").
//!
//! The WAL writer hands over every group's records before it acknowledges any of them, and
//! recovery replays the WAL into it on open, so a query sees an event as soon as it is
//! acknowledged (read-your-writes). Records are kept raw and decoded on the first query that
//! needs them, which keeps the writer thread's work per event to a move. Rows leave the tail
//! only after their segment is in the catalog (or dropped by retention); queries snapshot the
//! tail before reading Parquet and merge by LSN, so an event moving from the WAL to Parquet is
//! never missed and never shown twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::model::{EventQuery, StoredEvent};
use crate::stored::StoredEnvelope;
use crate::wal::format::{FLAG_REDACTED, KIND_EVENT_JSON_V1};

/// Uncompacted events by LSN.
#[derive(Debug, Default)]
pub struct TailIndex {
    pending: Vec<(u64, Vec<u8>)>,
    events: BTreeMap<u64, Arc<StoredEvent>>,
}

impl TailIndex {
    /// Adds WAL payloads (kind, flags, JSON) as the writer hands them over.
    pub fn push_payloads(&mut self, records: Vec<(u64, Vec<u8>)>) {
        if self.pending.is_empty() {
            self.pending = records;
        } else {
            self.pending.extend(records);
        }
    }

    /// Adds one record replayed from the WAL at open, kept raw like the writer's (decoded by
    /// the first query that needs it), so recovery costs a copy per event, not a JSON parse.
    pub fn push_replayed(&mut self, lsn: u64, redacted: bool, json: &[u8]) {
        self.pending.push((lsn, crate::wal::event_payload(redacted, json)));
    }

    /// Decodes and adds one record.
    fn insert_record(&mut self, lsn: u64, redacted: bool, json: &[u8]) {
        match StoredEnvelope::parse(json) {
            Ok(e) => {
                self.events.insert(lsn, Arc::new(StoredEvent::from_envelope(&e, lsn, redacted)));
            }
            Err(e) => tracing::warn!(lsn, error = %e, "WAL record does not decode; left out of queries"),
        }
    }

    fn catch_up(&mut self) {
        for (lsn, payload) in std::mem::take(&mut self.pending) {
            if let [KIND_EVENT_JSON_V1, flags, json @ ..] = payload.as_slice() {
                self.insert_record(lsn, flags & FLAG_REDACTED != 0, json);
            }
        }
    }

    /// Removes the events with LSNs in `first..=last` (a compacted or dropped segment).
    pub fn remove_range(&mut self, first: u64, last: u64) {
        self.pending.retain(|(lsn, _)| *lsn < first || *lsn > last);
        let keep = self.events.split_off(&last.saturating_add(1));
        let _gone = self.events.split_off(&first);
        self.events.extend(keep);
    }

    pub fn len(&mut self) -> usize {
        self.catch_up();
        self.events.len()
    }

    pub fn is_empty(&mut self) -> bool {
        self.len() == 0
    }

    /// The oldest and newest timestamps in the tail (microseconds).
    pub fn time_range(&mut self) -> Option<(i64, i64)> {
        self.catch_up();
        let mut times = self.events.values().map(|e| e.timestamp.timestamp_micros());
        let first = times.next()?;
        Some(times.fold((first, first), |(lo, hi), t| (lo.min(t), hi.max(t))))
    }

    /// The events matching `q` (cursor included), in LSN order.
    pub fn matching(&mut self, q: &EventQuery) -> Vec<Arc<StoredEvent>> {
        self.catch_up();
        self.events.values().filter(|e| e.matches(q)).cloned().collect()
    }
}
