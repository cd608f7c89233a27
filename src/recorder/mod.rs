//! The embedded recorder: the [`FlightRecorder`] API tying validation, redaction, the WAL,
//! compaction, retention and queries together.
//!
//! [`Recorder::open`] takes both locks of the data directory (writer and compactor), recovers
//! the WAL (replaying it into the query tail and the de-duplication memory), and starts two
//! background tasks: compaction (woken when the writer seals a segment, and periodically) and
//! retention (at open, then periodically). [`Recorder::shutdown`] stops them and flushes the WAL.
//!
//! Durability is the WAL's: `record_event` returns once the event is as durable as the
//! configured mode promises, and it is visible to queries from that moment (read-your-writes).

pub mod config;
// Public only with `internals` (the recovery benchmark of bench/ times the WAL replay alone).
#[cfg(feature = "internals")]
pub mod dedup;
#[cfg(not(feature = "internals"))]
mod dedup;
pub mod error;
mod idring;
mod intake;
pub mod metrics;
#[cfg(feature = "internals")]
pub mod replay;
#[cfg(not(feature = "internals"))]
mod replay;
mod store;
mod summary;
mod tasks;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use uuid::Uuid;

pub use config::RecorderConfig;
pub use error::{ClientError, RecorderError};
pub use intake::Intake;
pub use metrics::RecorderMetrics;

use crate::compact::catalog::{IdIndex, Source};
use crate::compact::error::io;
use crate::compact::{Catalog, Compactor, Released, StoreError};
use crate::datadir::{DataDir, DirLock, Layout};
use crate::event::Event;
use crate::fsio::create_dir_durable;
use crate::query::parquet::{self, ParquetScan};
use crate::query::views::{JobView, TraceView, collect_all, job_view, trace_view};
use crate::query::{EventPage, EventQuery, merge_page, tail::TailIndex};
use crate::ship::{ShipStats, Shipper};
use crate::stats::{Part, Totals};
use crate::wal::{Durability, WalHooks, WalStats};
use dedup::Dedup;

/// The most sealed segments that may wait for background compaction while it runs at a lower
/// CPU priority than ingest ([`Inner::compact_in_background`]). Each waiting segment costs the
/// query tail an index entry per event (about 160 bytes: ~15 MB for a default 64 MiB segment
/// of ~700-byte events) and queries a decode from its file, so the backlog a burst may build is
/// bounded: beyond it compaction takes its share of the cores again.
const YIELDING_BACKLOG: usize = 2;

/// How many sealed segments wait while a background compaction run yields: those that
/// waited when it started and those sealed since, less those it compacted.
#[derive(Debug)]
struct Backlog {
    waiting: usize,
    /// The WAL's count of seals when the run started.
    sealed_at_start: u64,
    compacted: usize,
}

impl Backlog {
    /// Counts one more segment compacted, with the WAL's count of seals now: whether at most
    /// [`YIELDING_BACKLOG`] wait, for the run to go on yielding.
    fn small_after_one_more(&mut self, sealed_now: u64) -> bool {
        self.compacted += 1;
        let sealed_since = usize::try_from(sealed_now.saturating_sub(self.sealed_at_start)).unwrap_or(usize::MAX);
        self.waiting.saturating_add(sealed_since).saturating_sub(self.compacted) <= YIELDING_BACKLOG
    }
}

/// The recorder API of DESIGN.md (Interfaces → Rust).
pub trait FlightRecorder {
    /// Validates, redacts and appends one event with the configured durability.
    fn record_event(&self, event: Event) -> impl Future<Output = Result<(), RecorderError>> + Send;
    /// Drops segments older than the retention window; returns the number of events purged.
    fn enforce_retention(&self) -> impl Future<Output = Result<u64, RecorderError>> + Send;
    /// One page of events matching the filter.
    fn query(&self, q: EventQuery) -> impl Future<Output = Result<EventPage, RecorderError>> + Send;
    /// A trace's events, spans and jobs, with retention gaps.
    fn trace(&self, trace_id: &str) -> impl Future<Output = Result<TraceView, RecorderError>> + Send;
    /// A job's lifecycle, traces and events, with retention gaps.
    fn job(&self, job_id: &str) -> impl Future<Output = Result<JobView, RecorderError>> + Send;
}

/// What happened to one recorded event.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Recorded {
    #[schema(value_type = String, format = "uuid")]
    pub event_id: Uuid,
    #[schema(value_type = String, format = "uuid")]
    pub trace_id: Uuid,
    pub trace_id_assigned: bool,
    /// The id was seen within the de-duplication window: nothing was stored.
    pub duplicate: bool,
    pub redacted: bool,
}

/// What the recorder holds, for `GET /v1/stats` and the UI: the [`Totals`] every stats reader
/// shows, and the live recorder's own counters.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RecorderStats {
    #[serde(flatten)]
    pub totals: Totals,
    pub dedup_ids: usize,
    /// Whole WAL segments in `wal/quarantine/` (moved there because they could not be verified).
    pub wal_quarantined_segments: u64,
    pub wal: WalStats,
    #[serde(flatten)]
    pub ship: ShipStats,
    /// The shipper's totals since start (`/metrics` only).
    #[serde(skip)]
    pub ship_counters: crate::ship::ShipCounters,
}

/// An open recorder. Cheap to clone; every clone is the same recorder.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    layout: Layout,
    config: RecorderConfig,
    intake: Intake,
    tail: Arc<Mutex<TailIndex>>,
    compactor: Mutex<Compactor>,
    query_catalog: Mutex<Catalog>,
    /// The summary's and the jobs list's own connection: a summary of a long range takes
    /// seconds, and event pages, traces and jobs must not wait behind it.
    summary_catalog: Mutex<Catalog>,
    seal_notify: Arc<tokio::sync::Notify>,
    /// The segments the WAL writer seals, for the task that lets the tail read their records
    /// in place (taken by that task when it starts).
    sealed: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<PathBuf>>>,
    /// Ships compacted files when `config.ship` is set (its own catalog connection).
    shipper: Option<Arc<Shipper>>,
    tasks: tasks::Tasks,
    _compactor_lock: DirLock,
    _writer_lock: DataDir,
}

/// A trace's or job's events, whether they were truncated, and its retention gaps.
type Linked = (Vec<crate::query::StoredEvent>, bool, Vec<crate::query::views::RetentionGap>);

pub(crate) use crate::sync::lock;

impl Recorder {
    /// Opens (recovering) the data directory and starts compaction and retention.
    /// Must be called inside a tokio runtime.
    pub async fn open(config: RecorderConfig) -> Result<Recorder, RecorderError> {
        let inner = tokio::task::spawn_blocking(move || {
            let inner = Inner::open(config)?;
            // Retention runs once before the recorder is handed out, then periodically.
            if let Err(e) = inner.retention_once() {
                tracing::error!(error = %e, "retention at open failed; retrying later");
            }
            Ok::<Inner, RecorderError>(inner)
        })
        .await
        .map_err(|_| RecorderError::ShuttingDown)??;
        let inner = Arc::new(inner);
        tasks::start(&inner);
        Ok(Recorder { inner })
    }

    /// Compacts every sealed segment now (tests, `flightrec compact` semantics in-process).
    pub async fn compact_now(&self) -> Result<crate::compact::CompactReport, RecorderError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.compact_once()).await.map_err(|_| RecorderError::ShuttingDown)?
    }

    /// Seals the active WAL segment (so the compactor can take it).
    pub async fn seal(&self) -> Result<(), RecorderError> {
        Ok(self.inner.intake.wal().seal().await?)
    }

    pub fn wal_stats(&self) -> WalStats {
        self.inner.intake.wal().stats()
    }

    /// The recorder's instruments (record latency by durability mode), for `GET /metrics`.
    pub fn metrics(&self) -> &RecorderMetrics {
        self.inner.intake.metrics()
    }

    pub fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    /// Counts and time range of everything recorded.
    pub async fn stats(&self) -> Result<RecorderStats, RecorderError> {
        self.blocking(|inner| {
            let snapshot = lock(&inner.tail).snapshot();
            let (wal_events, tail_range) = snapshot.summary();
            let wal = Part {
                events: wal_events as u64,
                oldest_micros: tail_range.map(|r| r.0),
                newest_micros: tail_range.map(|r| r.1),
            };
            let catalog = lock(&inner.query_catalog).stats()?;
            let compacted = Part {
                events: catalog.events,
                oldest_micros: catalog.oldest_micros,
                newest_micros: catalog.newest_micros,
            };
            Ok(RecorderStats {
                totals: Totals::new(wal, compacted, catalog.files),
                dedup_ids: inner.intake.remembered_ids(),
                wal_quarantined_segments: inner
                    .layout
                    .segments()
                    .quarantined_files()
                    .iter()
                    .filter(|f| f.segment)
                    .count() as u64,
                wal: inner.intake.wal().stats(),
                ship: inner.ship_stats()?,
                ship_counters: inner.shipper.as_ref().map(|s| s.board().counters()).unwrap_or_default(),
            })
        })
        .await
    }

    /// Records one JSON event and says what happened to it (see [`Intake`]).
    pub async fn record_json(&self, json: &[u8], durability: Option<Durability>) -> Result<Recorded, RecorderError> {
        self.inner.intake.record_json(json, durability).await
    }

    /// Records an event built in Rust and says what happened to it.
    pub async fn record(&self, event: Event, durability: Option<Durability>) -> Result<Recorded, RecorderError> {
        self.inner.intake.record(event, durability).await
    }

    /// Records many JSON events, each with its own result, in order (see [`Intake`]).
    pub async fn record_json_batch(
        &self,
        items: &[&[u8]],
        durability: Option<Durability>,
    ) -> Vec<Result<Recorded, RecorderError>> {
        self.inner.intake.record_json_batch(items, durability).await
    }

    /// Records many events built in Rust (OTLP ingest), one WAL request per round; each
    /// event gets its own result, in order.
    pub async fn record_batch(
        &self,
        events: Vec<Event>,
        durability: Option<Durability>,
    ) -> Vec<Result<Recorded, RecorderError>> {
        self.inner.intake.record_batch(events, durability).await
    }

    /// Events in the WAL tail (not compacted yet).
    pub fn tail_len(&self) -> usize {
        lock(&self.inner.tail).len()
    }

    /// Stops the background tasks and flushes and closes the WAL.
    pub async fn shutdown(&self) -> Result<(), RecorderError> {
        self.inner.tasks.stop().await;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.intake.wal().close())
            .await
            .map_err(|_| RecorderError::ShuttingDown)??;
        Ok(())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, RecorderError> + Send + 'static,
    ) -> Result<T, RecorderError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner)).await.map_err(|_| RecorderError::ShuttingDown)?
    }
}

impl FlightRecorder for Recorder {
    async fn record_event(&self, event: Event) -> Result<(), RecorderError> {
        self.record(event, None).await.map(|_| ())
    }

    async fn enforce_retention(&self) -> Result<u64, RecorderError> {
        self.blocking(|inner| inner.retention_once().map(|r| r.events_purged)).await
    }

    async fn query(&self, q: EventQuery) -> Result<EventPage, RecorderError> {
        let q = q.normalized();
        self.blocking(move |inner| inner.query_page(&q)).await
    }

    async fn trace(&self, trace_id: &str) -> Result<TraceView, RecorderError> {
        let id = trace_id.to_string();
        self.blocking(move |inner| {
            let q = EventQuery { trace_id: Some(id.clone()), ..EventQuery::default() };
            let (events, truncated, gaps) = inner.linked(q, IdIndex::Trace, &id)?;
            Ok(trace_view(&id, events, gaps, truncated))
        })
        .await
    }

    async fn job(&self, job_id: &str) -> Result<JobView, RecorderError> {
        let id = job_id.to_string();
        self.blocking(move |inner| {
            let q = EventQuery { job_id: Some(id.clone()), ..EventQuery::default() };
            let (events, truncated, gaps) = inner.linked(q, IdIndex::Job, &id)?;
            Ok(job_view(&id, events, gaps, truncated))
        })
        .await
    }
}

impl Inner {
    fn open(mut config: RecorderConfig) -> Result<Inner, RecorderError> {
        let root = &config.data_dir;
        create_dir_durable(config.wal.fs.as_ref(), root).map_err(io("create data directory", root))?;
        let writer_lock = DataDir::open(&config.data_dir)?;
        let compactor_lock = DirLock::compactor(&config.data_dir)?;
        let layout = writer_lock.layout().clone().with_fs(config.wal.fs.clone());
        let compactor = Compactor::open(&layout)?;
        let query_catalog = compactor.catalog().reader()?;
        let summary_catalog = compactor.catalog().reader()?;
        let mut dedup = Dedup::new(config.dedup_window, config.dedup_capacity);
        let now = chrono::Utc::now().timestamp_micros();
        store::recent_event_ids(
            &query_catalog,
            &layout.root,
            config.dedup_window,
            config.dedup_capacity,
            &mut |ids| dedup.load(ids, now),
        )?;
        let shipper = match &config.ship {
            Some(ship) => Some(Arc::new(Shipper::new(compactor.catalog().reader()?, &layout.root, ship.clone()))),
            None => None,
        };
        let tail = Arc::new(Mutex::new(TailIndex::default()));
        let seal_notify = Arc::new(tokio::sync::Notify::new());
        let (sealed_tx, sealed_rx) = tokio::sync::mpsc::unbounded_channel();
        let hooks = WalHooks {
            on_seal: Some(Box::new({
                let n = seal_notify.clone();
                move |path| {
                    let _ = sealed_tx.send(path);
                    n.notify_one();
                }
            })),
            on_append: Some(Box::new({
                let t = tail.clone();
                move |records| lock(&t).push_payloads(records)
            })),
        };
        let stored = compactor.catalog().highest_lsn()?;
        config.wal.lsn_floor = config.wal.lsn_floor.max(stored);
        let intake = Intake::open(&layout.wal_dir(), &config, hooks, &mut lock(&tail), dedup)?;
        Ok(Inner {
            layout,
            config,
            intake,
            tail,
            compactor: Mutex::new(compactor),
            query_catalog: Mutex::new(query_catalog),
            summary_catalog: Mutex::new(summary_catalog),
            seal_notify,
            sealed: Mutex::new(Some(sealed_rx)),
            shipper,
            tasks: tasks::Tasks::default(),
            _compactor_lock: compactor_lock,
            _writer_lock: writer_lock,
        })
    }

    fn query_page(&self, q: &EventQuery) -> Result<EventPage, RecorderError> {
        self.query_page_with(q, |catalog| store::page_scan(catalog, &self.layout.root, q))
    }

    /// One page: the tail's matches, then the Parquet files `scan` chooses.
    fn query_page_with(
        &self,
        q: &EventQuery,
        scan: impl FnOnce(&Catalog) -> Result<ParquetScan, StoreError>,
    ) -> Result<EventPage, RecorderError> {
        // The tail first: an event compacted meanwhile is then found in Parquet (see tail.rs).
        let snapshot = lock(&self.tail).snapshot();
        let tail = snapshot.matching(q, q.page_size() + 1);
        let catalog = lock(&self.query_catalog);
        let scan = scan(&catalog)?;
        let from_parquet = parquet::query_files(catalog.parquet_connection(), &scan, q, q.page_size() + 1)?;
        Ok(merge_page(q, tail, from_parquet))
    }

    /// Every event of a trace or job (up to the view limit), whether there were more, and
    /// what retention dropped of it. Each page looks the id up in the catalog once (after
    /// reading the tail): its files, the span of its events, its retention gaps.
    fn linked(&self, q: EventQuery, index: IdIndex, id: &str) -> Result<Linked, RecorderError> {
        let mut gaps = Vec::new();
        let (events, truncated) = collect_all(q, |q| {
            self.query_page_with(q, |catalog| {
                let found = store::lookup(catalog, &self.layout.root, index, id)?;
                gaps = found.gaps;
                Ok(ParquetScan::new(found.files, found.span, q))
            })
        })?;
        Ok((events, truncated, gaps))
    }

    /// One compaction run. The ranges of the segments it records leave the tail as each
    /// catalog transaction commits, so a failing later segment leaves them out all the same
    /// (their events are in Parquet now: kept in the tail they would be counted twice, and
    /// the tail would keep mappings of deleted files), and a long run releases the mappings of
    /// the segments it passed instead of holding all of them to its end.
    fn compact_once(&self) -> Result<crate::compact::CompactReport, RecorderError> {
        self.compact_while(&mut || true, &mut |ranges| self.release_from_tail(ranges))
    }

    /// A run of the background compaction: while at most [`YIELDING_BACKLOG`] sealed
    /// segments wait, at a lower CPU priority ([`crate::parallel::run_yielding`]), so that
    /// ingest keeps the cores it wants and compaction takes what is idle; it stops after a
    /// segment once ingest has sealed enough for more than that many to wait, and says so
    /// (true), for a run at the usual priority to follow at once. With more waiting, or no
    /// thread to yield on, a run at the usual priority (false).
    fn compact_in_background(&self) -> Result<(crate::compact::CompactReport, bool), RecorderError> {
        let waiting = lock(&self.compactor).sealed_waiting()?;
        if waiting == 0 || waiting > YIELDING_BACKLOG {
            return Ok((self.compact_once()?, false));
        }
        let wal = self.intake.wal();
        let mut backlog = Backlog { waiting, sealed_at_start: wal.stats().sealed_segments, compacted: 0 };
        let mut stopped = false;
        let mut keep_going = || {
            stopped = !backlog.small_after_one_more(wal.stats().sealed_segments);
            !stopped
        };
        let yielded = self.with_tail_releaser(|released| {
            crate::parallel::run_yielding("flightrec-compact", || self.compact_while(&mut keep_going, released))
        });
        match yielded {
            Ok(report) => Ok((report?, stopped)),
            Err(e) => {
                tracing::warn!(error = %e, "no thread for compaction at a lower priority; compacting at the usual one");
                Ok((self.compact_once()?, false))
            }
        }
    }

    /// Runs `work` with a `released` for a yielding compaction: the ranges each transaction
    /// committed leave the query tail on a thread at the usual priority, which the yielding
    /// thread waits for (so they still leave before the run goes on). The tail's lock is also
    /// the WAL writer's, taken for every group: a yielding thread that held it while it waited
    /// behind ingest for a core would hold up every acknowledgement. Without a thread for it,
    /// the ranges are released where the transaction ran.
    fn with_tail_releaser<T>(&self, work: impl FnOnce(&mut Released<'_>) -> T) -> T {
        std::thread::scope(|scope| {
            let (ranges_tx, ranges_rx) = std::sync::mpsc::sync_channel::<Vec<(u64, u64)>>(0);
            let (done_tx, done_rx) = std::sync::mpsc::sync_channel::<()>(0);
            let releaser =
                std::thread::Builder::new().name("flightrec-tail-release".into()).spawn_scoped(scope, move || {
                    for ranges in ranges_rx {
                        self.release_from_tail(&ranges);
                        if done_tx.send(()).is_err() {
                            return;
                        }
                    }
                });
            if releaser.is_err() {
                return work(&mut |ranges| self.release_from_tail(ranges));
            }
            work(&mut move |ranges| {
                if ranges_tx.send(ranges.to_vec()).is_err() || done_rx.recv().is_err() {
                    self.release_from_tail(ranges);
                }
            })
        })
    }

    /// Takes the events of the LSN `ranges` a compaction committed out of the query tail (they
    /// are in Parquet now).
    fn release_from_tail(&self, ranges: &[(u64, u64)]) {
        lock(&self.tail).remove_ranges(ranges);
    }

    /// A compaction run that asks `keep_going` after each segment whether to go on
    /// ([`Compactor::run_while`]) and hands `released` the ranges each transaction committed.
    fn compact_while(
        &self,
        keep_going: &mut dyn FnMut() -> bool,
        released: &mut Released<'_>,
    ) -> Result<crate::compact::CompactReport, RecorderError> {
        let mut report = crate::compact::CompactReport::default();
        lock(&self.compactor).run_while(&mut report, released, keep_going)?;
        if report.segments > 0
            && let Some(shipper) = &self.shipper
        {
            shipper.wake();
        }
        Ok(report)
    }

    /// The shipping fields of the stats (defaults when shipping is not configured).
    fn ship_stats(&self) -> Result<ShipStats, StoreError> {
        let Some(shipper) = &self.shipper else { return Ok(ShipStats::default()) };
        let url = shipper.config().target.url();
        let counts = lock(&self.query_catalog).ship_counts(url)?;
        Ok(ShipStats::new(url, counts, shipper.board().last_error(), chrono::Utc::now()))
    }

    /// Lets the tail read the records of a sealed segment from its mapping (see
    /// [`crate::query::tail::release_sealed`]).
    fn release_sealed(&self, path: &Path) {
        let Some(segment) = crate::wal::format::parse_segment_file_name(path) else { return };
        match self.layout.segments().map(path) {
            Ok(mapped) => {
                let released = crate::query::tail::release_sealed(&self.tail, segment, &mapped);
                tracing::debug!(segment, released, "the tail reads a sealed segment's records in place");
            }
            // Compacted and deleted already: its records have left the tail with it.
            Err(e) => {
                tracing::debug!(segment, error = %e, "a sealed segment could not be mapped; its records keep their copies")
            }
        }
    }

    fn retention_once(&self) -> Result<crate::retention::RetentionReport, RecorderError> {
        let report = {
            let mut compactor = lock(&self.compactor);
            let ship_target = self.config.ship.as_ref().map(|s| s.target.url());
            crate::retention::enforce_keeping(
                &mut compactor,
                self.config.retention,
                chrono::Utc::now(),
                false,
                ship_target,
            )?
        };
        let mut tail = lock(&self.tail);
        for d in report.dropped.iter().filter(|d| d.source == Source::Wal) {
            tail.remove_ranges(&[(d.segment, d.last_lsn.unwrap_or(d.segment))]);
        }
        Ok(report)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_yielding_run_goes_on_while_at_most_the_bound_waits_counting_seals_since_it_started() {
        let mut quiet = Backlog { waiting: YIELDING_BACKLOG, sealed_at_start: 100, compacted: 0 };
        assert!((0..YIELDING_BACKLOG).all(|_| quiet.small_after_one_more(100)), "no seals: it compacts them all");

        let mut busy = Backlog { waiting: 1, sealed_at_start: 100, compacted: 0 };
        // After its first segment: none of the one and the bound's number sealed since wait.
        assert!(busy.small_after_one_more(100 + YIELDING_BACKLOG as u64));
        // After its second: two more sealed, one more compacted: one over the bound.
        assert!(!busy.small_after_one_more(102 + YIELDING_BACKLOG as u64));

        let mut counter_restarted = Backlog { waiting: 1, sealed_at_start: 100, compacted: 0 };
        assert!(counter_restarted.small_after_one_more(0), "a count below the start counts as no seals");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_ranges_a_yielding_run_releases_have_left_the_tail_when_released_returns() {
        let tmp = tempfile::tempdir().unwrap();
        let recorder = Recorder::open(RecorderConfig::new(tmp.path())).await.unwrap();
        let mut generator = crate::workload::Generator::new(9, chrono::Utc::now(), 1_000);
        for _ in 0..20 {
            recorder.record_json(generator.next_json().as_bytes(), Some(Durability::Sync)).await.unwrap();
        }
        let inner = recorder.inner.clone();
        let (before, after) = tokio::task::spawn_blocking(move || {
            let before = lock(&inner.tail).len();
            let after = inner.with_tail_releaser(|released| {
                crate::parallel::run_yielding("test-yielding", || {
                    released(&[(0, u64::MAX)]);
                    // Back from `released`: the ranges have left already.
                    lock(&inner.tail).len()
                })
                .unwrap()
            });
            (before, after)
        })
        .await
        .unwrap();
        assert_eq!((before, after), (20, 0), "released from a niced thread, through the releaser");
        recorder.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sealed_segments_events_leave_the_heap_while_the_compactor_is_held_up() {
        let tmp = tempfile::tempdir().unwrap();
        let recorder = Recorder::open(RecorderConfig::new(tmp.path())).await.unwrap();
        // The compactor held, as one behind or failing leaves it: sealed segments wait.
        let (holding, held) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let inner = recorder.inner.clone();
        let holder = std::thread::spawn(move || {
            let _compactor = lock(&inner.compactor);
            holding.send(()).unwrap();
            released.recv().ok();
        });
        held.recv().unwrap();
        let mut generator = crate::workload::Generator::new(8, chrono::Utc::now(), 1_000);
        for _ in 0..4 {
            for _ in 0..50 {
                recorder.record_json(generator.next_json().as_bytes(), Some(Durability::Sync)).await.unwrap();
            }
            recorder.seal().await.unwrap();
        }
        recorder.record_json(generator.next_json().as_bytes(), Some(Durability::Sync)).await.unwrap();

        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let copies = loop {
            let copies = lock(&recorder.inner.tail).copies_by_segment();
            let sealed_with_copies = copies.values().rev().skip(1).any(|c| *c);
            if !sealed_with_copies || std::time::Instant::now() > deadline {
                break copies;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert_eq!(copies.len(), 5, "four sealed segments and the newest: {copies:?}");
        assert_eq!(
            copies.values().copied().collect::<Vec<_>>(),
            [false, false, false, false, true],
            "only the newest keeps copies"
        );
        let page = recorder.query(EventQuery { limit: Some(500), ..EventQuery::default() }).await.unwrap();
        assert_eq!(page.events.len(), 201, "every event is still found, read from the segments");
        release.send(()).unwrap();
        holder.join().unwrap();
        recorder.shutdown().await.unwrap();
    }
}
