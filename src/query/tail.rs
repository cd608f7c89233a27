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
//! [`TailSnapshot`]: the records handed over since the last one become a shared chunk, and the
//! snapshot is one reference per chunk, whatever the tail holds. It filters and decodes after
//! releasing the lock.
//!
//! A query does not decode the whole tail. Each chunk keeps [`Keys`] per record (its
//! timestamp and hashes of its event, trace and job ids), read from the canonical envelope
//! without its payload by the first query that scans the chunk; a query decodes only the
//! records whose keys its bounds and ids admit, and then applies its whole filter. So a trace
//! or job lookup, a page of another hour and `stats` cost a scan of the keys, not a decode of
//! everything written since the last compaction. Each record is decoded once, by whichever
//! query needs it first, and then shared.
//!
//! Memory: the writer hands over each record's payload, which the tail keeps only while the
//! record's segment is the newest. Once the segment is sealed, [`release_sealed`] makes its
//! records read their JSON from the segment's mapping (decoded for each query that needs
//! them, not kept): a sealed segment waiting for the compactor costs its records' index
//! entries (about 160 bytes each), not their events, however far compaction falls behind.

use std::collections::BinaryHeap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use super::model::{EventQuery, StoredEvent};
use crate::stored::StoredEnvelope;
use crate::sync::lock;
use crate::wal::format::split_event_payload;
use crate::wal::{Appended, EventRecord, MappedSegment};

/// A chunk that holds fewer records than this takes in the next snapshot's records instead of
/// a new chunk being started, so that frequent snapshots of a slow tail do not pile up chunks.
const SMALL_CHUNK: usize = 4096;

/// Uncompacted events by LSN.
#[derive(Debug, Default)]
pub struct TailIndex {
    /// Records handed over since the last snapshot, not yet shared with queries.
    incoming: Vec<TailRecord>,
    /// Records shared with queries, in LSN order.
    chunks: Vec<Arc<Chunk>>,
}

/// A record's bytes before decoding.
#[derive(Debug)]
enum Raw {
    /// A WAL payload: kind, flags, JSON.
    Payload(Vec<u8>),
    /// A record's JSON in a sealed segment's mapping (replayed, or released at seal).
    InPlace(MappedSegment, Span),
}

/// Where a record's JSON lies in its segment's file, and whether it was redacted.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    len: usize,
    redacted: bool,
}

impl Raw {
    /// The redacted flag and the JSON.
    fn json(&self) -> Option<(bool, &[u8])> {
        match self {
            Raw::Payload(payload) => split_event_payload(payload),
            // Out of range (never, for a record the scan found there): empty, so its decode warns.
            Raw::InPlace(segment, span) => {
                Some((span.redacted, segment.get(span.start..span.start + span.len).unwrap_or_default()))
            }
        }
    }

    fn decode(&self, lsn: u64) -> Option<Arc<StoredEvent>> {
        let (redacted, json) = self.json()?;
        match StoredEnvelope::parse(json).and_then(|e| StoredEvent::from_envelope(&e, lsn, redacted)) {
            Ok(e) => Some(Arc::new(e)),
            Err(e) => {
                tracing::warn!(lsn, error = %e, "WAL record does not decode; left out of queries");
                None
            }
        }
    }

    /// A reference to the same bytes when they are a segment's mapping (cheap to clone).
    fn in_place(&self) -> Option<Raw> {
        match self {
            Raw::Payload(_) => None,
            Raw::InPlace(segment, span) => Some(Raw::InPlace(segment.clone(), *span)),
        }
    }

    /// The keys of a canonical envelope, its payload unread; None for any other record.
    fn keys(&self) -> Option<Keys> {
        let e = StoredEnvelope::envelope_only(self.json()?.1)?;
        Some(Keys::new(e.timestamp, &e.event_id, &e.trace_id, e.job_id.as_deref()))
    }
}

/// What a query checks before decoding a record: its timestamp (UTC microseconds) and hashes
/// of its ids. Equal hashes only make a record a candidate; its decoded event decides.
#[derive(Debug, Clone, Copy)]
struct Keys {
    micros: i64,
    event: u64,
    trace: u64,
    job: u64,
}

/// The `job` of an event without a job id.
const NO_JOB: u64 = 0;

impl Keys {
    fn new(timestamp: chrono::DateTime<chrono::Utc>, event_id: &str, trace_id: &str, job_id: Option<&str>) -> Keys {
        Keys {
            micros: timestamp.timestamp_micros(),
            event: id_hash(event_id),
            trace: id_hash(trace_id),
            job: job_id.map_or(NO_JOB, id_hash),
        }
    }

    fn of(e: &StoredEvent) -> Keys {
        Keys::new(e.timestamp, &e.event_id, &e.trace_id, e.job_id.as_deref())
    }
}

fn id_hash(id: &str) -> u64 {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// The part of a query that [`Keys`] can answer: every event the query matches passes it.
#[derive(Debug, Clone, Copy)]
struct Prefilter {
    event: Option<u64>,
    trace: Option<u64>,
    job: Option<u64>,
    /// Inclusive bounds on the timestamp, in microseconds.
    from: i64,
    to: i64,
}

impl Prefilter {
    fn of(q: &EventQuery) -> Prefilter {
        let hash = |id: &Option<String>| id.as_deref().map(id_hash);
        // Before `to`: before its microsecond, or within it when `to` falls inside one.
        let before = |t: chrono::DateTime<chrono::Utc>| {
            let micros = t.timestamp_micros();
            if t.timestamp_subsec_nanos().is_multiple_of(1_000) { micros.saturating_sub(1) } else { micros }
        };
        // A cursor's microsecond is inclusive both ways (ties go by event_id).
        let (after, up_to) = q.cursor_bounds();
        let from = q.from.map_or(i64::MIN, |t| t.timestamp_micros()).max(after.unwrap_or(i64::MIN));
        let to = q.to.map_or(i64::MAX, before).min(up_to.unwrap_or(i64::MAX));
        Prefilter { event: hash(&q.event_id), trace: hash(&q.trace_id), job: hash(&q.job_id), from, to }
    }

    fn admits(&self, k: &Keys) -> bool {
        self.event.is_none_or(|h| h == k.event)
            && self.trace.is_none_or(|h| h == k.trace)
            && self.job.is_none_or(|h| h == k.job)
            && (self.from..=self.to).contains(&k.micros)
    }
}

/// One uncompacted record: raw until a query first needs it, then its decoded event (the raw
/// bytes are released); one read from a sealed segment's mapping is decoded for each query
/// instead (see the module doc).
#[derive(Debug)]
struct TailRecord {
    lsn: u64,
    /// Where its JSON lies in its segment's file, for the records the writer handed over.
    place: Option<Place>,
    state: Mutex<State>,
}

/// The segment a written record went into, and where in it its JSON lies.
#[derive(Debug, Clone, Copy)]
struct Place {
    /// The segment's first LSN (its file's name).
    segment: u64,
    span: Span,
}

impl Place {
    /// The place of a written event record's JSON; None for any other payload.
    fn of(record: &Appended) -> Option<Place> {
        let (redacted, json) = split_event_payload(&record.payload)?;
        let within = (json.as_ptr() as usize).checked_sub(record.payload.as_ptr() as usize)?;
        let start = usize::try_from(record.offset).ok()?.checked_add(within)?;
        Some(Place { segment: record.segment, span: Span { start, len: json.len(), redacted } })
    }
}

#[derive(Debug)]
enum State {
    Raw(Raw),
    /// None: the record does not decode.
    Decoded(Option<Arc<StoredEvent>>),
}

impl TailRecord {
    fn raw(lsn: u64, place: Option<Place>, raw: Raw) -> TailRecord {
        TailRecord { lsn, place, state: Mutex::new(State::Raw(raw)) }
    }

    fn event(&self) -> Option<Arc<StoredEvent>> {
        let mut state = lock(&self.state);
        let raw = match &*state {
            State::Decoded(event) => return event.clone(),
            State::Raw(raw) => raw,
        };
        if let Some(mapped) = raw.in_place() {
            drop(state);
            return mapped.decode(self.lsn);
        }
        let event = raw.decode(self.lsn);
        *state = State::Decoded(event.clone());
        event
    }

    /// Makes the record read its JSON from `mapped`, its sealed segment's mapping, dropping
    /// its copy or decoded event; false when it has no place there.
    fn release(&self, mapped: &MappedSegment) -> bool {
        let Some(span) =
            self.place.map(|p| p.span).filter(|s| s.start.checked_add(s.len).is_some_and(|end| end <= mapped.len()))
        else {
            return false;
        };
        // Freed once the record's lock is let go.
        let copy = std::mem::replace(&mut *lock(&self.state), State::Raw(Raw::InPlace(mapped.clone(), span)));
        drop(copy);
        true
    }

    /// Its keys: read from the envelope alone while it is raw and canonical, else from its
    /// decoded event; None when it does not decode.
    fn keys(&self) -> Option<Keys> {
        let raw_keys = match &*lock(&self.state) {
            State::Raw(raw) => raw.keys(),
            State::Decoded(event) => return event.as_deref().map(Keys::of),
        };
        raw_keys.or_else(|| self.event().as_deref().map(Keys::of))
    }

    #[cfg(test)]
    fn is_decoded(&self) -> bool {
        matches!(*lock(&self.state), State::Decoded(_))
    }

    #[cfg(test)]
    fn is_in_place(&self) -> bool {
        matches!(*lock(&self.state), State::Raw(Raw::InPlace(..)))
    }
}

/// Records first shared by one snapshot (or a few, see [`SMALL_CHUNK`]), with their keys.
#[derive(Debug, Default)]
struct Chunk {
    records: Vec<Arc<TailRecord>>,
    /// The keys of the first records, carried over from the chunk this one extends.
    known: Vec<Option<Keys>>,
    /// The keys of every record, read by the first query that scans the chunk.
    keys: OnceLock<Vec<Option<Keys>>>,
}

impl Chunk {
    fn keys(&self) -> &[Option<Keys>] {
        self.keys.get_or_init(|| {
            let mut keys = self.known.clone();
            keys.extend(self.records.iter().skip(keys.len()).map(|r| r.keys()));
            keys
        })
    }

    /// This chunk's records followed by `more`, keeping the keys already read.
    fn extended(&self, more: impl Iterator<Item = Arc<TailRecord>>) -> Chunk {
        let known = self.keys.get().cloned().unwrap_or_else(|| self.known.clone());
        Chunk { records: self.records.iter().cloned().chain(more).collect(), known, keys: OnceLock::new() }
    }

    /// This chunk without the records `keep` rejects; None when none is left.
    fn retained(chunk: Arc<Chunk>, keep: impl Fn(u64) -> bool) -> Option<Arc<Chunk>> {
        let kept = chunk.records.iter().filter(|r| keep(r.lsn)).count();
        if kept == chunk.records.len() {
            return Some(chunk);
        }
        if kept == 0 {
            return None;
        }
        let keys = chunk.keys.get().unwrap_or(&chunk.known);
        let records = chunk.records.iter().filter(|r| keep(r.lsn)).cloned().collect();
        let known = chunk.records.iter().zip(keys).filter(|(r, _)| keep(r.lsn)).map(|(_, k)| *k).collect();
        Some(Arc::new(Chunk { records, known, keys: OnceLock::new() }))
    }
}

impl TailIndex {
    /// Adds the records the WAL writer hands over (their payloads: kind, flags, JSON).
    pub fn push_payloads(&mut self, records: Vec<Appended>) {
        self.incoming
            .extend(records.into_iter().map(|r| TailRecord::raw(r.lsn, Place::of(&r), Raw::Payload(r.payload))));
    }

    /// Adds one record replayed from the WAL at open, kept raw like the writer's (decoded by
    /// the first query that needs it), so recovery costs no JSON parse: a reference into the
    /// mapping of its sealed segment when it has one, else a copy.
    pub fn push_replayed(&mut self, mapped: Option<&MappedSegment>, rec: &EventRecord<'_>) {
        let (lsn, redacted) = (rec.lsn, rec.redacted);
        let raw = match mapped.and_then(|segment| Some((segment, rec.json_range_in(segment)?.start))) {
            Some((segment, start)) => Raw::InPlace(segment.clone(), Span { start, len: rec.json.len(), redacted }),
            None => Raw::Payload(crate::wal::event_payload(redacted, rec.json)),
        };
        self.incoming.push(TailRecord::raw(lsn, None, raw));
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
        self.incoming.retain(|r| keep(r.lsn));
        shrink_when_sparse(&mut self.incoming);
        self.chunks = std::mem::take(&mut self.chunks).into_iter().filter_map(|c| Chunk::retained(c, keep)).collect();
    }

    /// Records in the tail (decodable or not).
    pub fn len(&self) -> usize {
        self.incoming.len() + self.chunks.iter().map(|c| c.records.len()).sum::<usize>()
    }

    #[cfg_attr(not(feature = "internals"), expect(dead_code, reason = "the pair of len() for the internals API"))]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every record now, cheaply (one reference per chunk, nothing decoded): take it under the
    /// lock, read it after releasing the lock.
    pub fn snapshot(&mut self) -> TailSnapshot {
        if !self.incoming.is_empty() {
            let new = self.incoming.drain(..).map(Arc::new);
            let chunk = match self.chunks.pop() {
                Some(last) if last.records.len() < SMALL_CHUNK => last.extended(new),
                last => {
                    self.chunks.extend(last);
                    Chunk { records: new.collect(), ..Chunk::default() }
                }
            };
            self.chunks.push(Arc::new(chunk));
        }
        TailSnapshot { chunks: self.chunks.clone() }
    }

    /// The records written into the segment whose first LSN is `segment`, shared first.
    fn written_into(&mut self, segment: u64) -> Vec<Arc<TailRecord>> {
        let _ = self.snapshot();
        let from = self.chunks.partition_point(|c| c.records.last().is_some_and(|r| r.lsn < segment));
        let later = |r: &TailRecord| r.place.is_some_and(|p| p.segment > segment);
        let records = self.chunks.get(from..).unwrap_or_default().iter().flat_map(|c| c.records.iter());
        records
            .skip_while(|r| r.lsn < segment)
            .take_while(|r| !later(r))
            .filter(|r| r.place.is_some_and(|p| p.segment == segment))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
impl TailIndex {
    /// For each segment the writer's records went into, whether any of them keeps its copy.
    pub(crate) fn copies_by_segment(&mut self) -> std::collections::BTreeMap<u64, bool> {
        let mut copies = std::collections::BTreeMap::new();
        for r in self.snapshot().records() {
            if let Some(p) = r.place {
                *copies.entry(p.segment).or_insert(false) |= !r.is_in_place();
            }
        }
        copies
    }
}

/// Lets the records written into a segment just sealed (`segment`, its first LSN) read their
/// JSON from `mapped`, its mapping, instead of keeping copies in memory until the compactor
/// takes the segment (which may be long behind under load, or failing). Returns how many it
/// released. The tail's lock is held only to list them.
pub fn release_sealed(tail: &Mutex<TailIndex>, segment: u64, mapped: &MappedSegment) -> usize {
    let records = lock(tail).written_into(segment);
    records.iter().filter(|r| r.release(mapped)).count()
}

/// The tail's records at one moment, read without the tail's lock.
#[derive(Debug)]
pub struct TailSnapshot {
    chunks: Vec<Arc<Chunk>>,
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

/// Adds the matches of `q` among `records` to `best`, which keeps the first `limit` in page
/// order.
fn keep_best<'q>(best: &mut BinaryHeap<ByKey<'q>>, q: &'q EventQuery, limit: usize, records: &[(i64, &TailRecord)]) {
    for event in records.iter().filter_map(|(_, r)| r.event()).filter(|e| e.matches(q)) {
        let event = ByKey(event, q);
        if best.len() < limit {
            best.push(event);
        } else if best.peek().is_some_and(|worst| event < *worst) {
            best.pop();
            best.push(event);
        }
    }
}

impl TailSnapshot {
    /// The records (and their timestamps) whose keys `filter` admits: a superset of a
    /// query's matches.
    fn admitted(&self, filter: Prefilter) -> impl Iterator<Item = (i64, &TailRecord)> {
        self.chunks.iter().flat_map(move |chunk| {
            let keyed = chunk.records.iter().zip(chunk.keys());
            keyed.filter_map(move |(r, k)| k.filter(|k| filter.admits(k)).map(|k| (k.micros, &**r)))
        })
    }

    /// The first `limit` events matching `q` (cursor included) in its page order (timestamp,
    /// event_id, ascending or descending): no more than `limit` are kept while scanning. When
    /// many more records are admitted than the page needs (the newest page of a busy tail),
    /// the nearest of them by timestamp are decoded first, and the rest only if those do not
    /// fill the page with events that come before all of the rest.
    pub fn matching(&self, q: &EventQuery, limit: usize) -> Vec<Arc<StoredEvent>> {
        let mut admitted: Vec<(i64, &TailRecord)> = self.admitted(Prefilter::of(q)).collect();
        // Page order of timestamps: `!` reverses the order of i64 without overflow.
        let rank = |micros: i64| if q.descending { !micros } else { micros };
        let mut best: BinaryHeap<ByKey<'_>> = BinaryHeap::with_capacity(limit.saturating_add(1).min(1 << 16));
        let near = limit.saturating_mul(4);
        let mut rest: &[(i64, &TailRecord)] = &admitted;
        if admitted.len() > near {
            admitted.select_nth_unstable_by_key(near, |(micros, _)| rank(*micros));
            let (first, after) = admitted.split_at(near);
            keep_best(&mut best, q, limit, first);
            let pivot = after.first().map_or(i64::MAX, |(micros, _)| rank(*micros));
            let full =
                best.len() == limit && best.peek().is_some_and(|w| rank(w.0.timestamp.timestamp_micros()) < pivot);
            rest = if full { &[] } else { after };
        }
        keep_best(&mut best, q, limit, rest);
        best.into_sorted_vec().into_iter().map(|e| e.0).collect()
    }

    /// Every event matching `q`, unsorted (for aggregates, which need no page order).
    pub fn all_matching(&self, q: &EventQuery) -> Vec<Arc<StoredEvent>> {
        self.admitted(Prefilter::of(q)).filter_map(|(_, r)| r.event()).filter(|e| e.matches(q)).collect()
    }

    /// The number of records whose envelope reads, and their oldest and newest timestamps
    /// (microseconds), from the keys alone.
    pub fn summary(&self) -> (usize, Option<(i64, i64)>) {
        let mut n = 0;
        let mut range: Option<(i64, i64)> = None;
        for t in self.chunks.iter().flat_map(|c| c.keys()).flatten().map(|k| k.micros) {
            n += 1;
            range = Some(range.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
        }
        (n, range)
    }

    #[cfg(test)]
    fn records(&self) -> impl Iterator<Item = &Arc<TailRecord>> {
        self.chunks.iter().flat_map(|c| c.records.iter())
    }
}

/// Frees most of a list's unused capacity once it holds less than a quarter of it (a tail
/// emptied by compaction would otherwise keep the allocation of its largest size).
fn shrink_when_sparse<T>(v: &mut Vec<T>) {
    if v.len() < v.capacity() / 4 {
        v.shrink_to(v.len() * 2);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::query::Cursor;
    use crate::wal::{Wal, WalHooks, WalOptions};

    /// Records as the writer hands them over, placed nowhere in particular (never released).
    fn appended(records: impl Iterator<Item = (u64, Vec<u8>)>) -> Vec<Appended> {
        records.map(|(lsn, payload)| Appended { lsn, segment: 1, offset: 0, payload }).collect()
    }

    #[test]
    fn records_replayed_from_sealed_segments_are_read_in_place_and_decode_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let written = crate::testing::wal_with_sealed_and_active(tmp.path(), 3, 50, 7);
        let ids: Vec<String> = written.iter().map(|p| p.event_id.to_string()).collect();

        let mut tail = TailIndex::default();
        let (wal, _) = Wal::open_replaying(
            tmp.path(),
            WalOptions::default(),
            WalHooks::default(),
            &|_| None,
            &mut |mapped, rec, _| tail.push_replayed(mapped, &rec),
        )
        .unwrap();
        wal.close().unwrap();
        let in_place = tail.incoming.iter().filter(|r| r.is_in_place()).count();
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
    fn records_of_a_sealed_segment_give_up_their_copies_for_its_mapping_and_decode_the_same() {
        let tmp = tempfile::tempdir().unwrap();
        let tail = Arc::new(Mutex::new(TailIndex::default()));
        let sealed = Arc::new(Mutex::new(Vec::new()));
        let hooks = WalHooks {
            on_seal: Some(Box::new({
                let sealed = sealed.clone();
                move |path| sealed.lock().unwrap().push(path)
            })),
            on_append: Some(Box::new({
                let tail = tail.clone();
                move |records| lock(&tail).push_payloads(records)
            })),
        };
        // Segments of 64 KiB hold about a hundred generated events.
        let opts = WalOptions { segment_bytes: 64 * 1024, ..WalOptions::default() };
        let (wal, _) = Wal::open(tmp.path(), opts, hooks).unwrap();
        let redactor = crate::redact::Redactor::builtin();
        let mut generator = crate::workload::Generator::new(5, chrono::Utc::now(), 1_000);
        for _ in 0..20 {
            let batch = (0..50)
                .map(|_| crate::ingest::prepare_json(&redactor, generator.next_json().as_bytes()).unwrap().payload);
            wal.append_batch_blocking(batch.collect(), crate::wal::Durability::Sync).unwrap();
        }
        wal.close().unwrap();
        // Every record decoded (and kept decoded) before the release, as a query leaves them.
        let everything = |tail: &Mutex<TailIndex>| {
            let mut all = lock(tail).snapshot().matching(&EventQuery::default(), usize::MAX);
            all.sort_by_key(|e| e.lsn);
            serde_json::to_string(&all).unwrap()
        };
        let before = everything(&tail);
        assert_eq!(lock(&tail).len(), 1_000);

        let sealed = std::mem::take(&mut *sealed.lock().unwrap());
        assert!(sealed.len() >= 5, "{} segments sealed", sealed.len());
        let dir = crate::wal::SegmentDir::new(crate::fsio::real(), tmp.path());
        let mut released = 0;
        for path in &sealed {
            let segment = crate::wal::format::parse_segment_file_name(path).unwrap();
            let records = lock(&tail).written_into(segment);
            assert!(records.iter().all(|r| r.is_decoded()));
            let n = release_sealed(&tail, segment, &dir.map(path).unwrap());
            assert_eq!(n, records.len(), "every record of segment {segment} is released");
            assert!(records.iter().all(|r| r.is_in_place()));
            released += n;
        }
        let snapshot = lock(&tail).snapshot();
        let in_place = snapshot.records().filter(|r| r.is_in_place()).count();
        assert_eq!(in_place, released, "the newest segment's records keep their copies");
        assert!((900..1_000).contains(&released), "{released} records in sealed segments");
        assert_eq!(everything(&tail), before, "read from the mappings, every record decodes as it did");
        let still = snapshot.records().filter(|r| r.is_in_place()).count();
        assert_eq!(still, released, "the events decoded from the mappings are not kept");
    }

    #[test]
    fn a_record_read_in_place_costs_the_tail_about_160_bytes() {
        // The record behind its Arc (two counts), the chunk's reference to it and its keys:
        // the figure README.md gives for an event of a sealed segment waiting for compaction.
        let record = std::mem::size_of::<TailRecord>() + 2 * std::mem::size_of::<usize>();
        let per_record = record + std::mem::size_of::<Arc<TailRecord>>() + std::mem::size_of::<Option<Keys>>();
        assert!(per_record <= 160, "{per_record} bytes per record");
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
        tail.lock().unwrap().push_payloads(appended((1..).zip(payloads)));

        let snapshot = tail.lock().unwrap().snapshot();
        assert!(snapshot.records().all(|r| !r.is_decoded()), "taking a snapshot decodes nothing");
        let _writer = tail.try_lock().expect("reading the snapshot does not hold the tail's lock");
        let page = snapshot.matching(&EventQuery::default(), 11);
        assert_eq!(page.len(), 11, "no more than the limit is kept");
        let decoded = snapshot.records().filter(|r| r.is_decoded()).count();
        assert_eq!(decoded, 44, "only the 44 oldest by their keys are decoded for a page of 11");
        let mut keys: Vec<(i64, String)> = snapshot
            .records()
            .map(|r| r.event().unwrap())
            .map(|e| (e.timestamp.timestamp_micros(), e.event_id.clone()))
            .collect();
        keys.sort();
        let want: Vec<String> = keys.into_iter().take(11).map(|(_, id)| id).collect();
        let got: Vec<String> = page.iter().map(|e| e.event_id.clone()).collect();
        assert_eq!(got, want, "the page is the first 11 in (timestamp, event_id) order");
        assert!(page.iter().all(|e| e.lsn > 280), "they are the highest LSNs here");
        let again = snapshot.matching(&EventQuery::default(), 11);
        assert!(page.iter().zip(&again).all(|(a, b)| Arc::ptr_eq(a, b)), "each record is decoded once and kept");
    }

    /// `n` prepared WAL payloads of generated events, `step` µs apart, the first at LSN 1.
    fn payloads(seed: u64, n: usize, step: i64) -> Vec<(u64, Vec<u8>)> {
        let redactor = crate::redact::Redactor::builtin();
        let mut generator =
            crate::workload::Generator::new(seed, chrono::Utc::now() - chrono::Duration::hours(2), step);
        let prepared =
            (0..n).map(|_| crate::ingest::prepare_json(&redactor, generator.next_json().as_bytes()).unwrap());
        (1..).zip(prepared.map(|p| p.payload)).collect()
    }

    fn snapshot_of(records: &[(u64, Vec<u8>)]) -> TailSnapshot {
        let mut tail = TailIndex::default();
        tail.push_payloads(appended(records.iter().cloned()));
        tail.snapshot()
    }

    /// What `q` must return: every record decoded, filtered and sorted without the keys.
    fn brute_force(all: &[Arc<StoredEvent>], q: &EventQuery, limit: usize) -> Vec<u64> {
        let mut want: Vec<StoredEvent> = all.iter().filter(|e| e.matches(q)).map(|e| (**e).clone()).collect();
        q.sort(&mut want);
        want.iter().take(limit).map(|e| e.lsn).collect()
    }

    fn lsns(events: &[Arc<StoredEvent>]) -> Vec<u64> {
        events.iter().map(|e| e.lsn).collect()
    }

    #[test]
    fn a_lookup_decodes_only_the_records_its_keys_admit() {
        let records = payloads(7, 600, 1_000);
        let all = snapshot_of(&records).matching(&EventQuery::default(), usize::MAX);
        let probe = &all[300];
        let questions = [
            EventQuery { trace_id: Some(probe.trace_id.clone()), ..Default::default() },
            EventQuery { job_id: probe.job_id.clone(), ..Default::default() },
            EventQuery { event_id: Some(probe.event_id.clone()), ..Default::default() },
            EventQuery { from: Some(all[100].timestamp), to: Some(all[200].timestamp), ..Default::default() },
        ];
        for q in questions {
            let snapshot = snapshot_of(&records);
            let got = snapshot.matching(&q, usize::MAX);
            assert_eq!(lsns(&got), brute_force(&all, &q, usize::MAX), "{q:?}");
            assert!(!got.is_empty(), "{q:?}");
            let decoded = snapshot.records().filter(|r| r.is_decoded()).count();
            assert_eq!(decoded, got.len(), "only the matches are decoded for {q:?}");
        }
        let snapshot = snapshot_of(&records);
        let first = all[0].timestamp.timestamp_micros();
        let last = all[599].timestamp.timestamp_micros();
        assert_eq!(snapshot.summary(), (600, Some((first, last))));
        assert!(snapshot.records().all(|r| !r.is_decoded()), "stats decode nothing");
    }

    #[test]
    fn the_keys_never_leave_out_a_match() {
        let records = payloads(11, 400, 700);
        let all = snapshot_of(&records).matching(&EventQuery::default(), usize::MAX);
        let half = chrono::Duration::nanoseconds(500);
        let mut questions = Vec::new();
        for (k, m) in [(0, 399), (17, 18), (50, 250), (399, 399)] {
            for descending in [false, true] {
                let (a, b) = (&all[k], &all[m]);
                questions.push(EventQuery {
                    from: Some(a.timestamp),
                    to: Some(b.timestamp),
                    descending,
                    ..Default::default()
                });
                // Bounds inside a microsecond: `b` is before `to`, `a` not after `from`.
                questions.push(EventQuery {
                    from: Some(a.timestamp + half),
                    to: Some(b.timestamp + half),
                    descending,
                    ..Default::default()
                });
                questions.push(EventQuery { cursor: Some(Cursor::after(a)), descending, ..Default::default() });
                questions.push(EventQuery {
                    trace_id: Some(b.trace_id.clone()),
                    cursor: Some(Cursor::after(a)),
                    descending,
                    ..Default::default()
                });
                questions.push(EventQuery {
                    job_id: a.job_id.clone(),
                    to: Some(b.timestamp),
                    descending,
                    ..Default::default()
                });
                // A filter the keys cannot answer: the nearest records may hold too few matches.
                let rare = Some(crate::event::EventType::EditorEdit);
                questions.push(EventQuery {
                    event_type: rare,
                    from: Some(a.timestamp),
                    descending,
                    ..Default::default()
                });
            }
        }
        for q in questions {
            for limit in [1, 5, usize::MAX] {
                let got = snapshot_of(&records).matching(&q, limit);
                assert_eq!(lsns(&got), brute_force(&all, &q, limit), "{q:?}, limit {limit}");
            }
        }
    }

    #[test]
    fn small_snapshots_share_a_chunk_and_a_partial_removal_keeps_the_keys_aligned() {
        let records = payloads(3, 6_010, 1_000);
        let all = snapshot_of(&records).matching(&EventQuery::default(), usize::MAX);
        let mut tail = TailIndex::default();
        for batch in records[..1_000].chunks(10) {
            tail.push_payloads(appended(batch.iter().cloned()));
            tail.snapshot();
        }
        assert_eq!(tail.chunks.len(), 1, "100 snapshots of 10 records make one chunk");
        let trace = EventQuery { trace_id: Some(all[150].trace_id.clone()), ..Default::default() };
        tail.snapshot().matching(&trace, usize::MAX); // the chunk's keys are read now
        tail.push_payloads(appended(records[1_000..6_000].iter().cloned()));
        tail.snapshot();
        tail.push_payloads(appended(records[6_000..].iter().cloned()));
        let snapshot = tail.snapshot();
        assert_eq!(tail.chunks.len(), 2, "a chunk of 6,000 records is not extended");
        drop(snapshot);

        tail.remove_ranges(&[(101, 300), (5_001, 5_500)]);
        assert_eq!(tail.len(), 6_010 - 200 - 500);
        let left: Vec<Arc<StoredEvent>> = all
            .iter()
            .filter(|e| !(101..=300).contains(&e.lsn) && !(5_001..=5_500).contains(&e.lsn))
            .cloned()
            .collect();
        for probe in [&all[50], &all[320], &all[5_600], &all[6_005]] {
            let q = EventQuery { trace_id: Some(probe.trace_id.clone()), ..Default::default() };
            assert_eq!(lsns(&tail.snapshot().matching(&q, usize::MAX)), brute_force(&left, &q, usize::MAX));
        }
        assert_eq!(tail.snapshot().summary().0, left.len());
    }
}
