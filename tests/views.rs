#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Trace and job views: a trace with spans, a job over several traces, and a trace partly
//! dropped by retention that reports the gap.

use chrono::{Duration, SecondsFormat, Utc};
use flightrec::recorder::{FlightRecorder, Recorder, RecorderConfig};

const TRACE: &str = "0b8e6c52-53a4-4c1e-8d63-2f0d9a7b5c11";
const OTHER_TRACE: &str = "7d1e2f30-1111-4c1e-8d63-2f0d9a7b5c22";

fn ts(d: Duration) -> String {
    (Utc::now() - d).to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn diag(trace: &str, ago: Duration, n: u32) -> String {
    format!(
        r#"{{"type":"diagnostic","event_id":"{}","timestamp":"{}","actor":"system","trace_id":"{trace}","job_id":"job-gap","payload":{{"diagnostic_id":"d-{n}","severity":"warning"}}}}"#,
        uuid::Uuid::new_v4(),
        ts(ago)
    )
}

fn llm(ago: Duration) -> String {
    format!(
        r#"{{"type":"llm_inference","event_id":"{}","timestamp":"{}","actor":"agent","trace_id":"{TRACE}","job_id":"job-gap","model_id":"m","activity_span_id":"act-1","session_span_id":"sess-1","payload":{{"token_usage":{{"prompt":10,"completion":5,"total":15}}}}}}"#,
        uuid::Uuid::new_v4(),
        ts(ago)
    )
}

fn tool(ago: Duration) -> String {
    format!(
        r#"{{"type":"tool_call","event_id":"{}","timestamp":"{}","actor":"agent","trace_id":"{TRACE}","job_id":"job-gap","activity_span_id":"act-1","payload":{{"tool_call_id":"tc-9","tool_id":"fs.read","tool_version":"1","ok":true,"timing":{{"started_at":"{}","ended_at":"{}"}},"parent_span_id":"act-1"}}}}"#,
        uuid::Uuid::new_v4(),
        ts(ago),
        ts(ago + Duration::seconds(2)),
        ts(ago + Duration::seconds(1))
    )
}

fn job_event(ago: Duration, phase: &str) -> String {
    let status = if phase == "finished" { r#","status":"failed""# } else { "" };
    format!(
        r#"{{"type":"job_lifecycle","event_id":"{}","timestamp":"{}","actor":"system","trace_id":"{OTHER_TRACE}","job_id":"job-gap","payload":{{"phase":"{phase}"{status}}}}}"#,
        uuid::Uuid::new_v4(),
        ts(ago)
    )
}

#[test]
fn trace_and_job_views_link_spans_jobs_and_retention_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let recorder = rt.block_on(Recorder::open(RecorderConfig::new(dir.path()))).unwrap();
    let record = |line: String| {
        let r = rt.block_on(recorder.record_json(line.as_bytes(), None)).unwrap();
        assert!(!r.duplicate);
    };
    // Ten days ago: three diagnostics of the trace, compacted, then dropped by retention.
    for n in 0..3 {
        record(diag(TRACE, Duration::days(10) - Duration::minutes(n.into()), n));
    }
    rt.block_on(recorder.seal()).unwrap();
    rt.block_on(recorder.compact_now()).unwrap();
    // Today: a model call and a tool call in span act-1, and the job's lifecycle in another trace.
    record(job_event(Duration::minutes(10), "started"));
    record(llm(Duration::minutes(9)));
    record(tool(Duration::minutes(8)));
    record(job_event(Duration::minutes(1), "finished"));

    assert_eq!(rt.block_on(recorder.enforce_retention()).unwrap(), 3, "the three old events are purged");

    let trace = rt.block_on(recorder.trace(TRACE)).unwrap();
    assert_eq!(trace.events.len(), 2);
    assert!(trace.events[0].timestamp < trace.events[1].timestamp, "time order");
    assert_eq!(trace.jobs, vec!["job-gap".to_string()]);
    let kinds: Vec<(&str, &str, Option<&str>)> =
        trace.spans.iter().map(|s| (s.span_id.as_str(), s.kind.as_str(), s.parent_span_id.as_deref())).collect();
    assert!(kinds.contains(&("sess-1", "session", None)), "{kinds:?}");
    assert!(kinds.contains(&("act-1", "activity", Some("sess-1"))), "{kinds:?}");
    assert!(kinds.contains(&("tc-9", "tool_call", Some("act-1"))), "{kinds:?}");
    let tool_span = trace.spans.iter().find(|s| s.span_id == "tc-9").unwrap();
    assert_eq!(tool_span.label, "fs.read");
    assert!(tool_span.end > tool_span.start);
    assert_eq!(trace.retention_gaps.len(), 1, "the trace reports what retention dropped");
    assert_eq!(trace.retention_gaps[0].events, 3);
    assert!(trace.retention_gaps[0].message.contains("evidence missing due to retention"));
    assert!(trace.retention_gaps[0].to.unwrap() < Utc::now() - Duration::days(9));

    let job = rt.block_on(recorder.job("job-gap")).unwrap();
    assert_eq!(job.events.len(), 4);
    assert_eq!(job.lifecycle.len(), 2);
    assert_eq!(job.status.as_deref(), Some("failed"));
    let mut traces = job.traces.clone();
    traces.sort();
    assert_eq!(traces, vec![TRACE.to_string(), OTHER_TRACE.to_string()]);
    assert_eq!(job.retention_gaps.len(), 1);
    assert_eq!(job.retention_gaps[0].events, 3);

    let untouched = rt.block_on(recorder.trace(OTHER_TRACE)).unwrap();
    assert!(untouched.retention_gaps.is_empty(), "a trace retention did not touch has no gap");
    rt.block_on(recorder.shutdown()).unwrap();
}

#[test]
fn duplicates_survive_a_restart_and_events_survive_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let line = diag(TRACE, Duration::minutes(1), 1);
    {
        let recorder = rt.block_on(Recorder::open(RecorderConfig::new(dir.path()))).unwrap();
        assert!(!rt.block_on(recorder.record_json(line.as_bytes(), None)).unwrap().duplicate);
        rt.block_on(recorder.shutdown()).unwrap();
    }
    let recorder = rt.block_on(Recorder::open(RecorderConfig::new(dir.path()))).unwrap();
    assert!(rt.block_on(recorder.record_json(line.as_bytes(), None)).unwrap().duplicate, "remembered from the WAL");
    let page = rt.block_on(recorder.query(Default::default())).unwrap();
    assert_eq!(page.events.len(), 1);
    let second = rt.block_on(Recorder::open(RecorderConfig::new(dir.path())));
    assert_eq!(second.err().unwrap().code(), "HSK-409-LOCKED");
}

#[test]
fn a_trace_and_job_spread_over_days_and_segments_are_found_whole() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let recorder = rt.block_on(Recorder::open(RecorderConfig::new(dir.path()))).unwrap();
    let record = |line: String| {
        rt.block_on(recorder.record_json(line.as_bytes(), None)).unwrap();
    };
    // Each day its own segment (so its own Parquet file and date partition), with 3,000 events
    // of other traces on each side of the trace's one event.
    let mut generator = flightrec::workload::Generator::new(9, Utc::now() - Duration::days(3), 10_000);
    for (n, day) in [3i64, 2, 1].into_iter().enumerate() {
        generator.set_now(Utc::now() - Duration::days(day) - Duration::hours(1));
        for _ in 0..3_000 {
            record(generator.next_json());
        }
        record(diag(TRACE, Duration::days(day), n as u32));
        for _ in 0..3_000 {
            record(generator.next_json());
        }
        rt.block_on(recorder.seal()).unwrap();
        rt.block_on(recorder.compact_now()).unwrap();
    }
    record(diag(TRACE, Duration::minutes(5), 3)); // in the WAL tail only
    assert_eq!(recorder.tail_len(), 1);

    let trace = rt.block_on(recorder.trace(TRACE)).unwrap();
    let payloads: Vec<&str> = trace.events.iter().map(|e| e.payload.get()).collect();
    assert_eq!(trace.events.len(), 4, "three compacted days and the tail: {payloads:?}");
    assert!(trace.events.windows(2).all(|w| w[0].timestamp < w[1].timestamp), "time order");
    let job = rt.block_on(recorder.job("job-gap")).unwrap();
    assert_eq!(job.events.len(), 4, "the job is the trace's four events");
    // A range that covers only the middle day's event of the trace.
    let q = flightrec::query::EventQuery {
        trace_id: Some(TRACE.into()),
        from: Some(Utc::now() - Duration::days(2) - Duration::minutes(1)),
        to: Some(Utc::now() - Duration::days(2) + Duration::minutes(1)),
        ..Default::default()
    };
    let page = rt.block_on(recorder.query(q)).unwrap();
    assert_eq!(page.events.len(), 1, "the middle day's event only");
    assert!(page.events[0].payload.get().contains("d-1"));
    rt.block_on(recorder.shutdown()).unwrap();
}
