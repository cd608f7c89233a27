//! Recording events: claim each `event_id` in the de-duplication memory, append the new ones
//! to the WAL, then tell the memory the outcome.
//!
//! The append and its outcome run in a task of their own, so a caller that goes away (an
//! HTTP client that disconnects) cannot leave an id pending for ever, nor forget an append
//! that went on to succeed. A caller never waits for another append while it holds claims of
//! its own (a batch defers the ids in flight elsewhere to a later round), so two batches
//! sharing ids cannot wait for each other.

use uuid::Uuid;

use super::dedup::{Claim, wait_for_outcome};
use super::{Recorded, Recorder, RecorderError, lock};
use crate::event::{Event, InvalidEvent};
use crate::ingest::Prepared;
use crate::wal::{Durability, WalError};

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

impl Recorder {
    /// Records one JSON event (HTTP and CLI ingest).
    pub async fn record_json(&self, json: &[u8], durability: Option<Durability>) -> Result<Recorded, RecorderError> {
        let prepared = self.inner.prepare_json(json)?;
        self.record_prepared(prepared, durability).await
    }

    /// Records an event built in Rust and says what happened to it.
    pub async fn record(&self, event: Event, durability: Option<Durability>) -> Result<Recorded, RecorderError> {
        let prepared = self.inner.prepare_event(event)?;
        self.record_prepared(prepared, durability).await
    }

    async fn record_prepared(&self, p: Prepared, durability: Option<Durability>) -> Result<Recorded, RecorderError> {
        loop {
            let claim = lock(&self.inner.dedup).claim(p.event_id, now_micros());
            match claim {
                Claim::New => break,
                Claim::Duplicate => return Ok(recorded(&p, true)),
                Claim::InFlight(rx) => wait_for_outcome(rx).await,
            }
        }
        let result = recorded(&p, false);
        self.append_claimed(vec![p.event_id], vec![p.payload], durability).await?;
        Ok(result)
    }

    /// Records many JSON events with one WAL request per round (one fdatasync in sync mode;
    /// a second round only for ids whose first append was in flight elsewhere). Each gets its
    /// own result, in order.
    pub async fn record_json_batch(
        &self,
        items: &[&[u8]],
        durability: Option<Durability>,
    ) -> Vec<Result<Recorded, RecorderError>> {
        let prepared = items.iter().map(|item| self.inner.prepare_json(item)).collect();
        self.record_prepared_batch(prepared, durability).await
    }

    /// Records many events built in Rust as [`Recorder::record_json_batch`] records JSON ones
    /// (OTLP ingest): one WAL request per round, each event its own result, in order.
    pub async fn record_batch(
        &self,
        events: Vec<Event>,
        durability: Option<Durability>,
    ) -> Vec<Result<Recorded, RecorderError>> {
        let prepared = events.into_iter().map(|e| self.inner.prepare_event(e)).collect();
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
        while !todo.is_empty() {
            todo = self.batch_round(todo, &mut results, durability).await;
        }
        results.into_iter().map(|r| r.unwrap_or_else(|| Err(RecorderError::Wal(WalError::Closed)))).collect()
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
            for i in appended {
                results[i] = Some(Err(RecorderError::Wal(e.duplicate())));
            }
        }
        for rx in waits {
            wait_for_outcome(rx).await;
        }
        deferred
    }

    /// Appends the payloads of claimed ids as one WAL request and records the outcome for
    /// every id, in a task that finishes even if the caller goes away.
    async fn append_claimed(
        &self,
        ids: Vec<Uuid>,
        payloads: Vec<Vec<u8>>,
        durability: Option<Durability>,
    ) -> Result<(), WalError> {
        if ids.is_empty() {
            return Ok(());
        }
        let inner = self.inner.clone();
        let durability = durability.unwrap_or(inner.config.wal.durability);
        let task = tokio::spawn(async move {
            let result = inner.wal.append_batch(payloads, durability).await.map(|_| ());
            let mut dedup = lock(&inner.dedup);
            let now = now_micros();
            for id in ids {
                dedup.finish(id, result.is_ok(), now);
            }
            result
        });
        task.await.map_err(|_| WalError::Closed)?
    }
}
