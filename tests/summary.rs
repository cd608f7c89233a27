#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `GET /v1/summary` and `GET /v1/jobs` over a real recorder, HTTP server, DuckDB and file
//! system, checked against a summary computed by hand from the generated workload: several
//! models, tools with failures, capability allow/deny, jobs ok/failed/cancelled/running. Part
//! of the workload is compacted to Parquet files of the format before the summary columns
//! (their payloads are read as JSON), part to files with them, the rest is still in the WAL
//! tail, and retention has dropped an older segment, so the summary must join all three as
//! one row set and report the gap.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use chrono::{DateTime, Duration, DurationRound, SecondsFormat, Utc};
use flightrec::recorder::{FlightRecorder, Recorder, RecorderConfig};
use flightrec::server;
use serde_json::{Value, json};

const MODELS: [&str; 3] = ["llama-3.1-8b", "qwen2.5-coder-7b", "gpt-4o-mini"];
const TOOLS: [&str; 4] = ["fs.read", "fs.write", "shell.exec", "http.get"];
const CAPABILITIES: [&str; 3] = ["net.http", "fs.write", "shell.exec"];
const JOBS: [&str; 6] = ["job-ok", "job-failed-1", "job-failed-2", "job-cancelled", "job-running", "job-no-lifecycle"];

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn event(ty: &str, at: DateTime<Utc>, job: &str, extra: Value, payload: Value) -> Value {
    let mut e = json!({
        "type": ty, "event_id": uuid::Uuid::new_v4().to_string(), "timestamp": ts(at),
        "actor": if ty == "job_lifecycle" || ty == "capability_decision" || ty == "diagnostic" { "system" } else { "agent" },
        "trace_id": uuid::Uuid::new_v4().to_string(), "job_id": job, "payload": payload,
    });
    for (k, v) in extra.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

/// The generated workload over `[base, base + 6 h)`: random model, tool, capability and
/// diagnostic events of the jobs, and each job's lifecycle at fixed times.
fn workload(base: DateTime<Utc>) -> Vec<Value> {
    let mut rng = fastrand::Rng::with_seed(17);
    let minutes = |m: i64| base + Duration::minutes(m);
    let mut out = Vec::new();
    for i in 0..400 {
        let at = base + Duration::seconds(rng.i64(0..6 * 3600)) + Duration::microseconds(i);
        let job = JOBS[rng.usize(..JOBS.len())];
        out.push(match rng.u8(..4) {
            0 => {
                let (p, c) = (rng.u64(10..4000), rng.u64(1..900));
                let mut payload = json!({"token_usage": {"prompt": p, "completion": c, "total": p + c}});
                if rng.u8(..10) > 0 {
                    payload["latency_ms"] = json!(rng.u64(50..9000));
                }
                event("llm_inference", at, job, json!({"model_id": MODELS[rng.usize(..3)]}), payload)
            }
            1 => {
                let ok = rng.u8(..100) >= 25;
                let mut payload = json!({"tool_call_id": format!("tc-{i}"), "tool_id": TOOLS[rng.usize(..4)], "tool_version": "1", "ok": ok});
                if !ok {
                    payload["error"] = json!({"code": "E", "kind": "timeout"});
                }
                if rng.u8(..10) > 0 {
                    let ms = rng.u64(1..3000);
                    let end = at + Duration::milliseconds(ms as i64);
                    payload["timing"] = json!({"started_at": ts(at), "ended_at": ts(end), "duration_ms": ms});
                }
                event("tool_call", at, job, json!({}), payload)
            }
            2 => {
                let decision = if rng.u8(..100) < 30 { "deny" } else { "allow" };
                let extra = json!({"capability_id": CAPABILITIES[rng.usize(..3)], "policy_decision_id": format!("pd-{i}")});
                event("capability_decision", at, job, extra, json!({"decision": decision}))
            }
            _ => event("diagnostic", at, job, json!({}), json!({"diagnostic_id": format!("d-{i}"), "severity": "info"})),
        });
    }
    let life = |at, job: &str, payload| event("job_lifecycle", at, job, json!({}), payload);
    let started = json!({"phase": "started", "job_kind": "build"});
    let finished = |status: &str, ms: Option<u64>| json!({"phase": "finished", "job_kind": "build", "status": status, "duration_ms": ms});
    out.extend([
        life(minutes(10), "job-ok", started.clone()),
        life(minutes(70), "job-ok", finished("ok", Some(3_600_000))),
        life(minutes(20), "job-failed-1", started.clone()),
        life(minutes(30), "job-failed-1", finished("failed", Some(600_000))),
        life(minutes(120), "job-failed-2", started.clone()),
        life(minutes(125), "job-failed-2", finished("failed", Some(300_000))),
        life(minutes(180), "job-cancelled", started.clone()),
        life(minutes(330), "job-cancelled", json!({"phase": "finished", "status": "cancelled"})),
        life(minutes(300), "job-running", started),
    ]);
    for e in &mut out {
        if e["payload"]["duration_ms"].is_null() && e["type"] == "job_lifecycle" {
            e["payload"].as_object_mut().unwrap().remove("duration_ms");
        }
    }
    out
}

/// Nearest-rank percentile of integer values (rank `ceil(pct / 100 * n)`), null when none.
fn percentile(values: &[u64], pct: usize) -> Value {
    let mut v = values.to_vec();
    v.sort_unstable();
    if v.is_empty() {
        return Value::Null;
    }
    json!(v[(v.len() * pct).div_ceil(100) - 1])
}

fn micros(v: &Value) -> i64 {
    DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().timestamp_micros()
}

/// The summary's buckets, models, tools, capabilities and job counts computed by hand.
fn expected_parts(events: &[Value], first_bucket: i64, width: i64, n_buckets: usize) -> Value {
    let mut buckets = vec![BTreeMap::<String, u64>::new(); n_buckets];
    let (mut models, mut tools, mut caps) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    let mut jobs = BTreeMap::<&str, u64>::new();
    for e in events {
        let ty = e["type"].as_str().unwrap();
        let at = micros(&e["timestamp"]);
        *buckets[usize::try_from((at - first_bucket) / width).unwrap()].entry(ty.to_string()).or_default() += 1;
        let p = &e["payload"];
        match ty {
            "llm_inference" => {
                let m = models.entry(e["model_id"].as_str().unwrap()).or_insert((0u64, 0u64, 0u64, Vec::new()));
                m.0 += 1;
                m.1 += p["token_usage"]["prompt"].as_u64().unwrap();
                m.2 += p["token_usage"]["completion"].as_u64().unwrap();
                m.3.extend(p["latency_ms"].as_u64());
            }
            "tool_call" => {
                let t = tools.entry(p["tool_id"].as_str().unwrap()).or_insert((0u64, 0u64, Vec::new()));
                t.0 += 1;
                t.1 += u64::from(p["ok"] == false);
                t.2.extend(p["timing"]["duration_ms"].as_u64());
            }
            "capability_decision" => {
                let c = caps.entry(e["capability_id"].as_str().unwrap()).or_insert((0u64, 0u64));
                if p["decision"] == "allow" { c.0 += 1 } else { c.1 += 1 }
            }
            "job_lifecycle" => {
                let key = if p["phase"] == "started" { "started" } else { p["status"].as_str().unwrap() };
                *jobs.entry(key).or_default() += 1;
            }
            _ => {}
        }
    }
    let mut models: Vec<_> = models.into_iter().collect();
    models.sort_by(|a, b| (b.1.0, a.0).cmp(&(a.1.0, b.0)));
    let mut tools: Vec<_> = tools.into_iter().collect();
    tools.sort_by(|a, b| (b.1.1, b.1.0, a.0).cmp(&(a.1.1, a.1.0, b.0)));
    let mut caps: Vec<_> = caps.into_iter().collect();
    caps.sort_by(|a, b| (b.1.1, a.0).cmp(&(a.1.1, b.0)));
    let types: BTreeSet<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    json!({
        "total_events": events.len(),
        "types": types,
        "counts": buckets,
        "models": models.into_iter().map(|(id, (calls, p, c, lat))| json!({"model_id": id, "calls": calls,
            "prompt_tokens": p, "completion_tokens": c, "latency_ms_p50": percentile(&lat, 50),
            "latency_ms_p95": percentile(&lat, 95)})).collect::<Vec<_>>(),
        "tools": tools.into_iter().map(|(id, (calls, failures, d))| json!({"tool_id": id, "calls": calls,
            "failures": failures, "duration_ms_p50": percentile(&d, 50), "duration_ms_p95": percentile(&d, 95)}))
            .collect::<Vec<_>>(),
        "capabilities": caps.into_iter().map(|(id, (allow, deny))| json!({"capability_id": id, "allow": allow, "deny": deny}))
            .collect::<Vec<_>>(),
        "jobs": {"started": jobs.get("started").copied().unwrap_or(0), "ok": jobs.get("ok").copied().unwrap_or(0),
            "failed": jobs.get("failed").copied().unwrap_or(0), "cancelled": jobs.get("cancelled").copied().unwrap_or(0)},
    })
}

/// Every job's row computed by hand, newest `started_at` first.
fn expected_jobs(events: &[Value]) -> Vec<Value> {
    let mut rows = Vec::new();
    for job in JOBS {
        let mine: Vec<&Value> = events.iter().filter(|e| e["job_id"] == job).collect();
        let life = |phase: &str| mine.iter().find(|e| e["type"] == "job_lifecycle" && e["payload"]["phase"] == phase);
        let (started, finished) = (life("started"), life("finished"));
        let first = mine.iter().map(|e| micros(&e["timestamp"])).min().unwrap();
        let started_at = started.map_or(first, |s| micros(&s["timestamp"]));
        let duration = finished.and_then(|f| {
            f["payload"]["duration_ms"].as_u64().or_else(|| {
                started.map(|s| u64::try_from((micros(&f["timestamp"]) - micros(&s["timestamp"])) / 1000).unwrap())
            })
        });
        let models: BTreeSet<&str> = mine.iter().filter_map(|e| e["model_id"].as_str()).collect();
        let at = |us: i64| ts(DateTime::from_timestamp_micros(us).unwrap());
        rows.push(json!({
            "job_id": job,
            "job_kind": if started.is_some() || finished.is_some() { json!("build") } else { Value::Null },
            "status": finished.map_or(json!("running"), |f| f["payload"]["status"].clone()),
            "started_at": at(started_at),
            "finished_at": finished.map_or(Value::Null, |f| f["timestamp"].clone()),
            "duration_ms": duration,
            "events": mine.len(),
            "models": models,
        }));
    }
    rows.sort_by(|a, b| {
        (micros(&b["started_at"]), a["job_id"].as_str()).cmp(&(micros(&a["started_at"]), b["job_id"].as_str()))
    });
    rows
}

struct Server {
    base: String,
    agent: ureq::Agent,
    recorder: Recorder,
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        Server::start_in(tempfile::tempdir().unwrap())
    }

    fn start_in(dir: tempfile::TempDir) -> Server {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (base, recorder) = rt.block_on(async {
            let listener = server::bind("127.0.0.1:0".parse::<SocketAddr>().unwrap(), None).await.unwrap();
            let recorder = Recorder::open(RecorderConfig::new(dir.path())).await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(server::run(listener, recorder.clone(), Default::default(), std::future::pending()));
            (base, recorder)
        });
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Server { base, agent, recorder, rt, dir }
    }

    /// Shuts the recorder down and hands its data directory back.
    fn stop(self) -> tempfile::TempDir {
        self.rt.block_on(self.recorder.shutdown()).unwrap();
        self.dir
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let mut r = self.agent.get(&format!("{}{path}", self.base)).call().unwrap();
        let body = r.body_mut().read_to_string().unwrap();
        (r.status().as_u16(), serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")))
    }

    fn record(&self, events: &[Value]) {
        let body = serde_json::to_vec(events).unwrap();
        let mut r = self.agent.post(&format!("{}/v1/events", self.base)).header("Content-Type", "application/json");
        r = r.header("Accept", "application/json");
        let mut answer = r.send(&body[..]).unwrap();
        let text = answer.body_mut().read_to_string().unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["accepted"], events.len(), "{text}");
    }
}

fn query_time(t: DateTime<Utc>) -> String {
    ts(t).replace('+', "%2B")
}

#[test]
fn summary_and_jobs_match_a_hand_computed_summary_over_parquet_the_wal_tail_and_a_retention_gap() {
    let s = Server::start();
    // Ten days ago: a segment of three events, compacted, then dropped by retention.
    let old = Utc::now() - Duration::days(10);
    let gone: Vec<Value> = (0..3)
        .map(|i| {
            event(
                "diagnostic",
                old + Duration::seconds(i),
                "job-gone",
                json!({}),
                json!({"diagnostic_id": "old", "severity": "info"}),
            )
        })
        .collect();
    s.record(&gone);
    s.rt.block_on(s.recorder.seal()).unwrap();
    s.rt.block_on(s.recorder.compact_now()).unwrap();
    assert_eq!(s.rt.block_on(s.recorder.enforce_retention()).unwrap(), 3, "the old segment is dropped");

    // The last six whole hours: about 30% compacted to files of the format before the summary
    // columns, 30% to files with them, the rest left in the WAL tail.
    let base = Utc::now().duration_trunc(Duration::hours(1)).unwrap() - Duration::hours(6);
    let events = workload(base);
    let (older, rest) = events.split_at(events.len() * 3 / 10);
    let (newer, tail) = rest.split_at(events.len() * 3 / 10);
    s.record(older);
    s.rt.block_on(s.recorder.seal()).unwrap();
    s.rt.block_on(s.recorder.compact_now()).unwrap();
    let dir = s.stop();
    assert!(make_files_old_format(dir.path()) > 0);
    let s = Server::start_in(dir);
    s.record(newer);
    s.rt.block_on(s.recorder.seal()).unwrap();
    s.rt.block_on(s.recorder.compact_now()).unwrap();
    s.record(tail);
    let compacted = &events[..older.len() + newer.len()];
    let (_, stats) = s.get("/v1/stats");
    assert_eq!(stats["wal_events"].as_u64(), Some(tail.len() as u64), "{stats}");
    assert_eq!(stats["compacted_events"].as_u64(), Some(compacted.len() as u64), "{stats}");

    let (from, to) = (base, base + Duration::hours(6));
    let path = format!("/v1/summary?from={}&to={}&bucket_seconds=3600", query_time(from), query_time(to));
    let (status, got) = s.get(&path);
    assert_eq!(status, 200, "{got}");
    let want = expected_parts(&events, from.timestamp_micros(), 3_600_000_000, 6);
    for key in ["total_events", "types", "models", "tools", "capabilities", "jobs"] {
        assert_eq!(got[key], want[key], "{key}");
    }
    assert_eq!(
        (got["from"].as_str(), got["to"].as_str(), got["bucket_seconds"].as_i64()),
        (Some(&*ts(from)), Some(&*ts(to)), Some(3600))
    );
    let counts: Vec<Value> = got["buckets"].as_array().unwrap().iter().map(|b| b["counts"].clone()).collect();
    assert_eq!(json!(counts), want["counts"], "events per bucket and type");
    let starts: Vec<i64> = got["buckets"].as_array().unwrap().iter().map(|b| micros(&b["start"])).collect();
    assert_eq!(starts, (0..6).map(|h| (from + Duration::hours(h)).timestamp_micros()).collect::<Vec<_>>());
    assert_eq!(got["jobs"], json!({"started": 5, "ok": 1, "failed": 2, "cancelled": 1}), "the fixed lifecycle");
    assert!(got["models"].as_array().unwrap().len() == 3 && got["tools"].as_array().unwrap().len() == 4);
    assert_eq!(got["gaps"], json!([]), "retention dropped nothing in these six hours");

    let jobs = expected_jobs(&events);
    let failed: Vec<&Value> = jobs.iter().filter(|j| j["status"] == "failed").collect();
    assert_eq!(got["failed_jobs"], json!(failed), "failed jobs, newest first");
    let mut slowest: Vec<&Value> = jobs.iter().filter(|j| !j["duration_ms"].is_null()).collect();
    slowest.sort_by(|a, b| {
        (b["duration_ms"].as_u64(), a["job_id"].as_str()).cmp(&(a["duration_ms"].as_u64(), b["job_id"].as_str()))
    });
    assert_eq!(got["slowest_jobs"], json!(slowest), "slowest jobs");
    assert_eq!(got["slowest_jobs"][0]["job_id"], "job-cancelled", "its duration comes from its timestamps");

    let (status, listed) = s.get(&format!("/v1/jobs?from={}&to={}", query_time(from), query_time(to)));
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["jobs"], json!(jobs), "every job, newest first");
    let (_, running) =
        s.get(&format!("/v1/jobs?from={}&to={}&status=running&limit=1", query_time(from), query_time(to)));
    let want_running: Vec<&Value> = jobs.iter().filter(|j| j["status"] == "running").take(1).collect();
    assert_eq!(running["jobs"], json!(want_running));

    // One job: every part is filtered by it.
    let (_, one) = s.get(&format!("{path}&job_id=job-ok"));
    let mine: Vec<Value> = events.iter().filter(|e| e["job_id"] == "job-ok").cloned().collect();
    let want = expected_parts(&mine, from.timestamp_micros(), 3_600_000_000, 6);
    for key in ["total_events", "models", "tools", "capabilities", "jobs"] {
        assert_eq!(one[key], want[key], "job-ok: {key}");
    }

    // A range reaching back ten days reports the gap retention left.
    let wide = format!("/v1/summary?from={}&to={}", query_time(old - Duration::days(1)), query_time(to));
    let (status, wide) = s.get(&wide);
    assert_eq!(status, 200, "{wide}");
    assert_eq!(wide["bucket_seconds"], 10_800, "eleven days in 88 buckets of three hours");
    assert_eq!(wide["total_events"], events.len(), "the dropped events are absent");
    let gaps = wide["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!((gaps[0]["segments"].as_u64(), gaps[0]["events"].as_u64()), (Some(1), Some(3)));
    assert_eq!(
        (micros(&gaps[0]["from"]), micros(&gaps[0]["to"])),
        (micros(&gone[0]["timestamp"]), micros(&gone[2]["timestamp"]))
    );

    // The table a model row links to: GET /v1/events filtered by model, from both sources.
    let model = want_model_calls(&events, MODELS[0]);
    let (_, page) =
        s.get(&format!("/v1/events?model_id={}&type=llm_inference&from={}&limit=1000", MODELS[0], query_time(from)));
    assert_eq!(page["events"].as_array().unwrap().len(), model, "{page}");
    assert!(page["events"].as_array().unwrap().iter().all(|e| e["model_id"] == MODELS[0]));

    // The table a tool row links to: GET /v1/events filtered by the payload's tool_id.
    let calls = events.iter().filter(|e| e["type"] == "tool_call" && e["payload"]["tool_id"] == TOOLS[0]).count();
    let (_, page) =
        s.get(&format!("/v1/events?tool_id={}&type=tool_call&from={}&limit=1000", TOOLS[0], query_time(from)));
    assert!(calls > 0);
    assert_eq!(page["events"].as_array().unwrap().len(), calls, "{page}");
    assert!(page["events"].as_array().unwrap().iter().all(|e| e["payload"]["tool_id"] == TOOLS[0]));
}

/// Rewrites every Parquet file under `data` without the summary columns and marks every
/// segment of the catalog as without them: what a data directory compacted before the columns
/// existed holds (the catalog migration marks its segments so). Returns the files rewritten.
fn make_files_old_format(data: &std::path::Path) -> usize {
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let columns = flightrec::compact::summary_fields::NAMES.join(", ");
    let mut n = 0;
    let files = common::files_under(&data.join("events"));
    for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "parquet")) {
        let file = path.display().to_string();
        let stripped = format!("{file}.old");
        let sql =
            format!("COPY (SELECT * EXCLUDE ({columns}) FROM read_parquet('{file}')) TO '{stripped}' (FORMAT parquet)");
        conn.execute_batch(&sql).unwrap();
        std::fs::rename(&stripped, &file).unwrap();
        let sql = format!("SELECT count(*) FROM parquet_schema('{file}') WHERE name = 'tool_id'");
        assert_eq!(conn.query_row(&sql, [], |r| r.get::<_, i64>(0)).unwrap(), 0, "{file} still has tool_id");
        n += 1;
    }
    conn.execute("ATTACH ? AS cat", [data.join("catalog.duckdb").display().to_string()]).unwrap();
    let marked = conn.execute("UPDATE cat.segments SET summary_columns = false", []).unwrap();
    assert!(marked > 0, "no segment in the catalog");
    n
}

fn want_model_calls(events: &[Value], model: &str) -> usize {
    events.iter().filter(|e| e["model_id"] == model).count()
}

#[test]
fn bad_parameters_are_refused_with_the_json_error_and_both_routes_are_documented() {
    let s = Server::start();
    for path in [
        "/v1/summary?from=2026-11-30T00:00:00Z&to=2026-11-29T00:00:00Z",
        "/v1/summary?from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        "/v1/summary?from=2026-11-29T00:00:00Z&to=2026-11-30T00:00:00Z&bucket_seconds=60",
        "/v1/summary?bucket_seconds=0",
        "/v1/summary?from=yesterday",
        "/v1/summary?model_id=m",
        "/v1/jobs?limit=501",
        "/v1/jobs?status=done",
        "/v1/jobs?from=2026-11-30T00:00:00Z&to=2026-11-30T00:00:00Z",
    ] {
        let (status, body) = s.get(path);
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["code"], "HSK-400-INVALID-QUERY", "{path}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()) && body["field"].is_string(), "{path}: {body}");
    }
    let (status, empty) = s.get("/v1/summary");
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty["total_events"], 0);
    let buckets = empty["buckets"].as_array().unwrap();
    assert!((48..=49).contains(&buckets.len()), "24 hours of half hours: {}", buckets.len());
    assert!(empty["models"].as_array().unwrap().is_empty() && empty["failed_jobs"].as_array().unwrap().is_empty());
    let (_, doc) = s.get("/v1/openapi.json");
    for path in ["/v1/summary", "/v1/jobs"] {
        let op = &doc["paths"][path]["get"];
        assert!(op["responses"]["200"].is_object() && op["responses"]["400"].is_object(), "{path} documented: {op}");
    }
    let params: Vec<&str> = doc["paths"]["/v1/events"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(params.contains(&"model_id"), "{params:?}");
    let summary = &doc["components"]["schemas"]["Summary"]["required"];
    assert!(summary.as_array().unwrap().iter().any(|r| r == "buckets"), "{summary}");
}
