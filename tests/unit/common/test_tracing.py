"""Traces: off unless OTEL_TRACES_EXPORTER asks (then nothing is created and events pass
unchanged); on, each published event carries its own `send` span, below the span that
handled the record it came from, and LLM spans carry the GenAI attributes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from podium_common import tracing
from podium_common.errors import ConfigError
from tests.unit.workers.fakes import make_task


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    yield exporter
    provider.shutdown()


def test_off_unless_an_exporter_is_named() -> None:
    assert tracing.exporter_name({}) is None
    assert tracing.exporter_name({"OTEL_TRACES_EXPORTER": "none"}) is None
    on = {"OTEL_TRACES_EXPORTER": "zipkin", "OTEL_SDK_DISABLED": "true"}
    assert tracing.exporter_name(on) is None
    assert tracing.exporter_name({"OTEL_TRACES_EXPORTER": "OTLP"}) == "otlp"
    with pytest.raises(ConfigError, match="'jaeger' is not one of otlp, zipkin, console"):
        tracing.exporter_name({"OTEL_TRACES_EXPORTER": "jaeger"})


def test_off_events_pass_unchanged_and_no_span_exists() -> None:
    assert not tracing.configure("podium-test", {})
    task = make_task()
    with tracing.consuming("tasks.researcher", task, "group"):
        assert tracing.current_trace() is None
        (sent,) = tracing.sending([task], lambda _: "results")
    assert sent is task


def test_a_published_event_is_a_send_span_below_its_handling(
    spans: InMemorySpanExporter,
) -> None:
    task = make_task()
    trace_id, sender = task.trace.traceparent[3:35], task.trace.traceparent[36:52]
    with tracing.consuming("tasks.researcher", task, "group"):
        handling = tracing.current_trace()
        with tracing.llm_call("m1", temperature=0.2, max_tokens=9) as call:
            call.answered("m1-2024", 12, 3)
        (sent,) = tracing.sending([task.model_copy(update={"trace": task.trace.child()})], str)
    assert handling is not None
    found = {span.name: span for span in spans.get_finished_spans()}
    process, chat = found["process tasks.researcher"], found["chat m1"]
    send = next(span for name, span in found.items() if name.startswith("send "))
    assert {f"{span.context.trace_id:032x}" for span in found.values()} == {trace_id}
    assert process.parent is not None
    assert f"{process.parent.span_id:016x}" == sender
    assert chat.parent is not None
    assert chat.parent.span_id == process.context.span_id
    assert send.parent is not None
    assert send.parent.span_id == process.context.span_id
    assert sent.trace.traceparent == f"00-{trace_id}-{send.context.span_id:016x}-01"
    assert dict(chat.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "m1",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 9,
        "gen_ai.conversation.id": str(task.goal_id),
        "gen_ai.response.model": "m1-2024",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 3,
    }
