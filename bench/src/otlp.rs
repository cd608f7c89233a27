//! OTLP ingest rate: the same spans sent to a real server (in this process, on loopback) as
//! OTLP/HTTP protobuf exports to `POST /v1/traces`, and as the FR-EVT events they map to,
//! JSON arrays to `POST /v1/events`, with sync durability. Each side gets a fresh data
//! directory; both use the same number of concurrent clients and the same batch size.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use flightrec::otlp::map_traces;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use crate::BenchError;

/// What to send.
pub struct OtlpArgs {
    pub spans: usize,
    pub batch: usize,
    pub clients: usize,
}

pub fn run(data_dir: &Path, args: &OtlpArgs) -> Result<ExitCode, BenchError> {
    let exports = exports(args.spans, args.batch.max(1));
    let protobuf: Vec<Vec<u8>> = exports.iter().map(Message::encode_to_vec).collect();
    let json: Vec<Vec<u8>> = exports.iter().map(events_json).collect::<Result<_, _>>()?;
    let otlp = serve_and_send(&data_dir.join("otlp"), "/v1/traces", "application/x-protobuf", protobuf, args.clients)?;
    let events = serve_and_send(&data_dir.join("events"), "/v1/events", "application/json", json, args.clients)?;
    let rate = |secs: f64| args.spans as f64 / secs;
    println!(
        "otlp ingest, sync durability, {} spans in exports of {}, {} clients:\n  \
         POST /v1/traces (protobuf)   {:>9.0} spans/s\n  \
         POST /v1/events (same events) {:>9.0} events/s\n  ratio otlp/events {:.2}",
        args.spans,
        args.batch,
        args.clients,
        rate(otlp),
        rate(events),
        events / otlp
    );
    Ok(ExitCode::SUCCESS)
}

/// A mix like an agent run's: per trace a root span, two chat spans and a tool call.
fn exports(spans: usize, batch: usize) -> Vec<ExportTraceServiceRequest> {
    let now = u64::try_from(chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)).unwrap_or(0);
    let all: Vec<Span> = (0..spans).map(|i| span(i, now - 60_000_000_000)).collect();
    all.chunks(batch)
        .map(|chunk| ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans { spans: chunk.to_vec(), ..ScopeSpans::default() }],
                ..ResourceSpans::default()
            }],
        })
        .collect()
}

fn span(i: usize, start: u64) -> Span {
    let s = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(Value::StringValue(v.into())) }),
        ..KeyValue::default()
    };
    let n = |k: &str, v: i64| KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(Value::IntValue(v)) }),
        ..KeyValue::default()
    };
    let attributes = match i % 4 {
        0 => vec![s("gen_ai.operation.name", "invoke_agent"), s("gen_ai.agent.name", "planner")],
        3 => vec![
            s("gen_ai.operation.name", "execute_tool"),
            s("gen_ai.tool.name", "search"),
            s("gen_ai.tool.call.arguments", "{\"q\":\"rust wal\"}"),
        ],
        _ => vec![
            s("gen_ai.operation.name", "chat"),
            s("gen_ai.provider.name", "openai"),
            s("gen_ai.request.model", "gpt-4o"),
            n("gen_ai.usage.input_tokens", 812),
            n("gen_ai.usage.output_tokens", 96),
            s(
                "gen_ai.input.messages",
                "[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"plan the fix\"}]}]",
            ),
        ],
    };
    let trace = (i / 4) as u128 + 1;
    let offset = (i as u64) * 1_000;
    Span {
        trace_id: trace.to_be_bytes().to_vec(),
        span_id: ((i as u64) + 1).to_be_bytes().to_vec(),
        name: format!("span {i}"),
        kind: 1,
        start_time_unix_nano: start + offset,
        end_time_unix_nano: start + offset + 250_000_000,
        attributes,
        ..Span::default()
    }
}

/// The events an export maps to, as one JSON array.
fn events_json(req: &ExportTraceServiceRequest) -> Result<Vec<u8>, BenchError> {
    let mut out = b"[".to_vec();
    for (k, e) in map_traces(req).events.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        e.write_json(&mut out).map_err(|e| BenchError::Io { what: "encode event".into(), source: e.into() })?;
    }
    out.push(b']');
    Ok(out)
}

/// Starts a server on a fresh data directory, sends every body from `clients` threads, and
/// returns the seconds it took until the last answer.
fn serve_and_send(
    dir: &Path,
    path: &str,
    content_type: &str,
    bodies: Vec<Vec<u8>>,
    clients: usize,
) -> Result<f64, BenchError> {
    let (rt, base) = crate::http::serve(dir)?;
    let base = format!("{base}{path}");
    let queue = std::sync::Mutex::new(bodies);
    let start = Instant::now();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                    let mut failures = Vec::new();
                    while let Some(body) = queue.lock().ok().and_then(|mut q| q.pop()) {
                        match agent.post(&base).header("Content-Type", content_type).send(&body[..]) {
                            Ok(r) if r.status() == 200 => {}
                            Ok(r) => failures.push(format!("status {}", r.status())),
                            Err(e) => failures.push(e.to_string()),
                        }
                    }
                    failures
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap_or_default()).collect()
    });
    let secs = start.elapsed().as_secs_f64();
    drop(rt);
    if let Some(f) = failures.first() {
        return Err(BenchError::Io { what: format!("POST {path}"), source: std::io::Error::other(f.clone()) });
    }
    Ok(secs)
}
