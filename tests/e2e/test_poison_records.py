"""Poison records on every input topic, every service a process: each lands in its
`<topic>.dlq` with the error and its origin in headers, once per consumer group that read
it, and every consumer carries on.

A valid event naming a goal nobody has seen is not poison: no consumer can tell it from
an event whose goal's earlier events are still on their way (topics are not ordered with
one another), so each handles it as it would any event of its goal:
- `goals`: a GoalSubmitted is what makes a goal known; it is planned like any other.
- `plans`: the aggregator adopts the plan; nobody issued its first tasks, so its deadline
  fails it. The recorder shows it.
- `tasks.<type>`: the worker runs the task (workers keep no goal state); its result waits
  in the aggregator, buffered for a plan that never comes, and no outcome follows.
- `results`: buffered in the aggregator likewise; recorded by the recorder.
- `outputs`: the recorder records the outcome.
An event of a type that does not belong on its topic (a TaskResult on `goals`) is an
`unexpected_event` for the consumer that checks types (planner, workers, aggregator).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from podium_cli.deadletters import Letter, read
from podium_common.avro import MAGIC, codec
from podium_common.events import (
    GoalCompleted,
    GoalOptions,
    GoalTotals,
    PlanCreated,
    PlannedTask,
    TaskAssigned,
    TaskResult,
    TaskStatus,
    TokenUsage,
    Trace,
    derived_id,
    topic_for,
    utcnow,
)
from podium_common.postgres import create_pool
from podium_common.settings import PostgresSettings
from podium_common.topics import TaskType
from tests.e2e.conftest import Stack
from tests.e2e.test_goals import submit, wait_for_end

pytestmark = pytest.mark.e2e

UNKNOWN_FINGERPRINT = MAGIC + b"\xff" * 8 + b"\x02body"
POISON = {"undecodable": b"not Avro at all", "unknown_schema": UNKNOWN_FINGERPRINT}


def readers(stack: Stack) -> dict[str, int]:
    """Input topic → how many consumer groups read it (the recorder reads every one; the
    aggregator reads goals, plans, results and approvals; the planner goals)."""
    topics = stack.kafka.topics
    two = [topics.plans, topics.results, topics.approvals, *(topics.tasks(t) for t in TaskType)]
    return {topics.goals: 3, **dict.fromkeys(two, 2), topics.outputs: 1}


async def write_poison(stack: Stack) -> list[tuple[str, int, int, str]]:
    """Both kinds of poison on every partition of every input topic: (topic, partition,
    offset, expected error kind) of each."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka.bootstrap_servers)
    await producer.start()
    written = []
    try:
        for topic in readers(stack):
            for partition in range(stack.kafka.partitions):
                for kind, value in POISON.items():
                    meta = await producer.send_and_wait(
                        topic, value, key=b"poison", partition=partition
                    )
                    written.append((topic, partition, meta.offset, kind))
    finally:
        await producer.stop()
    return written


async def letters_until(stack: Stack, count: int) -> list[Letter]:
    dlqs = [stack.kafka.topics.dlq(topic) for topic in readers(stack)]
    async with asyncio.timeout(60):
        while True:
            letters = await read(stack.kafka, dlqs)
            if len(letters) >= count:
                return letters
            await asyncio.sleep(0.5)


def unknown_goal_events(stack: Stack) -> dict[str, Any]:
    """A valid event of a never-seen goal for each input topic but `goals`, and a result
    on `goals`, where it does not belong."""
    ids = {name: uuid.uuid4() for name in ("plan", "task", "result", "output", "stray")}
    now = utcnow()
    common = {"occurred_at": now, "trace": Trace.new()}
    plan = PlanCreated(
        event_id=derived_id("plan", ids["plan"], 1),
        goal_id=ids["plan"],
        goal="a plan nobody asked for",
        options=GoalOptions(),
        deadline=now + timedelta(seconds=2),
        tasks=[
            PlannedTask(task_id=f"{ids['plan']}.1.t1", type=TaskType.RESEARCHER, description="look")
        ],
        model="m",
        usage=TokenUsage(),
        attempts=1,
        **common,
    )
    task = TaskAssigned(
        event_id=derived_id("task", f"{ids['task']}.1.t1", 1),
        goal_id=ids["task"],
        task_id=f"{ids['task']}.1.t1",
        type=TaskType.RESEARCHER,
        description="find facts about otters",
        goal="otters",
        attempt=1,
        deadline=now + timedelta(minutes=5),
        **common,
    )

    def result(goal_id: uuid.UUID) -> TaskResult:
        return TaskResult(
            event_id=derived_id("result", f"{goal_id}.1.t1", 1),
            goal_id=goal_id,
            task_id=f"{goal_id}.1.t1",
            type=TaskType.RESEARCHER,
            status=TaskStatus.SUCCEEDED,
            output="facts",
            model="m",
            usage=TokenUsage(),
            latency_ms=1,
            worker_id="test",
            attempt=1,
            **common,
        )

    output = GoalCompleted(
        event_id=derived_id("outcome", ids["output"], 1),
        goal_id=ids["output"],
        output="an answer from nowhere",
        totals=GoalTotals(tasks=0, succeeded=0, failed=0, usage=TokenUsage(), wall_ms=0),
        **common,
    )
    return {
        "ids": ids,
        "events": [plan, task, result(ids["result"]), output],
        "stray": result(ids["stray"]),
    }


async def publish(stack: Stack, unknown: dict[str, Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka.bootstrap_servers)
    await producer.start()
    try:
        for event in unknown["events"]:
            topic = topic_for(event, stack.kafka.topics)
            await producer.send_and_wait(topic, codec().encode(event), key=event.key)
        stray = unknown["stray"]
        await producer.send_and_wait(stack.kafka.topics.goals, codec().encode(stray), key=stray.key)
    finally:
        await producer.stop()


async def test_poison_is_dead_lettered_by_every_consumer_and_every_consumer_carries_on(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    written = await write_poison(stack)
    unknown = unknown_goal_events(stack)
    await publish(stack, unknown)
    per_topic = readers(stack)
    expected = sum(per_topic[topic] for topic, *_ in written) + 1  # + the stray result

    # Carrying on: a goal through every input topic and every consumer, after the poison.
    goal_id = await submit(gateway, "Check the facts about bridges [validate]")
    body = await wait_for_end(gateway, goal_id, 90)
    assert body["status"] == "completed", body
    assert {task["type"] for task in body["tasks"]} == {t.value for t in TaskType}

    letters = await letters_until(stack, expected)
    await asyncio.sleep(1)
    letters = await letters_until(stack, expected)
    assert len(letters) == expected, Counter(letter.topic for letter in letters)
    by_origin = Counter(
        (
            letter.source_topic,
            int(letter.get("source.partition")),
            int(letter.get("source.offset")),
            letter.get("error.kind"),
        )
        for letter in letters
    )
    for topic, partition, offset, kind in written:
        assert by_origin[(topic, partition, offset, kind)] == per_topic[topic], (topic, kind)
    for letter in letters:
        assert letter.topic == stack.kafka.topics.dlq(letter.source_topic)
        assert letter.get("error.message")
        if letter.get("error.kind") in POISON:
            assert letter.value == POISON[letter.get("error.kind")]
            assert letter.key == b"poison"
    (stray,) = [letter for letter in letters if letter.get("error.kind") == "unexpected_event"]
    assert stray.source_topic == stack.kafka.topics.goals
    assert "TaskResult" in stray.get("error.message")

    await unknown_goals_are_handled_as_documented(stack, gateway, unknown["ids"])


async def unknown_goals_are_handled_as_documented(
    stack: Stack, gateway: httpx.AsyncClient, ids: dict[str, uuid.UUID]
) -> None:
    plan = await wait_for_end(gateway, str(ids["plan"]), 30)
    assert plan["reason"]["kind"] == "deadline", plan
    output = await wait_for_end(gateway, str(ids["output"]), 30)
    assert (output["status"], output["output"]) == ("completed", "an answer from nowhere")

    pool = await create_pool(PostgresSettings(dsn=stack.pg_dsn))
    try:
        async with asyncio.timeout(30):
            while True:
                ran = await pool.fetchrow(
                    "SELECT status, output FROM task_states WHERE task_id = $1",
                    f"{ids['task']}.1.t1",
                )
                if ran is not None and ran["status"] == "succeeded":
                    break
                await asyncio.sleep(0.25)
        statuses = {
            row["goal_id"]: row["status"]
            for row in await pool.fetch(
                "SELECT goal_id, status FROM goals WHERE goal_id = ANY($1::uuid[])",
                [ids["task"], ids["result"]],
            )
        }
    finally:
        await pool.close()
    assert ran["output"], ran  # the worker ran it
    # Buffered in the aggregator for a plan that never comes: no outcome, still running.
    assert statuses == {ids["task"]: "running", ids["result"]: "running"}
