#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! OTLP/HTTP ingest (`POST /v1/traces`, `POST /v1/logs`) on a real `flightrec serve` child: the
//! real OpenTelemetry Python SDK exporting an agent run, the OTLP specification's JSON examples,
//! a retried export, secrets that must never reach the disk, and hostile bodies.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::{flightrec, raw_leaks, serve_child};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde_json::Value;

const TRACE: [u8; 16] = [0x11; 16];
const TRACE_UUID: &str = "11111111-1111-1111-1111-111111111111";
const PROTOBUF: &str = "application/x-protobuf";
const AWS_KEY: &str = "AKIAQ7RS4TUV2WXY3Z5A";
const OPENAI_KEY: &str = "sk-proj-Zx81Kq_Lm2Nn3Op4Qr5St6Uv7Wx8Yz9Ab0Cd";

struct Server {
    child: common::ServeChild,
    base: String,
    agent: ureq::Agent,
}

impl Server {
    fn start(data: &Path) -> Server {
        Server::start_with(data, &[])
    }

    fn start_with(data: &Path, args: &[&str]) -> Server {
        let (child, base) = serve_child(data, args);
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Server { child, base, agent }
    }

    /// A POST with the given headers; returns the status, the content type and the body.
    fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, Vec<u8>) {
        let mut req = self.agent.post(&format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut r = req.send(body).unwrap();
        let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        (r.status().as_u16(), ct, r.body_mut().read_to_vec().unwrap())
    }

    fn get(&self, path: &str) -> Value {
        let mut r = self.agent.get(&format!("{}{path}", self.base)).call().unwrap();
        let body = r.body_mut().read_to_string().unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    fn events(&self, query: &str) -> Vec<Value> {
        self.get(&format!("/v1/events?{query}"))["events"].as_array().unwrap().clone()
    }

    fn stop(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

fn kv(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(Any::StringValue(v.into())) }),
        ..KeyValue::default()
    }
}

fn now_nanos() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_nanos_opt().unwrap()).unwrap()
}

fn span(id: u8, name: &str, attributes: Vec<KeyValue>) -> Span {
    let start = now_nanos() - 5_000_000_000;
    Span {
        trace_id: TRACE.to_vec(),
        span_id: vec![1, 2, 3, 4, 5, 6, 7, id],
        name: name.into(),
        kind: 1,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 250_000_000,
        attributes,
        ..Span::default()
    }
}

fn traces(spans: Vec<Span>) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans, ..ScopeSpans::default() }],
            ..ResourceSpans::default()
        }],
    }
    .encode_to_vec()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn error_code(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)));
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    v["code"].as_str().unwrap().to_string()
}

#[test]
fn the_python_sdk_exports_an_agent_run_that_arrives_as_one_trace() {
    let ready = Command::new("python3")
        .args(["-c", "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        assert!(std::env::var_os("CI").is_none(), "CI must have the OpenTelemetry Python SDK (.ci/run installs it)");
        eprintln!("SKIPPED: python3 -m pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/otel_genai.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(OPENAI_KEY)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &server.base)
        .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("Failed to export"), "{stderr}");
    let hex = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let trace_id = uuid::Uuid::from_bytes(u128::from_str_radix(&hex, 16).unwrap().to_be_bytes()).to_string();

    let view = server.get(&format!("/v1/traces/{trace_id}"));
    let events = view["events"].as_array().unwrap();
    let of = |ty: &str| events.iter().filter(|e| e["type"] == ty).collect::<Vec<_>>();
    let llm = of("llm_inference");
    assert_eq!(llm.len(), 2, "{view}");
    let current = llm.iter().find(|e| e["model_id"] == "gpt-4o-2024-08-06").unwrap();
    assert_eq!(current["payload"]["token_usage"], serde_json::json!({"prompt": 812, "completion": 96, "total": 908}));
    assert_eq!(
        (&current["payload"]["provider"], &current["payload"]["finish_reason"]),
        (&"openai".into(), &"stop".into())
    );
    assert_eq!(current["payload"]["prompt_hash"].as_str().unwrap().len(), 64);
    assert_eq!((&current["model_session_id"], &current["job_id"]), (&"conv-7".into(), &"job-otel".into()));
    let old = llm.iter().find(|e| e["model_id"] == "llama-3.1-8b").unwrap();
    assert_eq!(old["payload"]["token_usage"]["total"], 42);
    assert_eq!(old["payload"]["provider"], "ollama");
    let tool = &of("tool_call")[0]["payload"];
    assert_eq!(
        (&tool["tool_id"], &tool["tool_call_id"], &tool["ok"]),
        (&"search".into(), &"call-1".into(), &false.into())
    );
    assert_eq!(tool["error"]["code"], "timeout");
    let agent = &of("span")[0];
    assert_eq!(agent["payload"]["name"], "invoke_agent planner");
    assert!(agent["payload"]["attributes"]["deploy.note"].as_str().unwrap().contains("[REDACTED:"), "{agent}");
    let log = &of("log")[0];
    assert!(log["payload"]["severity"].as_str().unwrap().starts_with("WARN"), "{log}");
    assert_eq!(log["payload"]["body"], "search timed out after 30 s");
    assert_eq!(log["payload"]["span_id"], of("tool_call")[0]["activity_span_id"], "the log is linked to its span");
    assert_eq!(server.events("type=log").len(), 1);
    // The span tree: the agent span is named after its span event, the tool call hangs under it.
    let spans = view["spans"].as_array().unwrap();
    let root = spans.iter().find(|s| s["label"] == "invoke_agent planner").unwrap_or_else(|| panic!("{view}"));
    assert_eq!(root["span_id"], agent["activity_span_id"]);
    let call = spans.iter().find(|s| s["span_id"] == "call-1").unwrap();
    assert_eq!(call["parent_span_id"], root["span_id"], "{view}");
    server.stop();
    let leaks = raw_leaks(tmp.path(), &["Zx81Kq_Lm2Nn3Op4Qr5St6Uv7Wx8Yz9Ab0Cd"]);
    assert!(leaks.is_empty(), "{leaks:?}");
}

#[test]
fn the_specification_json_examples_are_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path());
    let json = [("Content-Type", "application/json")];
    let trace = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/otlp/trace.json")).unwrap();
    let (status, ct, body) = server.post("/v1/traces", &json, &trace);
    assert_eq!((status, ct.as_str()), (200, "application/json"), "{}", String::from_utf8_lossy(&body));
    let resp: ExportTraceServiceResponse = serde_json::from_slice(&body).unwrap();
    assert!(resp.partial_success.is_none_or(|p| p.rejected_spans == 0), "{}", String::from_utf8_lossy(&body));
    let logs = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/otlp/logs.json")).unwrap();
    assert_eq!(server.post("/v1/logs", &json, &logs).0, 200);
    let view = server.get("/v1/traces/5b8efff7-9803-8103-d269-b633813fc60c");
    let types: Vec<&str> = view["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.len(), 2, "{view}");
    assert!(types.contains(&"span") && types.contains(&"log"), "{view}");
    let span = view["events"].as_array().unwrap().iter().find(|e| e["type"] == "span").unwrap();
    assert_eq!(span["payload"]["parent_span_id"], "eee19b7ec3c1b173");
    assert_eq!(span["timestamp"], "2018-12-13T14:51:00.000000Z");
    server.stop();
}

#[test]
fn a_retried_export_is_stored_once() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path());
    let chat = span(2, "chat", vec![kv("gen_ai.operation.name", "chat"), kv("gen_ai.request.model", "m")]);
    let body = traces(vec![span(1, "root", vec![]), chat]);
    let pb = [("Content-Type", PROTOBUF)];
    let first = server.post("/v1/traces", &pb, &body);
    assert_eq!((first.0, first.1.as_str()), (200, PROTOBUF));
    assert!(ExportTraceServiceResponse::decode(&first.2[..]).unwrap().partial_success.is_none());
    // The retry comes gzip-compressed, as the SDKs' exporters send with compression on.
    let gz = [("Content-Type", PROTOBUF), ("Content-Encoding", "gzip")];
    assert_eq!(server.post("/v1/traces", &gz, &gzip(&body)).0, 200);
    assert_eq!(server.events(&format!("trace_id={TRACE_UUID}")).len(), 2);
    assert_eq!(server.get("/v1/stats")["events"], 2);
    server.stop();
}

#[test]
fn secrets_in_prompts_attributes_and_logs_never_reach_the_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data);
    let prompt = format!(r#"[{{"role":"user","content":"deploy with {AWS_KEY} and {OPENAI_KEY}"}}]"#);
    let body = traces(vec![
        span(
            1,
            "chat",
            vec![
                kv("gen_ai.operation.name", "chat"),
                kv("gen_ai.request.model", "m"),
                kv("gen_ai.input.messages", &prompt),
            ],
        ),
        span(
            2,
            "invoke_agent",
            vec![kv("gen_ai.operation.name", "invoke_agent"), kv("env.note", &format!("key={OPENAI_KEY}"))],
        ),
        span(3, &format!("GET /?k={AWS_KEY}"), vec![kv(&format!("aws {AWS_KEY}"), "x")]),
    ]);
    assert_eq!(server.post("/v1/traces", &[("Content-Type", PROTOBUF)], &body).0, 200);
    let log = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: now_nanos(),
                    severity_text: "INFO".into(),
                    body: Some(AnyValue { value: Some(Any::StringValue(format!("using {AWS_KEY}"))) }),
                    attributes: vec![kv("token", OPENAI_KEY)],
                    ..LogRecord::default()
                }],
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    };
    assert_eq!(server.post("/v1/logs", &[("Content-Type", PROTOBUF)], &log.encode_to_vec()).0, 200);
    let stored = server.events("limit=100");
    assert_eq!(stored.len(), 4);
    assert!(stored.iter().filter(|e| e["type"] != "llm_inference").all(|e| e["redacted"] == true), "{stored:?}");
    server.stop();
    let secrets = [AWS_KEY, "Zx81Kq_Lm2Nn3Op4Qr5St6Uv7Wx8Yz9Ab0Cd"];
    let mut leaks = raw_leaks(&data, &secrets);
    assert_eq!(flightrec(&data, &["compact"]).status.code(), Some(0));
    assert!(common::files_under(&data).iter().any(|f| f.extension().is_some_and(|e| e == "parquet")));
    leaks.extend(raw_leaks(&data, &secrets));
    assert!(leaks.is_empty(), "{leaks:?}");
}

#[test]
fn hostile_bodies_get_json_errors_and_lose_nothing_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path());
    let pb = [("Content-Type", PROTOBUF)];
    let (status, _, body) = server.post("/v1/traces", &pb, b"\xff\xff\xff\xff not protobuf");
    assert_eq!((status, error_code(&body).as_str()), (400, "HSK-400-INVALID-OTLP"));
    let (status, _, body) = server.post("/v1/logs", &[("Content-Type", "application/json")], b"{\"resourceLogs\": 7}");
    assert_eq!((status, error_code(&body).as_str()), (400, "HSK-400-INVALID-OTLP"));
    let (status, _, body) = server.post("/v1/traces", &[("Content-Type", "text/plain")], &traces(vec![]));
    assert_eq!((status, error_code(&body).as_str()), (415, "HSK-415-UNSUPPORTED-MEDIA-TYPE"));
    let br = [("Content-Type", PROTOBUF), ("Content-Encoding", "br")];
    assert_eq!(error_code(&server.post("/v1/traces", &br, &traces(vec![])).2), "HSK-415-UNSUPPORTED-ENCODING");
    let gz = [("Content-Type", PROTOBUF), ("Content-Encoding", "gzip")];
    let (status, _, body) = server.post("/v1/traces", &gz, b"not gzip at all");
    assert_eq!((status, error_code(&body).as_str()), (400, "HSK-400-INVALID-GZIP"));
    // 200 MiB of zeros in about 200 KiB.
    let bomb = gzip(&vec![0u8; 200 << 20]);
    assert!(bomb.len() < 1 << 20);
    let (status, _, body) = server.post("/v1/traces", &gz, &bomb);
    assert_eq!((status, error_code(&body).as_str()), (413, "HSK-413-DECOMPRESSED-TOO-LARGE"));

    // One good span beside two that cannot be mapped: the good one is stored, the others counted.
    let mut no_ids = span(2, "no ids", vec![]);
    no_ids.trace_id.clear();
    let mut no_start = span(3, "no start", vec![]);
    no_start.start_time_unix_nano = 0;
    let (status, _, body) = server.post("/v1/traces", &pb, &traces(vec![span(1, "good", vec![]), no_ids, no_start]));
    assert_eq!(status, 200);
    let partial = ExportTraceServiceResponse::decode(&body[..]).unwrap().partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 2, "{}", partial.error_message);
    assert!(partial.error_message.contains("trace_id") && partial.error_message.contains("start_time_unix_nano"));
    let stored = server.events("limit=100");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["payload"]["name"], "good");
    server.stop();
}

#[test]
fn the_otlp_routes_keep_the_token_and_the_origin_rules_of_the_api() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(tmp.path(), &["--token", "otlp-test-token"]);
    let body = traces(vec![span(1, "root", vec![])]);
    let (status, _, answer) = server.post("/v1/traces", &[("Content-Type", PROTOBUF)], &body);
    assert_eq!((status, error_code(&answer).as_str()), (401, "HSK-401-UNAUTHORIZED"));
    let auth = ("Authorization", "Bearer otlp-test-token");
    let foreign = [("Content-Type", PROTOBUF), auth, ("Origin", "https://evil.example")];
    let (status, _, answer) = server.post("/v1/logs", &foreign, &[]);
    assert_eq!((status, error_code(&answer).as_str()), (403, "HSK-403-CROSS-ORIGIN"));
    assert_eq!(server.post("/v1/traces", &[("Content-Type", PROTOBUF), auth], &body).0, 200);
    let mut r = server.agent.get(&format!("{}/v1/stats", server.base)).header(auth.0, auth.1).call().unwrap();
    let stats: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(stats["events"], 1, "only the authorised export was recorded");
    server.stop();
}
