"""The aggregator's faust worker on the real broker: results joined with their plan, dependent
tasks released with their inputs, the final synthesis and exactly one outcome; poison records,
deadlines, and the refusal to start over topics that are not co-partitioned."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeAlias

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from podium_cli.stack.processes import free_port
from podium_common.avro import codec
from podium_common.events import (
    Event,
    GoalCompleted,
    GoalFailed,
    GoalOptions,
    PlanCreated,
    PlannedTask,
    TaskAssigned,
    TaskResult,
    TaskStatus,
    TokenUsage,
    Trace,
    derived_id,
    utcnow,
)
from podium_common.kafka import Publisher
from podium_common.settings import KafkaSettings
from podium_common.topics import CO_PARTITIONED, TaskType

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

log = logging.getLogger(__name__)
Record: TypeAlias = ConsumerRecord[bytes, bytes]


async def spawn(
    kafka: KafkaSettings, workdir: Path, port: int, **settings: str
) -> asyncio.subprocess.Process:
    """`python -m podium_aggregator`, configured like a deployment: environment only."""
    env = {
        **os.environ,
        "PODIUM_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "PODIUM_KAFKA__TOPIC_PREFIX": kafka.topic_prefix,
        "PODIUM_KAFKA__PARTITIONS": str(kafka.partitions),
        "PODIUM_HEALTH_PORT": str(port),
        **settings,
    }
    with (workdir / "aggregator.log").open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "podium_aggregator",
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )


class Worker:
    """One aggregator process at a time, started and stopped like a deployment's pod."""

    def __init__(self, kafka: KafkaSettings, workdir: Path) -> None:
        self.kafka = kafka
        self.workdir = workdir
        self.logfile = workdir / "aggregator.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, **settings: str) -> None:
        """Returns once ready: its table recovered and its partitions assigned."""
        port = free_port()
        started = time.monotonic()
        self.process = process = await spawn(self.kafka, self.workdir, port, **settings)
        async with httpx.AsyncClient() as client, asyncio.timeout(60):
            while True:
                assert process.returncode is None, await asyncio.to_thread(self.logfile.read_text)
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        log.info("aggregator ready %.1f s after it was spawned", time.monotonic() - started)

    async def stop(self) -> int:
        """SIGTERM, as Kubernetes does; returns the exit status."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 30)

    async def kill(self) -> None:
        """SIGKILL, if it still runs: what a failed test leaves is not left running."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


@pytest.fixture
async def aggregator(worker: Worker) -> AsyncIterator[Worker]:
    """A running aggregator worker, ready before the test starts (`worker`, from conftest,
    kills it at the end if it does not stop)."""
    await worker.start()
    try:
        yield worker
    finally:
        returncode = await worker.stop()
    assert returncode == 0, worker.logfile.read_text()


class Reader:
    """Everything on some topics since the beginning, decoded unless it is a dead letter."""

    def __init__(self, kafka: KafkaSettings, *topics: str) -> None:
        self.records: list[Record] = []
        self._consumer = AIOKafkaConsumer(
            *topics, bootstrap_servers=kafka.bootstrap_servers, auto_offset_reset="earliest"
        )

    @classmethod
    def released(cls, kafka: KafkaSettings) -> Reader:
        """The tasks the aggregator releases for `Goal`'s plan: the specialist's (and the
        synthesizer's once every task has ended)."""
        topics = kafka.topics
        return cls(kafka, topics.tasks(TaskType.SPECIALIST), topics.tasks(TaskType.SYNTHESIZER))

    async def __aenter__(self) -> Reader:
        await self._consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()

    async def until(self, done: Callable[[list[Record]], bool], within_s: float = 30) -> None:
        async with asyncio.timeout(within_s):
            while not done(self.records):
                batches = await self._consumer.getmany(timeout_ms=200)
                self.records += [record for batch in batches.values() for record in batch]

    async def settle(self, seconds: float) -> None:
        """Keeps reading for a while: to see that nothing more arrives."""
        await asyncio.sleep(seconds)
        await self.until(lambda _: True)
        batches = await self._consumer.getmany(timeout_ms=500)
        self.records += [record for batch in batches.values() for record in batch]

    def events(self, kind: type[Event] = Event) -> list[Event]:
        decoded = [codec().decode(record.value) for record in self.records if record.value]
        return [event for event in decoded if isinstance(event, kind)]


class Goal:
    """A goal with two parallel researcher tasks and a specialist task depending on both."""

    def __init__(self, deadline_s: float = 600) -> None:
        self.goal_id = uuid.uuid4()
        self.trace = Trace.new()
        self.deadline = utcnow() + timedelta(seconds=deadline_s)

    def tid(self, local: str) -> str:
        return f"{self.goal_id}.1.{local}"

    def plan(self) -> PlanCreated:
        tasks = [
            PlannedTask(task_id=self.tid("t1"), type=TaskType.RESEARCHER, description="facts"),
            PlannedTask(task_id=self.tid("t2"), type=TaskType.RESEARCHER, description="more"),
            PlannedTask(
                task_id=self.tid("t3"),
                type=TaskType.SPECIALIST,
                description="conclude",
                depends_on=[self.tid("t1"), self.tid("t2")],
            ),
        ]
        return PlanCreated(
            event_id=derived_id("plan", self.goal_id, 1),
            goal_id=self.goal_id,
            occurred_at=utcnow(),
            trace=self.trace,
            goal="Which broker suits us?",
            options=GoalOptions(models={"specialist": "special-model"}),
            deadline=self.deadline,
            tasks=tasks,
            model="planner-model",
            usage=TokenUsage(prompt_tokens=100, completion_tokens=20),
            attempts=1,
        )

    def result(self, local: str, output: str) -> TaskResult:
        final = local == "final"
        return TaskResult(
            event_id=derived_id("result", self.tid(local), 1),
            goal_id=self.goal_id,
            occurred_at=utcnow(),
            trace=self.trace.child(),
            task_id=self.tid(local),
            type=TaskType.SYNTHESIZER if final else TaskType.RESEARCHER,
            status=TaskStatus.SUCCEEDED,
            output=output,
            model="worker-model",
            usage=TokenUsage(prompt_tokens=10, completion_tokens=5),
            latency_ms=5,
            worker_id="test",
            attempt=1,
            final=final,
        )


def header(record: Record, name: str) -> bytes | None:
    return dict(record.headers).get(name)


async def test_results_are_joined_with_their_plan_into_one_outcome(
    kafka: KafkaSettings, aggregator: Worker, publisher: Publisher
) -> None:
    goal = Goal()
    topics = kafka.topics
    tasks = Reader.released(kafka)
    outputs = Reader(kafka, topics.outputs)
    async with tasks, outputs:
        # A result before its plan, and the others delivered twice.
        await publisher.publish([goal.result("t2", "two")])
        await publisher.publish([goal.plan(), goal.result("t1", "one"), goal.result("t2", "two")])
        await publisher.publish([goal.result("t1", "one")])

        await tasks.until(lambda records: len(records) >= 1)
        (dependent,) = tasks.events(TaskAssigned)
        assert isinstance(dependent, TaskAssigned)
        assert (dependent.task_id, dependent.attempt) == (goal.tid("t3"), 1)
        assert [(i.task_id, i.output) for i in dependent.inputs] == [
            (goal.tid("t1"), "one"),
            (goal.tid("t2"), "two"),
        ]
        assert dependent.model == "special-model"
        assert dependent.trace.traceparent.split("-")[1] == goal.trace.traceparent.split("-")[1]
        assert tasks.records[0].key == goal.tid("t3").encode()
        assert header(tasks.records[0], "event_type") == b"TaskAssigned"

        await publisher.publish([goal.result("t3", "three"), goal.result("t3", "three")])
        await tasks.until(lambda records: len(records) >= 2)
        final = tasks.events(TaskAssigned)[1]
        assert isinstance(final, TaskAssigned)
        assert final.final
        assert final.task_id == goal.tid("final")
        assert final.type is TaskType.SYNTHESIZER
        assert [i.output for i in final.inputs] == ["one", "two", "three"]

        assert outputs.events() == []
        await publisher.publish([goal.result("final", "the answer")] * 2)
        await outputs.until(lambda records: len(records) >= 1)
        await outputs.settle(2)
        await tasks.settle(0)

    (completed,) = outputs.events()
    assert isinstance(completed, GoalCompleted)
    assert completed.output == "the answer"
    assert completed.event_id == derived_id("outcome", goal.goal_id, 1)
    assert (completed.totals.tasks, completed.totals.succeeded) == (4, 4)
    assert completed.totals.usage == TokenUsage(prompt_tokens=140, completion_tokens=40)
    assert outputs.records[0].key == str(goal.goal_id).encode()
    assert len(tasks.records) == 2  # nothing issued twice


async def test_with_a_one_record_buffer_every_record_waits_its_turn_and_none_is_lost(
    kafka: KafkaSettings, worker: Worker, publisher: Publisher
) -> None:
    """A stream buffer of one record: faust's fetches bring many, so most hand-offs to the
    agent's channel wait for room (raced against a rebalance, `consumer._drain_messages`)
    where the others go in place. Every goal's dependent task is released once, with both
    inputs."""
    await worker.start(PODIUM_MAX_IN_FLIGHT="1")
    goals = [Goal() for _ in range(40)]
    tasks = Reader.released(kafka)
    async with tasks:
        await publisher.publish(
            [event for goal in goals for event in (goal.plan(), goal.result("t1", "one"))]
        )
        await publisher.publish([goal.result("t2", "two") for goal in goals])
        await tasks.until(lambda records: len(records) >= len(goals))
        await tasks.settle(1)
    assert await worker.stop() == 0, worker.logfile.read_text()

    released = tasks.events(TaskAssigned)
    assert sorted(str(task.goal_id) for task in released) == sorted(
        str(goal.goal_id) for goal in goals
    )
    for task in released:
        assert isinstance(task, TaskAssigned)
        assert task.task_id.endswith(".t3")
        assert [i.output for i in task.inputs] == ["one", "two"]


async def test_a_restarted_worker_carries_on_from_its_changelog(
    kafka: KafkaSettings, aggregator: Worker, publisher: Publisher
) -> None:
    goal = Goal()
    tasks = Reader.released(kafka)
    async with tasks:
        await publisher.publish([goal.plan(), goal.result("t1", "one"), goal.result("t2", "two")])
        await tasks.until(lambda records: len(records) >= 1)
        assert await aggregator.stop() == 0

        await aggregator.start()  # a new process: the goal's state comes from the changelog
        # Redelivered as if the old worker had not committed it, and the next result.
        await publisher.publish([goal.result("t2", "two"), goal.result("t3", "three")])
        await tasks.until(lambda records: len(records) >= 2)
        await tasks.settle(1)

    released, final = tasks.events(TaskAssigned)
    assert isinstance(released, TaskAssigned)
    assert isinstance(final, TaskAssigned)
    assert released.task_id == goal.tid("t3")
    assert final.final
    assert [i.output for i in final.inputs] == ["one", "two", "three"]
    assert len(tasks.records) == 2


async def test_poison_records_go_to_the_dead_letter_topic_and_deadlines_fail_goals(
    kafka: KafkaSettings, aggregator: Worker, publisher: Publisher
) -> None:
    topics = kafka.topics
    goal = Goal(deadline_s=3)
    dlq = Reader(kafka, topics.dlq(topics.results))
    outputs = Reader(kafka, topics.outputs)
    async with dlq, outputs:
        raw = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
        await raw.start()
        try:
            await raw.send_and_wait(topics.results, b"not avro", key=b"k")
        finally:
            await raw.stop()
        await publisher.publish([goal.plan()])

        await dlq.until(lambda records: len(records) >= 1)
        (letter,) = dlq.records
        assert letter.value == b"not avro"
        assert header(letter, "error.kind") == b"undecodable"
        assert header(letter, "source.topic") == topics.results.encode()

        await outputs.until(lambda records: len(records) >= 1, within_s=20)
        (failed,) = outputs.events()
        assert isinstance(failed, GoalFailed)
        assert failed.kind == "deadline"
        assert goal.tid("t3") in failed.reason

        await publisher.publish([goal.result("t1", "late"), goal.result("t2", "late")])
        await outputs.settle(2)
    assert len(outputs.records) == 1


async def test_refuses_to_start_when_plans_and_results_are_not_co_partitioned(
    tmp_path: Path,
) -> None:
    kafka = KafkaSettings(
        bootstrap_servers=os.environ.get("PODIUM_TEST_BOOTSTRAP", "127.0.0.1:9092"),
        topic_prefix=f"t{uuid.uuid4().hex[:12]}.",
        partitions=3,
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(name, 2 if name == kafka.topics.results else 3, 1)
                for name in (kafka.topic_prefix + topic for topic in CO_PARTITIONED)
            ]
        )
    finally:
        await admin.close()

    process = await spawn(kafka, tmp_path, free_port())
    returncode = await asyncio.wait_for(process.wait(), 60)

    assert returncode == 2
    message = (tmp_path / "aggregator.log").read_text()
    assert "refuses to start" in message
    assert "same partition count" in message
