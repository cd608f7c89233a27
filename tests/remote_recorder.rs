#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `flightrec::client::RemoteRecorder` against a real `flightrec serve`: events recorded while
//! the server is not up yet, and while it is killed and restarted, are each stored exactly once
//! (the retries carry the same event ids); a full buffer is a typed error at once; a server
//! rejection is the embedded recorder's error for that event only; reads go through the API.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::serve_child_at;
use flightrec::client::{RemoteConfig, RemoteRecorder};
use flightrec::event::{Actor, Event, EventBody, LlmInference, TokenUsage};
use flightrec::query::EventQuery;
use flightrec::recorder::{FlightRecorder, RecorderError};
use flightrec::wal::Durability;
use uuid::Uuid;

/// A loopback address nothing listens on (yet).
fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// `flightrec serve` on `addr` over `dir`; killed on drop.
struct Serve(common::ServeChild);

impl Serve {
    fn start(dir: &Path, addr: &str, extra: &[&str]) -> Serve {
        Serve(serve_child_at(dir, addr, extra, &[], std::process::Stdio::null()).0)
    }
    /// SIGKILL: no graceful end, requests in flight are cut.
    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

fn inference(trace: Uuid) -> Event {
    let body = EventBody::LlmInference(LlmInference {
        token_usage: TokenUsage { prompt: 3, completion: 4, total: 7 },
        latency_ms: Some(12),
        prompt_hash: None,
        response_hash: None,
        provider: None,
        finish_reason: None,
    });
    let mut e = Event::new(body, Actor::Agent);
    e.trace_id = trace;
    e.model_id = Some("llama-3.1-8b".into());
    e.job_id = Some("job-remote".into());
    e
}

/// Every event id the server holds, through `GET /v1/events` pages.
fn stored_ids(base: &str) -> Vec<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/v1/events?limit=1000");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: serde_json::Value = agent.get(&url).call().unwrap().body_mut().read_json().unwrap();
        ids.extend(page["events"].as_array().unwrap().iter().map(|e| e["event_id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return ids,
        }
    }
}

fn config(addr: &str) -> RemoteConfig {
    RemoteConfig::new(format!("http://{addr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_are_stored_once_when_the_server_comes_up_late_and_is_killed_mid_stream() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let recorder = RemoteRecorder::open(config(&addr)).await.unwrap();
    const EVENTS: usize = 1_200;
    let done = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (recorder, done) = (recorder.clone(), done.clone());
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..EVENTS / 8 {
                let e = inference(Uuid::new_v4());
                ids.push(e.event_id.to_string());
                recorder.record_event(e).await.unwrap_or_else(|err| panic!("writer {w}: {err}"));
                done.fetch_add(1, Ordering::Relaxed);
            }
            ids
        }));
    }
    // Nothing listens yet: every request so far is refused and retried.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(done.load(Ordering::Relaxed), 0, "sync records wait for the server");
    assert!(recorder.pending() > 0);
    let server = Serve::start(dir.path(), &addr, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while done.load(Ordering::Relaxed) < EVENTS / 3 {
        assert!(Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill(); // mid-stream: requests in flight get no answer and are sent again
    let in_flight = done.load(Ordering::Relaxed);
    assert!(in_flight < EVENTS, "the kill came before the end");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _server = Serve::start(dir.path(), &addr, &[]);
    let mut sent = Vec::new();
    for w in writers {
        sent.extend(w.await.unwrap());
    }
    recorder.shutdown().await.unwrap();
    assert_eq!(recorder.lost(), 0);

    let stored = stored_ids(&format!("http://{addr}"));
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "no event is stored twice");
    let sent: BTreeSet<String> = sent.into_iter().collect();
    let stored: BTreeSet<String> = stored.into_iter().collect();
    assert_eq!(stored, sent, "every acknowledged event is there, and nothing else");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_refuses_at_once_with_a_typed_error_and_drains_when_the_server_comes() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let mut cfg = config(&addr);
    cfg.durability = Durability::Async;
    cfg.buffer_events = 50;
    let recorder = RemoteRecorder::open(cfg).await.unwrap();
    let t = Instant::now();
    for _ in 0..50 {
        recorder.record_event(inference(Uuid::new_v4())).await.unwrap();
    }
    let refused = recorder.record_event(inference(Uuid::new_v4())).await.unwrap_err();
    assert_eq!((refused.code().as_str(), refused.code().status()), ("HSK-429-BUFFER-FULL", 429), "{refused}");
    assert!(matches!(refused, RecorderError::Remote(_)), "{refused:?}");
    assert!(t.elapsed() < Duration::from_secs(2), "async records never wait: {:?}", t.elapsed());
    assert_eq!(recorder.pending(), 50, "the buffer holds its bound, not more");

    let _server = Serve::start(dir.path(), &addr, &[]);
    tokio::time::timeout(Duration::from_secs(30), recorder.flush()).await.unwrap();
    assert_eq!((recorder.pending(), recorder.lost()), (0, 0));
    recorder.record_event(inference(Uuid::new_v4())).await.unwrap();
    recorder.shutdown().await.unwrap();
    // Sent with `async` durability: the server acknowledges on enqueue, so the last event
    // becomes readable a moment after the acknowledgement.
    let base = format!("http://{addr}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stored = stored_ids(&base).len();
    while stored < 51 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        stored = stored_ids(&base).len();
    }
    assert_eq!(stored, 51, "the buffered events and the one after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_record_fails_with_unreachable_after_give_up_after() {
    let mut cfg = config(&free_addr());
    cfg.give_up_after = Duration::from_millis(500);
    let recorder = RemoteRecorder::open(cfg).await.unwrap();
    let t = Instant::now();
    let e = recorder.record_event(inference(Uuid::new_v4())).await.unwrap_err();
    assert_eq!(e.code(), "HSK-503-UNREACHABLE", "{e}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(recorder.pending(), 0, "a failed event leaves the buffer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_are_per_event_and_reads_go_through_the_api_with_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let _server = Serve::start(dir.path(), &addr, &["--token", "rr-token"]);
    let mut cfg = config(&addr);
    cfg.endpoint = cfg.endpoint.with_token("rr-token");
    let recorder = RemoteRecorder::open(cfg).await.unwrap();

    // Invalid locally: the embedded recorder's error, nothing sent.
    let mut bad = inference(Uuid::new_v4());
    bad.model_id = None;
    let e = recorder.record_event(bad).await.unwrap_err();
    assert!(matches!(&e, RecorderError::InvalidEvent(inv) if inv.field == "model_id"), "{e:?}");

    // Valid here, refused by the server (dated two days ahead): only that event fails.
    let trace = Uuid::new_v4();
    let mut future = inference(trace);
    future.timestamp = Utc::now() + chrono::Duration::days(2);
    let (good, ahead) = tokio::join!(recorder.record_event(inference(trace)), recorder.record_event(future));
    good.unwrap();
    let e = ahead.unwrap_err();
    assert!(matches!(&e, RecorderError::InvalidEvent(inv) if inv.field == "timestamp"), "{e:?}");

    let view = recorder.trace(&trace.to_string()).await.unwrap();
    assert_eq!(view.events.len(), 1, "the trace holds the accepted event");
    let job = recorder.job("job-remote").await.unwrap();
    assert_eq!(job.events.len(), 1);
    assert!(recorder.trace(&Uuid::new_v4().to_string()).await.unwrap().events.is_empty(), "unknown: empty");
    let q = EventQuery { trace_id: Some(trace.to_string()), descending: true, ..EventQuery::default() };
    assert_eq!(recorder.query(q).await.unwrap().events.len(), 1);
    let q = EventQuery { surface: Some("system".into()), ..EventQuery::default() };
    assert_eq!(recorder.query(q).await.unwrap_err().code(), "HSK-400-INVALID-QUERY");
    assert_eq!(recorder.enforce_retention().await.unwrap(), 0);
    recorder.shutdown().await.unwrap();

    let mut cfg = config(&addr);
    cfg.endpoint = cfg.endpoint.with_token("wrong");
    let intruder = RemoteRecorder::open(cfg).await.unwrap();
    let e = intruder.record_event(inference(Uuid::new_v4())).await.unwrap_err();
    assert_eq!((e.code().as_str(), e.code().status()), ("HSK-401-UNAUTHORIZED", 401), "{e}");
    let e = intruder.query(EventQuery::default()).await.unwrap_err();
    assert_eq!(e.code(), "HSK-401-UNAUTHORIZED", "{e}");
}
