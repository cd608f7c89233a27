#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The HTTP API over a real listening server on loopback: every endpoint, the error statuses,
//! auth on and off, oversize bodies, malformed JSON, NDJSON with mixed lines, pagination, and
//! the OpenAPI document against the routes.

mod common;

use std::net::SocketAddr;

use common::{sample_lines, serve_child};
use flightrec::recorder::{Recorder, RecorderConfig};
use flightrec::server;
use serde_json::Value;

struct Server {
    base: String,
    agent: ureq::Agent,
    _rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn start(token: Option<&str>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let token = token.map(String::from);
    let base = rt.block_on(async {
        let listener = server::bind(addr, token.as_deref()).await.unwrap();
        let recorder = Recorder::open(RecorderConfig::new(dir.path())).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let opts = server::ServerOptions { token, ..Default::default() };
        tokio::spawn(server::run(listener, recorder, opts, std::future::pending()));
        base
    });
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    Server { base, agent, _rt: rt, _dir: dir }
}

impl Server {
    fn get(&self, path: &str) -> (u16, String) {
        let mut r = self.agent.get(&format!("{}{path}", self.base)).call().unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    }
    /// A POST with the media type of its route (none for `/v1/retention:run`).
    fn post(&self, path: &str, body: &[u8]) -> (u16, String) {
        let req = self.agent.post(&format!("{}{path}", self.base));
        let req = match media_type(path) {
            Some(t) => req.header("Content-Type", t),
            None => req,
        };
        let mut r = req.send(body).unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    }
    fn get_json(&self, path: &str) -> (u16, Value) {
        let (s, b) = self.get(path);
        (s, serde_json::from_str(&b).unwrap_or_else(|e| panic!("{path}: {e}: {b}")))
    }
    fn post_json(&self, path: &str, body: &[u8]) -> (u16, Value) {
        let (s, b) = self.post(path, body);
        (s, serde_json::from_str(&b).unwrap_or_else(|e| panic!("{path}: {e}: {b}")))
    }
}

/// The `Content-Type` a POST route takes.
fn media_type(path: &str) -> Option<&'static str> {
    match path.split('?').next() {
        Some("/v1/events:ndjson") => Some("application/x-ndjson"),
        Some("/v1/retention:run") => None,
        _ => Some("application/json"),
    }
}

#[test]
fn ingest_one_many_and_ndjson_then_query_every_way() {
    let s = start(None);
    let lines = sample_lines();
    let (status, v) = s.post_json("/v1/events", lines[0].as_bytes());
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["accepted"].as_u64(), v["duplicates"].as_u64()), (Some(1), Some(0)));
    assert_eq!(v["events"][0]["trace_id_assigned"], true, "job_lifecycle without trace_id gets one");

    let array = format!("[{}]", lines[1..10].join(","));
    let (status, v) = s.post_json("/v1/events", array.as_bytes());
    assert_eq!(status, 200);
    assert_eq!(v["accepted"], 9);

    let (status, v) = s.post_json("/v1/events", lines[0].as_bytes());
    assert_eq!(status, 200);
    assert_eq!((v["accepted"].as_u64(), v["duplicates"].as_u64()), (Some(0), Some(1)), "a retry is a duplicate");

    // NDJSON: good, bad JSON, blank, unknown field, good, duplicate.
    let bad_field = lines[11].replacen("\"payload\":{", "\"payload\":{\"bogus\":1,", 1);
    let body = format!("{}\nnot json\n\n{bad_field}\n{}\n{}", lines[10], lines[12], lines[10]);
    let (status, v) = s.post_json("/v1/events:ndjson", body.as_bytes());
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["accepted"], 2);
    assert_eq!(v["duplicates"], 1);
    let rejected: Vec<(u64, String)> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["field"].as_str().unwrap_or("").to_string()))
        .collect();
    assert_eq!(rejected, vec![(2, String::new()), (4, "payload.bogus".to_string())]);
    s.post_json("/v1/events:ndjson", lines[13..].join("\n").as_bytes());

    let total = lines.len() as u64 - 1; // line 11 was only sent with a bad field
    let (status, v) = s.get_json("/v1/events?limit=1000");
    assert_eq!(status, 200);
    assert_eq!(v["events"].as_array().unwrap().len() as u64, total);
    assert!(v["next_cursor"].is_null());

    // Pagination: every event once.
    let mut seen = std::collections::HashSet::new();
    let mut path = "/v1/events?limit=3".to_string();
    loop {
        let (_, v) = s.get_json(&path);
        for e in v["events"].as_array().unwrap() {
            assert!(seen.insert(e["event_id"].as_str().unwrap().to_string()));
        }
        match v["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/events?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len() as u64, total);

    let (_, v) = s.get_json("/v1/events?job_id=job-42&type=tool_call&actor=agent");
    let hits = v["events"].as_array().unwrap();
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|e| e["job_id"] == "job-42" && e["type"] == "tool_call" && e["actor"] == "agent"));
    let (_, v) = s.get_json("/v1/events?from=2026-11-25T09:14:00Z&to=2026-11-25T09:15:00Z");
    for e in v["events"].as_array().unwrap() {
        let t = e["timestamp"].as_str().unwrap();
        assert!(("2026-11-25T09:14:00".."2026-11-25T09:15:00").contains(&t), "{t}");
    }

    let (status, v) = s.get_json("/v1/traces/0b8e6c52-53a4-4c1e-8d63-2f0d9a7b5c11");
    assert_eq!(status, 200);
    assert!(v["events"].as_array().unwrap().len() >= 4);
    assert!(v["spans"].as_array().unwrap().iter().any(|s| s["kind"] == "tool_call"));
    let (status, v) = s.get_json("/v1/jobs/job-42");
    assert_eq!(status, 200);
    assert_eq!(v["status"], "ok");

    let (status, v) = s.get_json("/v1/stats");
    assert_eq!(status, 200);
    assert_eq!(v["events"].as_u64(), Some(total));
    let (status, v) = s.post_json("/v1/retention:run", b"");
    assert_eq!(status, 200);
    assert!(v["events_purged"].is_u64());
    let (status, text) = s.get("/metrics");
    assert_eq!(status, 200);
    assert!(text.contains(&format!("flightrec_events_accepted_total {}", total)), "{text}");
    assert!(text.contains("flightrec_query_seconds_bucket"));
    let fsyncs: u64 =
        text.lines().find_map(|l| l.strip_prefix("flightrec_wal_fsync_seconds_count ")).unwrap().parse().unwrap();
    assert!(fsyncs > 0, "sync-mode ingest fsynced: {text}");
    assert!(text.contains(&format!("flightrec_wal_fsync_seconds_bucket{{le=\"+Inf\"}} {fsyncs}")));
    // OpenMetrics (prometheus-client): the record latency by durability mode, and the end mark.
    assert!(text.ends_with("# EOF\n"), "{text}");
    let records = |text: &str, mode: &str| -> u64 {
        let prefix = format!("flightrec_record_event_seconds_count{{durability=\"{mode}\"}} ");
        text.lines().find_map(|l| l.strip_prefix(prefix.as_str())).unwrap().parse().unwrap()
    };
    assert!(records(&text, "sync") >= 4, "each record call above was timed: {text}");
    assert_eq!(records(&text, "async"), 0);
    assert_eq!(s.post_json("/v1/events?durability=async", lines[0].as_bytes()).0, 200);
    let mut r = s.agent.get(&format!("{}/metrics", s.base)).call().unwrap();
    let content_type = r.headers().get("content-type").unwrap().to_str().unwrap().to_string();
    assert!(content_type.starts_with("application/openmetrics-text; version=1.0.0"), "{content_type}");
    assert_eq!(records(&r.body_mut().read_to_string().unwrap(), "async"), 1);
    let (status, v) = s.get_json("/healthz");
    assert_eq!((status, v["status"].as_str()), (200, Some("ok")));
    let (status, page) = s.get("/");
    assert_eq!(status, 200);
    assert!(page.contains("<html") || page.contains("<!DOCTYPE") || page.contains("<!doctype"));
}

#[test]
fn every_error_status_has_a_json_body_with_a_code() {
    let s = start(None);
    let lines = sample_lines();
    let cases: Vec<(u16, &str, (u16, Value))> = vec![
        (400, "HSK-400-INVALID-EVENT", s.post_json("/v1/events", b"{not json")),
        (400, "HSK-400-INVALID-JSON", s.post_json("/v1/events", b"[1, 2")),
        (400, "HSK-400-INVALID-EVENT", s.post_json("/v1/events", br#"{"type":"diagnostic"}"#)),
        (400, "HSK-400-INVALID-EVENT", s.post_json("/v1/events", b"[{\"type\":\"x\"},{\"type\":\"y\"}]")),
        (400, "HSK-400-INVALID-QUERY", s.get_json("/v1/events?limit=5000")),
        (400, "HSK-400-INVALID-QUERY", s.get_json("/v1/events?cursor=abc")),
        (400, "HSK-400-INVALID-QUERY", s.get_json("/v1/events?from=noon")),
        (400, "HSK-400-INVALID-QUERY", s.post_json("/v1/events?durability=maybe", lines[0].as_bytes())),
        (404, "HSK-404-NOT-FOUND", s.get_json("/v1/traces/00000000-0000-4000-8000-000000000000")),
        (404, "HSK-404-NOT-FOUND", s.get_json("/v1/jobs/no-such-job")),
        (404, "HSK-404-NOT-FOUND", s.get_json("/v2/nothing")),
    ];
    for (want_status, want_code, (status, v)) in cases {
        assert_eq!(status, want_status, "{v}");
        assert_eq!(v["code"], want_code, "{v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // A batch over the limit and a body over the size limit.
    let many = format!("[{}]", vec![lines[0].as_str(); 10_001].join(","));
    let (status, v) = s.post_json("/v1/events", many.as_bytes());
    assert_eq!((status, v["code"].as_str()), (413, Some("HSK-413-BATCH-TOO-LARGE")));
    // Streamed (chunked), so the limit is found while reading, not from Content-Length.
    let huge = vec![b' '; server::MAX_BODY + 1];
    let mut r = s
        .agent
        .post(&format!("{}/v1/events", s.base))
        .header("Content-Type", "application/json")
        .send(ureq::SendBody::from_reader(&mut huge.as_slice()))
        .unwrap();
    let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!((r.status().as_u16(), v["code"].as_str()), (413, Some("HSK-413-BODY-TOO-LARGE")), "{v}");
    // Half-bad array: 200 with the rejected index; the good one is kept.
    let mixed = format!("[{},{{\"type\":\"bad\"}}]", lines[2]);
    let (status, v) = s.post_json("/v1/events", mixed.as_bytes());
    assert_eq!(status, 200);
    assert_eq!(v["accepted"], 1);
    assert_eq!(v["rejected"][0]["index"], 1);
    // The server still serves after all that.
    assert_eq!(s.get("/healthz").0, 200);
}

#[test]
fn with_a_token_every_route_but_healthz_requires_it() {
    let s = start(Some("s3cret-token"));
    assert_eq!(s.get("/healthz").0, 200);
    // An unknown path too: without the token nobody learns which routes exist.
    for path in ["/v1/events", "/v1/stats", "/metrics", "/v1/openapi.json", "/v1/jobs/x", "/v1/traces/x", "/v1/nothing"]
    {
        let (status, v) = s.get_json(path);
        assert_eq!(status, 401, "{path}");
        assert_eq!(v["code"], "HSK-401-UNAUTHORIZED");
    }
    assert_eq!(s.post_json("/v1/events", sample_lines()[0].as_bytes()).0, 401);
    let url = format!("{}/v1/stats", s.base);
    assert_eq!(s.agent.get(&url).header("Authorization", "Bearer wrong").call().unwrap().status().as_u16(), 401);
    assert_eq!(s.agent.get(&url).header("Authorization", "Bearer s3cret-token").call().unwrap().status().as_u16(), 200);
    assert_eq!(s.get("/").0, 200, "the static UI holds no data and loads without the token");
    assert_eq!(s.get("/js/app.js").0, 200, "nor do its scripts");
}

#[test]
fn a_non_loopback_bind_needs_a_token() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let err = rt.block_on(server::bind(addr, None)).unwrap_err();
    assert!(err.to_string().starts_with("HSK-400-TOKEN-REQUIRED"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flightrec"))
        .args(["serve", "--bind", "0.0.0.0:0", "--data-dir"])
        .arg(tempfile::tempdir().unwrap().path())
        .env_remove("FLIGHTREC_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HSK-400-TOKEN-REQUIRED"));
}

#[test]
fn the_openapi_document_matches_the_routes() {
    let s = start(None);
    let (status, doc) = s.get_json("/v1/openapi.json");
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        "/v1/events",
        "/v1/events:ndjson",
        "/v1/traces/{trace_id}",
        "/v1/jobs/{job_id}",
        "/v1/summary",
        "/v1/jobs",
        "/v1/retention:run",
        "/v1/stats",
        "/v1/openapi.json",
        "/healthz",
        "/metrics",
        "/api/flight_recorder",
        "/api/events",
        "/v1/traces",
        "/v1/logs",
    ];
    let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    documented.sort();
    let mut want = expected.to_vec();
    want.sort();
    assert_eq!(documented, want, "every route is documented and every documented path is routed");
    for (path, ops) in paths {
        let concrete = path.replace("{trace_id}", "x").replace("{job_id}", "x");
        for method in ops.as_object().unwrap().keys() {
            let status = match method.as_str() {
                "get" => s.get(&concrete).0,
                "post" => s.post(&concrete, b"").0,
                other => panic!("undocumented method {other}"),
            };
            let code = status.to_string();
            let documented = ops[method]["responses"].as_object().unwrap();
            assert!(documented.contains_key(&code), "{method} {path} answered {status}, not in the document");
        }
    }
}

#[test]
fn query_and_sql_on_the_data_directory_work_while_the_server_runs() {
    let s = start(None);
    let lines = sample_lines();
    assert_eq!(s.post_json("/v1/events:ndjson", lines.join("\n").as_bytes()).0, 200);
    let bin = env!("CARGO_BIN_EXE_flightrec");
    let out = std::process::Command::new(bin)
        .arg("--data-dir")
        .arg(s._dir.path())
        .args(["query", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), lines.len(), "no lock error, every event");
    let out = std::process::Command::new(bin)
        .arg("--data-dir")
        .arg(s._dir.path())
        .args(["sql", "--json", "SELECT count(*) AS n FROM events"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["n"], lines.len().to_string());
}

#[test]
fn the_cli_ingests_and_queries_through_a_running_server() {
    let s = start(Some("tok"));
    let bin = env!("CARGO_BIN_EXE_flightrec");
    let elsewhere = tempfile::tempdir().unwrap();
    let mut input = sample_lines().join("\n");
    input.push_str("\n{\"type\":\"nope\"}\n");
    let path = elsewhere.path().join("in.ndjson");
    std::fs::write(&path, input).unwrap();
    let out = std::process::Command::new(bin)
        .args(["ingest", "--url", &s.base, "--token", "tok"])
        .arg(&path)
        .arg("--data-dir")
        .arg(elsewhere.path().join("unused"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "one rejected line: {text}");
    assert!(text.contains(&format!("accepted {}, duplicates 0, rejected 1", sample_lines().len())), "{text}");
    assert!(
        text.contains(&format!("line {}: rejected: HSK-400-INVALID-EVENT at type", sample_lines().len() + 1)),
        "{text}"
    );
    assert!(!elsewhere.path().join("unused").exists(), "--url writes nothing locally");

    let out = std::process::Command::new(bin)
        .args(["query", "--url", &s.base, "--token", "tok", "--json", "--job-id", "job-42"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e["job_id"] == "job-42"));
    let out = std::process::Command::new(bin).args(["query", "--url", &s.base, "--token", "bad"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));

    let out = std::process::Command::new(bin).args(["stats", "--url", &s.base, "--token", "tok"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let n = sample_lines().len();
    assert!(text.contains(&format!("events          {n} ({n} in the WAL, 0 compacted)")), "{text}");
    let out =
        std::process::Command::new(bin).args(["stats", "--url", &s.base, "--token", "tok", "--json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut answer = s.agent.get(format!("{}/v1/stats", s.base)).header("Authorization", "Bearer tok").call().unwrap();
    let served: Value = serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap();
    for key in ["events", "wal_events", "compacted_events", "parquet_files", "oldest", "newest", "dedup_ids"] {
        assert_eq!(v[key], served[key], "{key}: the server's GET /v1/stats, as it is: {v}");
    }
}

#[test]
fn sigterm_finishes_requests_and_flushes_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_flightrec");
    let (mut child, base) = serve_child(dir.path(), &["--durability", "batch"]);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let body = sample_lines().join("\n");
    let mut r = agent
        .post(&format!("{base}/v1/events:ndjson"))
        .header("Content-Type", "application/x-ndjson")
        .send(body.as_bytes())
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.body_mut().read_to_string().unwrap());
    std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(child.wait().unwrap().success(), "a clean exit on SIGTERM");
    let out =
        std::process::Command::new(bin).arg("--data-dir").arg(dir.path()).args(["verify", "--json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["records"], sample_lines().len() as u64, "every accepted event is in the WAL after the stop");
    assert_eq!(v["ok"], true);
}

#[test]
fn hostile_bodies_get_clear_errors_and_the_server_keeps_serving() {
    let s = start(None);
    let line = sample_lines()[2].clone();
    // Deeply nested JSON inside the payload.
    let nested = line.replacen(
        "\"payload\":{",
        &format!("\"payload\":{{\"deep\":{}1{},", "[".repeat(10_000), "]".repeat(10_000)),
        1,
    );
    let (status, v) = s.post_json("/v1/events", nested.as_bytes());
    assert_eq!((status, v["code"].as_str()), (400, Some("HSK-400-INVALID-EVENT")), "{v}");
    // A huge string field (2 MiB): over the per-event limit.
    let huge = line.replacen("\"job_id\":\"job-42\"", &format!("\"job_id\":\"{}\"", "x".repeat(2 << 20)), 1);
    let (status, v) = s.post_json("/v1/events", huge.as_bytes());
    assert_eq!(status, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("the limit is 1048576"), "{v}");
    // Invalid UTF-8, single and in NDJSON beside good lines.
    let mut bad_utf8 = line.as_bytes().to_vec();
    let at = bad_utf8.windows(6).position(|w| w == b"job-42").unwrap();
    bad_utf8[at] = 0xff;
    let (status, v) = s.post_json("/v1/events", &bad_utf8);
    assert_eq!((status, v["code"].as_str()), (400, Some("HSK-400-INVALID-EVENT")), "{v}");
    let mut body = sample_lines()[0].as_bytes().to_vec();
    body.push(b'\n');
    body.extend_from_slice(&bad_utf8);
    body.push(b'\n');
    body.extend_from_slice(sample_lines()[1].as_bytes());
    let (status, v) = s.post_json("/v1/events:ndjson", &body);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["accepted"], 2, "the good lines around a bad one are kept: {v}");
    assert_eq!(v["rejected"][0]["line"], 2);
    // An NDJSON line over the limit, then a good one.
    let mut body = "x".repeat(17 << 20).into_bytes();
    body.push(b'\n');
    body.extend_from_slice(sample_lines()[3].as_bytes());
    let (status, v) = s.post_json("/v1/events:ndjson", &body);
    assert_eq!(status, 200);
    assert_eq!(v["rejected"][0]["code"], "HSK-413-EVENT-TOO-LARGE");
    assert_eq!(v["accepted"], 1);
    assert_eq!(s.get("/healthz").0, 200);
}

#[test]
fn a_thousand_idle_connections_do_not_starve_a_real_client() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = serve_child(dir.path(), &[]);
    let addr = base.trim_start_matches("http://").to_string();
    let idle: Vec<std::net::TcpStream> = (0..1_000).map(|_| std::net::TcpStream::connect(&addr).unwrap()).collect();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let mut r = agent
        .post(&format!("{base}/v1/events"))
        .header("Content-Type", "application/json")
        .send(sample_lines()[0].as_bytes())
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.body_mut().read_to_string().unwrap());
    let mut r = agent.get(&format!("{base}/v1/events")).call().unwrap();
    let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["events"].as_array().unwrap().len(), 1);
    drop(idle);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A server with a 2 s request timeout, and a raw connection to it that waits up to 20 s for
/// an answer (so a cut-off by the server is told apart from the client giving up).
fn slow_client(dir: &std::path::Path) -> (common::ServeChild, String, std::net::TcpStream) {
    let (child, base) = serve_child(dir, &["--request-timeout", "2"]);
    let slow = std::net::TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    slow.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    (child, base, slow)
}

#[test]
fn a_slow_body_is_cut_off_by_the_request_timeout() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base, mut slow) = slow_client(dir.path());
    let host = base.trim_start_matches("http://");
    write!(
        slow,
        "POST /v1/events HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    .unwrap();
    let writer = {
        let mut w = slow.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..30 {
                if w.write_all(b" ").is_err() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        })
    };
    let started = std::time::Instant::now();
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "the trickling request is answered 408: {answer:?}");
    assert!(answer.contains(r#""code":"HSK-408-TIMEOUT""#), "with the JSON error shape: {answer:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "cut off by the 2 s timeout, not by the client");
    drop(slow);
    let _ = writer.join();
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_client_that_never_finishes_its_headers_is_dropped() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base, mut slow) = slow_client(dir.path());
    slow.write_all(b"GET /v1/stats HTTP/1.1\r\nHost: x\r\n").unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "dropped after the header timeout");
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    assert_eq!(agent.get(&format!("{base}/healthz")).call().unwrap().status().as_u16(), 200, "still serving");
    child.kill().unwrap();
    child.wait().unwrap();
}
