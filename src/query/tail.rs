//! The in-memory index of events in the WAL that are not compacted yet (the "tail").
//!
//! The WAL writer hands over every group's records before it acknowledges any of them, and
//! recovery replays the WAL into it on open, so a query sees an event as soon as it is
//! acknowledged (read-your-writes). Records are kept raw and decoded on the first query that
//! needs them, which keeps the writer thread's work per event to a move. Rows leave the tail
//! only after their segment is in the catalog (or dropped by retention); queries snapshot the
//! tail before reading Parquet and merge by LSN, so an event moving from the WAL to Parquet is
//! never missed and never shown twice.
//!
//! The writer's hook takes the same lock as queries, so a query holds it only to take a
//! [`TailSnapshot`] (one reference per record); it filters and decodes after releasing it.
//! Each record is decoded once, by whichever query needs it first, and then shared.

use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};

use super::model::{EventQuery, StoredEvent};
use crate::stored::StoredEnvelope;
use crate::wal::format::split_event_payload;
use crate::wal::{EventRecord, MappedSegment};

/// Uncompacted events by LSN.
#[derive(Debug, Default)]
pub struct TailIndex {
    /// Records handed over since the last snapshot, not yet shared with queries.
    incoming: Vec<(u64, Raw)>,
    records: Vec<Arc<TailRecord>>,
}

/// A record's bytes before decoding.
#[derive(Debug)]
enum Raw {
    /// A WAL payload: kind, flags, JSON.
    Payload(Vec<u8>),
    /// A replayed record's JSON, `len` bytes at `start` of a sealed segment's mapping.
    InPlace { redacted: bool, segment: MappedSegment, start: usize, len: usize },
}

impl Raw {
    fn decode(&self, lsn: u64) -> Option<Arc<StoredEvent>> {
        let (redacted, json) = match self {
            Raw::Payload(payload) => split_event_payload(payload)?,
            Raw::InPlace { redacted, segment, start, len } => {
                (*redacted, segment.get(*start..*start + *len).unwrap_or_default())
            }
        };
        match StoredEnvelope::parse(json).and_then(|e| StoredEvent::from_envelope(&e, lsn, redacted)) {
            Ok(e) => Some(Arc::new(e)),
            Err(e) => {
                tracing::warn!(lsn, error = %e, "WAL record does not decode; left out of queries");
                None
            }
        }
    }
}

/// One uncompacted record: raw until a query first needs it, then its decoded event (the raw
/// bytes, and with them any segment mapping, are released).
#[derive(Debug)]
struct TailRecord {
    lsn: u64,
    state: Mutex<State>,
}

#[derive(Debug)]
enum State {
    Raw(Raw),
    /// None: the record does not decode.
    Decoded(Option<Arc<StoredEvent>>),
}

impl TailRecord {
    fn event(&self) -> Option<Arc<StoredEvent>> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let State::Raw(raw) = &*state {
            *state = State::Decoded(raw.decode(self.lsn));
        }
        match &*state {
            State::Decoded(event) => event.clone(),
            State::Raw(_) => None,
        }
    }

    #[cfg(test)]
    fn is_decoded(&self) -> bool {
        matches!(*self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner), State::Decoded(_))
    }
}

impl TailIndex {
    /// Adds WAL payloads (kind, flags, JSON) as the writer hands them over.
    pub fn push_payloads(&mut self, records: Vec<(u64, Vec<u8>)>) {
        self.incoming.extend(records.into_iter().map(|(lsn, payload)| (lsn, Raw::Payload(payload))));
    }

    /// Adds one record replayed from the WAL at open, kept raw like the writer's (decoded by
    /// the first query that needs it), so recovery costs no JSON parse: a reference into the
    /// mapping of its sealed segment when it has one, else a copy.
    pub fn push_replayed(&mut self, mapped: Option<&MappedSegment>, rec: &EventRecord<'_>) {
        let (lsn, redacted) = (rec.lsn, rec.redacted);
        let raw = match mapped.and_then(|segment| Some((segment, offset_in(segment, rec.json)?))) {
            Some((segment, start)) => Raw::InPlace { redacted, segment: segment.clone(), start, len: rec.json.len() },
            None => Raw::Payload(crate::wal::event_payload(redacted, rec.json)),
        };
        self.incoming.push((lsn, raw));
    }

    /// Removes the events with LSNs in any of the ranges `first..=last` (compacted or dropped
    /// segments), in one pass, and gives back the memory of a list left mostly empty.
    pub fn remove_ranges(&mut self, ranges: &[(u64, u64)]) {
        if ranges.is_empty() {
            return;
        }
        let mut sorted = ranges.to_vec();
        sorted.sort_unstable();
        let keep = |lsn: u64| {
            let after = sorted.partition_point(|(first, _)| *first <= lsn);
            after == 0 || sorted.get(after - 1).is_none_or(|(_, last)| lsn > *last)
        };
        self.incoming.retain(|(lsn, _)| keep(*lsn));
        self.records.retain(|r| keep(r.lsn));
        shrink_when_sparse(&mut self.incoming);
        shrink_when_sparse(&mut self.records);
    }

    /// Records in the tail (decodable or not).
    pub fn len(&self) -> usize {
        self.incoming.len() + self.records.len()
    }

    #[cfg_attr(not(feature = "internals"), expect(dead_code, reason = "the pair of len() for the internals API"))]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every record now, cheaply (one reference each, nothing decoded): take it under the lock,
    /// read it after releasing the lock.
    pub fn snapshot(&mut self) -> TailSnapshot {
        let incoming = std::mem::take(&mut self.incoming);
        self.records.extend(
            incoming.into_iter().map(|(lsn, raw)| Arc::new(TailRecord { lsn, state: Mutex::new(State::Raw(raw)) })),
        );
        TailSnapshot { records: self.records.clone() }
    }
}

/// The tail's records at one moment, read without the tail's lock.
#[derive(Debug)]
pub struct TailSnapshot {
    records: Vec<Arc<TailRecord>>,
}

/// A match ordered by the page order of its query, the last in page order first out of the
/// heap.
struct ByKey<'q>(Arc<StoredEvent>, &'q EventQuery);

impl PartialEq for ByKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for ByKey<'_> {}
impl PartialOrd for ByKey<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByKey<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.1.page_order(&self.0, &other.0)
    }
}

impl TailSnapshot {
    fn events(&self) -> impl Iterator<Item = Arc<StoredEvent>> + '_ {
        self.records.iter().filter_map(|r| r.event())
    }

    /// The first `limit` events matching `q` (cursor included) in its page order (timestamp,
    /// event_id, ascending or descending): no more than `limit` are kept while scanning.
    pub fn matching(&self, q: &EventQuery, limit: usize) -> Vec<Arc<StoredEvent>> {
        let mut best: BinaryHeap<ByKey<'_>> = BinaryHeap::with_capacity(limit.saturating_add(1).min(1 << 16));
        for event in self.events().filter(|e| e.matches(q)) {
            let event = ByKey(event, q);
            if best.len() < limit {
                best.push(event);
            } else if best.peek().is_some_and(|worst| event < *worst) {
                best.pop();
                best.push(event);
            }
        }
        best.into_sorted_vec().into_iter().map(|e| e.0).collect()
    }

    /// Every event matching `q`, unsorted (for aggregates, which need no page order).
    pub fn all_matching(&self, q: &EventQuery) -> Vec<Arc<StoredEvent>> {
        self.events().filter(|e| e.matches(q)).collect()
    }

    /// The number of decodable events, and their oldest and newest timestamps (microseconds).
    pub fn summary(&self) -> (usize, Option<(i64, i64)>) {
        let mut n = 0;
        let mut range: Option<(i64, i64)> = None;
        for t in self.events().map(|e| e.timestamp.timestamp_micros()) {
            n += 1;
            range = Some(range.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
        }
        (n, range)
    }
}

/// Frees most of a list's unused capacity once it holds less than a quarter of it (a tail
/// emptied by compaction would otherwise keep the allocation of its largest size).
fn shrink_when_sparse<T>(v: &mut Vec<T>) {
    if v.len() < v.capacity() / 4 {
        v.shrink_to(v.len() * 2);
    }
}

/// Where `part` starts inside `whole`, if it lies inside it.
fn offset_in(whole: &[u8], part: &[u8]) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (start + part.len() <= whole.len()).then_some(start)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
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
            Wal::open_replaying(tmp.path(), WalOptions::default(), WalHooks::default(), &mut |mapped, rec| {
                tail.push_replayed(mapped, &rec)
            })
            .unwrap();
        wal.close().unwrap();
        let in_place = tail.incoming.iter().filter(|(_, raw)| matches!(raw, Raw::InPlace { .. })).count();
        assert_eq!(in_place, 50, "the sealed segment's records point into its mapping");
        assert_eq!(tail.len(), 57, "the newest segment's records are copied");
        let mut found = tail.snapshot().matching(&EventQuery::default(), usize::MAX);
        found.sort_by_key(|e| e.lsn);
        let found: Vec<String> = found.iter().map(|e| e.event_id.clone()).collect();
        assert_eq!(found, ids, "every record decodes");
        tail.remove_ranges(&[(1, 50)]);
        assert_eq!(tail.len(), 7, "removing the sealed segment's range frees it");
    }

    #[test]
    fn a_query_decodes_outside_the_lock_and_keeps_only_the_first_of_the_page_order() {
        let redactor = crate::redact::Redactor::builtin();
        let mut generator = crate::workload::Generator::new(4, chrono::Utc::now() - chrono::Duration::hours(1), 1_000);
        let mut payloads: Vec<Vec<u8>> = (0..300)
            .map(|_| crate::ingest::prepare_json(&redactor, generator.next_json().as_bytes()).unwrap().payload)
            .collect();
        payloads.reverse(); // the newest events get the lowest LSNs: LSN order is not page order
        let tail = Mutex::new(TailIndex::default());
        tail.lock().unwrap().push_payloads((1..).zip(payloads).collect());

        let snapshot = tail.lock().unwrap().snapshot();
        assert!(snapshot.records.iter().all(|r| !r.is_decoded()), "taking a snapshot decodes nothing");
        let _writer = tail.try_lock().expect("reading the snapshot does not hold the tail's lock");
        let page = snapshot.matching(&EventQuery::default(), 11);
        assert_eq!(page.len(), 11, "no more than the limit is kept");
        let mut keys: Vec<(i64, String)> = snapshot
            .records
            .iter()
            .map(|r| r.event().unwrap())
            .map(|e| (e.timestamp.timestamp_micros(), e.event_id.clone()))
            .collect();
        keys.sort();
        let want: Vec<String> = keys.into_iter().take(11).map(|(_, id)| id).collect();
        let got: Vec<String> = page.iter().map(|e| e.event_id.clone()).collect();
        assert_eq!(got, want, "the page is the first 11 in (timestamp, event_id) order");
        assert!(page.iter().all(|e| e.lsn > 280), "they are the highest LSNs here");
        assert!(snapshot.records.iter().all(|r| r.is_decoded()), "each record is decoded once and kept");
    }
}
