"""OpenTelemetry traces: one trace per goal run, joined across Kafka by the W3C
`traceparent` every event carries (its `trace` field, and the Kafka header).

Configured by the standard variables: `OTEL_TRACES_EXPORTER` names the exporter (`otlp`,
HTTP, for deployments, to `OTEL_EXPORTER_OTLP_ENDPOINT`; `zipkin`, JSON, to
`OTEL_EXPORTER_ZIPKIN_ENDPOINT`; `console`), `OTEL_SERVICE_NAME` the service (the process's
own name otherwise), `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*` and the exporters' own variables
as the SDK reads them. Unset (or `none`, or `OTEL_SDK_DISABLED=true`): tracing is off and
every function here is a pass-through that creates nothing.

The spans of a goal run, each a child of the one before:

    POST /goals (gateway) → send goals → process goals (planner) → chat <model> (its LLM
    calls) → send tasks.<type> → process tasks.<type> (a worker) → chat <model> → send
    results → process results (aggregator: the join) → send tasks.<type> | outputs → …
    every `send <topic>` → process <topic> (recorder: its write to PostgreSQL)

A `send` span is a dispatch: the event is published with that span as its `traceparent`, so
whoever consumes it continues the trace below it. LLM spans follow the GenAI semantic
conventions (`gen_ai.*`), with the goal id as `gen_ai.conversation.id`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from podium_common.errors import ConfigError
from podium_common.events import Event, Trace

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

EXPORTERS = ("otlp", "zipkin", "console")
_PROPAGATOR = TraceContextTextMapPropagator()
_tracer: trace.Tracer | None = None  # None: tracing is off
# The goal whose record is being handled: the LLM spans' conversation id.
_goal: ContextVar[str | None] = ContextVar("podium_trace_goal", default=None)


def exporter_name(environ: Mapping[str, str]) -> str | None:
    """The exporter the environment asks for, or None when tracing is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    name = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if name in ("", "none"):
        return None
    if name not in EXPORTERS:
        raise ConfigError(
            f"OTEL_TRACES_EXPORTER={name!r} is not one of {', '.join(EXPORTERS)} (or none)"
        )
    return name


def _exporter(name: str) -> SpanExporter:
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if name == "zipkin":
        from opentelemetry.exporter.zipkin.json import ZipkinExporter

        return ZipkinExporter()
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    return ConsoleSpanExporter()


def configure(service: str | None = None, environ: Mapping[str, str] = os.environ) -> bool:
    """Turns tracing on for this process if the environment asks for it; True if it did.
    The SDK is imported only then, so a process without tracing never loads it."""
    global _tracer
    name = exporter_name(environ)
    if name is None:
        _tracer = None
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {}
    if not environ.get("OTEL_SERVICE_NAME"):
        attributes[SERVICE_NAME] = service or Path(sys.argv[0]).name
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    trace.set_tracer_provider(provider)
    _tracer = provider.get_tracer("podium")
    return True


def enabled() -> bool:
    return _tracer is not None


def _extract(carrier: Mapping[str, str]) -> context.Context:
    return _PROPAGATOR.extract(dict(carrier))


def _of(event_trace: Trace) -> context.Context:
    return _extract({"traceparent": event_trace.traceparent, "tracestate": event_trace.tracestate})


def current_trace() -> Trace | None:
    """The span this code runs in, as an event's trace; None when there is none."""
    span = trace.get_current_span().get_span_context()
    if not span.is_valid:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return Trace(traceparent=carrier["traceparent"], tracestate=carrier.get("tracestate", ""))


class RequestSpan:
    """What an HTTP request's span learns once it is answered: its route and status."""

    def __init__(self, span: trace.Span | None, method: str) -> None:
        self._span, self._method = span, method

    def answered(self, route: str, status: int) -> None:
        if self._span is None:
            return
        self._span.update_name(f"{self._method} {route}")
        self._span.set_attribute("http.route", route)
        self._span.set_attribute("http.response.status_code", status)
        if status >= 500:
            self._span.set_status(Status(StatusCode.ERROR, str(status)))


@contextmanager
def request(method: str, headers: Mapping[str, str]) -> Iterator[RequestSpan]:
    """A server span for an HTTP request, below the caller's `traceparent` if it sent one."""
    if _tracer is None:
        yield RequestSpan(None, method)
        return
    with _tracer.start_as_current_span(
        method,
        context=_extract(headers),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method},
    ) as span:
        yield RequestSpan(span, method)


@contextmanager
def consuming(topic: str, event: Event, group: str) -> Iterator[None]:
    """A consumer span for one record handled, below the `send` span that published it."""
    if _tracer is None:
        yield
        return
    attributes: dict[str, str | int] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": topic,
        "messaging.consumer.group.name": group,
        "podium.event": type(event).__name__,
        "podium.goal_id": str(event.goal_id),
        "podium.run": event.run,
    }
    task_id = getattr(event, "task_id", None)
    if task_id:
        attributes["podium.task_id"] = str(task_id)
    token = _goal.set(str(event.goal_id))
    try:
        with _tracer.start_as_current_span(
            f"process {topic}",
            context=_of(event.trace),
            kind=SpanKind.CONSUMER,
            attributes=attributes,
        ):
            yield
    finally:
        _goal.reset(token)


def sending(events: Iterable[Event], topic_of: Callable[[Event], str]) -> list[Event]:
    """The events, each with a `send <topic>` span of its own as its trace: the span is a
    child of the span this code runs in when that is of the event's trace, else of the
    event's own trace. Unchanged when tracing is off."""
    if _tracer is None:
        return list(events)
    here = trace.get_current_span().get_span_context()
    sent = []
    for event in events:
        parent = (
            context.get_current()
            if here.is_valid and f"{here.trace_id:032x}" == event.trace.traceparent[3:35]
            else _of(event.trace)
        )
        topic = topic_of(event)
        attributes = {
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.destination.name": topic,
            "podium.event": type(event).__name__,
        }
        span = _tracer.start_span(
            f"send {topic}", context=parent, kind=SpanKind.PRODUCER, attributes=attributes
        )
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
        span.end()
        own = Trace(traceparent=carrier["traceparent"], tracestate=event.trace.tracestate)
        sent.append(event.model_copy(update={"trace": own}))
    return sent


class LLMSpan:
    """What an LLM call's span records once the call is answered."""

    def __init__(self, span: trace.Span | None) -> None:
        self._span = span

    def answered(self, model: str, input_tokens: int, output_tokens: int) -> None:
        if self._span is None:
            return
        self._span.set_attribute("gen_ai.response.model", model)
        self._span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
        self._span.set_attribute("gen_ai.usage.output_tokens", output_tokens)

    def failed(self, kind: str) -> None:
        if self._span is None:
            return
        self._span.set_attribute("error.type", kind)
        self._span.set_status(Status(StatusCode.ERROR, kind))


@contextmanager
def llm_call(
    model: str, *, provider: str = "openai", max_tokens: int | None = None, temperature: float
) -> Iterator[LLMSpan]:
    """A client span for one LLM call (its retries included), named `chat <model>`."""
    if _tracer is None:
        yield LLMSpan(None)
        return
    attributes: dict[str, str | int | float] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.request.temperature": temperature,
    }
    if max_tokens is not None:
        attributes["gen_ai.request.max_tokens"] = max_tokens
    goal = _goal.get()
    if goal is not None:
        attributes["gen_ai.conversation.id"] = goal
    with _tracer.start_as_current_span(
        f"chat {model}", kind=SpanKind.CLIENT, attributes=attributes, record_exception=False
    ) as span:
        yield LLMSpan(span)
