"""`podium rebuild`: the read model replayed from every topic into a fresh database is the
live one, row for row."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from podium_cli.rerun import rerun
from podium_common.admin import partition_counts
from podium_common.kafka import client_options
from podium_common.settings import KafkaSettings, PostgresSettings
from tests.conftest import BOOTSTRAP, PG_DSN
from tests.e2e.conftest import Stack
from tests.e2e.test_goals import submit, wait_for_end

pytestmark = pytest.mark.e2e

GOALS = {
    "parallel": "Compare three message brokers [parallel=3]",
    "chain": "Draft, review and polish a release note [chain=3]",
    "validated": "Design a rate limiter for a public API [validate][reject-once]",
    "failed": "Survey every river on Earth [fail-task]",
    "rejected": "Build a castle in the air [invalid-plan]",
}

# Columns that record when or in which order this database saw a row, not what the events
# say: a rebuild inserts in its own order, at its own time.
NOT_COMPARED = {
    "events": {"seq", "recorded_at"},
    "goals": {"seq"},
}
# Every table and view of the read model, with the order its rows are compared in.
TABLES = {
    "goals": "goal_id, run",
    "tasks": "task_id",
    "task_attempts": "task_id, attempt",
    "task_states": "task_id",
    "events": "event_id",
}
TOTALS = """SELECT
    (SELECT sum(prompt_tokens) FROM task_attempts) AS task_prompt_tokens,
    (SELECT sum(completion_tokens) FROM task_attempts) AS task_completion_tokens,
    (SELECT sum(planning_prompt_tokens) FROM goals) AS planning_prompt_tokens,
    (SELECT count(*) FROM task_attempts WHERE output IS NOT NULL) AS outputs,
    (SELECT count(*) FROM goals WHERE status = 'failed') AS failed_goals"""


async def test_a_rebuilt_read_model_is_identical_to_the_live_one(
    stack: Stack, gateway: httpx.AsyncClient, rebuild_target: tuple[str, str]
) -> None:
    ids = {name: await submit(gateway, text) for name, text in GOALS.items()}
    bodies = {name: await wait_for_end(gateway, gid, 120) for name, gid in ids.items()}
    (again,) = await rerun(
        stack.kafka, PostgresSettings(dsn=stack.pg_dsn), [uuid.UUID(ids["chain"])]
    )
    await _until_run_ends(gateway, ids["chain"], again.run)
    assert bodies["parallel"]["status"] == "completed", bodies["parallel"]
    assert bodies["failed"]["reason"]["kind"] == "task_failed", bodies["failed"]
    assert bodies["rejected"]["reason"]["kind"] == "plan_rejected", bodies["rejected"]
    validated = [t for t in bodies["validated"]["tasks"] if t["attempts"] > 1]
    assert validated, bodies["validated"]["tasks"]  # revised after the validator's feedback
    ends = await _recorder_caught_up(stack.kafka)

    dsn, name = rebuild_target
    done = await _podium(stack.kafka, "rebuild", "--database", dsn)
    assert done.returncode == 0, done.stderr
    print(done.stdout)
    assert f"rebuilt {name} (created)" in done.stdout
    for topic, count in ends.items():
        line = next(
            line
            for line in done.stdout.splitlines()
            if line.split()[:1] == [stack.kafka.topics.unprefixed(topic)]
        )
        assert line.split()[1] == str(count), (line, count)
    assert f"goals: {len(GOALS)} ({len(GOALS) + 1} runs)" in done.stdout

    live, rebuilt = await _read_model(stack.pg_dsn), await _read_model(dsn)
    for table in TABLES:
        assert live[table], f"no rows in the live {table}"
        assert rebuilt[table] == live[table], f"{table} differs after the rebuild"
    assert live["totals"][0]["task_prompt_tokens"] > 0
    assert live["totals"][0]["failed_goals"] == 2
    assert rebuilt["totals"] == live["totals"]

    refused = await _podium(stack.kafka, "rebuild", "--database", dsn)
    assert refused.returncode == 1
    assert f"database {name} is not empty" in refused.stderr
    assert "--allow-non-empty" in refused.stderr
    forced = await _podium(stack.kafka, "rebuild", "--database", dsn, "--allow-non-empty")
    assert forced.returncode == 0, forced.stderr
    assert await _read_model(dsn) == rebuilt  # events already recorded change nothing


async def _until_run_ends(gateway: httpx.AsyncClient, goal_id: str, run: int) -> None:
    deadline = time.monotonic() + 120
    body: dict[str, Any] = {}
    while body.get("run") != run or body.get("completed_at") is None:
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.25)
        body = (await gateway.get(f"/goals/{goal_id}")).json()


async def _recorder_caught_up(kafka: KafkaSettings, within_s: float = 60) -> dict[str, int]:
    """Waits until the recorder's group has committed every topic's end offset, twice with
    the same ends (nothing was published in between); returns the records per topic."""
    names = kafka.topics.all(with_dlq=False)
    counts = await partition_counts(kafka, names)
    partitions = [TopicPartition(t, p) for t, n in counts.items() for p in range(n)]
    group = kafka.topics.group("recorder")
    consumer = AIOKafkaConsumer(**client_options(kafka), enable_auto_commit=False)
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await consumer.start()
    await admin.start()
    try:
        deadline = time.monotonic() + within_s
        seen: dict[TopicPartition, int] = {}
        while True:
            ends = await consumer.end_offsets(partitions)
            committed = await admin.list_consumer_group_offsets(group)
            behind = {
                tp: end
                for tp, end in ends.items()
                if end > 0 and (tp not in committed or committed[tp].offset < end)
            }
            if not behind and ends == seen:
                starts = await consumer.beginning_offsets(partitions)
                return {
                    name: sum(ends[tp] - starts[tp] for tp in partitions if tp.topic == name)
                    for name in counts
                }
            assert time.monotonic() < deadline, f"the recorder is behind on {behind}"
            seen = dict(ends) if not behind else {}
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
        await consumer.stop()


async def _read_model(dsn: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table and view, without the columns a rebuild sets its own way."""
    connection = await asyncpg.connect(dsn)
    try:
        model = {}
        for table, order in TABLES.items():
            columns = [
                row["column_name"]
                for row in await connection.fetch(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = $1 ORDER BY ordinal_position",
                    table,
                )
                if row["column_name"] not in NOT_COMPARED.get(table, set())
            ]
            rows = await connection.fetch(
                f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"  # noqa: S608
            )
            model[table] = [dict(row) for row in rows]
        model["totals"] = [dict(row) for row in await connection.fetch(TOTALS)]
        return model
    finally:
        await connection.close()


async def _podium(kafka: KafkaSettings, *args: str) -> Completed:
    env = {
        **os.environ,
        "PODIUM_KAFKA__BOOTSTRAP_SERVERS": BOOTSTRAP,
        "PODIUM_KAFKA__TOPIC_PREFIX": kafka.topic_prefix,
    }
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "podium"),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    return Completed(process.returncode or 0, stdout.decode(), stderr.decode())


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
async def rebuild_target() -> AsyncIterator[tuple[str, str]]:
    """A database that does not exist yet (the rebuild creates it), dropped afterwards."""
    name = f"podium_rebuild_{uuid.uuid4().hex[:12]}"
    base, _, _ = PG_DSN.rpartition("/")
    try:
        yield f"{base}/{name}", name
    finally:
        admin = await asyncpg.connect(PG_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
