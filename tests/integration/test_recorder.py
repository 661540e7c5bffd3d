"""The recorder on the real broker and PostgreSQL: every topic in, the read model out."""

from __future__ import annotations

import asyncio
import random
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from podium_common.errors import Unavailable
from podium_common.events import Event, utcnow
from podium_common.kafka import Publisher
from podium_common.postgres import create_pool
from podium_common.settings import KafkaSettings, PostgresSettings
from podium_recorder import migrations
from podium_recorder.__main__ import serve
from podium_recorder.handler import project
from podium_recorder.repository import Repository
from podium_recorder.settings import RecorderSettings
from tests.unit.recorder.story import (
    COMPLETION_TOKENS,
    FINAL_OUTPUT,
    GOAL_TEXT,
    PROMPT_TOKENS,
    story,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[asyncpg.Pool[asyncpg.Record]]:
    await migrations.apply(pg_dsn)
    pool = await create_pool(PostgresSettings(dsn=pg_dsn))
    yield pool
    await pool.close()


async def snapshot(pool: asyncpg.Pool[Any], goal_id: uuid.UUID) -> dict[str, Any]:
    """The goal's read model, without the columns that record arrival order."""
    goal = await pool.fetchrow("SELECT * FROM goals WHERE goal_id = $1", goal_id)
    tasks = await pool.fetch(
        "SELECT * FROM task_states WHERE goal_id = $1 ORDER BY task_id", goal_id
    )
    attempts = await pool.fetch(
        "SELECT * FROM task_attempts WHERE goal_id = $1 ORDER BY task_id, attempt", goal_id
    )
    assert goal is not None
    return {
        "goal": {key: value for key, value in goal.items() if key != "seq"},
        "tasks": [dict(row) for row in tasks],
        "attempts": [dict(row) for row in attempts],
    }


async def test_migrations_apply_once_when_started_concurrently(pg_dsn: str) -> None:
    await asyncio.gather(*(migrations.apply(pg_dsn) for _ in range(3)))
    await migrations.apply(pg_dsn)
    connection = await asyncpg.connect(pg_dsn)
    try:
        versions = await connection.fetch("SELECT version FROM schema_migrations")
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        )
    finally:
        await connection.close()
    assert sorted(row["version"] for row in versions) == [
        m.version for m in migrations.migrations()
    ]
    assert {"events", "goals", "tasks", "task_attempts"} <= {row["tablename"] for row in tables}


async def one_at_a_time(repository: Repository, events: list[Event], rng: random.Random) -> None:
    for event in events:
        await repository.record(project(event))


async def in_batches(repository: Repository, events: list[Event], rng: random.Random) -> None:
    """Batches of random sizes, some events twice (redelivered), then every event again."""
    again = [*events, *events[:3]]
    rng.shuffle(again)
    while again:
        size = rng.randint(1, 6)
        await repository.record_many([project(event) for event in again[:size]])
        del again[:size]
    await repository.record_many([project(event) for event in events])


@pytest.mark.parametrize("write", [one_at_a_time, in_batches])
async def test_projection_is_the_same_in_any_order(
    pool: asyncpg.Pool[Any],
    write: Callable[[Repository, list[Event], random.Random], Awaitable[None]],
) -> None:
    repository = Repository(pool)
    start = utcnow()
    reference = story(start=start)
    for event in reference.events:
        await repository.record(project(event))
    expected = await snapshot(pool, reference.goal_id)
    for seed in range(4):
        # The same story for another goal id, so that every run compares the same rows.
        told = story(start=start)
        rng = random.Random(seed)
        shuffled = list(told.events)
        rng.shuffle(shuffled)
        await write(repository, shuffled, rng)
        got = await snapshot(pool, told.goal_id)
        assert normalised(got, told.goal_id) == normalised(expected, reference.goal_id), seed


async def test_a_batch_is_numbered_in_the_order_its_events_happened(
    pool: asyncpg.Pool[Any],
) -> None:
    """A batch holds many partitions' records in no order between them; a goal's progress
    stream reads them back by number, so the number follows `occurred_at`."""
    told = story()
    shuffled = list(told.events)
    random.Random(7).shuffle(shuffled)
    assert shuffled != list(told.events)
    await Repository(pool).record_many([project(event) for event in shuffled])
    rows = await pool.fetch(
        "SELECT event_id FROM events WHERE goal_id = $1 ORDER BY seq", told.goal_id
    )
    assert [row["event_id"] for row in rows] == [event.event_id for event in told.events]


def normalised(snap: dict[str, Any], goal_id: uuid.UUID) -> str:
    """The snapshot with the goal id blanked out, to compare two goals."""
    return repr(snap).replace(repr(goal_id), "GOAL").replace(str(goal_id), "GOAL")


async def test_postgres_down_is_retriable() -> None:
    dead = PostgresSettings(dsn="postgresql://podium@127.0.0.1:1/none", connect_timeout_s=2)
    pool = await create_pool(dead, min_size=0)
    try:
        with pytest.raises(Unavailable) as raised:
            await Repository(pool).record(project(story().events[0]))
    finally:
        await pool.close()
    assert raised.value.retriable


@pytest.fixture
async def recorder(kafka: KafkaSettings, pg_dsn: str) -> AsyncIterator[asyncio.Task[None]]:
    """The recorder's own `serve`, in this process."""
    settings = RecorderSettings(kafka=kafka, postgres=PostgresSettings(dsn=pg_dsn))
    task = asyncio.create_task(serve(settings))
    yield task
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)


async def wait_for_events(pg_dsn: str, goal_id: uuid.UUID, count: int) -> None:
    async with asyncio.timeout(60):
        while True:
            try:
                connection = await asyncpg.connect(pg_dsn)
                try:
                    recorded = await connection.fetchval(
                        "SELECT count(*) FROM events WHERE goal_id = $1", goal_id
                    )
                finally:
                    await connection.close()
                if recorded >= count:
                    return
            except asyncpg.UndefinedTableError:
                pass  # the recorder has not migrated yet
            await asyncio.sleep(0.2)


async def test_recorder_projects_a_shuffled_goal_from_every_topic(
    kafka: KafkaSettings, pg_dsn: str, recorder: asyncio.Task[None]
) -> None:
    """TaskResults before their TaskAssigned or PlanCreated; one result delivered twice."""
    told = story()
    shuffled = list(told.events)
    random.Random(7).shuffle(shuffled)
    duplicate = next(e for e in told.events if type(e).__name__ == "TaskResult")
    publisher = Publisher(kafka, client_id="test")
    await publisher.start()
    try:
        await publisher.publish([*shuffled, duplicate])
    finally:
        await publisher.stop()

    await wait_for_events(pg_dsn, told.goal_id, len(told.events))
    await asyncio.sleep(0.5)  # a duplicate, if it were recorded twice, would show by now
    assert not recorder.done()

    pool = await create_pool(PostgresSettings(dsn=pg_dsn))
    try:
        await assert_read_model(pool, told.goal_id, len(told.events))
    finally:
        await pool.close()


async def assert_read_model(
    connection: asyncpg.Pool[Any], goal_id: uuid.UUID, event_count: int
) -> None:
    events = await connection.fetch("SELECT type, topic FROM events WHERE goal_id = $1", goal_id)
    assert len(events) == event_count
    assert {row["topic"] for row in events} == {
        "goals", "plans", "tasks.researcher", "tasks.specialist", "tasks.synthesizer",
        "results", "outputs",
    }  # fmt: skip
    goal = await connection.fetchrow("SELECT * FROM goals WHERE goal_id = $1", goal_id)
    assert goal is not None
    assert goal["status"] == "completed"
    assert goal["goal"] == GOAL_TEXT
    assert goal["output"] == FINAL_OUTPUT
    assert goal["submitter"] == "tester"
    assert [task["task_id"].rsplit(".", 1)[1] for task in goal["plan"]["tasks"]] == [
        "t1",
        "t2",
        "t3",
    ]
    tasks = {
        row["task_id"].rsplit(".", 1)[1]: row
        for row in await connection.fetch("SELECT * FROM task_states WHERE goal_id = $1", goal_id)
    }
    assert set(tasks) == {"t1", "t2", "t3", "final"}
    assert {row["status"] for row in tasks.values()} == {"succeeded"}
    assert tasks["t2"]["attempts"] == 2
    assert tasks["t2"]["output"] == "B is fast"
    assert tasks["final"]["final"] is True
    assert tasks["final"]["output"] == FINAL_OUTPUT
    assert len(tasks["t3"]["depends_on"]) == 2
    prompt = sum(row["prompt_tokens"] for row in tasks.values()) + goal["planning_prompt_tokens"]
    completion = (
        sum(row["completion_tokens"] for row in tasks.values()) + goal["planning_completion_tokens"]
    )
    assert (prompt, completion) == (PROMPT_TOKENS, COMPLETION_TOKENS)
