"""Exports one agent run through the real OpenTelemetry Python SDK (OTLP/HTTP, protobuf) to
the endpoint in OTEL_EXPORTER_OTLP_ENDPOINT, as an instrumented runtime would (tests/otlp.rs).

The run: an `invoke_agent` span holding a chat span with the current GenAI attribute names
(1.37+), a chat span with the older names, a failing `execute_tool` span, and a log record
written inside the tool span. Prints the trace id (32 hex digits) on stdout.
Argument: a secret to put in the prompt and in a plain span attribute.
"""

import logging
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

secret = sys.argv[1]
resource = Resource.create({"service.name": "otel-genai-test", "flightrec.job_id": "job-otel"})
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter()))
log = logging.getLogger("agent")
log.addHandler(LoggingHandler(level=logging.INFO, logger_provider=logger_provider))
log.setLevel(logging.INFO)
tracer = tracer_provider.get_tracer("otel-genai-test")

with tracer.start_as_current_span("invoke_agent planner") as agent:
    agent.set_attribute("gen_ai.operation.name", "invoke_agent")
    agent.set_attribute("gen_ai.agent.name", "planner")
    agent.set_attribute("deploy.note", f"configured with {secret}")
    with tracer.start_as_current_span("chat gpt-4o") as chat:
        chat.set_attribute("gen_ai.operation.name", "chat")
        chat.set_attribute("gen_ai.provider.name", "openai")
        chat.set_attribute("gen_ai.request.model", "gpt-4o")
        chat.set_attribute("gen_ai.response.model", "gpt-4o-2024-08-06")
        chat.set_attribute("gen_ai.usage.input_tokens", 812)
        chat.set_attribute("gen_ai.usage.output_tokens", 96)
        chat.set_attribute("gen_ai.response.finish_reasons", ["stop"])
        chat.set_attribute("gen_ai.conversation.id", "conv-7")
        chat.set_attribute(
            "gen_ai.input.messages",
            f'[{{"role":"user","parts":[{{"type":"text","content":"use the key {secret}"}}]}}]',
        )
        chat.set_attribute("gen_ai.output.messages", '[{"role":"assistant","parts":[]}]')
    with tracer.start_as_current_span("chat llama") as old:
        old.set_attribute("gen_ai.operation.name", "chat")
        old.set_attribute("gen_ai.system", "ollama")
        old.set_attribute("gen_ai.request.model", "llama-3.1-8b")
        old.set_attribute("gen_ai.usage.prompt_tokens", 40)
        old.set_attribute("gen_ai.usage.completion_tokens", 2)
    with tracer.start_as_current_span("execute_tool search") as tool:
        tool.set_attribute("gen_ai.operation.name", "execute_tool")
        tool.set_attribute("gen_ai.tool.name", "search")
        tool.set_attribute("gen_ai.tool.call.id", "call-1")
        tool.set_attribute("error.type", "timeout")
        log.warning("search timed out after 30 s")
        tool.set_status(Status(StatusCode.ERROR, "deadline exceeded"))
    trace_id = agent.get_span_context().trace_id

tracer_provider.shutdown()
logger_provider.shutdown()
print(format(trace_id, "032x"))
