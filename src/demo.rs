//! The demo workload of `flightrec serve --demo`: nine days of history from a realistic mix
//! (jobs, traces of model and tool calls, capability decisions, terminal commands,
//! diagnostics, failures), one segment a day, compacted; retention then drops the days past
//! the 7-day window, so the job `job-nightly-reindex`, whose trace reaches back eight days,
//! shows a retention gap. Afterwards a trickle of live events feeds the live tail.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::recorder::{FlightRecorder, Recorder, RecorderError};

use crate::workload::Generator;

/// The job whose evidence is partly dropped by retention.
pub const NIGHTLY_JOB: &str = "job-nightly-reindex";
/// Its trace.
pub const NIGHTLY_TRACE: &str = "9e1d7c3a-5b2f-4d6e-8a10-3c4b5d6e7f80";
/// Events a simulated day holds.
const PER_DAY: usize = 1_500;

/// What the demo seeded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Seeded {
    pub events: u64,
    pub purged: u64,
}

/// Records the history, compacts it and runs retention.
pub async fn seed(recorder: &Recorder) -> Result<Seeded, RecorderError> {
    let now = Utc::now();
    let mut generator = Generator::new(2026, now, 5_000_000);
    let mut events = 0u64;
    for day in (0..9).rev() {
        generator.set_now(now - chrono::Duration::hours(day * 24 + 20));
        let mut lines: Vec<String> = (0..PER_DAY).map(|_| generator.next_json()).collect();
        if day == 8 {
            lines.extend(nightly(now - chrono::Duration::hours(8 * 24 + 18), true));
        }
        events += record_lines(recorder, &lines).await?;
        recorder.seal().await?;
    }
    events += record_lines(recorder, &nightly(now - chrono::Duration::minutes(30), false)).await?;
    recorder.compact_now().await?;
    let purged = recorder.enforce_retention().await?;
    Ok(Seeded { events, purged })
}

async fn record_lines(recorder: &Recorder, lines: &[String]) -> Result<u64, RecorderError> {
    let mut n = 0;
    for chunk in lines.chunks(500) {
        let slices: Vec<&[u8]> = chunk.iter().map(|l| l.as_bytes()).collect();
        for r in recorder.record_json_batch(&slices, None).await {
            n += u64::from(!r?.duplicate);
        }
    }
    Ok(n)
}

/// The nightly re-index job: started eight days ago (the part retention drops), still
/// reporting today.
fn nightly(at: DateTime<Utc>, start: bool) -> Vec<String> {
    let ts = |s: i64| (at + chrono::Duration::seconds(s)).to_rfc3339_opts(SecondsFormat::Micros, true);
    let id = || uuid::Uuid::new_v4();
    let env = |s: i64| {
        format!(
            r#""event_id":"{}","timestamp":"{}","trace_id":"{NIGHTLY_TRACE}","job_id":"{NIGHTLY_JOB}""#,
            id(),
            ts(s)
        )
    };
    if start {
        return vec![
            format!(
                r#"{{"type":"job_lifecycle",{},"actor":"system","payload":{{"phase":"started","job_kind":"reindex"}}}}"#,
                env(0)
            ),
            format!(
                r#"{{"type":"terminal_command",{},"actor":"agent","payload":{{"session_id":"nightly","command":"reindex","args":["--full"],"exit_code":0,"duration_ms":5400}}}}"#,
                env(5)
            ),
        ];
    }
    vec![
        format!(
            r#"{{"type":"llm_inference",{},"actor":"agent","model_id":"llama-3.1-8b","activity_span_id":"span-nightly-1","payload":{{"token_usage":{{"prompt":400,"completion":80,"total":480}},"latency_ms":900}}}}"#,
            env(0)
        ),
        format!(
            r#"{{"type":"tool_call",{},"actor":"agent","activity_span_id":"span-nightly-1","payload":{{"tool_call_id":"tc-nightly-1","tool_id":"index.verify","tool_version":"2.0.1","ok":false,"error":{{"code":"E_STALE","kind":"stale_index"}},"timing":{{"started_at":"{}","ended_at":"{}","duration_ms":1500}},"parent_span_id":"span-nightly-1"}}}}"#,
            env(2),
            ts(2),
            ts(3)
        ),
        format!(
            r#"{{"type":"job_lifecycle",{},"actor":"system","payload":{{"phase":"finished","job_kind":"reindex","status":"failed","duration_ms":691200000}}}}"#,
            env(10)
        ),
    ]
}

/// Records a few live events every 300 ms until the recorder shuts down.
pub async fn live(recorder: Recorder) {
    let mut generator = Generator::new(7, Utc::now(), 1_000);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        generator.set_now(Utc::now());
        let line = generator.next_json();
        if let Err(e) = recorder.record_json(line.as_bytes(), None).await {
            tracing::info!(error = %e, "demo: live events stopped");
            return;
        }
    }
}
