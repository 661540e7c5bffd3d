"""One goal as the topics tell it, read with real consumers to their end offsets, and a
wait until every consumer group of the stack has committed everything on its topics.

A goal is submitted straight to `goals` (as `podium rerun` does), so its id is chosen
before any service sees it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from chaos.check import read_topic
from podium_common.events import (
    Event,
    GoalCompleted,
    GoalFailed,
    GoalSubmitted,
    GoalTotals,
    PlanCreated,
    TaskResult,
    TaskStatus,
)
from podium_common.kafka import Publisher, client_options
from podium_common.settings import KafkaSettings
from podium_common.topics import TaskType, Topics


def consumed(topics: Topics) -> dict[str, list[str]]:
    """The topics each consumer service (by process name) reads."""
    workers = {f"podium-worker-{kind.value}": [topics.tasks(kind)] for kind in TaskType}
    return {
        "podium-planner": [topics.goals],
        **workers,
        "podium-aggregator": [topics.goals, topics.plans, topics.results, topics.approvals],
        "podium-recorder": topics.all(with_dlq=False),
    }


async def submit(kafka: KafkaSettings, goal_id: uuid.UUID, goal: str) -> None:
    """Publishes run 1 of a goal with this id to `goals`."""
    event = GoalSubmitted.accepted(goal, goal_id=goal_id)
    publisher = Publisher(kafka, client_id=kafka.topics.group("e2e-crash-points"))
    await publisher.start()
    try:
        await publisher.publish([event])
    finally:
        await publisher.stop()


async def caught_up(kafka: KafkaSettings, *services: str) -> None:
    """Returns once every consumer group (or those of `services`) has committed every record
    on its topics (as the broker reports it: committed offsets against end offsets)."""
    consumer = AIOKafkaConsumer(**client_options(kafka), enable_auto_commit=False)
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await consumer.start()
    await admin.start()
    try:
        said: dict[str, int] = {}
        while behind := await lagging(kafka, consumer, admin, services):
            if behind != said:
                print(f"not committed yet, by consumer: {behind}")  # shown if the test fails
                said = behind
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
        await consumer.stop()


async def lagging(
    kafka: KafkaSettings,
    consumer: AIOKafkaConsumer,
    admin: AIOKafkaAdminClient,
    services: Sequence[str] = (),
) -> dict[str, int]:
    """Records each consumer group (or those of `services`) has not committed yet (groups at
    0 left out), on the topics it is known to read and any other it has committed offsets on."""
    known = {
        service: topics
        for service, topics in consumed(kafka.topics).items()
        if service in services or not services
    }
    committed = {
        service: await admin.list_consumer_group_offsets(
            kafka.topics.group(service.removeprefix("podium-"))
        )
        for service in known
    }
    reads = {
        service: set(topics) | {tp.topic for tp in committed[service]}
        for service, topics in known.items()
    }
    every = set().union(*reads.values())
    ends = await consumer.end_offsets(
        [TopicPartition(topic, p) for topic in every for p in range(kafka.partitions)]
    )
    behind = {
        service: sum(
            end - (committed[service][tp].offset if tp in committed[service] else 0)
            for tp, end in ends.items()
            if tp.topic in reads[service]
        )
        for service in reads
    }
    return {service: count for service, count in behind.items() if count}


@dataclass
class GoalLog:
    """Run 1 of one goal on `plans`, `results` and `outputs`, in each topic's order."""

    plans: list[PlanCreated]
    results: list[TaskResult]
    outcomes: list[Event]

    @classmethod
    async def read(cls, kafka: KafkaSettings, goal_id: uuid.UUID) -> GoalLog:
        topics = kafka.topics
        plans, results, outputs = await asyncio.gather(
            *(read_topic(kafka, topic) for topic in (topics.plans, topics.results, topics.outputs))
        )
        mine = [e for e in plans + results + outputs if e.goal_id == goal_id and e.run == 1]
        return cls(
            plans=[e for e in mine if isinstance(e, PlanCreated)],
            results=[e for e in mine if isinstance(e, TaskResult)],
            outcomes=[e for e in mine if isinstance(e, GoalCompleted | GoalFailed)],
        )

    def expected_totals(self) -> GoalTotals:
        """What the outcome's totals must be: the adopted (first) plan's tasks and the final
        synthesis, each distinct (task_id, attempt) result counted once, plus the plan's usage
        (the aggregator's `outcomes.totals`). Wall time is not compared."""
        plan = self.plans[0]
        distinct = {(r.task_id, r.attempt): r for r in reversed(self.results)}.values()
        usage = sum((r.usage for r in distinct), plan.usage)
        return GoalTotals(
            tasks=len(plan.tasks) + 1,
            succeeded=len({r.task_id for r in distinct if r.status is TaskStatus.SUCCEEDED}),
            failed=sum(r.status is TaskStatus.FAILED for r in distinct),
            usage=usage,
            wall_ms=0,
        )
