"""A goal run is one trace, read back from a real Zipkin server: spans from every service
share the trace id the caller sent, each below the span that caused it, across every
Kafka hop; LLM spans carry the GenAI attributes."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from podium_cli.settings import CliSettings
from podium_cli.stack.layout import Layout, find_checkout
from podium_cli.stack.processes import free_port
from podium_cli.stack.zipkin import Zipkin, tracing_env
from tests.e2e.conftest import Stack, running_stack
from tests.e2e.test_goals import wait_for_end
from tests.servers import serving

pytestmark = pytest.mark.e2e

Span = dict[str, Any]
# Every service a goal with a validated research task passes through.
SERVICES = {
    "podium-gateway",
    "podium-planner",
    "podium-worker-researcher",
    "podium-worker-validator",
    "podium-worker-synthesizer",
    "podium-aggregator",
    "podium-recorder",
}


@pytest.fixture(scope="module")
def zipkin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zipkin]:
    settings = CliSettings()
    state = tmp_path_factory.mktemp("zipkin")
    layout = Layout(checkout=find_checkout(Path.cwd()), state=state, cache=settings.cache_dir)
    with serving(Zipkin(layout, free_port()), ready_within_s=240) as server:
        yield server


@pytest.fixture(scope="module")
async def traced_stack(
    tmp_path_factory: pytest.TempPathFactory, module_pg_dsn: str, zipkin: Zipkin
) -> AsyncIterator[Stack]:
    env = {**tracing_env(zipkin.port), "OTEL_BSP_SCHEDULE_DELAY": "200"}
    async with running_stack(tmp_path_factory, module_pg_dsn, extra_env=env) as stack:
        yield stack


async def spans_of(zipkin: Zipkin, trace_id: str, caller_span: str, within_s: float) -> list[Span]:
    """The trace once it is whole: every service's spans are in it, the recorder has written
    the goal's outcome (the last span of a run), and every span's parent but the caller's
    has arrived too. Each service exports on its own schedule, so a parent that ends after
    its children (a record's handling outlives the sends it makes) may arrive last; one
    that never arrives fails the test here, named."""
    deadline = time.monotonic() + within_s
    spans: list[Span] = []
    async with httpx.AsyncClient(base_url=zipkin.url, timeout=5) as client:
        while time.monotonic() < deadline:
            response = await client.get(f"/api/v2/trace/{trace_id}")
            if response.status_code == 200:
                spans = response.json()
                services = {span["localEndpoint"]["serviceName"] for span in spans}
                finished = _named(spans, "podium-recorder", "process", "outputs")
                if services >= SERVICES and finished and not _orphans(spans, caller_span):
                    return spans
            await asyncio.sleep(0.5)
    seen = sorted({(s["localEndpoint"]["serviceName"], s["name"]) for s in spans})
    raise TimeoutError(
        f"trace {trace_id} incomplete after {within_s}s: {seen}; "
        f"spans whose parent never arrived: {_orphans(spans, caller_span)}"
    )


def _orphans(spans: list[Span], caller_span: str) -> list[tuple[str, str, str | None]]:
    """(service, name, parent id) of each span whose parent is neither in the trace nor the
    caller's span."""
    known = {span["id"] for span in spans} | {caller_span}
    return [
        (span["localEndpoint"]["serviceName"], span["name"], span.get("parentId"))
        for span in spans
        if span.get("parentId") not in known
    ]


def _named(spans: list[Span], service: str, verb: str, topic: str) -> list[Span]:
    """The spans of `service` named `<verb> <prefix><topic>` (Zipkin keeps names lowercase)."""
    return [
        span
        for span in spans
        if span["localEndpoint"]["serviceName"] == service and _is(span, verb, topic)
    ]


def _is(span: Span, verb: str, topic: str) -> bool:
    found_verb, _, found_topic = str(span["name"]).partition(" ")
    return found_verb == verb and found_topic.endswith(f".{topic}")


async def test_a_goal_run_is_one_trace_across_every_service(
    traced_stack: Stack, zipkin: Zipkin
) -> None:
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    async with httpx.AsyncClient(base_url=traced_stack.gateway, timeout=10) as gateway:
        response = await gateway.post(
            "/goals",
            json={"goal": "Compare two caches [validate]"},
            headers={"traceparent": f"00-{trace_id}-{caller_span}-01"},
        )
        assert response.status_code == 202, response.text
        goal_id = response.json()["goal_id"]
        body = await wait_for_end(gateway, goal_id, 90)
    assert body["status"] == "completed", body

    spans = await spans_of(zipkin, trace_id, caller_span, 60)
    by_id = {span["id"]: span for span in spans}
    assert {span["traceId"] for span in spans} == {trace_id}
    # One root below the caller's span: the gateway's request; every other span's parent
    # is a span of this trace (spans_of waits for late parents and fails naming any that
    # never came).
    request = [span for span in spans if span.get("parentId") == caller_span]
    assert [(s["name"], s["kind"]) for s in request] == [("post /goals", "SERVER")]

    def parent(span: Span) -> Span:
        return by_id[span["parentId"]]

    def service(span: Span) -> str:
        return str(span["localEndpoint"]["serviceName"])

    # gateway → goals → planner
    (planning,) = _named(spans, "podium-planner", "process", "goals")
    sent = parent(planning)
    assert (service(sent), sent["kind"]) == ("podium-gateway", "PRODUCER")
    assert _is(sent, "send", "goals")
    assert parent(sent) is request[0]
    # every worker's task was dispatched by the planner or the aggregator; its LLM call is
    # a GenAI span below its handling
    planner_and_workers = SERVICES - {"podium-gateway", "podium-aggregator", "podium-recorder"}
    for worker in planner_and_workers:
        for handled in [s for s in spans if service(s) == worker and s["kind"] == "CONSUMER"]:
            dispatch = parent(handled)
            assert dispatch["name"] == handled["name"].replace("process ", "send ", 1)
            assert dispatch["kind"] == "PRODUCER"
            assert service(dispatch) in ("podium-gateway", "podium-planner", "podium-aggregator")
        calls = [s for s in spans if service(s) == worker and s["kind"] == "CLIENT"]
        assert calls, worker
        for call in calls:
            assert service(parent(call)) == worker
            assert parent(call)["kind"] == "CONSUMER"
            tags = call["tags"]
            assert tags["gen_ai.operation.name"] == "chat"
            assert tags["gen_ai.provider.name"] == "openai"
            assert call["name"] == f"chat {tags['gen_ai.request.model']}".lower()
            assert tags["gen_ai.conversation.id"] == goal_id
            assert int(tags["gen_ai.usage.input_tokens"]) > 0
            assert int(tags["gen_ai.usage.output_tokens"]) > 0
    # the aggregator joins each result below the worker's `send results`
    joins = _named(spans, "podium-aggregator", "process", "results")
    assert joins
    for join in joins:
        assert _is(parent(join), "send", "results")
        assert service(parent(join)).startswith("podium-worker-")
    # the recorder writes the outcome below the aggregator's `send outputs`
    (written,) = _named(spans, "podium-recorder", "process", "outputs")
    assert service(parent(written)) == "podium-aggregator"
    assert _is(parent(written), "send", "outputs")
