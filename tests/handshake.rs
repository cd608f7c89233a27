#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Handshake's client routes `GET /api/flight_recorder` and `GET /api/events` against a real
//! `flightrec serve`: the `FlightEvent` shape field by field, each filter (over compacted
//! Parquet files and the WAL tail alike), newest first, the 200-row cap, and matches older than
//! the 200 newest events (filters are applied before the cap), with the auth and origin rules
//! of the other routes.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use common::{raw_http, serve_child};
use serde_json::{Value, json};
use uuid::Uuid;

/// A `flightrec serve` child, killed on drop.
struct Server {
    /// Held for its drop, which kills the server.
    _child: common::ServeChild,
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
    _dir: tempfile::TempDir,
}

/// Seals idle segments after a second, so the compactor moves them into Parquet soon.
fn start(extra: &[&str]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--segment-age", "1"];
    args.extend_from_slice(extra);
    let (child, base) = serve_child(dir.path(), &args);
    let token = extra.iter().position(|a| *a == "--token").map(|i| extra[i + 1].to_string());
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    Server { _child: child, base, token, agent, _dir: dir }
}

impl Server {
    fn get(&self, path: &str) -> (u16, Value) {
        let mut req = self.agent.get(&format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut r = req.call().unwrap();
        let text = r.body_mut().read_to_string().unwrap();
        (r.status().as_u16(), serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}")))
    }

    /// The rows of a Handshake query that must succeed.
    fn rows(&self, query: &str) -> Vec<Value> {
        let (status, v) = self.get(&format!("/api/flight_recorder{query}"));
        assert_eq!(status, 200, "{query}: {v}");
        v.as_array().unwrap_or_else(|| panic!("{query}: not an array: {v}")).clone()
    }

    fn post(&self, events: &[Value]) {
        let mut req = self.agent.post(&format!("{}/v1/events", self.base)).header("Content-Type", "application/json");
        if let Some(t) = &self.token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut r = req.send(serde_json::to_vec(events).unwrap().as_slice()).unwrap();
        let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(v["accepted"].as_u64(), Some(events.len() as u64), "{v}");
    }

    /// Waits until at least `n` events are compacted into Parquet.
    fn wait_compacted(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.get("/v1/stats").1["compacted_events"].as_u64().unwrap_or(0) < n {
            assert!(Instant::now() < deadline, "not compacted: {}", self.get("/v1/stats").1);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A valid event of type `ty` at `at`, with the envelope fields its type requires.
fn event(ty: &str, at: DateTime<Utc>) -> Value {
    let payload = match ty {
        "job_lifecycle" => json!({"phase": "started", "job_kind": "review"}),
        "capability_decision" => json!({"decision": "deny", "requested_by": "agent:coder"}),
        "llm_inference" => json!({"token_usage": {"prompt": 1, "completion": 2, "total": 3}, "latency_ms": 9}),
        "tool_call" => json!({"tool_call_id": "tc", "tool_id": "fs.read", "tool_version": "1", "ok": true}),
        "terminal_command" => json!({"session_id": "s", "command": "ls"}),
        "editor_edit" => {
            json!({"editor_surface": "canvas", "document_id": "d", "ops": [{"range": {"start": 1, "end": 2}}]})
        }
        "diagnostic" => json!({"diagnostic_id": "d1", "severity": "info"}),
        "workflow_recovery" => {
            json!({"workflow_run_id": "wf-7", "from_state": "running", "to_state": "stalled", "reason": "no heartbeat"})
        }
        "debug_bundle_export" => json!({"bundle_id": "b", "scope": "job", "redaction_mode": "safe_default"}),
        other => panic!("no sample for {other}"),
    };
    let mut e = json!({
        "type": ty, "event_id": Uuid::new_v4(), "timestamp": ts(at), "actor": "agent",
        "trace_id": Uuid::new_v4(), "payload": payload,
    });
    match ty {
        "llm_inference" => e["model_id"] = json!("llama-3.1-8b"),
        "job_lifecycle" => e["job_id"] = json!("job-lc"),
        "capability_decision" => {
            e["capability_id"] = json!("cap.fs.write");
            e["policy_decision_id"] = json!("pd-1");
        }
        "workflow_recovery" => e["actor"] = json!("system"),
        _ => {}
    }
    e
}

const FIELDS: [&str; 16] = [
    "event_id",
    "trace_id",
    "timestamp",
    "actor",
    "actor_id",
    "event_type",
    "job_id",
    "workflow_id",
    "model_id",
    "model_session_id",
    "wsids",
    "activity_span_id",
    "session_span_id",
    "capability_id",
    "policy_decision_id",
    "payload",
];

fn id(e: &Value) -> String {
    e["event_id"].as_str().unwrap().to_string()
}

#[test]
fn the_answer_is_handshakes_flight_event_field_by_field() {
    let s = start(&[]);
    let now = Utc::now();
    let mut full = event("llm_inference", now - chrono::Duration::seconds(5));
    for (k, v) in [
        ("job_id", json!("job-1")),
        ("model_session_id", json!("ms-1")),
        ("wsids", json!(["ws-a", "ws-b"])),
        ("activity_span_id", json!("act-1")),
        ("session_span_id", json!("sess-1")),
        ("capability_id", json!("cap.net")),
        ("policy_decision_id", json!("pd-9")),
    ] {
        full[k] = v;
    }
    let bare = event("job_lifecycle", now - chrono::Duration::seconds(4));
    let recovery = event("workflow_recovery", now - chrono::Duration::seconds(3));
    let capability = event("capability_decision", now - chrono::Duration::seconds(2));
    s.post(&[full.clone(), bare.clone(), recovery.clone(), capability.clone()]);

    let rows = s.rows(&format!("?event_id={}", id(&full)));
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = rows[0].as_object().unwrap();
    let keys: BTreeSet<&str> = row.keys().map(String::as_str).collect();
    assert_eq!(keys, FIELDS.into_iter().collect(), "exactly Handshake's FlightEvent fields");
    for same in ["event_id", "trace_id", "actor", "job_id", "model_id", "model_session_id", "wsids", "payload"] {
        assert_eq!(row[same], full[same], "{same}");
    }
    for same in ["activity_span_id", "session_span_id", "capability_id", "policy_decision_id"] {
        assert_eq!(row[same], full[same], "{same}");
    }
    assert_eq!(row["event_type"], "llm_inference");
    assert_eq!(row["actor_id"], "agent", "the actor, as Handshake sets it when there is no id");
    assert_eq!(row["workflow_id"], Value::Null);
    let at = DateTime::parse_from_rfc3339(row["timestamp"].as_str().unwrap()).unwrap();
    assert_eq!(ts(at.to_utc()), full["timestamp"].as_str().unwrap(), "RFC 3339, the same instant");

    let row = &s.rows(&format!("?event_id={}", id(&bare)))[0];
    assert_eq!(row["event_type"], "system", "job_lifecycle is Handshake's system");
    assert_eq!(row["wsids"], json!([]), "Handshake's wsids is a list, never null");
    for absent in ["workflow_id", "model_id", "model_session_id", "activity_span_id", "session_span_id"] {
        assert!(row.get(absent).is_some_and(Value::is_null), "{absent} present as null: {row}");
    }
    for absent in ["capability_id", "policy_decision_id"] {
        assert!(row.get(absent).is_some_and(Value::is_null), "{absent} present as null: {row}");
    }
    let row = &s.rows(&format!("?event_id={}", id(&recovery)))[0];
    assert_eq!((row["event_type"].as_str(), row["workflow_id"].as_str()), (Some("workflow_recovery"), Some("wf-7")));
    let row = &s.rows(&format!("?event_id={}", id(&capability)))[0];
    assert_eq!(row["event_type"], "capability_action");

    let (status, alias) = s.get("/api/events");
    assert_eq!(status, 200);
    assert_eq!(alias, Value::Array(s.rows("")), "/api/events is the same route");
    assert_eq!(alias.as_array().unwrap().len(), 4);
}

#[test]
fn bad_filters_are_400_with_the_json_error_and_the_other_routes_rules_hold() {
    let s = start(&["--token", "hs-token"]);
    for (query, field) in [
        ("event_id=42", "event_id"),
        ("trace_id=nope", "trace_id"),
        ("from=yesterday", "from"),
        ("to=2026-02-30T00:00:00Z", "to"),
        ("actor=robot", "actor"),
        ("event_type=teleport", "event_type"),
        ("surface=desk", "surface"),
        ("limit=5", "limit"),
        ("job_id=a&job_id=b", "job_id"),
    ] {
        let (status, v) = s.get(&format!("/api/flight_recorder?{query}"));
        assert_eq!(status, 400, "{query}: {v}");
        assert_eq!((v["code"].as_str(), v["field"].as_str()), (Some("HSK-400-INVALID-QUERY"), Some(field)), "{v}");
        assert!(!v["message"].as_str().unwrap().is_empty());
    }
    let addr = s.base.trim_start_matches("http://");
    for path in ["/api/flight_recorder", "/api/events"] {
        let (status, _, body) =
            raw_http(addr, &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"));
        assert_eq!(status, 401, "no token: {body}");
        let (status, _, body) = raw_http(
            addr,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer hs-token\r\nOrigin: https://evil.example\r\nConnection: close\r\n\r\n"
            ),
        );
        assert_eq!(status, 403, "a cross-site page cannot read evidence: {body}");
        let (status, _, body) = raw_http(
            addr,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer hs-token\r\nConnection: close\r\n\r\n"
            ),
        );
        assert_eq!(status, 403, "a foreign Host is refused: {body}");
    }
}

/// The events of the filter test: every type, three actors, jobs, sessions, workspaces and
/// surfaces spread over them, one a minute (index 0 the oldest).
fn varied(now: DateTime<Utc>, n: usize) -> Vec<Value> {
    let types = [
        "job_lifecycle",
        "capability_decision",
        "llm_inference",
        "tool_call",
        "terminal_command",
        "editor_edit",
        "diagnostic",
        "workflow_recovery",
        "debug_bundle_export",
    ];
    (0..n)
        .map(|i| {
            let ty = types[i % types.len()];
            let mut e = event(ty, now - chrono::Duration::minutes(60) + chrono::Duration::minutes(i as i64));
            if ty != "workflow_recovery" {
                e["actor"] = json!(["human", "agent", "system"][i % 3]);
            }
            if ty != "job_lifecycle" {
                e["job_id"] = json!(format!("job-{}", i % 4));
            }
            e["model_session_id"] = json!(format!("ms-{}", i % 5));
            e["wsids"] = json!([format!("ws-{}", i % 3), "ws-all"]);
            if ty == "editor_edit" && i % 2 == 0 {
                e["payload"]["editor_surface"] = json!("monaco");
            }
            e
        })
        .collect()
}

/// What Handshake calls an event's type and surface, for the expected answers.
fn handshake_type(ty: &str) -> &str {
    match ty {
        "job_lifecycle" => "system",
        "capability_decision" => "capability_action",
        other => other,
    }
}

fn surface(e: &Value) -> &str {
    match e["type"].as_str().unwrap() {
        "editor_edit" => e["payload"]["editor_surface"].as_str().unwrap(),
        "terminal_command" => "terminal",
        _ => "system",
    }
}

/// Which of the recorded events a query must answer.
type Wanted<'a> = Box<dyn Fn(&Value) -> bool + 'a>;

#[test]
fn each_filter_selects_exactly_its_events_newest_first_from_parquet_and_the_tail() {
    let s = start(&[]);
    let now = Utc::now();
    let all = varied(now, 54);
    // The older half is compacted into Parquet; the newer half stays in the WAL tail.
    s.post(&all[..27]);
    s.wait_compacted(27);
    s.post(&all[27..]);
    let enc = |t: &Value| t.as_str().unwrap().replace('+', "%2B");
    let pick = all[20].clone();
    let cases: Vec<(String, Wanted<'_>)> = vec![
        (format!("event_id={}", id(&pick)), Box::new(|e: &Value| e["event_id"] == pick["event_id"])),
        (
            format!("trace_id={}", pick["trace_id"].as_str().unwrap()),
            Box::new(|e: &Value| e["trace_id"] == pick["trace_id"]),
        ),
        ("job_id=job-1".into(), Box::new(|e: &Value| e["job_id"] == "job-1")),
        ("model_session_id=ms-3".into(), Box::new(|e: &Value| e["model_session_id"] == "ms-3")),
        ("wsid=ws-2".into(), Box::new(|e: &Value| e["wsids"][0] == "ws-2")),
        ("actor=human".into(), Box::new(|e: &Value| e["actor"] == "human")),
        ("event_type=system".into(), Box::new(|e: &Value| e["type"] == "job_lifecycle")),
        ("event_type=capability_action".into(), Box::new(|e: &Value| e["type"] == "capability_decision")),
        ("event_type=llm_inference".into(), Box::new(|e: &Value| e["type"] == "llm_inference")),
        ("surface=monaco".into(), Box::new(|e: &Value| surface(e) == "monaco")),
        ("surface=canvas".into(), Box::new(|e: &Value| surface(e) == "canvas")),
        ("surface=terminal".into(), Box::new(|e: &Value| surface(e) == "terminal")),
        ("surface=system".into(), Box::new(|e: &Value| surface(e) == "system")),
        // `from` includes its instant, and so does Handshake's `to`.
        (
            format!("from={}", enc(&all[10]["timestamp"])),
            Box::new(|e: &Value| e["timestamp"].as_str() >= all[10]["timestamp"].as_str()),
        ),
        (
            format!("to={}", enc(&all[40]["timestamp"])),
            Box::new(|e: &Value| e["timestamp"].as_str() <= all[40]["timestamp"].as_str()),
        ),
        (
            format!("from={}&to={}&actor=agent&wsid=ws-1", enc(&all[5]["timestamp"]), enc(&all[45]["timestamp"])),
            Box::new(|e: &Value| {
                e["timestamp"].as_str() >= all[5]["timestamp"].as_str()
                    && e["timestamp"].as_str() <= all[45]["timestamp"].as_str()
                    && e["actor"] == "agent"
                    && e["wsids"][0] == "ws-1"
            }),
        ),
        ("event_type=security_violation".into(), Box::new(|_: &Value| false)),
    ];
    for (query, wanted) in &cases {
        let mut want: Vec<&Value> = all.iter().filter(|e| wanted(e)).collect();
        want.reverse(); // newest first
        let want: Vec<String> = want.into_iter().map(id).collect();
        let got: Vec<String> = s.rows(&format!("?{query}")).iter().map(id).collect();
        assert_eq!(got, want, "{query}");
        if query.starts_with("event_type=") && query != "event_type=security_violation" {
            let rows = s.rows(&format!("?{query}"));
            let name = query.trim_start_matches("event_type=");
            assert!(rows.iter().all(|r| r["event_type"] == name), "{query}: {rows:?}");
        }
    }
    // Each type's rows carry its Handshake name.
    for e in &all {
        let row = &s.rows(&format!("?event_id={}", id(e)))[0];
        assert_eq!(row["event_type"].as_str(), Some(handshake_type(e["type"].as_str().unwrap())), "{e}");
    }
}

#[test]
fn at_most_200_rows_newest_first_and_matches_older_than_the_200_newest_are_found() {
    let s = start(&[]);
    let now = Utc::now();
    let base = now - chrono::Duration::hours(2);
    // Old needles: the only human, diagnostic, ws-old, monaco, job-old, ms-old events.
    let needles: Vec<Value> = (0..5)
        .map(|i| {
            let mut e = event("editor_edit", base + chrono::Duration::seconds(i));
            e["actor"] = json!("human");
            e["job_id"] = json!("job-old");
            e["model_session_id"] = json!("ms-old");
            e["wsids"] = json!(["ws-old"]);
            e["payload"]["editor_surface"] = json!("monaco");
            e
        })
        .collect();
    let mut diagnostics: Vec<Value> =
        (0..3).map(|i| event("diagnostic", base + chrono::Duration::seconds(10 + i))).collect();
    for d in &mut diagnostics {
        d["actor"] = json!("system");
    }
    s.post(&needles);
    s.post(&diagnostics);
    s.wait_compacted(8);
    // 450 newer events, in two requests, half compacted too.
    let newer: Vec<Value> = (0..450)
        .map(|i| event("tool_call", base + chrono::Duration::minutes(10) + chrono::Duration::seconds(i)))
        .collect();
    s.post(&newer[..225]);
    s.wait_compacted(233);
    s.post(&newer[225..]);

    let rows = s.rows("");
    assert_eq!(rows.len(), 200, "at most 200 rows");
    let got: Vec<String> = rows.iter().map(id).collect();
    let want: Vec<String> = newer.iter().rev().take(200).map(id).collect();
    assert_eq!(got, want, "the 200 newest, newest first");
    let times: Vec<&str> = rows.iter().map(|r| r["timestamp"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]), "strictly newest first");

    let needle_ids: Vec<String> = needles.iter().rev().map(id).collect();
    for query in ["actor=human", "surface=monaco", "wsid=ws-old", "job_id=job-old", "model_session_id=ms-old"] {
        let got: Vec<String> = s.rows(&format!("?{query}")).iter().map(id).collect();
        assert_eq!(got, needle_ids, "{query}: the filter is applied before the cap");
    }
    let got: Vec<String> = s.rows("?event_type=diagnostic").iter().map(id).collect();
    assert_eq!(got, diagnostics.iter().rev().map(id).collect::<Vec<_>>(), "event_type before the cap");
    let got = s.rows("?event_type=tool_call&actor=agent");
    assert_eq!(got.len(), 200, "a filter matching more than 200 is capped too");
}
