//! The open log: [`Wal`] hands appends to the writer thread and waits for their durability.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::error::{self, WalError};
use super::format::MAX_PAYLOAD_LEN;
use super::options::{Durability, WalOptions};
use super::prescan::ReadAhead;
use super::recovery::{self, Replay};
use super::report::WalReport;
use super::writer::{self, LsnRange, Payloads, Request, WalCounters, WalHooks, Writer};

/// A point-in-time copy of the WAL's counters.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct WalStats {
    pub next_lsn: u64,
    pub durable_lsn: u64,
    pub appended: u64,
    pub dropped: u64,
    pub fsyncs: u64,
    pub groups: u64,
    pub sealed_segments: u64,
    pub bytes_written: u64,
    /// fdatasync latency histogram: (upper bound in µs, count at or under it).
    #[schema(value_type = Vec<Vec<u64>>)]
    pub fsync_histogram: Vec<(u64, u64)>,
    pub fsync_micros_total: u64,
    pub poisoned: Option<String>,
}

/// An open write-ahead log. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Wal {
    tx: SyncSender<Request>,
    counters: Arc<WalCounters>,
    thread: Mutex<Option<JoinHandle<()>>>,
    dir: PathBuf,
    durability: Durability,
    capacity: usize,
}

impl Wal {
    /// Opens (recovering) the WAL in `wal_dir` for a caller that keeps nothing of what it
    /// holds (it only appends). The caller must hold the data directory's lock.
    pub fn open(wal_dir: &Path, opts: WalOptions, hooks: WalHooks) -> Result<(Wal, WalReport), WalError> {
        Self::open_replaying(wal_dir, opts, hooks, &|_| None, &mut |_, _, _| {})
    }

    /// Opens (recovering) the WAL in `wal_dir`, calling `replay(sealed segment's mapping,
    /// record, its event id)` for every valid event record in LSN order before any new append
    /// is accepted (the mapping is None for records of the newest segment). The id is the one
    /// the record carries, else `read_ahead(record's JSON)`, which runs on whichever thread
    /// scanned the record. The caller must hold the data
    /// directory's lock.
    pub fn open_replaying(
        wal_dir: &Path,
        opts: WalOptions,
        hooks: WalHooks,
        read_ahead: &ReadAhead,
        replay: &mut Replay<'_>,
    ) -> Result<(Wal, WalReport), WalError> {
        let (active, next_lsn, report) =
            recovery::recover(&opts.fs, wal_dir, opts.segment_bytes, opts.lsn_floor, read_ahead, replay)?;
        let counters = Arc::new(WalCounters::default());
        let (tx, rx) = sync_channel(opts.queue_capacity.max(1));
        let durability = opts.durability;
        let capacity = opts.queue_capacity;
        let mut writer = Writer::new(opts, wal_dir.to_path_buf(), active, next_lsn, counters.clone());
        writer.hooks = hooks;
        let thread = std::thread::Builder::new()
            .name("flightrec-wal".into())
            .spawn(move || writer.run(rx))
            .map_err(error::io_err("start WAL writer thread", wal_dir))?;
        let wal =
            Wal { tx, counters, thread: Mutex::new(Some(thread)), dir: wal_dir.to_path_buf(), durability, capacity };
        Ok((wal, report))
    }

    /// The directory of this WAL.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The durability appends get when they do not choose one.
    pub fn default_durability(&self) -> Durability {
        self.durability
    }

    /// Appends one payload (see [`event_payload`](super::event_payload)). Returns its LSN once it is as
    /// durable as `durability` asks, or None for `async`, which returns at once.
    pub async fn append(&self, payload: Vec<u8>, durability: Durability) -> Result<Option<u64>, WalError> {
        Ok(PendingAppend(self.submit(Payloads::One(payload), durability)?).answer().await?.map(|r| r.first))
    }

    /// Queues one payload fire-and-forget (`async` whatever the WAL's default): Ok once it is
    /// queued; a full queue refuses it ([`WalError::QueueFull`], counted as dropped).
    pub fn append_async(&self, payload: Vec<u8>) -> Result<(), WalError> {
        self.submit(Payloads::One(payload), Durability::Async).map(|_| ())
    }

    /// [`Wal::append`] for threads outside an async runtime.
    pub fn append_blocking(&self, payload: Vec<u8>, durability: Durability) -> Result<Option<u64>, WalError> {
        Ok(wait_blocking(self.submit(Payloads::One(payload), durability)?)?.map(|r| r.first))
    }

    /// Appends many payloads as one request sharing one acknowledgement; their LSNs are
    /// consecutive. None for `async` or an empty batch.
    pub async fn append_batch(
        &self,
        payloads: Vec<Vec<u8>>,
        durability: Durability,
    ) -> Result<Option<LsnRange>, WalError> {
        self.start_batch(payloads, durability)?.answer().await
    }

    /// Hands many payloads to the writer as [`Wal::append_batch`] does, without waiting for
    /// the answer: [`PendingAppend::answer`] waits for it. The records are written whether
    /// or not anyone waits.
    pub fn start_batch(&self, payloads: Vec<Vec<u8>>, durability: Durability) -> Result<PendingAppend, WalError> {
        self.submit_batch(payloads, durability).map(PendingAppend)
    }

    /// [`Wal::append_batch`] for threads outside an async runtime.
    pub fn append_batch_blocking(
        &self,
        payloads: Vec<Vec<u8>>,
        durability: Durability,
    ) -> Result<Option<LsnRange>, WalError> {
        wait_blocking(self.submit_batch(payloads, durability)?)
    }

    /// Makes everything appended so far durable (fdatasync).
    pub fn flush_blocking(&self) -> Result<(), WalError> {
        let (ack, rx) = oneshot::channel();
        self.send(Request::Flush { ack })?;
        rx.blocking_recv().map_err(|_| WalError::Closed)?.map(|_| ())
    }

    /// Seals the active segment now if it holds any record (tests, shutdown, `compact`).
    pub fn seal_blocking(&self) -> Result<(), WalError> {
        let (ack, rx) = oneshot::channel();
        self.send(Request::Seal { ack })?;
        rx.blocking_recv().map_err(|_| WalError::Closed)?.map(|_| ())
    }

    /// Async form of [`Wal::flush_blocking`].
    pub async fn flush(&self) -> Result<(), WalError> {
        let (ack, rx) = oneshot::channel();
        self.send(Request::Flush { ack })?;
        rx.await.map_err(|_| WalError::Closed)?.map(|_| ())
    }

    /// Async form of [`Wal::seal_blocking`].
    pub async fn seal(&self) -> Result<(), WalError> {
        let (ack, rx) = oneshot::channel();
        self.send(Request::Seal { ack })?;
        rx.await.map_err(|_| WalError::Closed)?.map(|_| ())
    }

    pub fn stats(&self) -> WalStats {
        let c = &self.counters;
        WalStats {
            next_lsn: c.next_lsn.load(Ordering::Relaxed),
            durable_lsn: c.durable_lsn.load(Ordering::Relaxed),
            appended: c.appended.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            fsyncs: c.fsyncs.load(Ordering::Relaxed),
            groups: c.groups.load(Ordering::Relaxed),
            sealed_segments: c.sealed_segments.load(Ordering::Relaxed),
            bytes_written: c.bytes_written.load(Ordering::Relaxed),
            fsync_histogram: writer::FSYNC_BUCKETS_MICROS
                .iter()
                .zip(&c.fsync_buckets)
                .map(|(le, n)| (*le, n.load(Ordering::Relaxed)))
                .collect(),
            fsync_micros_total: c.fsync_micros_total.load(Ordering::Relaxed),
            poisoned: c.poison_cause(),
        }
    }

    /// Stops the writer after it has written and fsynced everything queued before this call.
    pub fn close(&self) -> Result<(), WalError> {
        let _ = self.tx.send(Request::Shutdown);
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
        match self.stats().poisoned {
            Some(cause) => Err(WalError::Poisoned { cause }),
            None => Ok(()),
        }
    }

    /// [`Wal::submit`] for a batch; an empty one asks nothing of the writer.
    fn submit_batch(&self, payloads: Vec<Vec<u8>>, durability: Durability) -> Result<Option<AckReceiver>, WalError> {
        if payloads.is_empty() {
            return Ok(None);
        }
        self.submit(Payloads::Many(payloads), durability)
    }

    fn submit(&self, payloads: Payloads, durability: Durability) -> Result<Option<AckReceiver>, WalError> {
        check_sizes(&payloads)?;
        if durability == Durability::Async {
            let req = Request::Append { payloads, durability, ack: None };
            return match self.tx.try_send(req) {
                Ok(()) => Ok(None),
                Err(TrySendError::Full(_)) => {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    Err(WalError::QueueFull { capacity: self.capacity })
                }
                Err(TrySendError::Disconnected(_)) => Err(WalError::Closed),
            };
        }
        let (ack, rx) = oneshot::channel();
        self.send(Request::Append { payloads, durability, ack: Some(ack) })?;
        Ok(Some(rx))
    }

    fn send(&self, req: Request) -> Result<(), WalError> {
        if let Some(cause) = self.counters.poison_cause() {
            return Err(WalError::Poisoned { cause });
        }
        self.tx.send(req).map_err(|_| WalError::Closed)
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

type AckReceiver = oneshot::Receiver<Result<LsnRange, WalError>>;

/// An append the writer has been handed (see [`Wal::start_batch`]).
#[derive(Debug)]
pub struct PendingAppend(Option<AckReceiver>);

impl PendingAppend {
    /// Waits for the writer's answer: the LSNs given (None in `async` mode, answered at once).
    /// Cancel-safe: dropped while waiting, the append goes on; waited for again, it still
    /// answers. Not to be called again once it has answered.
    pub async fn answer(&mut self) -> Result<Option<LsnRange>, WalError> {
        match &mut self.0 {
            Some(rx) => Ok(Some(rx.await.map_err(|_| WalError::Closed)??)),
            None => Ok(None),
        }
    }
}

/// [`PendingAppend::answer`] for threads outside an async runtime.
fn wait_blocking(rx: Option<AckReceiver>) -> Result<Option<LsnRange>, WalError> {
    match rx {
        Some(rx) => Ok(Some(rx.blocking_recv().map_err(|_| WalError::Closed)??)),
        None => Ok(None),
    }
}

fn check_sizes(payloads: &Payloads) -> Result<(), WalError> {
    let too_large = |p: &Vec<u8>| p.len() > MAX_PAYLOAD_LEN;
    let bad = match payloads {
        Payloads::One(p) => too_large(p).then_some(p.len()),
        Payloads::Many(v) => v.iter().find(|p| too_large(p)).map(Vec::len),
    };
    match bad {
        Some(size) => Err(WalError::TooLarge { size, max: MAX_PAYLOAD_LEN }),
        None => Ok(()),
    }
}
