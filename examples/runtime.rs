//! A runtime recording its work into flightrec through the Rust API: one job that asks for a
//! capability, calls a model, calls a tool, and finishes; then it reads the trace back.
//!
//! The job is written once against the `FlightRecorder` trait; embedded (the runtime owns a
//! data directory) and remote (it records into a running `flightrec serve`) differ in the one
//! line that opens the recorder.
//!
//! ```sh
//! cargo run --release --example runtime -- ./flightrec-example          # embedded
//! cargo run --release --example runtime -- http://127.0.0.1:7080        # remote
//! ```

use chrono::Utc;
use flightrec::client::{RemoteConfig, RemoteRecorder};
use flightrec::event::{
    Actor, CapabilityDecision, Decision, Event, EventBody, JobLifecycle, JobPhase, JobStatus, LlmInference, SideEffect,
    Timing, TokenUsage, ToolCall, Transport,
};
use flightrec::recorder::{FlightRecorder, Recorder, RecorderConfig, RecorderError};
use uuid::Uuid;

/// An event of this job's trace, with the job id set.
fn event(body: EventBody, actor: Actor, trace: Uuid, job: &str) -> Event {
    let mut e = Event::new(body, actor);
    e.trace_id = trace;
    e.job_id = Some(job.to_string());
    e
}

#[tokio::main]
async fn main() -> Result<(), RecorderError> {
    let target = std::env::args().nth(1).unwrap_or_else(|| "./flightrec-example".to_string());
    if target.starts_with("http://") || target.starts_with("https://") {
        let recorder = RemoteRecorder::open(RemoteConfig::new(&target)).await?;
        run_job(&recorder).await?;
        recorder.shutdown().await
    } else {
        let recorder = Recorder::open(RecorderConfig::new(&target)).await?;
        run_job(&recorder).await?;
        recorder.shutdown().await
    }
}

/// One job of the runtime, recorded into whichever recorder it is given.
async fn run_job(recorder: &impl FlightRecorder) -> Result<(), RecorderError> {
    let (job, trace) = (format!("job-{}", &Uuid::new_v4().to_string()[..8]), Uuid::new_v4());

    let started = JobLifecycle {
        phase: JobPhase::Started,
        job_kind: Some("code_review".into()),
        status: None,
        duration_ms: None,
    };
    recorder.record_event(event(EventBody::JobLifecycle(started), Actor::System, trace, &job)).await?;

    let decision = CapabilityDecision {
        decision: Decision::Allow,
        requested_by: Some("agent:reviewer".into()),
        resource: Some("fs:/workspace".into()),
        reason: Some("read access granted by workspace policy".into()),
    };
    let mut e = event(EventBody::CapabilityDecision(decision), Actor::System, trace, &job);
    e.capability_id = Some("cap.fs.read".into());
    e.policy_decision_id = Some("pd-0001".into());
    recorder.record_event(e).await?;

    let llm = LlmInference {
        token_usage: TokenUsage { prompt: 812, completion: 96, total: 908 },
        latency_ms: Some(1432),
        prompt_hash: Some("9f2c4e".into()),
        response_hash: Some("a71b0d".into()),
        provider: Some("local".into()),
        finish_reason: Some("tool_calls".into()),
    };
    let mut e = event(EventBody::LlmInference(llm), Actor::Agent, trace, &job);
    e.model_id = Some("llama-3.1-8b".into());
    e.activity_span_id = Some("span-review-1".into());
    recorder.record_event(e).await?;

    let started_at = Utc::now();
    let tool = ToolCall {
        tool_call_id: "tc-1".into(),
        tool_id: "fs.read_file".into(),
        tool_version: "1.2.0".into(),
        transport: Some(Transport::InProcess),
        side_effect: Some(SideEffect::Read),
        idempotency: None,
        ok: true,
        args_ref: None,
        args_hash: Some("3c1d5e0a".into()),
        result_ref: Some("artifact://results/tc-1".into()),
        result_hash: None,
        error: None,
        timing: Some(Timing { started_at, ended_at: Utc::now(), duration_ms: Some(1) }),
        capability_ids: Some(vec!["cap.fs.read".into()]),
        parent_span_id: Some("span-review-1".into()),
    };
    recorder.record_event(event(EventBody::ToolCall(tool), Actor::Agent, trace, &job)).await?;

    let finished = JobLifecycle {
        phase: JobPhase::Finished,
        job_kind: Some("code_review".into()),
        status: Some(JobStatus::Ok),
        duration_ms: Some(2100),
    };
    recorder.record_event(event(EventBody::JobLifecycle(finished), Actor::System, trace, &job)).await?;

    let view = recorder.trace(&trace.to_string()).await?;
    println!("recorded job {job}, trace {trace}: {} events, {} spans", view.events.len(), view.spans.len());
    for e in &view.events {
        println!("  {}  {:<20} lsn {}", e.timestamp.to_rfc3339(), e.ty, e.lsn);
    }
    Ok(())
}
