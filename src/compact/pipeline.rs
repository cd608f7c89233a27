//! A compaction run on both cores: while one segment's Parquet files are written (its row
//! groups encoded on every core), a reader thread verifies and sorts the next segment, and
//! the catalog transaction of the segments written before runs on a thread of its own.
//!
//! The order that makes a crash safe (see [`super`]) holds for every segment: its files are
//! written, fsynced and renamed before the transaction that records it starts, and its WAL
//! file is deleted only after that transaction committed. What overlaps are steps of
//! different segments: a crash while segment N+1 is written and segment N recorded leaves
//! N+1's files either hidden (`*.tmp`) or unlisted, and both are redone by the next run.
//! Transactions run one at a time, in segment order: the next one starts only once the
//! previous one has ended, and a failed one stops the run.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::{Builder, Scope, ScopedJoinHandle};

use super::catalog::Catalog;
use super::decode::SortedSegment;
use super::error::{StoreError, io};
use super::steps::{self, Written};
use super::{CompactReport, EVENTS_PER_TRANSACTION, Released};
use crate::datadir::Layout;
use crate::wal::Corruption;

/// A sealed segment the run is to compact (or finish).
pub(super) struct Planned {
    pub(super) first_lsn: u64,
    pub(super) path: PathBuf,
    /// The first LSN of the segment after it.
    pub(super) next_first: u64,
    /// The events the catalog counts for it, when a run that was interrupted recorded it.
    pub(super) cataloged: Option<u64>,
}

/// Segments queued between the reader and the writer: none, the hand-over is a rendezvous, so
/// the reader holds one segment verified and sorted ahead of the one being written (its
/// mapping and a key per event, a few MiB) and waits with it.
const READ_AHEAD: usize = 0;

/// What the reader thread hands over for a planned segment.
enum Read {
    /// Recorded by an interrupted run: its WAL file is only to be retired.
    Interrupted(Planned),
    /// Verified and sorted, or its header unreadable.
    Sorted(Planned, Box<Result<SortedSegment<'static>, Corruption>>),
    Failed(StoreError),
}

/// Compacts the `planned` segments in order, `per_transaction` at most in one catalog
/// transaction, reporting into `report`; `released` is called on the catalog thread. After
/// each segment written, `keep_going` says whether to go on: the segments it leaves are left
/// for the next run (those written are recorded first).
pub(super) fn run(
    layout: &Layout,
    catalog: &mut Catalog,
    per_transaction: usize,
    planned: Vec<Planned>,
    report: &mut CompactReport,
    released: &mut Released<'_>,
    keep_going: &mut dyn FnMut() -> bool,
) -> Result<(), StoreError> {
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel(READ_AHEAD);
        let reader = Builder::new()
            .name("compact-read".into())
            .spawn_scoped(scope, move || read_ahead(layout, planned, &tx))
            .map_err(io("start the compactor's reader thread", &layout.root))?;
        let mut recording = Recording::Idle(Recorder { catalog, released });
        let (pending, written) = write_all(scope, layout, per_transaction, &rx, &mut recording, report, keep_going);
        // The reader stops at its next hand-over; the transaction in flight is waited for.
        drop(rx);
        let read = reader.join().map_err(|_| stopped("read segments (the reader thread stopped)"));
        let recorded = recording.wait(report);
        // Segments written before a failure to read or write one are recorded all the same
        // (their files exist); after a failed transaction, nothing more is.
        let last = match (&recorded, recording) {
            (Ok(()), Recording::Idle(r)) => steps::record_written(layout, r.catalog, pending, report, r.released),
            _ => Ok(()),
        };
        recorded.and(read).and(written).and(last)
    })
}

/// Hands the planned segments, read, to the writer in order until it stops listening.
fn read_ahead(layout: &Layout, planned: Vec<Planned>, tx: &SyncSender<Read>) {
    let segments = layout.segments();
    if let Some(first) = planned.first() {
        segments.prefetch(&first.path);
    }
    let mut planned = planned.into_iter().peekable();
    while let Some(segment) = planned.next() {
        // The next segment is read from the disk while this one is verified and written.
        if let Some(next) = planned.peek() {
            segments.prefetch(&next.path);
        }
        let read = match segment.cataloged {
            Some(_) => Read::Interrupted(segment),
            None => match steps::read_sorted(layout, segment.first_lsn, &segment.path) {
                Ok(sorted) => Read::Sorted(segment, Box::new(sorted)),
                Err(e) => Read::Failed(e),
            },
        };
        let failed = matches!(read, Read::Failed(_));
        if tx.send(read).is_err() || failed {
            return;
        }
    }
}

/// Writes the segments the reader hands over, starting a transaction whenever enough are
/// written, until they end or `keep_going` says no. Returns the written segments not handed
/// to a transaction yet, and how it ended.
fn write_all<'scope, 'env: 'scope>(
    scope: &'scope Scope<'scope, 'env>,
    layout: &'env Layout,
    per_transaction: usize,
    rx: &Receiver<Read>,
    recording: &mut Recording<'scope, 'env>,
    report: &mut CompactReport,
    keep_going: &mut dyn FnMut() -> bool,
) -> (Vec<Written>, Result<(), StoreError>) {
    let mut pending: Vec<Written> = Vec::new();
    for read in rx.iter() {
        let step = match read {
            Read::Failed(e) => Err(e),
            Read::Interrupted(segment) => recording.finish_interrupted(layout, segment, report),
            Read::Sorted(segment, sorted) => {
                steps::write_or_quarantine(layout, segment.first_lsn, &segment.path, *sorted, report)
                    .map(|written| pending.extend(written))
            }
        };
        if let Err(e) = step {
            return (pending, Err(e));
        }
        let events: u64 = pending.iter().map(|w| w.staged.events).sum();
        if pending.len() >= per_transaction || events >= EVENTS_PER_TRANSACTION {
            let batch = std::mem::take(&mut pending);
            if let Err(e) = recording.start(scope, layout, batch, report) {
                return (pending, Err(e));
            }
        }
        if !keep_going() {
            break;
        }
    }
    (pending, Ok(()))
}

/// What a transaction needs: the catalog, and whom to tell what it committed.
struct Recorder<'env, 'r> {
    catalog: &'env mut Catalog,
    released: &'env mut Released<'r>,
}

/// The catalog (with `released`), or the transaction that has them on a thread of its own.
enum Recording<'scope, 'env> {
    Idle(Recorder<'env, 'env>),
    Busy(ScopedJoinHandle<'scope, (Recorder<'env, 'env>, CompactReport, Result<(), StoreError>)>),
    /// The transaction's thread panicked, or could not start: the catalog is gone for this run.
    Lost,
}

impl<'scope, 'env: 'scope> Recording<'scope, 'env> {
    /// Waits for the transaction in flight (if any) and reports it.
    fn wait(&mut self, report: &mut CompactReport) -> Result<(), StoreError> {
        match std::mem::replace(self, Recording::Lost) {
            Recording::Idle(recorder) => {
                *self = Recording::Idle(recorder);
                Ok(())
            }
            Recording::Busy(handle) => match handle.join() {
                Ok((recorder, done, result)) => {
                    *self = Recording::Idle(recorder);
                    report.absorb(done);
                    result
                }
                Err(_) => Err(stopped(LOST)),
            },
            Recording::Lost => Err(stopped(LOST)),
        }
    }

    /// Starts recording `batch` once the transaction before it has ended.
    fn start(
        &mut self,
        scope: &'scope Scope<'scope, 'env>,
        layout: &'env Layout,
        batch: Vec<Written>,
        report: &mut CompactReport,
    ) -> Result<(), StoreError> {
        self.wait(report)?;
        let Recording::Idle(recorder) = std::mem::replace(self, Recording::Lost) else { return Err(stopped(LOST)) };
        let record = move || {
            let Recorder { catalog, released } = recorder;
            let mut done = CompactReport::default();
            let result = steps::record_written(layout, catalog, batch, &mut done, released);
            // This thread's heap arena would otherwise keep what the transaction freed.
            crate::heap::release_free();
            (Recorder { catalog, released }, done, result)
        };
        let handle = Builder::new()
            .name("compact-record".into())
            .spawn_scoped(scope, record)
            .map_err(io("start the compactor's catalog thread", &layout.root))?;
        *self = Recording::Busy(handle);
        Ok(())
    }

    /// Retires a segment an interrupted run recorded, once the transaction in flight ended.
    fn finish_interrupted(
        &mut self,
        layout: &Layout,
        segment: Planned,
        report: &mut CompactReport,
    ) -> Result<(), StoreError> {
        self.wait(report)?;
        let Recording::Idle(recorder) = self else { return Err(stopped(LOST)) };
        let Planned { first_lsn, path, next_first, cataloged } = segment;
        steps::finish_interrupted(layout, first_lsn, &path, cataloged.unwrap_or_default(), next_first, report)?;
        (recorder.released)(&[(first_lsn, next_first.saturating_sub(1))]);
        Ok(())
    }
}

const LOST: &str = "record compacted segments (the catalog thread stopped)";

/// A thread of the run ended without a result (it panicked): the run stops; what it did
/// not record is compacted again by the next one.
fn stopped(op: &'static str) -> StoreError {
    StoreError::Io { op, path: PathBuf::new(), source: std::io::Error::other("the thread ended without a result") }
}
