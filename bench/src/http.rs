//! `flightrec-bench http`: HTTP ingest over loopback beside the in-process recorder path, in
//! one run. A real server (in this process, on loopback, a fresh data directory per run)
//! takes `POST /v1/events` with arrays of 1 and of `--batch` events, and `POST
//! /v1/events:ndjson` with `--batch` lines, from N keep-alive clients (N connections driven
//! by one thread of their own), `sync` durability; then the same events, in the same groups,
//! go from N tokio tasks straight into a [`Recorder`] (`record_json_batch`). Every event is
//! sent under a fresh `event_id`, so none is a duplicate. Prints events/s, the p50/p99 of a
//! request and the CPU per event on each side (over HTTP also split into the server's and
//! the clients' thread's), and their ratio.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flightrec::recorder::{Recorder, RecorderConfig};
use flightrec::server;
use flightrec::wal::Durability;
use flightrec::workload::Generator;

use crate::BenchError;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::measure::{CpuCost, CpuSpan, percentile, thread_cpu_seconds};

/// What to run.
pub struct HttpArgs<'a> {
    pub clients: &'a [usize],
    pub seconds: f64,
    /// Events per array and per NDJSON body.
    pub batch: usize,
}

/// The request shapes measured.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// `POST /v1/events` with a JSON array of this many events.
    Array(usize),
    /// `POST /v1/events:ndjson` with this many lines.
    Ndjson(usize),
}

impl Shape {
    fn events(self) -> usize {
        match self {
            Shape::Array(n) | Shape::Ndjson(n) => n,
        }
    }

    fn path(self) -> &'static str {
        match self {
            Shape::Array(_) => "/v1/events?durability=sync",
            Shape::Ndjson(_) => "/v1/events:ndjson?durability=sync",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Shape::Array(_) => "application/json",
            Shape::Ndjson(_) => "application/x-ndjson",
        }
    }

    fn body(self, events: &[Vec<u8>]) -> Vec<u8> {
        let (open, sep, close): (&[u8], &[u8], &[u8]) = match self {
            Shape::Array(_) => (b"[", b",", b"]"),
            Shape::Ndjson(_) => (b"", b"\n", b"\n"),
        };
        let mut body = Vec::with_capacity(events.iter().map(|e| e.len() + 1).sum::<usize>() + 2);
        body.extend_from_slice(open);
        for (i, e) in events.iter().enumerate() {
            if i > 0 {
                body.extend_from_slice(sep);
            }
            body.extend_from_slice(e);
        }
        body.extend_from_slice(close);
        body
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Array(n) => write!(f, "POST /v1/events, arrays of {n}"),
            Shape::Ndjson(n) => write!(f, "POST /v1/events:ndjson, {n} lines"),
        }
    }
}

/// Generated events, each with the offset of its `event_id` value, renewed per use.
struct Pool {
    events: Vec<(Vec<u8>, usize)>,
}

const EVENT_ID_KEY: &[u8] = br#""event_id":""#;

impl Pool {
    fn new(n: usize) -> Pool {
        let mut g = Generator::new(11, chrono::Utc::now() - chrono::Duration::minutes(10), 1_000);
        let events = (0..n)
            .filter_map(|_| {
                let json = g.next_json().into_bytes();
                let at = json.windows(EVENT_ID_KEY.len()).position(|w| w == EVENT_ID_KEY)?;
                Some((json, at + EVENT_ID_KEY.len()))
            })
            .collect();
        Pool { events }
    }

    /// `n` events starting at `from` (wrapping), each under a fresh `event_id`.
    fn fresh(&self, from: usize, n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .filter_map(|k| self.events.get((from + k) % self.events.len().max(1)))
            .map(|(json, at)| {
                let mut json = json.clone();
                if let Some(id) = json.get_mut(*at..*at + uuid::fmt::Hyphenated::LENGTH) {
                    crate::measure::fresh_id().hyphenated().encode_lower(id);
                }
                json
            })
            .collect()
    }
}

/// One side's result: events recorded, seconds, request latencies, and the CPU of the whole
/// process meanwhile (over HTTP: the server and its clients; in-process: the recorder, its
/// background compaction included, and the tasks making the events).
struct Outcome {
    events: u64,
    secs: f64,
    latencies_us: Vec<u32>,
    cpu: CpuCost,
    /// Over HTTP: the CPU seconds of the clients' thread, part of `cpu`.
    clients_cpu: Option<f64>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.events as f64 / self.secs
    }

    fn line(&self) -> String {
        let mut l = self.latencies_us.clone();
        l.sort_unstable();
        format!(
            "{:>9.0} events/s  {:>7} requests  p50={}µs p99={}µs  {}",
            self.rate(),
            l.len(),
            percentile(&l, 0.50),
            percentile(&l, 0.99),
            self.cpu
        ) + &self.split_of_cpu()
    }

    /// Over HTTP: `cpu` split into the server's part and the clients', per event.
    fn split_of_cpu(&self) -> String {
        let Some(clients) = self.clients_cpu else { return String::new() };
        let clients_us = clients * 1e6 / self.events.max(1) as f64;
        let server_us = (self.cpu.micros_per_event - clients_us).max(0.0);
        format!(" server={server_us:.2}us/event clients={clients_us:.2}us/event")
    }
}

pub fn run(data_dir: &Path, args: &HttpArgs<'_>) -> Result<ExitCode, BenchError> {
    let pool = Arc::new(Pool::new(16_384));
    let batch = args.batch.max(1);
    for shape in [Shape::Array(1), Shape::Array(batch), Shape::Ndjson(batch)] {
        for &clients in args.clients {
            let clients = clients.max(1);
            let tag = format!("{}-{clients}", shape.events());
            // Each run's data directory goes as soon as it is measured (the disk is shared).
            let dir = data_dir.join(format!("http-{tag}"));
            let http = over_http(&dir, shape, clients, args.seconds, &pool)?;
            std::fs::remove_dir_all(&dir).map_err(BenchError::io("remove a run's data directory"))?;
            let dir = data_dir.join(format!("local-{tag}"));
            let local = in_process(&dir, shape, clients, args.seconds, &pool)?;
            std::fs::remove_dir_all(&dir).map_err(BenchError::io("remove a run's data directory"))?;
            println!(
                "http ingest, sync, {shape}, {clients} clients:\n  \
                 over HTTP (loopback)     {}\n  \
                 in-process recorder      {}\n  \
                 http/in-process = {:.2}",
                http.line(),
                local.line(),
                http.rate() / local.rate()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> Result<tokio::runtime::Runtime, BenchError> {
    tokio::runtime::Runtime::new().map_err(BenchError::io("start the runtime"))
}

/// A server in this process on a loopback port, over a recorder on `dir`; returns the
/// runtime it runs on (dropping it stops the server) and its base URL.
pub fn serve(dir: &Path) -> Result<(tokio::runtime::Runtime, String), BenchError> {
    let rt = runtime()?;
    let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
    let base = rt.block_on(async {
        let listener = server::bind(addr, None)
            .await
            .map_err(|e| BenchError::Io { what: "bind".into(), source: std::io::Error::other(e) })?;
        let recorder = Recorder::open(RecorderConfig::new(dir)).await?;
        let base = format!("http://{}", listener.local_addr().map_err(BenchError::io("local address"))?);
        tokio::spawn(server::run(listener, recorder, server::ServerOptions::default(), std::future::pending()));
        Ok::<_, BenchError>(base)
    })?;
    Ok((rt, base))
}

/// `clients` keep-alive connections, each sending `shape` requests one after the other until
/// `seconds` have passed, all driven by one thread of their own (an event loop, as `wrk` and
/// `oha` do: a thread per connection cost the clients more CPU than the server it loads).
/// That thread's CPU is measured apart, so the outcome says what the server cost.
fn over_http(dir: &Path, shape: Shape, clients: usize, seconds: f64, pool: &Arc<Pool>) -> Result<Outcome, BenchError> {
    let (rt, base) = serve(dir)?;
    let addr = base.trim_start_matches("http://").to_owned();
    let pool = pool.clone();
    let cpu = CpuSpan::start();
    let start = Instant::now();
    let load = std::thread::Builder::new()
        .name("http-clients".into())
        .spawn(move || {
            let clients_rt =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            let cpu_at_start = thread_cpu_seconds();
            let deadline = Instant::now() + Duration::from_secs_f64(seconds);
            let parts = clients_rt.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for c in 0..clients {
                    set.spawn(client(addr.clone(), shape, pool.clone(), c * 61, deadline));
                }
                let mut parts = Vec::with_capacity(clients);
                while let Some(part) = set.join_next().await {
                    parts.push(part.unwrap_or_else(|e| Err(e.to_string())));
                }
                parts
            });
            Ok::<_, String>((parts, thread_cpu_seconds() - cpu_at_start))
        })
        .map_err(BenchError::io("start the clients' thread"))?;
    let (parts, clients_cpu) = load
        .join()
        .unwrap_or_else(|_| Err("the clients' thread panicked".into()))
        .map_err(|e| BenchError::Io { what: format!("{shape}"), source: std::io::Error::other(e) })?;
    let secs = start.elapsed().as_secs_f64();
    let outcome = gather(parts, secs, cpu, Some(clients_cpu.max(0.0)), shape);
    drop(rt);
    outcome
}

/// One keep-alive connection to `addr`, sending `shape` requests of fresh events (from `from`
/// in the pool) until `deadline`; returns the events recorded and each request's latency.
async fn client(
    addr: String,
    shape: Shape,
    pool: Arc<Pool>,
    mut from: usize,
    deadline: Instant,
) -> Result<(u64, Vec<u32>), String> {
    let stream = tokio::net::TcpStream::connect(&addr).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let (mut events, mut latencies) = (0u64, Vec::new());
    while Instant::now() < deadline {
        let body = shape.body(&pool.fresh(from, shape.events()));
        from += shape.events();
        let request = hyper::Request::post(shape.path())
            .header(hyper::header::HOST, &addr)
            .header(hyper::header::CONTENT_TYPE, shape.content_type())
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let sent = Instant::now();
        sender.ready().await.map_err(|e| e.to_string())?;
        let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let answer = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        latencies.push(micros(sent.elapsed()));
        if status != hyper::StatusCode::OK {
            return Err(format!("status {status}: {}", String::from_utf8_lossy(&answer)));
        }
        events += shape.events() as u64;
    }
    Ok((events, latencies))
}

/// The same groups of events, from `clients` tokio tasks, straight into a recorder.
fn in_process(dir: &Path, shape: Shape, clients: usize, seconds: f64, pool: &Arc<Pool>) -> Result<Outcome, BenchError> {
    let rt = runtime()?;
    rt.block_on(async {
        let recorder = Recorder::open(RecorderConfig::new(dir)).await?;
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        let start = Instant::now();
        let cpu = CpuSpan::start();
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let (recorder, pool) = (recorder.clone(), pool.clone());
                tokio::spawn(async move {
                    let (mut events, mut latencies) = (0u64, Vec::new());
                    let mut from = c * 61;
                    while Instant::now() < deadline {
                        let batch = pool.fresh(from, shape.events());
                        from += shape.events();
                        let slices: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
                        let sent = Instant::now();
                        let results = recorder.record_json_batch(&slices, Some(Durability::Sync)).await;
                        latencies.push(micros(sent.elapsed()));
                        if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
                            return Err(e.to_string());
                        }
                        events += shape.events() as u64;
                    }
                    Ok((events, latencies))
                })
            })
            .collect();
        let mut per_task = Vec::with_capacity(tasks.len());
        for t in tasks {
            per_task.push(t.await.unwrap_or_else(|e| Err(e.to_string())));
        }
        let secs = start.elapsed().as_secs_f64();
        let outcome = gather(per_task, secs, cpu, None, shape)?;
        recorder.shutdown().await?;
        Ok(outcome)
    })
}

/// The clients' (or tasks') results as one [`Outcome`]; the CPU is read here, at their end.
/// `clients_cpu`: over HTTP, the CPU seconds of the clients' thread.
fn gather(
    parts: Vec<Result<(u64, Vec<u32>), String>>,
    secs: f64,
    cpu: CpuSpan,
    clients_cpu: Option<f64>,
    shape: Shape,
) -> Result<Outcome, BenchError> {
    let (mut events, mut latencies_us) = (0, Vec::new());
    for part in parts {
        let (n, latencies) =
            part.map_err(|e| BenchError::Io { what: format!("{shape}"), source: std::io::Error::other(e) })?;
        events += n;
        latencies_us.extend(latencies);
    }
    Ok(Outcome { events, secs, latencies_us, cpu: cpu.per_event(events), clients_cpu })
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}
