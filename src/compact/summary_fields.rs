//! The payload fields the summary (`GET /v1/summary`) aggregates, kept as typed nullable
//! columns of the event files, appended after the envelope columns (docs/format.md): the
//! summary then reads them as it reads `type` and `timestamp`, without parsing any JSON, and
//! analysts get them typed too.
//!
//! Invariants: each column holds exactly what `json_extract_string(payload, '$.<path>')` cast
//! to the column's type gives for the types listed below (NULL when the field is absent or
//! JSON null), and NULL for every other type; the summary reads files written before these
//! columns that way (`query::summary::sql`), so both kinds of file aggregate alike. Only the
//! four types that have such fields are parsed a second time, each through a small borrowed
//! struct that skips every other field.

use std::borrow::Cow;
use std::sync::Arc;

use duckdb::arrow::array::{ArrayRef, BooleanBuilder, Int64Builder, StringBuilder};
use duckdb::arrow::datatypes::{DataType, Field};
use serde::Deserialize;

/// The columns, in file order, as a DuckDB column list (appended to the batch's columns).
pub const COLUMNS_SQL: &str = "prompt_tokens BIGINT, completion_tokens BIGINT, latency_ms BIGINT, tool_id VARCHAR, \
    tool_ok BOOLEAN, duration_ms BIGINT, decision VARCHAR, job_phase VARCHAR, job_status VARCHAR, job_kind VARCHAR";

/// The column names, in file order.
pub const NAMES: [&str; 10] = [
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "tool_id",
    "tool_ok",
    "duration_ms",
    "decision",
    "job_phase",
    "job_status",
    "job_kind",
];

/// The integer columns (the others are strings and a boolean).
pub const INTEGER_COLUMNS: [&str; 4] = ["prompt_tokens", "completion_tokens", "latency_ms", "duration_ms"];

#[derive(Deserialize)]
struct Llm {
    #[serde(default)]
    token_usage: Option<Tokens>,
    #[serde(default)]
    latency_ms: Option<i64>,
}

#[derive(Deserialize)]
struct Tokens {
    #[serde(default)]
    prompt: Option<i64>,
    #[serde(default)]
    completion: Option<i64>,
}

#[derive(Deserialize)]
struct Tool<'a> {
    #[serde(default, borrow)]
    tool_id: Option<Cow<'a, str>>,
    #[serde(default)]
    ok: Option<bool>,
    #[serde(default)]
    timing: Option<Timing>,
}

#[derive(Deserialize)]
struct Timing {
    #[serde(default)]
    duration_ms: Option<i64>,
}

#[derive(Deserialize)]
struct Decision<'a> {
    #[serde(default, borrow)]
    decision: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Job<'a> {
    #[serde(default, borrow)]
    phase: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    job_kind: Option<Cow<'a, str>>,
    #[serde(default)]
    duration_ms: Option<i64>,
}

/// One event's summary fields (all None for a type without any).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SummaryFields<'a> {
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub latency_ms: Option<i64>,
    pub tool_id: Option<Cow<'a, str>>,
    pub tool_ok: Option<bool>,
    pub duration_ms: Option<i64>,
    pub decision: Option<Cow<'a, str>>,
    pub job_phase: Option<Cow<'a, str>>,
    pub job_status: Option<Cow<'a, str>>,
    pub job_kind: Option<Cow<'a, str>>,
}

impl<'a> SummaryFields<'a> {
    /// The fields of an event of type `ty` with the payload `json`; None for a type without
    /// summary fields or a payload that did not parse, which the caller stores with no fields
    /// (`unwrap_or_default`). A payload whose fields do not have the types FR-EVT gives them
    /// (stored events passed validation, so none should) yields no fields rather than an
    /// error: the event itself is kept whole in `payload`. Some only when all of `json` was
    /// parsed as JSON (the contract of `StoredEnvelope::parse_with`, which then need not read
    /// the payload again).
    pub fn read(ty: &str, json: &'a str) -> Option<SummaryFields<'a>> {
        match ty {
            "llm_inference" => serde_json::from_str::<Llm>(json).ok().map(|p| {
                let tokens = p.token_usage;
                SummaryFields {
                    prompt_tokens: tokens.as_ref().and_then(|t| t.prompt),
                    completion_tokens: tokens.as_ref().and_then(|t| t.completion),
                    latency_ms: p.latency_ms,
                    ..Self::default()
                }
            }),
            "tool_call" => serde_json::from_str::<Tool<'a>>(json).ok().map(|p| SummaryFields {
                tool_id: p.tool_id,
                tool_ok: p.ok,
                duration_ms: p.timing.and_then(|t| t.duration_ms),
                ..Self::default()
            }),
            "capability_decision" => serde_json::from_str::<Decision<'a>>(json)
                .ok()
                .map(|p| SummaryFields { decision: p.decision, ..Self::default() }),
            "job_lifecycle" => serde_json::from_str::<Job<'a>>(json).ok().map(|p| SummaryFields {
                job_phase: p.phase,
                job_status: p.status,
                job_kind: p.job_kind,
                duration_ms: p.duration_ms,
                ..Self::default()
            }),
            _ => None,
        }
    }
}

/// Accumulates the summary columns of a batch.
#[derive(Default)]
pub struct SummaryColumns {
    ints: [Int64Builder; 4],
    tool_ok: BooleanBuilder,
    strings: [StringBuilder; 5],
}

/// Indexes into `SummaryColumns::ints` and `strings`.
const PROMPT: usize = 0;
const COMPLETION: usize = 1;
const LATENCY: usize = 2;
const DURATION: usize = 3;
const TOOL_ID: usize = 0;
const DECISION: usize = 1;
const PHASE: usize = 2;
const STATUS: usize = 3;
const KIND: usize = 4;

impl SummaryColumns {
    /// Adds the fields of one event.
    pub fn push(&mut self, f: &SummaryFields<'_>) {
        let (i, s) = (&mut self.ints, &mut self.strings);
        i[PROMPT].append_option(f.prompt_tokens);
        i[COMPLETION].append_option(f.completion_tokens);
        i[LATENCY].append_option(f.latency_ms);
        i[DURATION].append_option(f.duration_ms);
        self.tool_ok.append_option(f.tool_ok);
        s[TOOL_ID].append_option(f.tool_id.as_deref());
        s[DECISION].append_option(f.decision.as_deref());
        s[PHASE].append_option(f.job_phase.as_deref());
        s[STATUS].append_option(f.job_status.as_deref());
        s[KIND].append_option(f.job_kind.as_deref());
    }

    /// The columns' arrays, in [`NAMES`] order (their fields: [`fields`]).
    pub fn finish(&mut self) -> [ArrayRef; 10] {
        let (i, s) = (&mut self.ints, &mut self.strings);
        [
            Arc::new(i[PROMPT].finish()),
            Arc::new(i[COMPLETION].finish()),
            Arc::new(i[LATENCY].finish()),
            Arc::new(s[TOOL_ID].finish()),
            Arc::new(self.tool_ok.finish()),
            Arc::new(i[DURATION].finish()),
            Arc::new(s[DECISION].finish()),
            Arc::new(s[PHASE].finish()),
            Arc::new(s[STATUS].finish()),
            Arc::new(s[KIND].finish()),
        ]
    }
}

/// The columns' fields, in [`NAMES`] order: nullable, integers as Int64, `tool_ok` Boolean,
/// the others strings.
pub fn fields() -> Vec<Field> {
    NAMES
        .iter()
        .map(|name| {
            let ty = if INTEGER_COLUMNS.contains(name) {
                DataType::Int64
            } else if *name == "tool_ok" {
                DataType::Boolean
            } else {
                DataType::Utf8
            };
            Field::new(*name, ty, true)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn of<'a>(ty: &str, json: &'a str) -> SummaryFields<'a> {
        SummaryFields::read(ty, json).unwrap_or_default()
    }

    #[test]
    fn each_type_yields_its_fields_and_others_none() {
        let llm = of(
            "llm_inference",
            r#"{"token_usage":{"prompt":812,"completion":96,"total":908},"latency_ms":1432,"provider":"x"}"#,
        );
        assert_eq!((llm.prompt_tokens, llm.completion_tokens, llm.latency_ms), (Some(812), Some(96), Some(1432)));
        assert_eq!(llm.tool_id, None);
        let tool = of(
            "tool_call",
            r#"{"tool_call_id":"c","tool_id":"fs.read","tool_version":"1","ok":false,"error":{"code":"E","kind":"k"},"timing":{"started_at":"x","duration_ms":7}}"#,
        );
        assert_eq!((tool.tool_id.as_deref(), tool.tool_ok, tool.duration_ms), (Some("fs.read"), Some(false), Some(7)));
        let job =
            of("job_lifecycle", r#"{"phase":"finished","status":"failed","job_kind":"reindex","duration_ms":null}"#);
        assert_eq!(
            (job.job_phase.as_deref(), job.job_status.as_deref(), job.job_kind.as_deref(), job.duration_ms),
            (Some("finished"), Some("failed"), Some("reindex"), None)
        );
        assert_eq!(of("capability_decision", r#"{"decision":"deny"}"#).decision.as_deref(), Some("deny"));
        assert_eq!(of("span", r#"{"name":"n","duration_ms":5,"status":"ok"}"#), SummaryFields::default());
        assert_eq!(of("tool_call", r#"{"tool_id":5}"#), SummaryFields::default(), "a mistyped payload yields none");
        let escaped = of("tool_call", r#"{"tool_id":"a\"b","ok":true}"#);
        assert_eq!(escaped.tool_id.as_deref(), Some("a\"b"));
    }
}
