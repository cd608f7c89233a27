//! [`RemoteRecorder`]: the [`FlightRecorder`] API over HTTP, for a runtime that records into a
//! `flightrec serve` instead of owning a data directory. Switching is one line: open a
//! `RemoteRecorder` where the runtime opened a `Recorder`.
//!
//! `record_event` validates the event (the same errors as the embedded recorder), serializes
//! it and puts it in a bounded buffer; one sender task posts what the buffer holds as one
//! `POST /v1/events` array (so events that arrive while a request is in flight go together in
//! the next), with the recorder's durability as `?durability=`. A request that gets no answer,
//! or a 408, 429 or 5xx, is sent again with the same events, hence the same event ids, which
//! the server de-duplicates: an event is stored once however often it is sent. A batch that is
//! still failing after `give_up_after` fails its events.
//!
//! The caller waits as long as the durability says: with `sync` and `batch` until the server
//! acknowledged the event (with that durability), with `async` not at all. A full buffer is
//! never waited on: the event is refused with `HSK-429-BUFFER-FULL`, so a slow or absent server
//! costs the runtime bounded memory and no time.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, oneshot};

use super::{ClientError, Endpoint, decode, path_segment, query_pairs, refusal, send};
use crate::error::Code;
use crate::event::{Event, InvalidEvent};
use crate::ingest::MAX_EVENT_BYTES;
use crate::query::views::{JobView, TraceView, job_view, trace_view};
use crate::query::{EventPage, EventQuery};
use crate::recorder::{FlightRecorder, RecorderError, lock};
use crate::wal::Durability;

/// How a [`RemoteRecorder`] reaches its server and how much it holds.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    pub endpoint: Endpoint,
    /// What an acknowledgement means (the server's `?durability=`), and so how long
    /// `record_event` waits: `sync`/`batch` until the server acknowledged, `async` not at all.
    pub durability: Durability,
    /// Most events held (queued or being sent) before `record_event` refuses more.
    pub buffer_events: usize,
    /// Most bytes of events held before `record_event` refuses more.
    pub buffer_bytes: usize,
    /// Most events in one request (at most the number the server lists rejections for).
    pub batch_events: usize,
    /// Longest one request may take.
    pub request_timeout: Duration,
    /// How long a batch is sent again before its events fail with `HSK-503-UNREACHABLE`.
    pub give_up_after: Duration,
}

impl RemoteConfig {
    /// The server at `url` with the defaults: sync durability, 10,000 events or 32 MiB held,
    /// 1,000 events a request, 30 s a request, retried for 60 s.
    pub fn new(url: impl Into<String>) -> RemoteConfig {
        RemoteConfig {
            endpoint: Endpoint::new(url),
            durability: Durability::Sync,
            buffer_events: 10_000,
            buffer_bytes: 32 << 20,
            batch_events: crate::server::api::MAX_REJECTED_LISTED,
            request_timeout: Duration::from_secs(30),
            give_up_after: Duration::from_secs(60),
        }
    }
}

/// Most bytes of events in one request (well under the server's body limit).
const BATCH_BYTES: usize = 8 << 20;
/// First and longest pause between two tries of a batch.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A [`FlightRecorder`] that records into a running `flightrec serve`. Cheap to clone; every
/// clone shares the buffer. Dropping the last clone lets the sender finish what is buffered;
/// [`RemoteRecorder::shutdown`] also waits for it.
#[derive(Clone)]
pub struct RemoteRecorder {
    shared: Arc<Shared>,
    _closer: Arc<Closer>,
}

type Outcome = Result<(), RecorderError>;

/// One event waiting to be acknowledged.
struct Pending {
    json: Vec<u8>,
    /// Told the outcome (None with `async` durability: nobody waits).
    done: Option<oneshot::Sender<Outcome>>,
}

#[derive(Default)]
struct Buffer {
    queue: VecDeque<Pending>,
    /// Events and bytes queued or being sent.
    held_events: usize,
    held_bytes: usize,
    closed: bool,
}

struct Shared {
    config: RemoteConfig,
    agent: ureq::Agent,
    buffer: Mutex<Buffer>,
    /// Wakes the sender: events queued, or closed.
    wake: Notify,
    /// Wakes `flush`: nothing held any more.
    drained: Notify,
    /// `async` events that failed after their retries (nobody was waiting to be told).
    lost: AtomicU64,
    sender: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Closes the buffer when the last handle goes.
struct Closer(Arc<Shared>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl RemoteRecorder {
    /// Starts the sender for the server of `config`. Must be called inside a tokio runtime.
    /// Nothing is sent yet, so a server that comes up later is fine.
    pub async fn open(config: RemoteConfig) -> Result<RemoteRecorder, RecorderError> {
        let agent = config.endpoint.agent(Some(config.request_timeout))?;
        let shared = Arc::new(Shared {
            config,
            agent,
            buffer: Mutex::new(Buffer::default()),
            wake: Notify::new(),
            drained: Notify::new(),
            lost: AtomicU64::new(0),
            sender: Mutex::new(None),
        });
        let task = tokio::spawn(send_loop(shared.clone()));
        *lock(&shared.sender) = Some(task);
        Ok(RemoteRecorder { _closer: Arc::new(Closer(shared.clone())), shared })
    }

    /// Events held now: queued or being sent, not yet acknowledged.
    pub fn pending(&self) -> usize {
        lock(&self.shared.buffer).held_events
    }

    /// `async` events that could not be delivered within `give_up_after`.
    pub fn lost(&self) -> u64 {
        self.shared.lost.load(Ordering::Relaxed)
    }

    /// Waits until every event taken so far is acknowledged or has failed.
    pub async fn flush(&self) {
        loop {
            let drained = self.shared.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if lock(&self.shared.buffer).held_events == 0 {
                return;
            }
            drained.await;
        }
    }

    /// Takes no more events, sends what is held (retrying for at most `give_up_after`) and
    /// stops the sender.
    pub async fn shutdown(&self) -> Result<(), RecorderError> {
        self.shared.close();
        self.flush().await;
        let task = lock(&self.shared.sender).take();
        if let Some(task) = task {
            task.await.map_err(|_| RecorderError::ShuttingDown)?;
        }
        Ok(())
    }

    /// One GET of the API, decoded; None when the server answers 404.
    async fn get<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        what: &'static str,
        path: String,
        params: Vec<(&'static str, String)>,
    ) -> Result<Option<T>, RecorderError> {
        let shared = self.shared.clone();
        let answer = tokio::task::spawn_blocking(move || {
            let url = shared.config.endpoint.url_of(&path);
            let req = shared.agent.get(&url).query_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
            send(what, &url, || shared.config.endpoint.authorize(req).call())
        })
        .await
        .map_err(|_| RecorderError::ShuttingDown)??;
        if answer.0 == 404 {
            return Ok(None);
        }
        Ok(Some(decode(what, answer)?))
    }
}

impl Shared {
    /// Queues one event, or refuses it when the buffer is full or closed.
    fn push(&self, pending: Pending) -> Result<(), RecorderError> {
        let mut b = lock(&self.buffer);
        if b.closed {
            return Err(RecorderError::ShuttingDown);
        }
        let bytes = pending.json.len();
        if b.held_events >= self.config.buffer_events || b.held_bytes + bytes > self.config.buffer_bytes {
            return Err(ClientError::BufferFull { events: b.held_events, bytes: b.held_bytes }.into());
        }
        b.held_events += 1;
        b.held_bytes += bytes;
        b.queue.push_back(pending);
        drop(b);
        self.wake.notify_one();
        Ok(())
    }

    fn close(&self) {
        lock(&self.buffer).closed = true;
        self.wake.notify_one();
    }

    /// The next batch: what is queued, up to the batch limits; None once closed and empty.
    async fn next_batch(&self) -> Option<Vec<Pending>> {
        loop {
            {
                let mut b = lock(&self.buffer);
                if !b.queue.is_empty() {
                    let mut batch = Vec::new();
                    let mut bytes = 0;
                    while let Some(p) = b.queue.front() {
                        let full = batch.len() >= self.config.batch_events.max(1) || bytes + p.json.len() > BATCH_BYTES;
                        if full && !batch.is_empty() {
                            break;
                        }
                        bytes += p.json.len();
                        batch.extend(b.queue.pop_front());
                    }
                    return Some(batch);
                }
                if b.closed {
                    return None;
                }
            }
            self.wake.notified().await;
        }
    }

    /// Releases the room of a finished batch, then tells each event its outcome (so a caller
    /// told sees the room free).
    fn finish(&self, batch: Vec<Pending>, outcomes: Vec<Outcome>) {
        let bytes: usize = batch.iter().map(|p| p.json.len()).sum();
        {
            let mut b = lock(&self.buffer);
            b.held_events -= batch.len();
            b.held_bytes -= bytes;
            if b.held_events == 0 {
                self.drained.notify_waiters();
            }
        }
        for (p, outcome) in batch.into_iter().zip(outcomes) {
            match (p.done, outcome) {
                (Some(done), outcome) => {
                    let _ = done.send(outcome);
                }
                (None, Ok(())) => {}
                (None, Err(e)) => {
                    self.lost.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "remote recorder: an async event was not recorded");
                }
            }
        }
    }

    /// Posts one batch until the server answers it for good or `give_up_after` passes; the
    /// outcome of each event, in order.
    async fn deliver(self: &Arc<Self>, batch: &[Pending]) -> Vec<Outcome> {
        let mut body = Vec::with_capacity(batch.iter().map(|p| p.json.len() + 1).sum::<usize>() + 2);
        body.push(b'[');
        for (i, p) in batch.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&p.json);
        }
        body.push(b']');
        let body = Arc::new(body);
        let deadline = Instant::now() + self.config.give_up_after;
        let mut backoff = FIRST_BACKOFF;
        loop {
            let error = match self.post(body.clone()).await {
                Ok((status, text)) if !retryable(status) => return outcomes(batch.len(), status, &text),
                Ok((status, text)) => refusal("record events", status, &text),
                Err(e) => e,
            };
            if Instant::now() + backoff > deadline {
                tracing::warn!(error = %error, events = batch.len(), "remote recorder: giving up on a batch");
                return batch.iter().map(|_| Err(copy_error(&error))).collect();
            }
            tracing::debug!(error = %error, "remote recorder: sending the batch again");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn post(self: &Arc<Self>, body: Arc<Vec<u8>>) -> Result<(u16, String), ClientError> {
        let shared = self.clone();
        tokio::task::spawn_blocking(move || {
            let url = shared.config.endpoint.url_of(&format!("/v1/events?durability={}", shared.config.durability));
            let req =
                shared.config.endpoint.authorize(shared.agent.post(&url)).header("Content-Type", "application/json");
            send("record events", &url, || req.send(body.as_slice()))
        })
        .await
        .unwrap_or_else(|e| {
            Err(ClientError::Unreachable { what: "record events".into(), url: String::new(), reason: e.to_string() })
        })
    }
}

async fn send_loop(shared: Arc<Shared>) {
    while let Some(batch) = shared.next_batch().await {
        let outcomes = shared.deliver(&batch).await;
        shared.finish(batch, outcomes);
    }
}

/// Statuses worth sending the same request again for: no room or time now, or a server fault.
fn retryable(status: u16) -> bool {
    status == 408 || status == 429 || status >= 500
}

/// The answer of `POST /v1/events` to an array (the parts read here).
#[derive(serde::Deserialize)]
struct IngestAnswer {
    #[serde(default)]
    rejected: Vec<RejectedEvent>,
}

#[derive(serde::Deserialize)]
struct RejectedEvent {
    index: Option<usize>,
    code: String,
    message: String,
    field: Option<String>,
}

/// Each event's outcome from a final answer: accepted and duplicates are recorded, the
/// rejected ones get their rejection; a refusal of the whole request fails them all.
fn outcomes(events: usize, status: u16, text: &str) -> Vec<Outcome> {
    let answer = serde_json::from_str::<IngestAnswer>(text).ok().filter(|a| status == 200 || !a.rejected.is_empty());
    let Some(answer) = answer else {
        let error = refusal("record events", status, text);
        return (0..events).map(|_| Err(copy_error(&error))).collect();
    };
    let mut out: Vec<Outcome> = (0..events).map(|_| Ok(())).collect();
    for r in answer.rejected {
        if let Some(slot) = r.index.and_then(|i| out.get_mut(i)) {
            let status = r.code.get(4..7).and_then(|s| s.parse().ok()).unwrap_or(400);
            let refused = ClientError::Refused {
                what: "record event".into(),
                status,
                code: r.code,
                message: r.message,
                field: r.field,
            };
            *slot = Err(into_recorder_error(refused));
        }
    }
    out
}

/// The recorder's error for a client error: the server's invalid-event and invalid-query
/// refusals are the embedded recorder's errors of those kinds.
fn into_recorder_error(e: ClientError) -> RecorderError {
    match e {
        ClientError::Refused { code, message, field, .. } if Code::parse(&code) == Some(Code::InvalidEvent) => {
            InvalidEvent::new(field.unwrap_or_default(), message).into()
        }
        ClientError::Refused { code, message, field, .. } if Code::parse(&code) == Some(Code::InvalidQuery) => {
            RecorderError::invalid_query(&field.unwrap_or_default(), message)
        }
        other => RecorderError::Remote(other),
    }
}

/// One error for each event of a failed batch.
fn copy_error(e: &ClientError) -> RecorderError {
    into_recorder_error(e.clone())
}

impl FlightRecorder for RemoteRecorder {
    async fn record_event(&self, event: Event) -> Result<(), RecorderError> {
        event.validate()?;
        let json = event.to_json().map_err(|e| InvalidEvent::new("", e.to_string()))?;
        if json.len() > MAX_EVENT_BYTES {
            let reason = format!("the event is {} bytes; the limit is {MAX_EVENT_BYTES}", json.len());
            return Err(InvalidEvent::new("", reason).into());
        }
        if self.shared.config.durability == Durability::Async {
            return self.shared.push(Pending { json, done: None });
        }
        let (done, outcome) = oneshot::channel();
        self.shared.push(Pending { json, done: Some(done) })?;
        outcome.await.map_err(|_| RecorderError::ShuttingDown)?
    }

    async fn enforce_retention(&self) -> Result<u64, RecorderError> {
        #[derive(serde::Deserialize)]
        struct Purged {
            events_purged: u64,
        }
        let shared = self.shared.clone();
        let answer = tokio::task::spawn_blocking(move || {
            let url = shared.config.endpoint.url_of("/v1/retention:run");
            let req = shared.config.endpoint.authorize(shared.agent.post(&url));
            send("run retention", &url, || req.send_empty())
        })
        .await
        .map_err(|_| RecorderError::ShuttingDown)??;
        let purged: Purged = decode("run retention", answer).map_err(into_recorder_error)?;
        Ok(purged.events_purged)
    }

    async fn query(&self, q: EventQuery) -> Result<EventPage, RecorderError> {
        let params = query_pairs(&q).map_err(|(field, reason)| RecorderError::invalid_query(field, reason))?;
        let page = self.get("query events", "/v1/events".into(), params).await.map_err(remote_error)?;
        Ok(page.unwrap_or(EventPage { events: Vec::new(), next_cursor: None }))
    }

    async fn trace(&self, trace_id: &str) -> Result<TraceView, RecorderError> {
        let path = format!("/v1/traces/{}", path_segment(trace_id));
        let view = self.get("read a trace", path, Vec::new()).await.map_err(remote_error)?;
        Ok(view.unwrap_or_else(|| trace_view(trace_id, Vec::new(), Vec::new(), false)))
    }

    async fn job(&self, job_id: &str) -> Result<JobView, RecorderError> {
        let path = format!("/v1/jobs/{}", path_segment(job_id));
        let view = self.get("read a job", path, Vec::new()).await.map_err(remote_error)?;
        Ok(view.unwrap_or_else(|| job_view(job_id, Vec::new(), Vec::new(), false)))
    }
}

/// A read's error as the embedded recorder would give it.
fn remote_error(e: RecorderError) -> RecorderError {
    match e {
        RecorderError::Remote(c) => into_recorder_error(c),
        other => other,
    }
}
