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
use crate::wal::recovery::MappedSegment;
use crate::wal::scan::EventRecord;

/// Uncompacted events by LSN.
#[derive(Debug, Default)]
pub struct TailIndex {
    pending: Vec<(u64, Vec<u8>)>,
    /// Records replayed from sealed segments, read in place from the segment's mapping.
    replayed: Vec<InPlace>,
    events: BTreeMap<u64, Arc<StoredEvent>>,
}

/// A replayed record's JSON, `len` bytes at `start` of a mapped segment.
#[derive(Debug)]
struct InPlace {
    lsn: u64,
    redacted: bool,
    segment: MappedSegment,
    start: usize,
    len: usize,
}

impl InPlace {
    fn json(&self) -> &[u8] {
        self.segment.get(self.start..self.start + self.len).unwrap_or_default()
    }
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
    /// the first query that needs it), so recovery costs no JSON parse: a reference into the
    /// segment's mapping when the record has one, else a copy.
    pub fn push_replayed(&mut self, rec: &EventRecord<'_>) {
        let (lsn, redacted) = (rec.lsn, rec.redacted);
        match rec.mapped.and_then(|segment| Some((segment, offset_in(segment, rec.json)?))) {
            Some((segment, start)) => {
                self.replayed.push(InPlace { lsn, redacted, segment: segment.clone(), start, len: rec.json.len() });
            }
            None => self.pending.push((lsn, crate::wal::event_payload(redacted, rec.json))),
        }
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
        for rec in std::mem::take(&mut self.replayed) {
            self.insert_record(rec.lsn, rec.redacted, rec.json());
        }
        for (lsn, payload) in std::mem::take(&mut self.pending) {
            if let [KIND_EVENT_JSON_V1, flags, json @ ..] = payload.as_slice() {
                self.insert_record(lsn, flags & FLAG_REDACTED != 0, json);
            }
        }
    }

    /// Removes the events with LSNs in `first..=last` (a compacted or dropped segment).
    pub fn remove_range(&mut self, first: u64, last: u64) {
        self.pending.retain(|(lsn, _)| *lsn < first || *lsn > last);
        self.replayed.retain(|r| r.lsn < first || r.lsn > last);
        let keep = self.events.split_off(&last.saturating_add(1));
        let _gone = self.events.split_off(&first);
        self.events.extend(keep);
    }

    pub fn len(&mut self) -> usize {
        self.catch_up();
        self.events.len()
    }

    #[cfg_attr(not(feature = "internals"), expect(dead_code, reason = "the pair of len() for the internals API"))]
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

/// Where `part` starts inside `whole`, if it lies inside it.
fn offset_in(whole: &[u8], part: &[u8]) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (start + part.len() <= whole.len()).then_some(start)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wal::{Wal, WalHooks, WalOptions};

    #[test]
    fn records_replayed_from_sealed_segments_are_read_in_place_and_decode_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let written = crate::testing::wal_with_sealed_and_active(tmp.path(), 3, 50, 7);
        let ids: Vec<String> = written.iter().map(|p| p.event_id.to_string()).collect();

        let mut tail = TailIndex::default();
        let (wal, _) =
            Wal::open(tmp.path(), WalOptions::default(), WalHooks::default(), &mut |_, rec| tail.push_replayed(&rec))
                .unwrap();
        wal.close().unwrap();
        assert_eq!(tail.replayed.len(), 50, "the sealed segment's records point into its mapping");
        assert_eq!(tail.pending.len(), 7, "the newest segment's records are copied");
        let found: Vec<String> = tail.matching(&EventQuery::default()).iter().map(|e| e.event_id.clone()).collect();
        assert_eq!(found, ids, "every record decodes, in LSN order");
        tail.remove_range(1, 50);
        assert!(tail.replayed.is_empty() && tail.len() == 7, "removing the sealed segment's range frees it");
    }
}
