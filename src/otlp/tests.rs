use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use super::*;
use crate::event::{EventType, parse_event};

const TRACE: [u8; 16] =
    [0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c];
const START: u64 = 1_764_000_000_000_000_000;

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(v) }), ..KeyValue::default() }
}

fn span(id: u8, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: TRACE.to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
        parent_span_id: vec![0, 0, 0, 0, 0, 0, 0, 1],
        name: format!("span {id}"),
        start_time_unix_nano: START,
        end_time_unix_nano: START + 1_500_000_000,
        attributes,
        ..Span::default()
    }
}

fn export(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans, ..ScopeSpans::default() }],
            ..ResourceSpans::default()
        }],
    }
}

/// The event as the recorder would store it: canonical JSON that parses back strictly.
fn stored(e: &Event) -> String {
    let json = e.to_json().unwrap();
    parse_event(&json).unwrap();
    String::from_utf8(json).unwrap()
}

#[test]
fn a_chat_span_with_current_names_is_an_llm_inference() {
    let m = map_traces(&export(vec![span(
        2,
        vec![
            kv("gen_ai.operation.name", s("chat")),
            kv("gen_ai.request.model", s("gpt-4o")),
            kv("gen_ai.response.model", s("gpt-4o-2024-08-06")),
            kv("gen_ai.provider.name", s("openai")),
            kv("gen_ai.usage.input_tokens", Value::IntValue(812)),
            kv("gen_ai.usage.output_tokens", Value::IntValue(96)),
            kv(
                "gen_ai.response.finish_reasons",
                Value::ArrayValue(ArrayValue { values: vec![AnyValue { value: Some(s("stop")) }] }),
            ),
            kv("gen_ai.input.messages", s("the prompt text")),
            kv("gen_ai.conversation.id", s("conv-1")),
            kv("flightrec.job_id", s("job-42")),
        ],
    )]));
    assert_eq!(m.rejected, 0);
    let e = &m.events[0];
    assert_eq!(e.event_type(), EventType::LlmInference);
    assert_eq!(e.trace_id.to_string(), "5b8efff7-9803-8103-d269-b633813fc60c");
    assert_eq!(e.activity_span_id.as_deref(), Some("0000000000000002"));
    assert_eq!(e.model_id.as_deref(), Some("gpt-4o-2024-08-06"));
    assert_eq!((e.job_id.as_deref(), e.model_session_id.as_deref()), (Some("job-42"), Some("conv-1")));
    let json = stored(e);
    assert!(json.contains(r#""token_usage":{"prompt":812,"completion":96,"total":908},"latency_ms":1500"#), "{json}");
    assert!(json.contains(&attrs::sha256_hex(b"the prompt text")), "{json}");
    assert!(json.contains(r#""provider":"openai","finish_reason":"stop""#), "{json}");
    assert!(!json.contains("the prompt text"), "{json}");
}

#[test]
fn pre_1_37_names_map_the_same() {
    let m = map_traces(&export(vec![span(
        2,
        vec![
            kv("gen_ai.operation.name", s("chat")),
            kv("gen_ai.request.model", s("llama")),
            kv("gen_ai.system", s("ollama")),
            kv("gen_ai.usage.prompt_tokens", Value::IntValue(5)),
            kv("gen_ai.usage.completion_tokens", s("7")),
        ],
    )]));
    let json = stored(&m.events[0]);
    assert!(json.contains(r#""token_usage":{"prompt":5,"completion":7,"total":12}"#), "{json}");
    assert!(json.contains(r#""provider":"ollama""#), "{json}");
    assert_eq!(m.events[0].model_id.as_deref(), Some("llama"));
}

#[test]
fn a_failing_tool_span_is_a_failed_tool_call() {
    let mut sp = span(
        3,
        vec![
            kv("gen_ai.operation.name", s("execute_tool")),
            kv("gen_ai.tool.name", s("search")),
            kv("gen_ai.tool.call.arguments", s("{\"q\":\"x\"}")),
        ],
    );
    sp.status = Some(Status { code: StatusCode::Error as i32, message: "timeout: no answer".into() });
    let m = map_traces(&export(vec![sp]));
    let json = stored(&m.events[0]);
    assert!(json.starts_with(r#"{"type":"tool_call""#), "{json}");
    assert!(
        json.contains(r#""tool_call_id":"0000000000000003","tool_id":"search","tool_version":"unknown","ok":false"#),
        "{json}"
    );
    assert!(json.contains(r#""error":{"code":"timeout","kind":"tool_error"}"#), "{json}");
    assert!(json.contains(r#""parent_span_id":"0000000000000001""#), "{json}");
    assert!(!json.contains("\\\"q\\\""), "{json}");
}

#[test]
fn other_spans_keep_bounded_redactable_attributes_and_decisions_are_decisions() {
    let m = map_traces(&export(vec![
        span(
            4,
            vec![
                kv("gen_ai.operation.name", s("invoke_agent")),
                kv("http.url", s("https://x")),
                kv("gen_ai.input.messages", s("hi")),
            ],
        ),
        span(5, vec![kv("flightrec.capability_id", s("fs.write")), kv("flightrec.decision", s("deny"))]),
    ]));
    let json = stored(&m.events[0]);
    assert!(json.contains(r#""type":"span""#) && json.contains(r#""name":"span 4""#), "{json}");
    assert!(json.contains(r#""http.url":"https://x""#) && !json.contains(r#":"hi""#), "{json}");
    let e = &m.events[1];
    assert_eq!(e.event_type(), EventType::CapabilityDecision);
    assert_eq!(e.policy_decision_id.as_deref(), Some("0000000000000005"));
    stored(e);
}

#[test]
fn the_same_span_gets_the_same_event_id_and_bad_ones_are_counted() {
    let a = map_traces(&export(vec![span(2, vec![])]));
    let b = map_traces(&export(vec![span(2, vec![])]));
    assert_eq!(a.events[0].event_id, b.events[0].event_id);
    let mut no_trace = span(6, vec![]);
    no_trace.trace_id = vec![0; 16];
    let mut backwards = span(7, vec![]);
    backwards.end_time_unix_nano = 1;
    let m = map_traces(&export(vec![no_trace, span(8, vec![]), backwards]));
    assert_eq!((m.events.len(), m.rejected), (1, 2));
    assert!(m.error_message().contains("span 0: trace_id"), "{}", m.error_message());
    assert!(m.error_message().contains("span 2: end_time_unix_nano"), "{}", m.error_message());
}

#[test]
fn the_specification_examples_decode_and_map() {
    let traces: ExportTraceServiceRequest =
        serde_json::from_str(include_str!("../../tests/data/otlp/trace.json")).unwrap();
    let m = map_traces(&traces);
    assert_eq!((m.events.len(), m.rejected), (1, 0));
    let json = stored(&m.events[0]);
    assert!(json.contains(r#""trace_id":"5b8efff7-9803-8103-d269-b633813fc60c""#), "{json}");
    assert!(json.contains(r#""kind":"server""#) && json.contains(r#""my.span.attr":"some value""#), "{json}");
    let logs: ExportLogsServiceRequest = serde_json::from_str(include_str!("../../tests/data/otlp/logs.json")).unwrap();
    let m = map_logs(&logs);
    assert_eq!((m.events.len(), m.rejected), (1, 0));
    let json = stored(&m.events[0]);
    assert!(json.contains(r#""severity":"Information","body":"Example log record""#), "{json}");
    assert!(
        json.contains(r#""int.attribute":"10""#) && json.contains(r#""array.attribute":"[\"many\",\"values\"]""#),
        "{json}"
    );
    assert!(json.contains(r#""span_id":"eee19b7ec3c1b174""#), "{json}");
}
