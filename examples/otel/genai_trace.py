# Run: OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:7080 python3 examples/otel/genai_trace.py
# A GenAI agent run exported by the real OpenTelemetry Python SDK to flightrec's OTLP/HTTP port.
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.trace import Status, StatusCode

provider = TracerProvider(resource=Resource.create({"service.name": "demo-agent", "flightrec.job_id": "job-otel-demo"}))
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))  # OTEL_EXPORTER_OTLP_ENDPOINT
tracer = provider.get_tracer("demo")
with tracer.start_as_current_span("invoke_agent support-bot", attributes={"gen_ai.operation.name": "invoke_agent"}) as root:
    with tracer.start_as_current_span("chat gpt-4o", attributes={
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": 812, "gen_ai.usage.output_tokens": 95,
        "gen_ai.response.finish_reasons": ["tool_calls"],
        "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"refund order 42, key sk-live-abcdefghijklmnopqrstuvwx"}]}]'}):
        pass
    with tracer.start_as_current_span("execute_tool refund", attributes={
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "refund", "gen_ai.tool.call.id": "call_1"}) as s:
        s.set_status(Status(StatusCode.ERROR, "PermissionDenied: refunds over 100 need approval"))
        s.set_attribute("error.type", "permission_denied")
    print("trace_id", format(root.get_span_context().trace_id, "032x"))
provider.shutdown()
