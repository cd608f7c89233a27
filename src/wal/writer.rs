//! The writer thread: the only code that appends to the WAL.
//!
//! Callers hand requests over a bounded channel. The thread takes whatever is waiting (up to
//! `max_group` requests) as one group, assigns LSNs in order, writes the group's records with
//! one write, and, when any request in the group asked for `sync`, makes them durable with one
//! fdatasync before completing the waiters (group commit). `batch` and `async` requests are
//! acknowledged after the write, and an fdatasync runs every `batch_interval`. After some
//! groups the thread rests before it takes the next ([`rest_after`]), so that the next appends
//! gather into one group instead of each waking the thread: after a group of only `async`
//! appends (nobody waits for those), and after a large group of only `batch` appends (its
//! writers are about to send again).
//!
//! The writer waits for its own fdatasync on purpose: the next group grows meanwhile. A writer
//! that wrote ahead while fdatasync threads ran (one or two at a time) wrote smaller groups,
//! made more fdatasyncs and lost throughput, with no better latency (BENCHMARKS.md, "Ninth
//! session").
//!
//! Invariant: a `sync` acknowledgement is sent only after an fdatasync that covers the record
//! returned. After any failed write or fsync the writer is poisoned: it fails every later
//! request and never retries the fsync; reopening the WAL recovers what reached the disk.
//!
//! One failure does not poison: a full disk (`ENOSPC`, `EDQUOT`) while creating the next
//! segment. It comes right after the previous segment was sealed and fsynced, so nothing
//! written is at risk: the writer answers appends with `HSK-507-DISK-FULL` and tries to create
//! the segment again on every append and every idle tick, resuming by itself once space is
//! free. A batch that straddles the two segments keeps the part written before the failure, and
//! its answer says so ([`WalError::PartlyWritten`]) so that only the rest is retried.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::error::WalError;
use super::format::{Corruption, RECORD_HEADER_LEN, encode_record, framed_len};
use super::options::{Durability, WalOptions};
use super::segment::ActiveSegment;

/// The LSNs a request was given, first to last inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LsnRange {
    pub first: u64,
    pub last: u64,
}

pub type Ack = oneshot::Sender<Result<LsnRange, WalError>>;

/// One request to the writer thread.
pub enum Request {
    Append {
        payloads: Payloads,
        durability: Durability,
        ack: Option<Ack>,
    },
    /// Make everything written so far durable.
    Flush {
        ack: Ack,
    },
    /// Seal the active segment now (if it holds any record).
    Seal {
        ack: Ack,
    },
    Shutdown,
}

impl Request {
    fn is_append(&self, mode: Durability) -> bool {
        matches!(self, Request::Append { durability, .. } if *durability == mode)
    }
}

/// How long the writer rests after a group of only `async` appends smaller than a full group:
/// a few hundred events at the rates one process sends, and nothing anyone waits for. Any other
/// request arriving meanwhile (a `sync` or `batch` append, a flush, a seal, the shutdown) waits
/// this long at most, once.
const ASYNC_LINGER: Duration = Duration::from_micros(200);

/// How long the writer rests after a group of at least [`BATCH_LINGER_FROM`] `batch` appends
/// (and nothing else) smaller than a full group: about the time the writers it has just
/// acknowledged take to prepare and send their next events. Those then gather into one group,
/// rather than each waking this thread and each acknowledgement waking a tokio worker (the
/// figures: BENCHMARKS.md, "Fifteenth session").
const BATCH_LINGER: Duration = Duration::from_micros(100);

/// The fewest `batch` appends in a group that make the writer rest. A smaller group may be all
/// the writers there are, every one of them about to wait on the next acknowledgement: a rest
/// would only delay them.
const BATCH_LINGER_FROM: usize = 24;

/// How long the writer rests after taking `group` (at most `max_group` requests), if at all.
fn rest_after(group: &[Request], max_group: usize) -> Option<Duration> {
    if group.is_empty() || group.len() >= max_group {
        // A full group means a queue behind it: take the next at once.
        return None;
    }
    if group.iter().all(|r| r.is_append(Durability::Async)) {
        return Some(ASYNC_LINGER);
    }
    let batch_only = group.len() >= BATCH_LINGER_FROM && group.iter().all(|r| r.is_append(Durability::Batch));
    batch_only.then_some(BATCH_LINGER)
}

/// One payload or many: a batch shares one acknowledgement.
pub enum Payloads {
    One(Vec<u8>),
    Many(Vec<Vec<u8>>),
}

/// Counters shared between the writer thread and everyone else.
#[derive(Debug, Default)]
pub struct WalCounters {
    pub next_lsn: AtomicU64,
    pub durable_lsn: AtomicU64,
    pub appended: AtomicU64,
    pub dropped: AtomicU64,
    pub fsyncs: AtomicU64,
    pub groups: AtomicU64,
    pub sealed_segments: AtomicU64,
    pub bytes_written: AtomicU64,
    /// fdatasync latencies: counts at or under each bound of [`FSYNC_BUCKETS_MICROS`].
    pub fsync_buckets: [AtomicU64; FSYNC_BUCKETS_MICROS.len()],
    pub fsync_micros_total: AtomicU64,
    pub is_poisoned: std::sync::atomic::AtomicBool,
    pub poisoned: Mutex<Option<String>>,
}

/// How often a writer waiting for space tries to create its next segment while idle.
const SPACE_RETRY: Duration = Duration::from_millis(500);

/// Upper bounds (microseconds) of the fdatasync latency histogram.
pub const FSYNC_BUCKETS_MICROS: [u64; 10] = [50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 50_000, 250_000];

impl WalCounters {
    fn observe_fsync(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        for (bucket, le) in self.fsync_buckets.iter().zip(FSYNC_BUCKETS_MICROS) {
            if micros <= le {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.fsync_micros_total.fetch_add(micros, Ordering::Relaxed);
    }

    /// Why the writer is poisoned, if it is (one atomic load on the fast path).
    pub fn poison_cause(&self) -> Option<String> {
        if !self.is_poisoned.load(Ordering::Acquire) {
            return None;
        }
        self.poisoned.lock().ok().and_then(|p| p.clone())
    }
}

/// Called with the path of every segment the writer seals (wakes the compactor), after the
/// [`AppendListener`] has been handed every record of that segment.
pub type SealListener = Box<dyn Fn(PathBuf) + Send>;

/// Called once per written group, before any of its appends is acknowledged, with every
/// record in it (feeds the query tail index: read-your-writes).
pub type AppendListener = Box<dyn Fn(Vec<Appended>) + Send>;

/// A record the writer has written, as the [`AppendListener`] gets it.
#[derive(Debug)]
pub struct Appended {
    pub lsn: u64,
    /// The first LSN of the segment it went into (the segment file's name).
    pub segment: u64,
    /// Where its payload starts in that segment's file.
    pub offset: u64,
    pub payload: Vec<u8>,
}

/// Callbacks of the writer thread.
#[derive(Default)]
pub struct WalHooks {
    pub on_seal: Option<SealListener>,
    pub on_append: Option<AppendListener>,
}

pub struct Writer {
    pub(super) opts: WalOptions,
    pub(super) wal_dir: PathBuf,
    pub(super) active: Option<ActiveSegment>,
    pub(super) next_lsn: u64,
    pub(super) counters: Arc<WalCounters>,
    pub(super) hooks: WalHooks,
    appended: Vec<Appended>,
    /// Segments sealed during the group being written: announced once its records are.
    sealed: Vec<PathBuf>,
    buf: Vec<u8>,
    unsynced: bool,
    last_sync: Instant,
    /// The next segment could not be created for lack of space: there is no active segment,
    /// everything written is sealed and durable, and appends wait for space.
    awaiting_space: bool,
}

/// The state of one group while it is being written.
struct Group {
    acks: Vec<(Ack, LsnRange)>,
    flush_acks: Vec<Ack>,
    needs_sync: bool,
    shutdown: bool,
}

impl Writer {
    pub fn new(
        opts: WalOptions,
        wal_dir: PathBuf,
        active: ActiveSegment,
        next_lsn: u64,
        counters: Arc<WalCounters>,
    ) -> Self {
        counters.next_lsn.store(next_lsn, Ordering::Relaxed);
        counters.durable_lsn.store(next_lsn.saturating_sub(1), Ordering::Relaxed);
        Writer {
            opts,
            wal_dir,
            active: Some(active),
            next_lsn,
            counters,
            hooks: WalHooks::default(),
            appended: Vec::new(),
            sealed: Vec::new(),
            buf: Vec::with_capacity(1 << 20),
            unsynced: false,
            last_sync: Instant::now(),
            awaiting_space: false,
        }
    }

    /// The thread's loop: runs until a Shutdown request or until every sender is gone.
    pub fn run(mut self, rx: Receiver<Request>) {
        let mut requests = Vec::with_capacity(self.opts.max_group);
        loop {
            match rx.recv_timeout(self.tick()) {
                Ok(req) => requests.push(req),
                Err(RecvTimeoutError::Timeout) => {
                    self.on_idle();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while requests.len() < self.opts.max_group {
                match rx.try_recv() {
                    Ok(req) => requests.push(req),
                    Err(_) => break,
                }
            }
            let rest = rest_after(&requests, self.opts.max_group);
            if self.process(&mut requests) {
                break;
            }
            if let Some(rest) = rest {
                std::thread::sleep(rest);
            }
        }
        if self.unsynced
            && self.poison_cause().is_none()
            && let Err(e) = self.sync()
        {
            self.poison(&e);
        }
    }

    /// How long to wait for the next request before doing periodic work.
    fn tick(&self) -> Duration {
        if self.awaiting_space {
            return SPACE_RETRY;
        }
        if self.unsynced { self.opts.batch_interval } else { self.opts.segment_age.min(Duration::from_secs(1)) }
    }

    /// Periodic work while no request arrives: the batch-mode fsync and sealing by age.
    fn on_idle(&mut self) {
        if self.poison_cause().is_some() {
            return;
        }
        let result = self.sync_if_due().and_then(|()| self.seal_if_old());
        // Every record was handed over with its group.
        self.announce_seals();
        let result = if self.awaiting_space { self.open_segment() } else { result };
        if let Err(e) = result
            && !self.awaiting_space
        {
            self.poison(&e);
        }
    }

    /// Writes one group. Returns true when a Shutdown request was seen.
    fn process(&mut self, requests: &mut Vec<Request>) -> bool {
        let mut group = Group { acks: Vec::new(), flush_acks: Vec::new(), needs_sync: false, shutdown: false };
        if let Some(cause) = self.poison_cause() {
            return fail_all(requests.drain(..), &WalError::Poisoned { cause });
        }
        self.counters.groups.fetch_add(1, Ordering::Relaxed);
        let result = self.write_group(requests, &mut group);
        match result {
            Ok(()) => {
                self.hand_over_records();
                for (ack, range) in group.acks {
                    let _ = ack.send(Ok(range));
                }
                let durable = LsnRange { first: 1, last: self.counters.durable_lsn.load(Ordering::Relaxed) };
                for ack in group.flush_acks {
                    let _ = ack.send(Ok(durable));
                }
            }
            Err(e) if self.awaiting_space => return self.answer_disk_full(group, requests, &e),
            Err(e) => {
                self.appended.clear();
                self.announce_seals();
                self.poison(&e);
                let errs = group.acks.into_iter().map(|(a, _)| a).chain(group.flush_acks);
                for ack in errs {
                    let _ = ack.send(Err(e.duplicate()));
                }
                group.shutdown |= fail_all(requests.drain(..), &e);
            }
        }
        group.shutdown
    }

    /// Answers a group that stopped because the next segment could not be created: what was
    /// written before is sealed and durable, so its requests succeed; the rest get `e`.
    /// Returns true when a Shutdown request was among them.
    fn answer_disk_full(&mut self, group: Group, requests: &mut Vec<Request>, e: &WalError) -> bool {
        self.hand_over_records();
        let durable = LsnRange { first: 1, last: self.counters.durable_lsn.load(Ordering::Relaxed) };
        for (ack, range) in group.acks {
            let _ = ack.send(Ok(range));
        }
        for ack in group.flush_acks {
            let _ = ack.send(Ok(durable));
        }
        group.shutdown | fail_all(requests.drain(..), e)
    }

    /// Hands the group's records to the append listener, then announces the segments sealed
    /// meanwhile: a seal listener finds every record of a sealed segment already handed over.
    fn hand_over_records(&mut self) {
        if let Some(listener) = &self.hooks.on_append {
            listener(std::mem::take(&mut self.appended));
        }
        self.announce_seals();
    }

    fn announce_seals(&mut self) {
        for path in self.sealed.drain(..) {
            if let Some(listener) = &self.hooks.on_seal {
                listener(path);
            }
        }
    }

    fn write_group(&mut self, requests: &mut Vec<Request>, group: &mut Group) -> Result<(), WalError> {
        self.seal_if_old()?;
        let mut pending = std::mem::take(requests).into_iter();
        while let Some(req) = pending.next() {
            if let Err(e) = self.take_request(req, group) {
                requests.extend(pending);
                return Err(e);
            }
        }
        self.write_buffer()?;
        if group.needs_sync {
            self.sync()?;
        } else {
            self.sync_if_due()?;
        }
        Ok(())
    }

    /// Adds one request to the group; a request that fails is answered here.
    fn take_request(&mut self, req: Request, group: &mut Group) -> Result<(), WalError> {
        match req {
            Request::Append { payloads, durability, ack } => match self.append(payloads) {
                Ok(range) => {
                    group.needs_sync |= durability == Durability::Sync;
                    if let Some(ack) = ack {
                        group.acks.push((ack, range));
                    }
                }
                Err(e) => {
                    if let Some(ack) = ack {
                        let _ = ack.send(Err(e.duplicate()));
                    }
                    // The rest of the group gets the cause: none of its records were written.
                    return Err(e.into_cause());
                }
            },
            Request::Flush { ack } => {
                group.needs_sync = true;
                group.flush_acks.push(ack);
            }
            Request::Seal { ack } => {
                if let Err(e) = self.seal_active() {
                    let _ = ack.send(Err(e.duplicate()));
                    return Err(e);
                }
                group.flush_acks.push(ack);
            }
            Request::Shutdown => group.shutdown = true,
        }
        Ok(())
    }

    /// Frames the payloads into the group buffer, sealing first when the segment is full.
    fn append(&mut self, payloads: Payloads) -> Result<LsnRange, WalError> {
        self.open_segment()?;
        let first = self.next_lsn;
        let result = match payloads {
            Payloads::One(payload) => self.append_one(payload),
            Payloads::Many(payloads) => payloads.into_iter().try_for_each(|p| self.append_one(p)),
        };
        let appended = self.next_lsn - first;
        self.counters.appended.fetch_add(appended, Ordering::Relaxed);
        self.counters.next_lsn.store(self.next_lsn, Ordering::Relaxed);
        let written = LsnRange { first, last: self.next_lsn.saturating_sub(1) };
        match result {
            Ok(()) => Ok(written),
            // The batch's records so far were sealed and fsynced before the next segment could
            // not be created: they are stored, and the caller must know which, or a retry of
            // the whole batch would store them twice.
            Err(cause) if appended > 0 && self.awaiting_space => {
                Err(WalError::PartlyWritten { first, last: written.last, cause: Box::new(cause) })
            }
            Err(e) => Err(e),
        }
    }

    fn append_one(&mut self, payload: Vec<u8>) -> Result<(), WalError> {
        let Some(after) = self.next_lsn.checked_add(1) else {
            return Err(self.lsn_space_end());
        };
        if self.segment_full(framed_len(payload.len())) {
            self.seal_active()?;
        }
        let framed_at = self.buf.len();
        encode_record(&mut self.buf, self.next_lsn, &payload);
        if self.hooks.on_append.is_some()
            && let Some(active) = &self.active
        {
            let offset = active.write_offset + (framed_at + RECORD_HEADER_LEN) as u64;
            self.appended.push(Appended { lsn: self.next_lsn, segment: active.first_lsn, offset, payload });
        }
        self.next_lsn = after;
        if let Some(active) = self.active.as_mut() {
            active.event_records += 1;
        }
        Ok(())
    }

    /// The next record would carry LSN `u64::MAX`, which the decoder refuses (its successor
    /// would wrap to 0): writing it would write a record recovery cuts away.
    fn lsn_space_end(&self) -> WalError {
        let (segment, offset) = match &self.active {
            Some(a) => (a.path().to_path_buf(), a.write_offset + self.buf.len() as u64),
            None => (self.wal_dir.clone(), 0),
        };
        WalError::Corruption { segment, offset, cause: Corruption::LsnSpaceEnd { lsn: self.next_lsn } }
    }

    fn segment_full(&self, extra: usize) -> bool {
        self.active.as_ref().is_some_and(|a| {
            a.event_records > 0 && a.write_offset + (self.buf.len() + extra) as u64 > self.opts.segment_bytes
        })
    }

    fn write_buffer(&mut self) -> Result<(), WalError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let active = self.active.as_mut().ok_or(WalError::Closed)?;
        active.write(&self.buf)?;
        self.counters.bytes_written.fetch_add(self.buf.len() as u64, Ordering::Relaxed);
        self.buf.clear();
        self.unsynced = true;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), WalError> {
        if self.unsynced {
            let started = Instant::now();
            self.active.as_mut().ok_or(WalError::Closed)?.sync()?;
            self.counters.observe_fsync(started.elapsed());
        }
        self.unsynced = false;
        self.last_sync = Instant::now();
        self.counters.durable_lsn.store(self.next_lsn.saturating_sub(1), Ordering::Relaxed);
        Ok(())
    }

    fn sync_if_due(&mut self) -> Result<(), WalError> {
        if self.unsynced && self.last_sync.elapsed() >= self.opts.batch_interval {
            self.sync()?;
        }
        Ok(())
    }

    fn seal_if_old(&mut self) -> Result<(), WalError> {
        let age_limit = i64::try_from(self.opts.segment_age.as_micros()).unwrap_or(i64::MAX);
        let old = self.active.as_ref().is_some_and(|a| a.event_records > 0 && a.age_micros() >= age_limit);
        if old { self.seal_active() } else { Ok(()) }
    }

    /// Seals the active segment (writing out the group buffer first) and opens the next one.
    fn seal_active(&mut self) -> Result<(), WalError> {
        self.write_buffer()?;
        if self.active.as_ref().is_none_or(|a| a.event_records == 0) {
            return Ok(());
        }
        let active = self.active.take().ok_or(WalError::Closed)?;
        let sealed = active.seal(self.next_lsn)?;
        self.unsynced = false;
        self.counters.durable_lsn.store(self.next_lsn.saturating_sub(1), Ordering::Relaxed);
        self.counters.sealed_segments.fetch_add(1, Ordering::Relaxed);
        self.sealed.push(sealed);
        self.open_segment()
    }

    /// Creates the segment that takes the next records, unless there is one. A full disk
    /// leaves the writer waiting for space (see the module doc); any other failure poisons.
    fn open_segment(&mut self) -> Result<(), WalError> {
        if self.active.is_some() {
            return Ok(());
        }
        match ActiveSegment::create(&self.opts.fs, &self.wal_dir, self.next_lsn, self.opts.segment_bytes) {
            Ok(segment) => {
                if self.awaiting_space {
                    tracing::info!(wal = %self.wal_dir.display(), "space is free again: WAL appends resume");
                }
                self.active = Some(segment);
                self.awaiting_space = false;
                Ok(())
            }
            Err(e @ WalError::DiskFull { .. }) => {
                if !self.awaiting_space {
                    tracing::warn!(error = %e, "no space for the next WAL segment: appends wait for space");
                }
                self.awaiting_space = true;
                Err(e)
            }
            Err(e) => {
                self.awaiting_space = false;
                Err(e)
            }
        }
    }

    fn poison_cause(&self) -> Option<String> {
        self.counters.poison_cause()
    }

    fn poison(&mut self, e: &WalError) {
        tracing::error!(error = %e, "WAL writer poisoned");
        if let Ok(mut p) = self.counters.poisoned.lock() {
            p.get_or_insert_with(|| e.to_string());
        }
        self.counters.is_poisoned.store(true, Ordering::Release);
    }
}

/// Answers every request with the error. Returns true when one of them was a Shutdown
/// (a poisoned writer must still stop when asked, or `close` would wait for ever).
fn fail_all(requests: impl Iterator<Item = Request>, e: &WalError) -> bool {
    let mut shutdown = false;
    for req in requests {
        let ack = match req {
            Request::Append { ack, .. } => ack,
            Request::Flush { ack } | Request::Seal { ack } => Some(ack),
            Request::Shutdown => {
                shutdown = true;
                None
            }
        };
        if let Some(ack) = ack {
            let _ = ack.send(Err(e.duplicate()));
        }
    }
    shutdown
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::wal::format::parse_segment_file_name;
    use crate::wal::{Wal, WalOptions};

    fn appends(n: usize, durability: Durability) -> Vec<Request> {
        (0..n).map(|_| Request::Append { payloads: Payloads::One(Vec::new()), durability, ack: None }).collect()
    }

    #[test]
    fn the_writer_rests_after_async_groups_and_large_batch_groups_only() {
        let max = 4_096;
        assert_eq!(rest_after(&appends(1, Durability::Async), max), Some(ASYNC_LINGER));
        assert_eq!(rest_after(&appends(BATCH_LINGER_FROM, Durability::Batch), max), Some(BATCH_LINGER));
        // Few batch writers would all wait on the rest; sync appends wait on their fdatasync.
        assert_eq!(rest_after(&appends(BATCH_LINGER_FROM - 1, Durability::Batch), max), None);
        assert_eq!(rest_after(&appends(BATCH_LINGER_FROM, Durability::Sync), max), None);
        // Anything else in the group is answered first.
        let mut mixed = appends(BATCH_LINGER_FROM, Durability::Batch);
        mixed.push(Request::Flush { ack: oneshot::channel().0 });
        assert_eq!(rest_after(&mixed, max), None);
        let mut mixed = appends(BATCH_LINGER_FROM, Durability::Batch);
        mixed.extend(appends(1, Durability::Sync));
        assert_eq!(rest_after(&mixed, max), None);
        // A full group has a queue behind it.
        assert_eq!(rest_after(&appends(64, Durability::Batch), 64), None);
        assert_eq!(rest_after(&appends(64, Durability::Async), 64), None);
        assert_eq!(rest_after(&[], max), None);
    }

    /// What the listeners saw, in the order they saw it.
    #[derive(Debug)]
    enum Heard {
        Records(Vec<Appended>),
        Sealed(PathBuf),
    }

    #[test]
    fn each_record_handed_over_says_where_its_payload_lies_and_a_seal_comes_after_its_records() {
        let tmp = tempfile::tempdir().unwrap();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let hooks = WalHooks {
            on_seal: Some(Box::new({
                let heard = heard.clone();
                move |path| heard.lock().unwrap().push(Heard::Sealed(path))
            })),
            on_append: Some(Box::new({
                let heard = heard.clone();
                move |records| heard.lock().unwrap().push(Heard::Records(records))
            })),
        };
        // Segments of 16 KiB: the 200-record batches below fill several, so seals fall in the
        // middle of groups.
        let opts = WalOptions { segment_bytes: 16 * 1024, ..WalOptions::default() };
        let (wal, _) = Wal::open(tmp.path(), opts, hooks).unwrap();
        let payloads: Vec<Vec<u8>> = (0..600u32)
            .map(|i| {
                crate::wal::event_payload(
                    false,
                    format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i as usize % 97)).as_bytes(),
                )
            })
            .collect();
        for batch in payloads.chunks(200) {
            wal.append_batch_blocking(batch.to_vec(), Durability::Sync).unwrap();
        }
        wal.close().unwrap();

        let heard = std::mem::take(&mut *heard.lock().unwrap());
        let mut handed_over: Vec<(u64, u64)> = Vec::new();
        let mut seals = 0;
        for h in &heard {
            match h {
                Heard::Records(records) => {
                    for r in records {
                        let file = std::fs::read(crate::wal::format::segment_path(tmp.path(), r.segment)).unwrap();
                        let at = usize::try_from(r.offset).unwrap();
                        assert_eq!(file.get(at..at + r.payload.len()), Some(&r.payload[..]), "LSN {}", r.lsn);
                        assert_eq!(r.payload, payloads[usize::try_from(r.lsn - 1).unwrap()]);
                        handed_over.push((r.lsn, r.segment));
                    }
                }
                Heard::Sealed(path) => {
                    seals += 1;
                    let segment = parse_segment_file_name(path).unwrap();
                    let next =
                        crate::wal::scan_segment(&std::fs::read(path).unwrap(), &mut |_| {}).unwrap().sealed_next_lsn;
                    let of_it = handed_over.iter().filter(|(_, s)| *s == segment).count() as u64;
                    assert_eq!(
                        Some(segment + of_it),
                        next,
                        "every record of {} was handed over before its seal",
                        path.display()
                    );
                }
            }
        }
        assert!(seals >= 3, "{seals} seals");
        assert_eq!(handed_over.iter().map(|(lsn, _)| *lsn).collect::<Vec<_>>(), (1..=600).collect::<Vec<_>>());
    }
}
