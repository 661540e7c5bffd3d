"""A worker's own `serve_worker` on the real broker: tasks in, one result each out, offsets
committed past every record after a graceful stop, many tasks in flight at once."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from podium_common.avro import codec
from podium_common.events import TaskAssigned, TaskResult, TaskStatus, derived_id
from podium_common.kafka import Publisher
from podium_common.llm import Request
from podium_common.settings import KafkaSettings
from podium_common.topics import TaskType
from podium_common.worker_service import serve_worker
from podium_worker_researcher.handler import handle
from podium_worker_researcher.settings import Settings
from tests.unit.workers.fakes import FakeLLM, make_task

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def task_line(request: Request) -> str:
    """Answers with the task's own line, so each result shows which prompt it came from."""
    return next(
        line for line in request.messages[1].content.splitlines() if line.startswith("Task:")
    )


@asynccontextmanager
async def worker(kafka: KafkaSettings, llm: FakeLLM, max_in_flight: int) -> AsyncIterator[None]:
    """worker-researcher in this process; on exit stopped by SIGTERM as in production, and
    waited for until it has drained and committed."""
    settings = Settings(kafka=kafka, model="small", max_in_flight=max_in_flight)
    running = asyncio.create_task(serve_worker(TaskType.RESEARCHER, handle, settings, llm=llm))
    try:
        yield
        assert not running.done(), "the worker stopped on its own"
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(running, timeout=40)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def publish(kafka: KafkaSettings, tasks: list[TaskAssigned]) -> None:
    publisher = Publisher(kafka, client_id="test-tasks")
    await publisher.start()
    try:
        await publisher.publish(tasks)
    finally:
        await publisher.stop()


class Results:
    """Reads `results` from the beginning in the background."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.received: list[tuple[float, TaskResult]] = []
        self._arrived = asyncio.Event()
        self._consumer = AIOKafkaConsumer(
            kafka.topics.results,
            bootstrap_servers=kafka.bootstrap_servers,
            auto_offset_reset="earliest",
        )

    async def __aenter__(self) -> Results:
        await self._consumer.start()
        self._reading = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *_: object) -> None:
        self._reading.cancel()
        await asyncio.gather(self._reading, return_exceptions=True)
        await self._consumer.stop()

    async def _read(self) -> None:
        async for record in self._consumer:
            result = codec().decode(record.value or b"")
            assert isinstance(result, TaskResult)
            self.received.append((time.monotonic(), result))
            self._arrived.set()

    async def wait_for(self, count: int) -> list[TaskResult]:
        async with asyncio.timeout(30):
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return [result for _, result in self.received]


async def committed_and_end(kafka: KafkaSettings) -> tuple[dict[int, int], dict[int, int]]:
    """The group's committed offsets and the end offsets, per partition of the task topic."""
    topic = kafka.topics.tasks(TaskType.RESEARCHER)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(kafka.topics.group("worker-researcher"))
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(kafka.partitions)]
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    committed = {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}
    return committed, {tp.partition: offset for tp, offset in ends.items()}


def tasks(count: int, **fields: Any) -> list[TaskAssigned]:
    goal_id = uuid.uuid4()
    return [
        make_task(
            goal_id=goal_id, task_id=f"{goal_id}.1.t{n}", description=f"Research item {n}", **fields
        )
        for n in range(count)
    ]


async def test_one_result_per_task_and_offsets_committed_after_stop(kafka):
    llm = FakeLLM(task_line)
    sent = tasks(8) + tasks(4, attempt=2)
    async with Results(kafka) as results, worker(kafka, llm, max_in_flight=64):
        await publish(kafka, sent)
        await results.wait_for(len(sent))
        await asyncio.sleep(1.0)  # time for a duplicate to show up, if one were sent
    received = [result for _, result in results.received]

    assert sorted(r.event_id for r in received) == sorted(
        derived_id("result", task.task_id, task.attempt) for task in sent
    )
    by_task = {(r.task_id, r.attempt): r for r in received}
    for task in sent:
        result = by_task[(task.task_id, task.attempt)]
        assert result.status is TaskStatus.SUCCEEDED
        assert result.goal_id == task.goal_id
        assert result.output == f"Task: {task.description}"
        assert result.model == "small"
        assert result.worker_id.startswith("worker-researcher@")
    assert len(llm.requests) == len(sent)

    committed, ends = await committed_and_end(kafka)
    assert sum(ends.values()) == len(sent)
    for partition, end in ends.items():
        assert committed.get(partition, 0) == end, f"partition {partition}"


async def test_a_stop_drains_the_tasks_in_flight_then_commits(kafka):
    llm = FakeLLM(delay_s=1.0)
    sent = tasks(10)
    async with Results(kafka) as results:
        async with worker(kafka, llm, max_in_flight=64):
            await publish(kafka, sent)
            async with asyncio.timeout(30):
                await llm.wait_in_flight(len(sent))
        # Stopped while every task was still with the LLM: each finished and was published.
        received = await results.wait_for(len(sent))
    assert sorted(r.task_id for r in received) == sorted(t.task_id for t in sent)
    committed, ends = await committed_and_end(kafka)
    assert sum(ends.values()) == len(sent)
    assert all(committed.get(partition, 0) == end for partition, end in ends.items())


async def test_many_tasks_are_in_flight_at_once(kafka):
    llm = FakeLLM(delay_s=0.5)
    async with Results(kafka) as results, worker(kafka, llm, max_in_flight=20):
        await publish(kafka, tasks(1))
        await results.wait_for(1)  # the worker has joined its group and is consuming
        started = time.monotonic()
        await publish(kafka, tasks(20))
        await results.wait_for(21)
        elapsed = results.received[-1][0] - started
    # One at a time would take 20 x 0.5 s; all in flight together, about 0.5 s.
    assert elapsed < 5.0
    assert 10 <= llm.peak <= 20


async def test_in_flight_tasks_stay_within_the_limit(kafka):
    llm = FakeLLM(delay_s=0.3)
    async with Results(kafka) as results, worker(kafka, llm, max_in_flight=4):
        await publish(kafka, tasks(12))
        await results.wait_for(12)
    assert llm.peak == 4
