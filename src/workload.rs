//! A generator of realistic event mixes, for the benchmarks, the demo and tests: jobs that
//! run traces of model calls and tool calls, capability decisions, terminal commands,
//! diagnostics and edits, with some failures. Produces canonical JSON lines (~400 bytes).

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use uuid::Uuid;

/// Produces one JSON event after another, in time order from `start`.
pub struct Generator {
    rng: fastrand::Rng,
    now: DateTime<Utc>,
    step_micros: i64,
    job: u64,
    trace: Uuid,
    in_trace: u32,
}

const TOOLS: [&str; 6] = ["fs.read", "fs.write", "shell.exec", "http.get", "git.diff", "search.code"];
const MODELS: [&str; 3] = ["llama-3.1-8b", "qwen2.5-coder-7b", "gpt-4o-mini"];

impl Generator {
    /// A generator whose events start at `start` and are `step_micros` apart.
    pub fn new(seed: u64, start: DateTime<Utc>, step_micros: i64) -> Generator {
        Generator {
            rng: fastrand::Rng::with_seed(seed),
            now: start,
            step_micros,
            job: seed * 1_000_000,
            trace: Uuid::nil(),
            in_trace: 0,
        }
    }

    /// The timestamp the next event gets.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Moves the clock (e.g. to spread data over several days).
    pub fn set_now(&mut self, now: DateTime<Utc>) {
        self.now = now;
    }

    fn uuid(&mut self) -> Uuid {
        uuid::Builder::from_random_bytes(self.rng.u128(..).to_le_bytes()).into_uuid()
    }

    fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b"0123456789abcdef"[self.rng.usize(..16)])).collect()
    }

    /// The next event as one JSON line (no newline).
    pub fn next_json(&mut self) -> String {
        if self.in_trace == 0 {
            self.trace = self.uuid();
            self.in_trace = self.rng.u32(3..12);
            self.job += u64::from(self.rng.u8(..) < 40);
        }
        self.in_trace -= 1;
        self.now += Duration::microseconds(self.step_micros);
        let ts = self.now.to_rfc3339_opts(SecondsFormat::Micros, true);
        let id = self.uuid();
        let head =
            format!(r#""event_id":"{id}","timestamp":"{ts}","trace_id":"{}","job_id":"job-{}","#, self.trace, self.job);
        match self.rng.u8(..100) {
            0..30 => self.llm_inference(&head),
            30..60 => self.tool_call(&head),
            60..70 => self.capability_decision(&head),
            70..80 => self.terminal_command(&head),
            80..88 => self.diagnostic(&head),
            88..93 => self.editor_edit(&head),
            93..98 => self.job_lifecycle(&head),
            98 => self.workflow_recovery(&head),
            _ => self.debug_bundle(&head),
        }
    }

    fn llm_inference(&mut self, head: &str) -> String {
        let (p, c) = (self.rng.u64(50..4000), self.rng.u64(10..800));
        let model = MODELS[self.rng.usize(..MODELS.len())];
        let (span, latency, prompt_hash, response_hash) =
            (self.in_trace, self.rng.u64(80..9000), self.hex(64), self.hex(64));
        format!(
            r#"{{"type":"llm_inference",{head}"actor":"agent","model_id":"{model}","activity_span_id":"span-{}","payload":{{"token_usage":{{"prompt":{p},"completion":{c},"total":{}}},"latency_ms":{},"prompt_hash":"{}","response_hash":"{}","provider":"local","finish_reason":"stop"}}}}"#,
            span,
            p + c,
            latency,
            prompt_hash,
            response_hash
        )
    }

    fn tool_call(&mut self, head: &str) -> String {
        let tool = TOOLS[self.rng.usize(..TOOLS.len())];
        let ok = self.rng.u8(..100) >= 7;
        let error = if ok { String::new() } else { r#","error":{"code":"E_TIMEOUT","kind":"timeout"}"#.to_string() };
        let start = self.now.to_rfc3339_opts(SecondsFormat::Micros, true);
        let dur = self.rng.u64(1..3000);
        let end = (self.now + Duration::milliseconds(dur as i64)).to_rfc3339_opts(SecondsFormat::Micros, true);
        format!(
            r#"{{"type":"tool_call",{head}"actor":"agent","payload":{{"tool_call_id":"tc-{}","tool_id":"{tool}","tool_version":"1.4.2","transport":"mcp","side_effect":"READ","idempotency":"idempotent","ok":{ok},"args_hash":"{}","timing":{{"started_at":"{start}","ended_at":"{end}","duration_ms":{dur}}},"parent_span_id":"span-{}"{error}}}}}"#,
            self.hex(12),
            self.hex(64),
            self.in_trace
        )
    }

    fn capability_decision(&mut self, head: &str) -> String {
        let allow = self.rng.u8(..100) >= 10;
        format!(
            r#"{{"type":"capability_decision",{head}"actor":"system","capability_id":"cap.fs.write","policy_decision_id":"pd-{}","payload":{{"decision":"{}","requested_by":"agent","resource":"/workspace/src/lib.rs","reason":"{}"}}}}"#,
            self.hex(10),
            if allow { "allow" } else { "deny" },
            if allow { "workspace write granted by policy" } else { "outside the workspace" }
        )
    }

    fn terminal_command(&mut self, head: &str) -> String {
        let code = if self.rng.u8(..100) < 12 { 1 } else { 0 };
        let (job, duration, blob) = (self.job, self.rng.u64(5..60_000), self.hex(16));
        format!(
            r#"{{"type":"terminal_command",{head}"actor":"agent","payload":{{"session_id":"term-{}","command":"cargo","cwd":"/workspace","args":["test","--release"],"exit_code":{code},"duration_ms":{},"stdout_ref":"blob:{}"}}}}"#,
            job, duration, blob
        )
    }

    fn diagnostic(&mut self, head: &str) -> String {
        let sev = ["error", "warning", "info", "hint"][self.rng.usize(..4)];
        let start = self.rng.u64(0..5000);
        format!(
            r#"{{"type":"diagnostic",{head}"actor":"system","payload":{{"diagnostic_id":"diag-{}","severity":"{sev}","source":"rustc","message_ref":"blob:{}","file":"src/main.rs","range":{{"start":{start},"end":{}}}}}}}"#,
            self.hex(8),
            self.hex(16),
            start + self.rng.u64(1..80)
        )
    }

    fn editor_edit(&mut self, head: &str) -> String {
        let start = self.rng.u64(0..10_000);
        format!(
            r#"{{"type":"editor_edit",{head}"actor":"human","payload":{{"editor_surface":"monaco","document_id":"doc-{}","ops":[{{"range":{{"start":{start},"end":{}}},"insert_hash":"{}"}}],"before_hash":"{}","after_hash":"{}"}}}}"#,
            self.rng.u8(..20),
            start + self.rng.u64(0..40),
            self.hex(16),
            self.hex(16),
            self.hex(16)
        )
    }

    fn job_lifecycle(&mut self, head: &str) -> String {
        if self.rng.bool() {
            format!(
                r#"{{"type":"job_lifecycle",{head}"actor":"system","payload":{{"phase":"started","job_kind":"code_review"}}}}"#
            )
        } else {
            let status = if self.rng.u8(..100) < 15 { "failed" } else { "ok" };
            format!(
                r#"{{"type":"job_lifecycle",{head}"actor":"system","payload":{{"phase":"finished","job_kind":"code_review","status":"{status}","duration_ms":{}}}}}"#,
                self.rng.u64(1000..600_000)
            )
        }
    }

    fn workflow_recovery(&mut self, head: &str) -> String {
        format!(
            r#"{{"type":"workflow_recovery",{head}"actor":"system","payload":{{"workflow_run_id":"wf-{}","from_state":"running","to_state":"stalled","reason":"no heartbeat for 120 s"}}}}"#,
            self.job
        )
    }

    fn debug_bundle(&mut self, head: &str) -> String {
        format!(
            r#"{{"type":"debug_bundle_export",{head}"actor":"human","payload":{{"bundle_id":"bundle-{}","scope":"job","redaction_mode":"safe_default","included_event_count":{}}}}}"#,
            self.hex(8),
            self.rng.u64(1..5000)
        )
    }
}
