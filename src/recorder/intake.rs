//! The one ingest path: prepare (validate, redact, refuse an event dated too far ahead),
//! de-duplicate (claim each `event_id` in the de-duplication memory), append the new ones to
//! the WAL, then tell the memory the outcome. The recorder, `flightrec ingest` and the
//! benchmarks all record through an [`Intake`], so a duplicate is stored once whichever way
//! it arrives (the Rust API, HTTP, NDJSON, the CLI).
//!
//! A caller that goes away while its append is in flight (an HTTP client that disconnects)
//! hands the wait for the outcome to a task (`Claimed`), so it cannot leave an id pending for
//! ever, nor forget an append that went on to succeed. A caller never waits for another
//! append while it holds claims of its own (a batch defers the ids in flight elsewhere to a
//! later round), so two batches sharing ids cannot wait for each other.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use uuid::Uuid;

use super::dedup::{Claim, Dedup, wait_for_outcome};
use super::{Recorded, RecorderConfig, RecorderError, RecorderMetrics, lock, replay};
use crate::compact::files;
use crate::datadir::DataDir;
use crate::event::{Event, InvalidEvent};
use crate::ingest::{Prepared, check_future_skew, prepare_event, prepare_json};
use crate::query::tail::TailIndex;
use crate::redact::Redactor;
use crate::wal::{Durability, PendingAppend, Wal, WalError, WalHooks};

/// Where events enter the WAL. Cheap to clone; every clone is the same intake.
#[derive(Clone)]
pub struct Intake {
    inner: Arc<Shared>,
}

struct Shared {
    wal: Wal,
    redactor: Redactor,
    dedup: Mutex<Dedup>,
    max_future_skew: chrono::Duration,
    durability: Durability,
    metrics: RecorderMetrics,
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn recorded(p: &Prepared, duplicate: bool) -> Recorded {
    Recorded {
        event_id: p.event_id,
        trace_id: p.trace_id,
        trace_id_assigned: p.trace_id_assigned,
        duplicate,
        redacted: p.redacted,
    }
}

/// A batch's results so far, by position.
type Results = Vec<Option<Result<Recorded, RecorderError>>>;

/// Ids claimed for an append in flight. Their outcome goes into the de-duplication memory
/// when the append is answered, and if the caller goes away first (the future is dropped),
/// a task takes over the wait: no id is left pending for ever, nor an append that went on to
/// succeed forgotten. The common path spawns nothing.
struct Claimed<'a> {
    shared: &'a Arc<Shared>,
    ids: Vec<Uuid>,
    append: Option<PendingAppend>,
}

impl Claimed<'_> {
    fn finish(&mut self, result: &Result<(), WalError>) {
        finish_ids(self.shared, std::mem::take(&mut self.ids), result);
    }
}

impl Drop for Claimed<'_> {
    fn drop(&mut self) {
        if self.ids.is_empty() {
            return;
        }
        let (shared, ids) = (self.shared.clone(), std::mem::take(&mut self.ids));
        match (self.append.take(), tokio::runtime::Handle::try_current()) {
            (Some(mut append), Ok(runtime)) => {
                runtime.spawn(async move {
                    let result = append.answer().await.map(|_| ());
                    finish_ids(&shared, ids, &result);
                });
            }
            // No runtime left to wait on (the process is stopping): the ids are let go, so a
            // retry is not held up; at worst it stores the event a second time.
            _ => finish_ids(&shared, ids, &Err(WalError::Closed)),
        }
    }
}

/// Tells the de-duplication memory how an append of `ids` ended: stored (all of them, or the
/// first ones of a partly written batch) or not.
fn finish_ids(shared: &Shared, ids: Vec<Uuid>, result: &Result<(), WalError>) {
    let stored = match result {
        Ok(()) => ids.len(),
        Err(e) => usize::try_from(e.records_written()).unwrap_or(usize::MAX),
    };
    let mut dedup = lock(&shared.dedup);
    let now = now_micros();
    for (i, id) in ids.into_iter().enumerate() {
        dedup.finish(id, i < stored, now);
    }
}

impl Intake {
    /// An intake on the data directory `dir` (whose writer lock the caller holds) with no
    /// recorder around it (no query tail, no compaction): `flightrec ingest` and the
    /// benchmarks. Without the compactor lock the catalog is not this writer's to read, so the
    /// LSNs continue after those of the Parquet files, and the de-duplication memory holds the
    /// ids of the WAL and of the Parquet files written within the window.
    pub fn open_writer(dir: &DataDir, config: &RecorderConfig) -> Result<Intake, RecorderError> {
        let events_dir = dir.layout().events_dir();
        let mut config = config.clone();
        config.wal.lsn_floor = config.wal.lsn_floor.max(files::highest_lsn(&events_dir)?);
        let mut dedup = Dedup::new(config.dedup_window, config.dedup_capacity);
        let now = now_micros();
        files::recent_event_ids(&events_dir, config.dedup_window, config.dedup_capacity, &mut |ids| {
            dedup.load(ids, now)
        })?;
        Intake::open(&dir.layout().wal_dir(), &config, WalHooks::default(), &mut TailIndex::default(), dedup)
    }

    /// Opens (recovering) the WAL in `wal_dir` with the settings of `config` (its WAL options,
    /// `lsn_floor` included, redaction patterns, de-duplication window and future skew). Every
    /// record recovery replays goes into `tail`, and its id into `dedup` (the de-duplication
    /// memory, seeded with the events compacted within the window).
    pub(crate) fn open(
        wal_dir: &Path,
        config: &RecorderConfig,
        hooks: WalHooks,
        tail: &mut TailIndex,
        mut dedup: Dedup,
    ) -> Result<Intake, RecorderError> {
        let redactor = Redactor::new(&config.redaction_patterns)
            .map_err(|e| RecorderError::invalid_query("redaction_patterns", e.to_string()))?;
        tracing::debug!(
            ids = dedup.len(),
            bytes = dedup.heap_bytes(),
            budget_bytes = Dedup::budget_bytes(config.dedup_capacity),
            "de-duplication memory seeded from the Parquet files"
        );
        let now = now_micros();
        let (wal, _report) = replay::open_wal(wal_dir, config.wal.clone(), hooks, tail, &mut dedup, now)?;
        let shared = Shared {
            wal,
            redactor,
            dedup: Mutex::new(dedup),
            max_future_skew: config.max_future_skew,
            durability: config.wal.durability,
            metrics: RecorderMetrics::default(),
        };
        Ok(Intake { inner: Arc::new(shared) })
    }

    /// The WAL events are appended to.
    pub fn wal(&self) -> &Wal {
        &self.inner.wal
    }

    /// The record latency histogram this intake observes into.
    pub fn metrics(&self) -> &RecorderMetrics {
        &self.inner.metrics
    }

    /// Event ids remembered as stored (the de-duplication memory).
    pub fn remembered_ids(&self) -> usize {
        lock(&self.inner.dedup).len()
    }

    /// Records one JSON event.
    pub async fn record_json(&self, json: &[u8], durability: Option<Durability>) -> Result<Recorded, RecorderError> {
        let now = chrono::Utc::now();
        let prepared = self.prepare_json(json, now)?;
        self.record_prepared(prepared, durability, now).await
    }

    /// Records an event built in Rust and says what happened to it.
    pub async fn record(&self, event: Event, durability: Option<Durability>) -> Result<Recorded, RecorderError> {
        let now = chrono::Utc::now();
        let prepared = self.prepare_event(event, now)?;
        self.record_prepared(prepared, durability, now).await
    }

    /// `now`: the clock as the event was prepared, which its first claim goes by too (one
    /// clock read fewer per event).
    async fn record_prepared(
        &self,
        p: Prepared,
        durability: Option<Durability>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Recorded, RecorderError> {
        let started = Instant::now();
        let result = self.claim_and_append(p, durability, now.timestamp_micros()).await;
        self.observe_record(durability, started);
        result
    }

    async fn claim_and_append(
        &self,
        p: Prepared,
        durability: Option<Durability>,
        mut now: i64,
    ) -> Result<Recorded, RecorderError> {
        if durability.unwrap_or(self.inner.durability) == Durability::Async {
            return self.append_async(p, now).await;
        }
        loop {
            let claim = lock(&self.inner.dedup).claim(p.event_id, now);
            match claim {
                Claim::New => break,
                Claim::Duplicate => return Ok(recorded(&p, true)),
                Claim::InFlight(rx) => {
                    wait_for_outcome(rx).await;
                    now = now_micros();
                }
            }
        }
        let result = recorded(&p, false);
        self.append_claimed(vec![p.event_id], vec![p.payload], durability).await?;
        Ok(result)
    }

    /// An `async` append: its outcome (queued, or refused by a full queue) is known at once,
    /// so the claim, the append and the id's remembering happen under one lock, with no
    /// pending entry; only a retry of an id whose `sync` or `batch` append is in flight waits.
    async fn append_async(&self, p: Prepared, mut now: i64) -> Result<Recorded, RecorderError> {
        let result = recorded(&p, false);
        let (id, payload) = (p.event_id, p.payload);
        loop {
            let in_flight = {
                let mut dedup = lock(&self.inner.dedup);
                match dedup.claim_at_once(id, now) {
                    Claim::New => {
                        self.inner.wal.append_async(payload)?;
                        dedup.insert(id, now);
                        return Ok(result);
                    }
                    Claim::Duplicate => return Ok(Recorded { duplicate: true, ..result }),
                    Claim::InFlight(rx) => rx,
                }
            };
            wait_for_outcome(in_flight).await;
            now = now_micros();
        }
    }

    /// Records many JSON events with one WAL request per round (one fdatasync in sync mode;
    /// a second round only for ids whose first append was in flight elsewhere). Each gets its
    /// own result, in order.
    pub async fn record_json_batch(
        &self,
        items: &[&[u8]],
        durability: Option<Durability>,
    ) -> Vec<Result<Recorded, RecorderError>> {
        let now = chrono::Utc::now();
        let prepared = items.iter().map(|item| self.prepare_json(item, now)).collect();
        self.record_prepared_batch(prepared, durability).await
    }

    /// Records many events built in Rust as [`Intake::record_json_batch`] records JSON ones
    /// (OTLP ingest): one WAL request per round, each event its own result, in order.
    pub async fn record_batch(
        &self,
        events: Vec<Event>,
        durability: Option<Durability>,
    ) -> Vec<Result<Recorded, RecorderError>> {
        let now = chrono::Utc::now();
        let prepared = events.into_iter().map(|e| self.prepare_event(e, now)).collect();
        self.record_prepared_batch(prepared, durability).await
    }

    async fn record_prepared_batch(
        &self,
        prepared: Vec<Result<Prepared, InvalidEvent>>,
        durability: Option<Durability>,
    ) -> Vec<Result<Recorded, RecorderError>> {
        let mut results: Results = Vec::with_capacity(prepared.len());
        let mut todo = Vec::new();
        for item in prepared {
            match item {
                Ok(p) => {
                    todo.push((results.len(), p));
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e.into()))),
            }
        }
        if !todo.is_empty() {
            let started = Instant::now();
            while !todo.is_empty() {
                todo = self.batch_round(todo, &mut results, durability).await;
            }
            self.observe_record(durability, started);
        }
        results.into_iter().map(|r| r.unwrap_or_else(|| Err(RecorderError::Wal(WalError::Closed)))).collect()
    }

    /// Counts one record call in the latency histogram of the mode it was appended with.
    fn observe_record(&self, durability: Option<Durability>, started: Instant) {
        let mode = durability.unwrap_or(self.inner.durability);
        self.inner.metrics.observe_record(mode, started.elapsed());
    }

    /// Claims every id of `todo`, appends the new ones as one request, waits for the appends
    /// in flight elsewhere (holding no claim), and returns their events for the next round.
    async fn batch_round(
        &self,
        todo: Vec<(usize, Prepared)>,
        results: &mut Results,
        durability: Option<Durability>,
    ) -> Vec<(usize, Prepared)> {
        let (mut ids, mut payloads, mut appended, mut deferred, mut waits) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        {
            let mut dedup = lock(&self.inner.dedup);
            let now = now_micros();
            for (i, p) in todo {
                match dedup.claim(p.event_id, now) {
                    Claim::New => {
                        results[i] = Some(Ok(recorded(&p, false)));
                        ids.push(p.event_id);
                        payloads.push(p.payload);
                        appended.push(i);
                    }
                    Claim::Duplicate => results[i] = Some(Ok(recorded(&p, true))),
                    Claim::InFlight(rx) => {
                        waits.push(rx);
                        deferred.push((i, p));
                    }
                }
            }
        }
        if let Err(e) = self.append_claimed(ids, payloads, durability).await {
            // The first ones of a partly written batch are stored (their results stay Ok).
            let written = usize::try_from(e.records_written()).unwrap_or(usize::MAX);
            for i in appended.into_iter().skip(written) {
                results[i] = Some(Err(RecorderError::Wal(e.cause().duplicate())));
            }
        }
        for rx in waits {
            wait_for_outcome(rx).await;
        }
        deferred
    }

    /// Appends the payloads of claimed ids as one WAL request and records the outcome for
    /// every id, also when the caller goes away before the answer (see [`Claimed`]).
    async fn append_claimed(
        &self,
        ids: Vec<Uuid>,
        payloads: Vec<Vec<u8>>,
        durability: Option<Durability>,
    ) -> Result<(), WalError> {
        if ids.is_empty() {
            return Ok(());
        }
        let durability = durability.unwrap_or(self.inner.durability);
        let mut claimed = Claimed { shared: &self.inner, ids, append: None };
        let result = match self.inner.wal.start_batch(payloads, durability) {
            Ok(append) => claimed.append.insert(append).answer().await.map(|_| ()),
            Err(e) => Err(e),
        };
        claimed.finish(&result);
        result
    }

    /// Parses, validates and redacts a JSON event, refusing one dated too far ahead.
    fn prepare_json(&self, json: &[u8], now: chrono::DateTime<chrono::Utc>) -> Result<Prepared, InvalidEvent> {
        prepare_json(&self.inner.redactor, json).and_then(|p| self.check_skew(p, now))
    }

    /// Validates and redacts an event built in Rust, refusing one dated too far ahead.
    fn prepare_event(&self, event: Event, now: chrono::DateTime<chrono::Utc>) -> Result<Prepared, InvalidEvent> {
        prepare_event(&self.inner.redactor, event).and_then(|p| self.check_skew(p, now))
    }

    /// Refuses an event dated more than the allowed skew after `now` (read once per call or
    /// batch: the skew is minutes, preparing a batch milliseconds).
    fn check_skew(&self, p: Prepared, now: chrono::DateTime<chrono::Utc>) -> Result<Prepared, InvalidEvent> {
        check_future_skew(&p, now, self.inner.max_future_skew).map(|()| p)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::workload::Generator;

    /// A writer intake on a fresh directory (kept, with its lock, as long as the intake).
    fn writer_intake() -> (tempfile::TempDir, DataDir, Intake) {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        let intake = Intake::open_writer(&data, &RecorderConfig::new(dir.path())).unwrap();
        (dir, data, intake)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_that_goes_away_mid_append_leaves_the_outcome_remembered() {
        let (_dir, _data, intake) = writer_intake();
        let mut generator = Generator::new(7, chrono::Utc::now(), 1_000);
        let (mut abandoned, mut tries) = (0, 0);
        while abandoned < 3 && tries < 1_000 {
            tries += 1;
            let json = generator.next_json();
            // Polled once (the append handed to the WAL writer), then dropped; an append
            // answered within that first poll is not abandoned, and the next event tries again.
            let once =
                tokio::time::timeout(Duration::ZERO, intake.record_json(json.as_bytes(), Some(Durability::Sync)));
            if once.await.is_ok() {
                continue;
            }
            abandoned += 1;
            // An async retry (claimed, queued and remembered at once) waits all the same.
            let mode = if abandoned % 2 == 0 { None } else { Some(Durability::Async) };
            let again = tokio::time::timeout(Duration::from_secs(10), intake.record_json(json.as_bytes(), mode));
            let again = again.await.expect("a retry is not left waiting for an abandoned append").unwrap();
            assert!(again.duplicate, "the abandoned append went on, was stored and is remembered");
        }
        assert!(abandoned > 0, "no append was still in flight after its first poll in {tries} tries");
        assert_eq!(lock(&intake.inner.dedup).pending(), 0);
        let stats = intake.wal().stats();
        assert_eq!(stats.appended, lock(&intake.inner.dedup).len() as u64, "each event stored once");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_async_append_is_remembered_once_queued_and_forgotten_when_refused() {
        let (_dir, _data, intake) = writer_intake();
        let mut generator = Generator::new(11, chrono::Utc::now(), 1_000);
        let first = generator.next_json();
        let stored = intake.record_json(first.as_bytes(), Some(Durability::Async)).await.unwrap();
        assert!(!stored.duplicate);
        for mode in [Some(Durability::Async), Some(Durability::Sync), None] {
            let again = intake.record_json(first.as_bytes(), mode).await.unwrap();
            assert!(again.duplicate, "{mode:?} retry of a queued async append");
        }
        assert_eq!((intake.remembered_ids(), lock(&intake.inner.dedup).pending()), (1, 0));

        // A sync append first, an async retry after it: a duplicate too.
        let second = generator.next_json();
        assert!(!intake.record_json(second.as_bytes(), Some(Durability::Sync)).await.unwrap().duplicate);
        assert!(intake.record_json(second.as_bytes(), Some(Durability::Async)).await.unwrap().duplicate);

        // Refused (the WAL is closed): nothing is remembered, so a later retry may store it.
        intake.wal().close().unwrap();
        let third = generator.next_json();
        assert!(intake.record_json(third.as_bytes(), Some(Durability::Async)).await.is_err());
        assert_eq!((intake.remembered_ids(), lock(&intake.inner.dedup).pending()), (2, 0));
        intake.wal().flush_blocking().unwrap_err();
        assert_eq!(intake.wal().stats().appended, 2, "each event appended once");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_async_append_stores_secrets_redacted() {
        let (_dir, data, intake) = writer_intake();
        let secret = "Rt7Yq2Wm9Kx4Ln8Pv3Zs";
        let json = Generator::new(13, chrono::Utc::now(), 1_000).next_json();
        let mut event = crate::event::parse_event(json.as_bytes()).unwrap().event;
        event.for_each_string_mut(&mut |s| *s = format!("gitlab glpat-{secret}"));
        let recorded = intake.record(event, Some(Durability::Async)).await.unwrap();
        assert!(recorded.redacted && !recorded.duplicate);
        intake.wal().close().unwrap();
        let mut wal_bytes = Vec::new();
        for file in std::fs::read_dir(data.layout().wal_dir()).unwrap() {
            wal_bytes.extend(std::fs::read(file.unwrap().path()).unwrap());
        }
        let found = |needle: &str| wal_bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        assert!(found("[REDACTED:") && !found(secret), "the WAL holds the event redacted, not the secret");
    }
}
