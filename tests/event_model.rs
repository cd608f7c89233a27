#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The event model against FR-EVT.md: round trips of the sample file, every rejection rule
//! with its exact field path, trace_id assignment, timestamp normalisation and the string
//! visitor the redactor relies on.

use std::collections::{BTreeMap, HashSet};

use chrono::{TimeZone, Timelike, Utc};
use flightrec::event::{
    Actor, Event, EventBody, EventType, InvalidEvent, LlmInference, ParsedEvent, TokenUsage, parse_event,
};
use serde_json::{Value, json};

const SAMPLE: &str = include_str!("data/sample-events.ndjson");
const TRACE: &str = "0b8e6c52-53a4-4c1e-8d63-2f0d9a7b5c11";

fn parse(v: &Value) -> Result<ParsedEvent, InvalidEvent> {
    parse_event(&serde_json::to_vec(v).unwrap())
}

fn ok(v: &Value) -> ParsedEvent {
    match parse(v) {
        Ok(p) => p,
        Err(e) => panic!("expected {v} to parse, got {e}"),
    }
}

/// Parses bytes that must be rejected; checks the code and returns the error.
fn reject_bytes(bytes: &[u8]) -> InvalidEvent {
    match parse_event(bytes) {
        Ok(p) => panic!("expected a rejection of {}, got {:?}", String::from_utf8_lossy(bytes), p.event),
        Err(e) => {
            assert_eq!(e.code().as_str(), "HSK-400-INVALID-EVENT");
            assert!(!e.reason.is_empty(), "empty reason for field {:?}", e.field);
            e
        }
    }
}

/// Asserts `v` is rejected naming exactly `field`; returns the reason.
fn reject(v: &Value, field: &str) -> String {
    let e = reject_bytes(&serde_json::to_vec(v).unwrap());
    assert_eq!(e.field, field, "wrong field for {v}: {e}");
    e.reason
}

fn envelope(ty: &str, payload: Value) -> Value {
    json!({
        "type": ty,
        "event_id": "4f1c7a8e-2b7d-4a53-9a0e-6b1d2f6c9e01",
        "timestamp": "2026-11-25T09:14:03.221Z",
        "actor": "agent",
        "trace_id": TRACE,
        "payload": payload,
    })
}

fn llm() -> Value {
    let mut v = envelope(
        "llm_inference",
        json!({"token_usage": {"prompt": 812, "completion": 96, "total": 908}, "latency_ms": 1432}),
    );
    v["model_id"] = json!("llama-3.1-8b");
    v
}

fn tool_call() -> Value {
    envelope("tool_call", json!({"tool_call_id": "tc-1", "tool_id": "fs.read", "tool_version": "1.0", "ok": true}))
}

fn terminal() -> Value {
    envelope("terminal_command", json!({"session_id": "t-1", "command": "ls", "args": ["-la"]}))
}

fn editor() -> Value {
    envelope(
        "editor_edit",
        json!({"editor_surface": "monaco", "document_id": "doc-1",
               "ops": [{"range": {"start": 1, "end": 2}}, {"range": {"start": 5, "end": 5}}]}),
    )
}

fn diagnostic() -> Value {
    envelope("diagnostic", json!({"diagnostic_id": "d-1", "severity": "error"}))
}

fn recovery() -> Value {
    let mut v = envelope(
        "workflow_recovery",
        json!({"workflow_run_id": "wf-1", "from_state": "running", "to_state": "stalled", "reason": "no heartbeat"}),
    );
    v["actor"] = json!("system");
    v
}

fn job(payload: Value) -> Value {
    let mut v = envelope("job_lifecycle", payload);
    v["job_id"] = json!("job-1");
    v
}

fn capability() -> Value {
    let mut v = envelope("capability_decision", json!({"decision": "deny"}));
    v["capability_id"] = json!("cap.net");
    v["policy_decision_id"] = json!("pd-1");
    v
}

fn remove(v: &mut Value, key: &str) {
    v.as_object_mut().unwrap().remove(key).expect("key to remove");
}

// ---------------------------------------------------------------- round trips

#[test]
fn sample_file_round_trips_and_covers_every_type() {
    let mut per_type: BTreeMap<&str, usize> = BTreeMap::new();
    let mut lines = 0;
    for (i, line) in SAMPLE.lines().enumerate() {
        let first =
            parse_event(line.as_bytes()).unwrap_or_else(|e| panic!("sample line {} rejected: {e}", i + 1)).event;
        first.validate().unwrap();
        let json = first.to_json().unwrap();
        let again = parse_event(&json).unwrap();
        assert!(!again.trace_id_assigned, "canonical JSON always carries trace_id");
        assert_eq!(again.event, first, "line {} changed in a round trip", i + 1);
        // Canonical JSON is a fixed point.
        assert_eq!(again.event.to_json().unwrap(), json);
        *per_type.entry(first.event_type().as_str()).or_default() += 1;
        lines += 1;
    }
    assert!(lines >= 18);
    for ty in EventType::ALL {
        let n = per_type.get(ty.as_str()).copied().unwrap_or(0);
        assert!(n >= 2, "sample has {n} events of type {ty}, want at least 2");
    }
    assert_eq!(per_type.len(), 11);
}

#[test]
fn sample_file_links_events_by_job_and_trace() {
    let events: Vec<Event> = SAMPLE.lines().map(|l| parse_event(l.as_bytes()).unwrap().event).collect();
    let job42: HashSet<EventType> =
        events.iter().filter(|e| e.job_id.as_deref() == Some("job-42")).map(Event::event_type).collect();
    assert!(job42.len() >= 5, "job-42 spans several types: {job42:?}");
    let trace: uuid::Uuid = TRACE.parse().unwrap();
    assert!(events.iter().filter(|e| e.trace_id == trace).count() >= 3);
}

#[test]
fn canonical_json_has_type_first_utc_micros_and_no_nulls() {
    let mut v = llm();
    v["timestamp"] = json!("2026-11-25T11:14:03.221+02:00");
    let json = String::from_utf8(ok(&v).event.to_json().unwrap()).unwrap();
    assert!(json.starts_with(r#"{"type":"llm_inference","event_id":"4f1c7a8e-2b7d-4a53-9a0e-6b1d2f6c9e01","timestamp":"2026-11-25T09:14:03.221000Z","actor":"agent","trace_id":"0b8e6c52"#), "{json}");
    assert!(
        json.ends_with(r#""payload":{"token_usage":{"prompt":812,"completion":96,"total":908},"latency_ms":1432}}"#),
        "{json}"
    );
    assert!(!json.contains("null"), "{json}");
}

#[test]
fn type_may_come_after_payload() {
    let json = br#"{"payload":{"diagnostic_id":"d","severity":"hint"},"actor":"human","timestamp":"2026-11-01T00:00:00Z","event_id":"92f310e2-b0ab-417c-bf90-45b04b7b8dd5","type":"diagnostic"}"#;
    let p = parse_event(json).unwrap();
    assert_eq!(p.event.event_type(), EventType::Diagnostic);
    assert_eq!(p.event.actor, Actor::Human);
}

// ---------------------------------------------------------------- rejections: shape

#[test]
fn rejects_unknown_type() {
    let reason = reject(&envelope("file_upload", json!({})), "type");
    assert!(reason.contains("file_upload") && reason.contains("tool_call"), "{reason}");
}

#[test]
fn rejects_unknown_fields_at_every_level() {
    let mut v = diagnostic();
    v["bogus"] = json!(1);
    assert!(reject(&v, "bogus").contains("unknown field"));

    let mut v = diagnostic();
    v["payload"]["bogus"] = json!("x");
    let reason = reject(&v, "payload.bogus");
    assert!(reason.contains("diagnostic_id"), "names the accepted fields: {reason}");

    let mut v = llm();
    v["payload"]["token_usage"]["cached"] = json!(3);
    reject(&v, "payload.token_usage.cached");

    let mut v = editor();
    v["payload"]["ops"][1]["range"]["mid"] = json!(3);
    reject(&v, "payload.ops[1].range.mid");

    // A field of another type is unknown here.
    let mut v = terminal();
    v["payload"]["severity"] = json!("error");
    reject(&v, "payload.severity");
}

#[test]
fn rejects_missing_required_envelope_fields() {
    for key in ["type", "event_id", "timestamp", "actor", "payload"] {
        let mut v = diagnostic();
        remove(&mut v, key);
        let reason = reject(&v, key);
        assert!(reason.contains("missing"), "{key}: {reason}");
    }
}

#[test]
fn rejects_missing_required_payload_fields() {
    let mut v = terminal();
    remove(&mut v["payload"], "session_id");
    assert_eq!(reject(&v, "payload.session_id"), "missing required field");

    let mut v = tool_call();
    remove(&mut v["payload"], "ok");
    reject(&v, "payload.ok");

    let mut v = llm();
    remove(&mut v["payload"]["token_usage"], "total");
    reject(&v, "payload.token_usage.total");

    let mut v = editor();
    remove(&mut v["payload"]["ops"][1], "range");
    reject(&v, "payload.ops[1].range");

    let mut v = tool_call();
    v["payload"]["ok"] = json!(false);
    v["payload"]["error"] = json!({"code": "E1"});
    reject(&v, "payload.error.kind");
}

#[test]
fn rejects_wrong_enum_values() {
    let mut v = diagnostic();
    v["payload"]["severity"] = json!("critical");
    let reason = reject(&v, "payload.severity");
    assert!(reason.contains("critical") && reason.contains("warning"), "{reason}");

    let mut v = diagnostic();
    v["actor"] = json!("robot");
    reject(&v, "actor");

    // Enum spellings are exact.
    let mut v = tool_call();
    v["payload"]["side_effect"] = json!("read");
    reject(&v, "payload.side_effect");

    // serde_json's map form of an enum is not a string.
    let mut v = tool_call();
    v["payload"]["side_effect"] = json!({"READ": null});
    reject(&v, "payload.side_effect");

    let mut v = job(json!({"phase": "paused"}));
    v["actor"] = json!("system");
    reject(&v, "payload.phase");
}

#[test]
fn rejects_wrong_json_types() {
    let mut v = tool_call();
    v["payload"]["ok"] = json!("yes");
    reject(&v, "payload.ok");

    let mut v = terminal();
    v["payload"]["exit_code"] = json!("0");
    reject(&v, "payload.exit_code");

    let mut v = terminal();
    v["payload"]["args"] = json!(["-l", 7]);
    reject(&v, "payload.args[1]");

    let mut v = diagnostic();
    v["wsids"] = json!("ws-1");
    reject(&v, "wsids");

    let mut v = diagnostic();
    v["event_id"] = json!("not-a-uuid");
    reject(&v, "event_id");

    let mut v = llm();
    v["payload"]["token_usage"]["prompt"] = json!(1.5);
    reject(&v, "payload.token_usage.prompt");

    // Structs must be objects, not the positional arrays serde would otherwise accept.
    let mut v = llm();
    v["payload"]["token_usage"] = json!([812, 96, 908]);
    reject(&v, "payload.token_usage");
    reject(&envelope("diagnostic", json!(["d-1", "error"])), "payload");
    let mut v = editor();
    v["payload"]["ops"][0]["range"] = json!([1, 2]);
    reject(&v, "payload.ops[0].range");
}

#[test]
fn rejects_negative_integers_where_counts_are_expected() {
    let mut v = terminal();
    v["payload"]["duration_ms"] = json!(-5);
    let reason = reject(&v, "payload.duration_ms");
    assert!(reason.contains("non-negative"), "{reason}");

    let mut v = llm();
    v["payload"]["latency_ms"] = json!(-1);
    reject(&v, "payload.latency_ms");

    // exit_code is signed.
    let mut v = terminal();
    v["payload"]["exit_code"] = json!(-9);
    let EventBody::TerminalCommand(t) = ok(&v).event.body else { panic!("wrong body") };
    assert_eq!(t.exit_code, Some(-9));
}

#[test]
fn rejects_timestamps_without_offset() {
    for bad in ["2026-11-25T09:14:03.221", "2026-11-25", "25/11/2026 09:14", "", "2026-13-01T00:00:00Z"] {
        let mut v = diagnostic();
        v["timestamp"] = json!(bad);
        let reason = reject(&v, "timestamp");
        assert!(reason.contains("RFC 3339"), "{bad}: {reason}");
    }
    let mut v = diagnostic();
    v["timestamp"] = json!(1_764_000_000);
    reject(&v, "timestamp");

    let mut v = tool_call();
    v["payload"]["timing"] = json!({"started_at": "2026-11-25T09:14:03", "ended_at": "2026-11-25T09:14:04Z"});
    reject(&v, "payload.timing.started_at");
}

#[test]
fn rejects_duplicate_fields() {
    let json = br#"{"type":"diagnostic","event_id":"92f310e2-b0ab-417c-bf90-45b04b7b8dd5","timestamp":"2026-11-01T00:00:00Z","actor":"agent","actor":"system","payload":{"diagnostic_id":"d","severity":"hint"}}"#;
    let e = reject_bytes(json);
    assert_eq!(e.field, "actor");
    assert!(e.reason.contains("more than once"), "{e}");
}

// ---------------------------------------------------------------- rejections: cross-field rules

#[test]
fn rejects_token_total_that_is_not_the_sum() {
    let mut v = llm();
    v["payload"]["token_usage"]["total"] = json!(907);
    let reason = reject(&v, "payload.token_usage.total");
    assert!(reason.contains("prompt + completion"), "{reason}");

    // Overflowing sums are caught, not wrapped.
    let mut v = llm();
    v["payload"]["token_usage"] = json!({"prompt": u64::MAX, "completion": 1, "total": 0});
    reject(&v, "payload.token_usage.total");
}

#[test]
fn rejects_tool_call_error_that_disagrees_with_ok() {
    let mut v = tool_call();
    v["payload"]["ok"] = json!(false);
    assert!(reject(&v, "payload.error").contains("required"));

    let mut v = tool_call();
    v["payload"]["error"] = json!({"code": "E1", "kind": "timeout"});
    assert!(reject(&v, "payload.error").contains("absent"));

    let mut v = tool_call();
    v["payload"]["ok"] = json!(false);
    v["payload"]["error"] = json!({"code": "E1", "kind": "timeout"});
    ok(&v);
}

#[test]
fn rejects_timing_that_ends_before_it_starts() {
    let mut v = tool_call();
    v["payload"]["timing"] = json!({"started_at": "2026-11-25T09:14:04Z", "ended_at": "2026-11-25T09:14:03.999999Z"});
    reject(&v, "payload.timing.ended_at");

    // The same instant in another offset is not "before".
    v["payload"]["timing"] = json!({"started_at": "2026-11-25T09:14:04Z", "ended_at": "2026-11-25T10:14:04+01:00"});
    ok(&v);
}

#[test]
fn rejects_workflow_recovery_not_from_the_system_or_wrong_states() {
    let mut v = recovery();
    v["actor"] = json!("agent");
    let reason = reject(&v, "actor");
    assert!(reason.contains("system"), "{reason}");

    let mut v = recovery();
    v["payload"]["from_state"] = json!("stalled");
    reject(&v, "payload.from_state");

    let mut v = recovery();
    v["payload"]["to_state"] = json!("running");
    reject(&v, "payload.to_state");

    let mut v = recovery();
    v["payload"]["reason"] = json!("");
    reject(&v, "payload.reason");
}

#[test]
fn rejects_job_lifecycle_status_rules_and_missing_job_id() {
    let mut v = job(json!({"phase": "finished", "duration_ms": 10}));
    v["actor"] = json!("system");
    let reason = reject(&v, "payload.status");
    assert!(reason.contains("finished"), "{reason}");

    reject(&job(json!({"phase": "started", "status": "ok"})), "payload.status");
    reject(&job(json!({"phase": "started", "duration_ms": 5})), "payload.duration_ms");
    ok(&job(json!({"phase": "finished", "status": "cancelled"})));

    let mut v = job(json!({"phase": "started"}));
    remove(&mut v, "job_id");
    assert!(reject(&v, "job_id").contains("job_lifecycle"));
    v["job_id"] = json!("");
    assert_eq!(reject(&v, "job_id"), "must not be empty");
}

#[test]
fn rejects_capability_decision_without_its_ids() {
    let mut v = capability();
    remove(&mut v, "policy_decision_id");
    reject(&v, "policy_decision_id");

    let mut v = capability();
    remove(&mut v, "capability_id");
    reject(&v, "capability_id");
}

#[test]
fn rejects_llm_inference_without_trace_or_model() {
    let mut v = llm();
    remove(&mut v, "trace_id");
    assert!(reject(&v, "trace_id").contains("llm_inference"));

    let mut v = llm();
    remove(&mut v, "model_id");
    reject(&v, "model_id");

    let mut v = tool_call();
    remove(&mut v, "trace_id");
    reject(&v, "trace_id");
}

#[test]
fn rejects_empty_ops_and_backwards_ranges() {
    let mut v = editor();
    v["payload"]["ops"] = json!([]);
    reject(&v, "payload.ops");

    let mut v = editor();
    v["payload"]["ops"][1]["range"] = json!({"start": 9, "end": 3});
    reject(&v, "payload.ops[1].range.end");

    let mut v = diagnostic();
    v["payload"]["range"] = json!({"start": 2, "end": 1});
    reject(&v, "payload.range.end");
}

#[test]
fn rejects_empty_required_strings_and_nil_ids() {
    let mut v = terminal();
    v["payload"]["command"] = json!("");
    assert_eq!(reject(&v, "payload.command"), "must not be empty");

    let mut v = tool_call();
    v["payload"]["tool_version"] = json!("");
    reject(&v, "payload.tool_version");

    let mut v = llm();
    v["model_id"] = json!("");
    reject(&v, "model_id");

    let mut v = diagnostic();
    v["event_id"] = json!("00000000-0000-0000-0000-000000000000");
    reject(&v, "event_id");
}

#[test]
fn rejects_input_that_is_not_a_json_object() {
    for bad in [&b"[1,2]"[..], b"42", b"\"diagnostic\"", b"null", b"true"] {
        let e = reject_bytes(bad);
        assert_eq!(e.field, "", "{}", String::from_utf8_lossy(bad));
        assert!(e.reason.contains("JSON object"), "{e}");
    }
}

#[test]
fn rejects_invalid_json() {
    for bad in [&b""[..], b"not json", b"{", b"{\"type\"", b"\xff\xfe"] {
        let e = reject_bytes(bad);
        assert_eq!(e.field, "", "{}", String::from_utf8_lossy(bad));
        assert!(e.reason.starts_with("invalid JSON"), "{e}");
    }
    // Bad syntax inside a value names that value.
    let e = reject_bytes(br#"{"type":"diagnostic","event_id":"92f310e2-b0ab-417c-bf90-45b04b7b8dd5","payload":{"diagnostic_id":"d","severity":tru}}"#);
    assert_eq!(e.field, "payload");
    assert!(e.reason.starts_with("invalid JSON"), "{e}");

    // Trailing data after the object.
    let mut json = serde_json::to_vec(&diagnostic()).unwrap();
    json.extend_from_slice(b" {}");
    let e = reject_bytes(&json);
    assert_eq!(e.field, "");
    assert!(e.reason.contains("trailing"), "{e}");

    // Invalid UTF-8 inside a payload string.
    let json = serde_json::to_vec(&diagnostic()).unwrap();
    let at = json.windows(3).position(|w| w == b"d-1").unwrap();
    let mut bad = json.clone();
    bad[at + 2] = 0xff;
    let e = reject_bytes(&bad);
    assert!(e.field == "payload" || e.field == "payload.diagnostic_id", "{e}");
}

#[test]
fn error_display_and_reason_cap() {
    let mut v = terminal();
    v["payload"]["command"] = json!("");
    let e = parse(&v).unwrap_err();
    assert_eq!(e.to_string(), "HSK-400-INVALID-EVENT: payload.command: must not be empty");
    let as_error: &dyn std::error::Error = &e;
    assert!(as_error.to_string().starts_with("HSK-400-INVALID-EVENT"));

    // A huge bad value does not make a huge error.
    let mut v = tool_call();
    v["payload"]["ok"] = json!("x".repeat(100_000));
    let e = reject(&v, "payload.ok");
    assert!(e.len() <= flightrec::event::MAX_REASON + '…'.len_utf8(), "{}", e.len());
}

#[test]
fn never_panics_on_truncated_or_mangled_input() {
    let line = SAMPLE.lines().find(|l| l.contains("\"tool_call\"")).unwrap().as_bytes();
    for cut in 0..line.len() {
        assert!(parse_event(&line[..cut]).is_err(), "prefix of {cut} bytes parsed");
    }
    for i in 0..line.len() {
        for b in [b'"', b'{', b']', b'0', b'-', 0xc3, b'\\'] {
            let mut bad = line.to_vec();
            bad[i] = b;
            let _ = parse_event(&bad);
        }
    }
}

// ---------------------------------------------------------------- trace_id

#[test]
fn assigns_trace_id_when_absent_and_allowed() {
    let mut v = diagnostic();
    remove(&mut v, "trace_id");
    let a = ok(&v);
    let b = ok(&v);
    assert!(a.trace_id_assigned);
    assert!(!a.event.trace_id.is_nil());
    assert_eq!(a.event.trace_id.get_version_num(), 4);
    assert_ne!(a.event.trace_id, b.event.trace_id, "each assignment is fresh");
    // The assigned id is part of the event from then on.
    let again = parse_event(&a.event.to_json().unwrap()).unwrap();
    assert!(!again.trace_id_assigned);
    assert_eq!(again.event.trace_id, a.event.trace_id);
}

#[test]
fn keeps_a_given_trace_id() {
    let p = ok(&diagnostic());
    assert!(!p.trace_id_assigned);
    assert_eq!(p.event.trace_id.to_string(), TRACE);
}

// ---------------------------------------------------------------- timestamps

#[test]
fn timestamps_are_normalised_to_utc_micros() {
    let mut v = diagnostic();
    v["timestamp"] = json!("2026-11-25T11:14:03.221+02:00");
    let e = ok(&v).event;
    assert_eq!(
        e.timestamp,
        Utc.with_ymd_and_hms(2026, 11, 25, 9, 14, 3).unwrap() + chrono::Duration::milliseconds(221)
    );

    v["timestamp"] = json!("2026-11-25T09:14:03.123456789Z");
    let e = ok(&v).event;
    assert_eq!(e.timestamp.nanosecond(), 123_456_000, "truncated, not rounded");
    let json = String::from_utf8(e.to_json().unwrap()).unwrap();
    assert!(json.contains(r#""timestamp":"2026-11-25T09:14:03.123456Z""#), "{json}");

    v["timestamp"] = json!("2026-11-30T23:30:00-01:00");
    let json = String::from_utf8(ok(&v).event.to_json().unwrap()).unwrap();
    assert!(json.contains(r#""timestamp":"2026-12-01T00:30:00.000000Z""#), "{json}");

    // Payload timestamps follow the same rule.
    let mut v = tool_call();
    v["payload"]["timing"] =
        json!({"started_at": "2026-11-25T10:00:00.0000019+01:00", "ended_at": "2026-11-25T09:00:01Z"});
    let json = String::from_utf8(ok(&v).event.to_json().unwrap()).unwrap();
    assert!(
        json.contains(
            r#""timing":{"started_at":"2026-11-25T09:00:00.000001Z","ended_at":"2026-11-25T09:00:01.000000Z"}"#
        ),
        "{json}"
    );
}

// ---------------------------------------------------------------- string visitor

fn strings(e: &mut Event) -> Vec<String> {
    let mut out = Vec::new();
    e.for_each_string_mut(&mut |s| out.push(s.clone()));
    out
}

#[test]
fn string_visitor_reaches_nested_strings() {
    let mut v = tool_call();
    v["job_id"] = json!("job-1");
    v["wsids"] = json!(["ws-a", "ws-b"]);
    v["payload"]["ok"] = json!(false);
    v["payload"]["error"] = json!({"code": "E_AUTH", "kind": "denied"});
    v["payload"]["capability_ids"] = json!(["cap.a", "cap.b"]);
    v["payload"]["args_ref"] = json!("https://user:hunter2@example.com/x");
    v["payload"]["transport"] = json!("http");
    let mut e = ok(&v).event;
    let got: HashSet<String> = strings(&mut e).into_iter().collect();
    for want in [
        "job-1",
        "ws-a",
        "ws-b",
        "tc-1",
        "fs.read",
        "1.0",
        "E_AUTH",
        "denied",
        "cap.a",
        "cap.b",
        "https://user:hunter2@example.com/x",
    ] {
        assert!(got.contains(want), "missing {want}: {got:?}");
    }
    // Not ids, enums or timestamps.
    assert!(!got.iter().any(|s| s == TRACE || s == "http" || s.starts_with("2026")), "{got:?}");
    assert_eq!(got.len(), 11);

    let mut t = ok(&terminal()).event;
    assert_eq!(strings(&mut t), ["t-1", "ls", "-la"]);

    let mut v = editor();
    v["payload"]["ops"][1]["insert_hash"] = json!("ih");
    v["payload"]["after_hash"] = json!("ah");
    assert_eq!(strings(&mut ok(&v).event), ["doc-1", "ih", "ah"]);
}

#[test]
fn string_visitor_can_rewrite_every_string() {
    for line in SAMPLE.lines() {
        let mut e = parse_event(line.as_bytes()).unwrap().event;
        let n = strings(&mut e).len();
        e.for_each_string_mut(&mut |s| *s = format!("[REDACTED:{}]", s.len()));
        let after = strings(&mut e);
        assert_eq!(after.len(), n);
        assert!(after.iter().all(|s| s.starts_with("[REDACTED:")));
        // Redacted events stay valid and round-trip.
        e.validate().unwrap();
        assert_eq!(parse_event(&e.to_json().unwrap()).unwrap().event, e);
    }
}

// ---------------------------------------------------------------- events built in Rust

#[test]
fn new_events_validate_with_the_same_rules() {
    let body = EventBody::LlmInference(LlmInference {
        token_usage: TokenUsage { prompt: 3, completion: 4, total: 7 },
        latency_ms: None,
        prompt_hash: None,
        response_hash: None,
        provider: Some("local".into()),
        finish_reason: None,
    });
    let mut e = Event::new(body, Actor::Agent);
    assert_eq!(e.event_type(), EventType::LlmInference);
    assert_eq!(e.timestamp.nanosecond() % 1000, 0);
    assert_ne!(e.event_id, e.trace_id);
    assert_eq!(e.validate().unwrap_err().field, "model_id");
    e.model_id = Some("m".into());
    e.validate().unwrap();
    let back = parse_event(&e.to_json().unwrap()).unwrap();
    assert_eq!(back.event, e);

    if let EventBody::LlmInference(p) = &mut e.body {
        p.token_usage.total = 8;
    }
    assert_eq!(e.validate().unwrap_err().field, "payload.token_usage.total");
}

#[test]
fn event_type_and_actor_names() {
    assert_eq!(EventType::ALL.len(), 11);
    let names: HashSet<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(names.len(), 11);
    for t in EventType::ALL {
        assert_eq!(t.as_str().parse::<EventType>().unwrap(), t);
        assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{t}\""));
    }
    assert_eq!(EventType::DebugBundleExport.as_str(), "debug_bundle_export");
    let err = "Tool_Call".parse::<EventType>().unwrap_err();
    assert!(err.to_string().contains("tool_call"), "{err}");
    assert_eq!("system".parse::<Actor>().unwrap(), Actor::System);
    assert_eq!(Actor::Human.as_str(), "human");
    assert!("root".parse::<Actor>().is_err());
}
