"""The gateway on the real broker and PostgreSQL, with the recorder projecting behind it."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaConsumer
from prometheus_client import REGISTRY
from starlette.applications import Starlette

from podium_common.avro import codec
from podium_common.embedded import EmbeddedServer
from podium_common.events import GoalSubmitted, derived_id
from podium_common.kafka import Publisher
from podium_common.settings import KafkaSettings, PostgresSettings
from podium_gateway.app import create_app
from podium_gateway.repository import Repository
from podium_gateway.settings import GatewaySettings
from podium_recorder import migrations
from podium_recorder.__main__ import serve as serve_recorder
from podium_recorder.settings import RecorderSettings
from tests.integration.test_recorder import wait_for_events
from tests.unit.recorder.story import COMPLETION_TOKENS, FINAL_OUTPUT, PROMPT_TOKENS, story

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
async def app(kafka: KafkaSettings, pg_dsn: str) -> AsyncIterator[Starlette]:
    """The gateway over a real producer and pool, started by its own lifespan."""
    await migrations.apply(pg_dsn)
    settings = GatewaySettings(kafka=kafka, postgres=PostgresSettings(dsn=pg_dsn))
    app = create_app(
        settings, Publisher(kafka, client_id="gateway-test"), Repository(settings.postgres)
    )
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


@pytest.fixture
async def recorder(kafka: KafkaSettings, pg_dsn: str) -> AsyncIterator[None]:
    settings = RecorderSettings(kafka=kafka, postgres=PostgresSettings(dsn=pg_dsn))
    task = asyncio.create_task(serve_recorder(settings))
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().remove_signal_handler(sig)


async def submitted_on_goals_topic(kafka: KafkaSettings, goal_id: uuid.UUID) -> Any:
    consumer = AIOKafkaConsumer(
        kafka.topics.goals, bootstrap_servers=kafka.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                for record in (r for batch in batches.values() for r in batch):
                    if record.key == str(goal_id).encode():
                        return record
    finally:
        await consumer.stop()


def sse_events(text: str) -> list[dict[str, str]]:
    blocks = [block for block in text.replace("\r\n", "\n").split("\n\n") if block.strip()]
    return [
        dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        for block in blocks
    ]


async def test_a_goal_goes_in_and_comes_back_completed(
    kafka: KafkaSettings, pg_dsn: str, http: httpx.AsyncClient, recorder: None
) -> None:
    response = await http.post("/goals", json={"goal": "Compare two sorting algorithms"})
    assert response.status_code == 202
    goal_id = uuid.UUID(response.json()["goal_id"])

    record = await submitted_on_goals_topic(kafka, goal_id)
    event = codec().decode(record.value)
    assert isinstance(event, GoalSubmitted)
    assert event.event_id == derived_id("goal", goal_id, 1)
    assert event.goal == "Compare two sorting algorithms"

    shown = await http.get(f"/goals/{goal_id}")
    assert shown.status_code == 200
    assert shown.json()["status"] == "queued"

    # Follow the goal's progress while the rest of its story is published.
    stream = asyncio.create_task(http.get(f"/goals/{goal_id}/events"))
    rest = [e for e in story(goal_id).events if not isinstance(e, GoalSubmitted)]
    publisher = Publisher(kafka, client_id="services-test")
    await publisher.start()
    try:
        await publisher.publish(rest)
    finally:
        await publisher.stop()

    # Events come in the order they are recorded, which need not be the order they were
    # published in; the stream ends with the batch that holds the goal's outcome.
    streamed = await asyncio.wait_for(stream, timeout=60)
    assert streamed.status_code == 200
    messages = sse_events(streamed.text)
    assert "GoalCompleted" in [message["event"] for message in messages]
    assert len(messages) == len({message["id"] for message in messages})
    completed = next(m for m in messages if m["event"] == "GoalCompleted")
    assert json.loads(completed["data"])["output"] == FINAL_OUTPUT

    await wait_for_events(pg_dsn, goal_id, len(story().events))
    replayed = sse_events((await http.get(f"/goals/{goal_id}/events")).text)
    assert sorted(m["event"] for m in replayed) == sorted(type(e).__name__ for e in story().events)
    assert [int(m["id"]) for m in replayed] == sorted(int(m["id"]) for m in replayed)

    goal = (await http.get(f"/goals/{goal_id}")).json()
    assert goal["status"] == "completed"
    assert goal["output"] == FINAL_OUTPUT
    assert goal["goal"] == "Compare two sorting algorithms"
    assert [task["status"] for task in goal["tasks"]] == ["succeeded"] * 4
    assert goal["tasks"][-1]["final"] is True
    assert goal["totals"]["prompt_tokens"] == PROMPT_TOKENS
    assert goal["totals"]["completion_tokens"] == COMPLETION_TOKENS
    assert (goal["totals"]["tasks"], goal["totals"]["succeeded"]) == (4, 4)

    listed = (await http.get("/goals", params={"status": "completed"})).json()
    assert [item["goal_id"] for item in listed["goals"]] == [str(goal_id)]


async def test_reads_are_503_and_submissions_202_while_postgres_is_down(
    kafka: KafkaSettings,
) -> None:
    down = PostgresSettings(dsn="postgresql://podium@127.0.0.1:1/none", connect_timeout_s=1)
    settings = GatewaySettings(kafka=kafka, postgres=down)
    app = create_app(settings, Publisher(kafka, client_id="gateway-test"), Repository(down))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gateway") as client,
    ):
        submitted = await client.post("/goals", json={"goal": "still accepted"})
        read = await client.get(f"/goals/{submitted.json()['goal_id']}")
        ready = await client.get("/readyz")
    assert submitted.status_code == 202
    assert read.status_code == 503
    assert read.headers["retry-after"]
    assert ready.json()["checks"] == {"kafka": True, "postgres": False}
    goal_id = uuid.UUID(submitted.json()["goal_id"])
    assert (await submitted_on_goals_topic(kafka, goal_id)).key == str(goal_id).encode()


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)


def streams_answered() -> float:
    labels = {"method": "GET", "route": "/goals/{goal_id}/events", "status": "200"}
    return REGISTRY.get_sample_value("podium_gateway_requests_total", labels) or 0.0


async def test_a_stream_stops_when_its_client_goes(app: Starlette, http: httpx.AsyncClient) -> None:
    """Over a real socket: the server ends the stream of a client that disconnected."""
    goal_id = uuid.UUID((await http.post("/goals", json={"goal": "watched"})).json()["goal_id"])
    server = EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off"))
    serving = asyncio.create_task(server.serve())
    try:
        await until(lambda: server.started)
        port = server.servers[0].sockets[0].getsockname()[1]
        before = streams_answered()
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
            client.stream("GET", f"/goals/{goal_id}/events") as response,
        ):
            assert response.status_code == 200
            # The goal's GoalSubmitted is not recorded (no recorder runs): nothing comes;
            # the client leaves while the server is polling.
            await asyncio.sleep(0.5)
        await until(lambda: streams_answered() == before + 1)
    finally:
        server.should_exit = True
        await serving
