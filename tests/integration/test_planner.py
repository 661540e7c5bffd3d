"""The planner's run loop on the real broker: a goal in, a plan and its root tasks out."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from podium_common.avro import codec
from podium_common.events import (
    Event,
    GoalSubmitted,
    PlanCreated,
    PlanningStarted,
    TaskAssigned,
    TokenUsage,
)
from podium_common.kafka import Publisher
from podium_common.llm import Completion, Request
from podium_common.settings import KafkaSettings
from podium_common.topics import TaskType
from podium_planner.__main__ import serve
from podium_planner.settings import PlannerSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

PLAN = json.dumps(
    {
        "tasks": [
            {"id": "t1", "type": "researcher", "description": "find facts"},
            {"id": "t2", "type": "specialist", "description": "frame the answer"},
            {"id": "t3", "type": "synthesizer", "description": "merge", "depends_on": ["t1", "t2"]},
        ]
    }
)


class PlanningLLM:
    """Always answers with the same valid plan."""

    async def complete(self, request: Request) -> Completion:
        return Completion(text=PLAN, model=request.model, usage=TokenUsage(), latency_ms=0)


@pytest.fixture
async def planner(kafka: KafkaSettings) -> AsyncIterator[asyncio.Task[None]]:
    """The planner's own `serve`, in this process; stopped with SIGTERM like in production."""
    settings = PlannerSettings(kafka=kafka, model="plan-model")
    task = asyncio.create_task(serve(settings, PlanningLLM()))
    yield task
    loop = asyncio.get_running_loop()
    if not task.done():
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)


async def read(kafka: KafkaSettings, topic: str, count: int) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        async with asyncio.timeout(30):
            while len(records) < count:
                batches = await consumer.getmany(timeout_ms=200)
                records += [record for batch in batches.values() for record in batch]
    finally:
        await consumer.stop()
    return records


def decoded(record: ConsumerRecord[bytes, bytes]) -> Event:
    return codec().decode(record.value or b"")


async def end_offsets(kafka: KafkaSettings, topic: str) -> int:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka.bootstrap_servers)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def test_a_goal_becomes_a_plan_and_its_root_tasks(kafka, planner):
    topics = kafka.topics
    goal_id = uuid.uuid4()
    goal = GoalSubmitted.accepted("Explain Kafka", goal_id=goal_id)
    publisher = Publisher(kafka, client_id="test-planner")
    await publisher.start()
    try:
        await publisher.publish([goal])
    finally:
        await publisher.stop()

    plans = await read(kafka, topics.plans, 2)
    researcher = await read(kafka, topics.tasks(TaskType.RESEARCHER), 1)
    specialist = await read(kafka, topics.tasks(TaskType.SPECIALIST), 1)

    started, plan = (decoded(record) for record in plans)
    assert isinstance(started, PlanningStarted)
    assert isinstance(plan, PlanCreated)
    assert {record.key for record in plans} == {str(goal_id).encode()}
    prefix = plan.tasks[0].task_id.removesuffix("t1")
    assert prefix.startswith(f"{goal_id}.1.")
    assert [task.task_id for task in plan.tasks] == [prefix + "t1", prefix + "t2", prefix + "t3"]
    for record, local in ((researcher[0], "t1"), (specialist[0], "t2")):
        task = decoded(record)
        assert isinstance(task, TaskAssigned)
        assert record.key == (prefix + local).encode()
        assert (task.task_id, task.attempt, task.goal) == (prefix + local, 1, "Explain Kafka")

    os.kill(os.getpid(), signal.SIGTERM)  # the planner drains, commits and returns
    await asyncio.wait_for(planner, 30)
    assert await end_offsets(kafka, topics.tasks(TaskType.SYNTHESIZER)) == 0
