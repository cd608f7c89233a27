//! Sealed segments read and scanned ahead of their replay, so that recovery's checksums run
//! on two cores.
//!
//! A sealed segment's scan (framing, CRC32 of every record, the page faults of its mapping)
//! depends on nothing but its bytes, so a helper thread scans the segments after the one being
//! replayed and files where each event record lies. The replay itself stays on the caller's
//! thread and in LSN order: [`Ahead::take`] hands the segments over one by one, in order, and
//! when the helper has not reached the next one the caller scans it itself. The result of a
//! scan is the same whoever ran it, so recovery repairs and replays exactly as it would alone.
//!
//! Memory stays bounded: nothing is scanned more than [`AHEAD`] segments past the one being
//! replayed (their mappings and a few bytes per record). The lists of records are reused from
//! one segment to the next ([`Ahead::recycle`]): each is several MiB, which fresh memory
//! would make the kernel fault in and zero again for every segment.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use uuid::Uuid;

use super::error::WalError;
use super::format::Corruption;
use super::scan::{EventRecord, SegmentScan, scan_segment};
use super::segments::{SegmentBytes, SegmentDir};

/// Reads an id from a record's JSON on the thread that scanned the record, while its bytes
/// are in that core's cache (the recorder reads the event id); its answer goes to
/// [`Replay`](super::Replay). Only for records that do not carry their id beside the JSON
/// (payload version 1, written by earlier builds).
pub type ReadAhead = dyn Fn(&[u8]) -> Option<Uuid> + Sync;

/// A record's event id: the one it carries beside its JSON, else what `read_ahead` reads
/// from the JSON.
pub(super) fn event_id(rec: &EventRecord<'_>, read_ahead: &ReadAhead) -> Option<Uuid> {
    rec.id.or_else(|| read_ahead(rec.json))
}

/// How many segments past the one being replayed may be scanned already.
const AHEAD: usize = 4;

/// A sealed segment, mapped and scanned.
pub(super) struct Scanned {
    pub bytes: SegmentBytes,
    scan: Result<SegmentScan, Corruption>,
    records: Vec<RecordAt>,
}

/// Where the scan found one event record: an [`EventRecord`] without the borrow, in 40
/// bytes (a list of them is written and read for every record recovery replays).
#[derive(Debug, Clone)]
struct RecordAt {
    lsn: u64,
    offset: u64,
    /// The id the record carries beside its JSON ([`ID_STORED`]), else the one
    /// [`ReadAhead`] read from its JSON ([`ID_READ`]); nil when neither.
    id: Uuid,
    /// Its JSON: `json_len` bytes, `json_skip` bytes after the record's offset (its framing
    /// and the payload's first bytes).
    json_len: u32,
    json_skip: u8,
    flags: u8,
}

/// [`RecordAt::flags`]: the event was redacted.
const REDACTED: u8 = 1;
/// [`RecordAt::flags`]: the id was stored beside the JSON (payload version 2).
const ID_STORED: u8 = 2;
/// [`RecordAt::flags`]: the id was read from the JSON.
const ID_READ: u8 = 4;

impl Scanned {
    /// Maps the sealed segment at `path` and scans it, keeping where each event record lies.
    /// `read_ahead` reads each record's id while its bytes are in this core's cache. The
    /// records are filed in `records` (emptied first).
    fn sealed(
        dir: &SegmentDir,
        path: &std::path::Path,
        read_ahead: &ReadAhead,
        mut records: Vec<RecordAt>,
    ) -> Result<Scanned, WalError> {
        let bytes = dir.read(path, true)?;
        records.clear();
        let scan = scan_segment(&bytes, &mut |rec| {
            let id = event_id(&rec, read_ahead);
            let id_flag = match (rec.id, id) {
                (Some(_), _) => ID_STORED,
                (None, Some(_)) => ID_READ,
                (None, None) => 0,
            };
            let json = rec.json_range_in(&bytes).unwrap_or_default();
            records.push(RecordAt {
                lsn: rec.lsn,
                offset: rec.offset,
                id: id.unwrap_or_default(),
                json_len: u32::try_from(json.len()).unwrap_or_default(),
                json_skip: u8::try_from(json.start.saturating_sub(rec.offset as usize)).unwrap_or_default(),
                flags: if rec.redacted { REDACTED } else { 0 } | id_flag,
            });
        });
        Ok(Scanned { bytes, scan, records })
    }

    /// The event records, in the order the scan found them, with their ids.
    pub fn records(&self) -> impl Iterator<Item = (EventRecord<'_>, Option<Uuid>)> {
        self.records.iter().map(|r| {
            let start = (r.offset as usize).saturating_add(r.json_skip.into());
            let json = self.bytes.get(start..start.saturating_add(r.json_len as usize)).unwrap_or_default();
            let id = (r.flags & (ID_STORED | ID_READ) != 0).then_some(r.id);
            let stored = id.filter(|_| r.flags & ID_STORED != 0);
            (EventRecord { lsn: r.lsn, offset: r.offset, redacted: r.flags & REDACTED != 0, id: stored, json }, id)
        })
    }
}

/// The sealed segments `paths` (in LSN order), scanned ahead by [`Ahead::help`] on another
/// thread and taken in order by [`Ahead::take`].
pub(super) struct Ahead<'d> {
    dir: &'d SegmentDir,
    read_ahead: &'d ReadAhead,
    paths: Vec<PathBuf>,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// The first segment nobody has claimed to scan.
    next: usize,
    /// The segment the caller takes now (or waits for).
    taking: usize,
    /// Scans claimed by one thread and not yet taken.
    done: BTreeMap<usize, Result<Scanned, WalError>>,
    /// Lists of records replayed already, kept for the next scans.
    spare: Vec<Vec<RecordAt>>,
    stopped: bool,
}

impl<'d> Ahead<'d> {
    pub fn new(dir: &'d SegmentDir, read_ahead: &'d ReadAhead, paths: Vec<PathBuf>) -> Ahead<'d> {
        Ahead { dir, read_ahead, paths, state: Mutex::new(State::default()), changed: Condvar::new() }
    }

    /// The helper thread's loop: scans the next unclaimed segment while it is within
    /// [`AHEAD`] of the caller, until every segment is claimed or [`Ahead::stop`].
    pub fn help(&self) {
        while let Some(i) = self.claim_for_helper() {
            let scanned = self.scan(i);
            self.lock().done.insert(i, scanned);
            self.changed.notify_all();
        }
    }

    fn claim_for_helper(&self) -> Option<usize> {
        let mut state = self.lock();
        loop {
            if state.stopped || state.next >= self.paths.len() {
                return None;
            }
            if state.next <= state.taking + AHEAD {
                state.next += 1;
                return Some(state.next - 1);
            }
            state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Segment `i`, scanned: by the helper, or here when the helper has not claimed it. While
    /// the helper still scans it, this thread scans a later one meanwhile rather than wait.
    /// `i` must follow the segment taken before.
    pub fn take(&self, i: usize) -> Result<Scanned, WalError> {
        let mut state = self.lock();
        state.taking = i;
        self.changed.notify_all();
        loop {
            if let Some(scanned) = state.done.remove(&i) {
                return scanned;
            }
            if state.next <= i {
                state.next = i + 1;
                drop(state);
                return self.scan(i);
            }
            if state.next < self.paths.len() && state.next <= i + AHEAD {
                let later = state.next;
                state.next += 1;
                drop(state);
                let scanned = self.scan(later);
                state = self.lock();
                state.done.insert(later, scanned);
                continue;
            }
            state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The bytes and the scan of a segment the caller has replayed; its list of records is kept
    /// for a later scan (as many as can be in use at once: the segments scanned ahead, the
    /// one replayed and one per scanning thread).
    pub fn recycle(&self, scanned: Scanned) -> (SegmentBytes, Result<SegmentScan, Corruption>) {
        let Scanned { bytes, scan, records } = scanned;
        let mut state = self.lock();
        if state.spare.len() < AHEAD + 3 {
            state.spare.push(records);
        }
        (bytes, scan)
    }

    /// Ends [`Ahead::help`] (recovery stops early on an error, or is done).
    pub fn stop(&self) {
        self.lock().stopped = true;
        self.changed.notify_all();
    }

    fn scan(&self, i: usize) -> Result<Scanned, WalError> {
        match self.paths.get(i) {
            Some(path) => {
                let records = self.lock().spare.pop().unwrap_or_default();
                Scanned::sealed(self.dir, path, self.read_ahead, records)
            }
            // Never: segments are claimed below `paths.len()`.
            None => Err(WalError::Io {
                op: "scan sealed segment",
                path: PathBuf::new(),
                source: std::io::Error::other(format!("no sealed segment number {i}")),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Calls [`Ahead::stop`] when dropped, so that the helper never waits for a caller that
/// returned early.
pub(super) struct StopOnDrop<'a, 'd>(pub &'a Ahead<'d>);

impl Drop for StopOnDrop<'_, '_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::ingest::prepare_json;
    use crate::redact::Redactor;
    use crate::wal::{Durability, Wal, WalHooks, WalOptions};
    use crate::workload::Generator;

    #[test]
    fn a_filed_record_takes_40_bytes() {
        assert_eq!(std::mem::size_of::<super::RecordAt>(), 40);
    }

    /// A replayed record's LSN, the id given to the replay and the id the record carries.
    type Replayed = (u64, Option<uuid::Uuid>, Option<uuid::Uuid>);

    /// Replays the WAL in `dir`: every record, and how many ids were read from JSON.
    fn replay_ids(dir: &std::path::Path) -> (Vec<Replayed>, usize) {
        // A read-ahead is 'static: the count is a static, used by this test alone.
        static PARSED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        PARSED.store(0, std::sync::atomic::Ordering::Relaxed);
        let read_id = |json: &[u8]| {
            PARSED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            crate::stored::event_id_of(json)
        };
        let mut seen = Vec::new();
        let (wal, _) =
            Wal::open_replaying(dir, WalOptions::default(), WalHooks::default(), &read_id, &mut |_, rec, id| {
                if rec.lsn <= 20 {
                    assert_eq!(rec.redacted, rec.lsn % 3 == 0, "the flag of version 1 LSN {}", rec.lsn);
                }
                assert_eq!(crate::stored::event_id_of(rec.json), id, "the JSON is the record's");
                seen.push((rec.lsn, id, rec.id))
            })
            .unwrap();
        wal.close().unwrap();
        (seen, PARSED.load(std::sync::atomic::Ordering::Relaxed))
    }

    #[test]
    fn ids_come_from_version_2_payloads_and_are_read_from_the_json_of_version_1_ones() {
        use crate::wal::format::{SegmentHeader, encode_record, event_payload, seal_payload, segment_file_name};
        let tmp = tempfile::tempdir().unwrap();
        let (redactor, mut generator) = (Redactor::builtin(), Generator::new(3, chrono::Utc::now(), 1_000));
        let mut event = || prepare_json(&redactor, generator.next_json().as_bytes()).unwrap();
        // Three sealed segments and an unsealed newest one, as an earlier build wrote them
        // (version 1 payloads: no id beside the JSON).
        let (mut lsn, mut written) = (1u64, Vec::new());
        for segment in 0..4 {
            let first = lsn;
            let mut bytes = SegmentHeader { first_lsn: first, created_micros: 0 }.encode().to_vec();
            for _ in 0..5 {
                let prepared = event();
                let (_, json) = crate::wal::format::split_event_payload(&prepared.payload).unwrap();
                encode_record(&mut bytes, lsn, &event_payload(lsn % 3 == 0, json)); // some redacted
                written.push(prepared.event_id);
                lsn += 1;
            }
            if segment < 3 {
                encode_record(&mut bytes, lsn, &seal_payload(5)); // the next segment's first LSN
            }
            std::fs::write(tmp.path().join(segment_file_name(first)), bytes).unwrap();
        }
        let (seen, parsed) = replay_ids(tmp.path());
        assert_eq!(seen.iter().map(|(_, id, _)| id.unwrap()).collect::<Vec<_>>(), written);
        assert!(seen.iter().all(|(_, _, carried)| carried.is_none()), "version 1 carries no id");
        assert_eq!(parsed, 20, "each read from its JSON");

        // This build appends version 2 records after them, with their ids beside the JSON.
        let (wal, _) = Wal::open(tmp.path(), WalOptions::default(), WalHooks::default()).unwrap();
        let batch: Vec<_> = (0..7).map(|_| event()).collect();
        written.extend(batch.iter().map(|p| p.event_id));
        wal.append_batch_blocking(batch.into_iter().map(|p| p.payload).collect(), Durability::Sync).unwrap();
        wal.close().unwrap();
        let (seen, parsed) = replay_ids(tmp.path());
        assert_eq!(seen.iter().map(|(_, id, _)| id.unwrap()).collect::<Vec<_>>(), written, "every id, in order");
        assert_eq!(seen.iter().map(|(lsn, _, _)| *lsn).collect::<Vec<_>>(), (1..=27).collect::<Vec<_>>());
        assert!(seen[20..].iter().all(|(_, id, carried)| carried == id), "version 2 carries its id");
        assert_eq!(parsed, 20, "only the version 1 records' ids are read from JSON");
    }

    #[test]
    fn segments_scanned_on_two_threads_replay_in_order_with_their_ids_and_damage() {
        let tmp = tempfile::tempdir().unwrap();
        let (redactor, mut generator) = (Redactor::builtin(), Generator::new(5, chrono::Utc::now(), 1_000));
        let (wal, _) = Wal::open(tmp.path(), WalOptions::default(), WalHooks::default()).unwrap();
        let mut written = Vec::new();
        for segment in 0..9 {
            let batch: Vec<_> = (0..50 + segment * 37)
                .map(|_| prepare_json(&redactor, generator.next_json().as_bytes()).unwrap())
                .collect();
            written.extend(batch.iter().map(|p| p.event_id));
            wal.append_batch_blocking(batch.into_iter().map(|p| p.payload).collect(), Durability::Sync).unwrap();
            if segment < 8 {
                wal.seal_blocking().unwrap();
            }
        }
        wal.close().unwrap();
        // One flipped byte in the first record of the fourth segment: that record is damage.
        let mut files: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().path()).collect();
        files.retain(|p| p.extension().is_some_and(|e| e == "wal"));
        files.sort();
        assert_eq!(files.len(), 9);
        let mut bytes = std::fs::read(&files[3]).unwrap();
        bytes[crate::wal::format::HEADER_LEN + 100] ^= 0x5a;
        std::fs::write(&files[3], bytes).unwrap();

        let read_id = |json: &[u8]| crate::stored::event_id_of(json);
        let mut replayed = Vec::new();
        let (wal, report) =
            Wal::open_replaying(tmp.path(), WalOptions::default(), WalHooks::default(), &read_id, &mut |_, rec, id| {
                assert_eq!(id, crate::stored::event_id_of(rec.json), "the id read ahead is the record's");
                replayed.push((rec.lsn, id.unwrap()));
            })
            .unwrap();
        wal.close().unwrap();
        let lost = written[(50 + 87 + 124) as usize];
        let expected: Vec<_> = written.iter().copied().filter(|id| *id != lost).collect();
        assert_eq!(replayed.iter().map(|(_, id)| *id).collect::<Vec<_>>(), expected, "every other record, in order");
        assert!(replayed.windows(2).all(|w| w[0].0 < w[1].0), "LSNs ascend");
        let damaged: Vec<_> = report.segments.iter().map(|s| s.damage.len()).collect();
        assert_eq!(damaged, [0, 0, 0, 1, 0, 0, 0, 0, 0], "the damage is reported in its segment");
    }
}
