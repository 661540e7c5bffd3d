"""A goal planned twice, on the real broker: the aggregator binds the goal's results to the
first plan on `plans` and the second plan's results change nothing. And a goal that is never
planned fails at the deadline that its submission started."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from podium_common.events import (
    GoalCompleted,
    GoalFailed,
    GoalOptions,
    GoalSubmitted,
    PlanCreated,
    PlannedTask,
    TaskAssigned,
    TokenUsage,
)
from podium_common.kafka import Publisher
from podium_common.settings import KafkaSettings
from podium_common.topics import TaskType
from tests.integration.test_aggregator import Goal, Reader, aggregator  # noqa: F401

# Each test runs against a ready aggregator process (test_aggregator's fixture).
pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("aggregator"),
]


class Plan(Goal):
    """One plan of a goal: its task ids carry the plan's digest, as the planner's do."""

    def __init__(self, goal_id: uuid.UUID, digest: str) -> None:
        super().__init__()
        self.goal_id = goal_id
        self.digest = digest

    def tid(self, local: str) -> str:
        return f"{self.goal_id}.1.{self.digest}.{local}"


def other_plan(plan: Plan) -> PlanCreated:
    """A second, different plan of the same run: same event id, other tasks."""
    tasks = [
        PlannedTask(task_id=plan.tid("t1"), type=TaskType.RESEARCHER, description="elsewhere"),
        PlannedTask(
            task_id=plan.tid("t4"),
            type=TaskType.SPECIALIST,
            description="judge",
            depends_on=[plan.tid("t1")],
        ),
    ]
    usage = TokenUsage(prompt_tokens=900, completion_tokens=900)
    return plan.plan().model_copy(update={"tasks": tasks, "usage": usage})


async def published(kafka: KafkaSettings, *topics: str) -> int:
    """How many records the broker holds on the topics (their end offsets, summed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers)
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in range(kafka.partitions)]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def test_results_bind_to_the_first_plan_of_a_goal_planned_twice(
    kafka: KafkaSettings, publisher: Publisher
) -> None:
    first = Plan(uuid.uuid4(), digest="a1a1a1a1")
    second = Plan(first.goal_id, digest="b2b2b2b2")
    second_plan = other_plan(second)
    assert second_plan.event_id == first.plan().event_id
    topics = kafka.topics
    task_topics = [topics.tasks(task_type) for task_type in TaskType]
    tasks = Reader(kafka, *task_topics)
    outputs = Reader(kafka, topics.outputs)
    async with tasks, outputs:
        # One of the second plan's results comes before either plan.
        await publisher.publish([second.result("t1", "second's one")])
        await publisher.publish([first.plan(), second_plan])
        await publisher.publish([first.result("t1", "one"), first.result("t2", "two")])

        await tasks.until(lambda records: len(records) >= 1)
        (dependent,) = tasks.events(TaskAssigned)
        assert isinstance(dependent, TaskAssigned)
        assert dependent.task_id == first.tid("t3")
        assert [(i.task_id, i.output) for i in dependent.inputs] == [
            (first.tid("t1"), "one"),
            (first.tid("t2"), "two"),
        ]

        await publisher.publish([first.result("t3", "three")])
        await tasks.until(lambda records: len(records) >= 2)
        final = tasks.events(TaskAssigned)[1]
        assert isinstance(final, TaskAssigned)
        assert final.final
        assert final.task_id == first.tid("final")
        assert [i.output for i in final.inputs] == ["one", "two", "three"]

        await publisher.publish(
            [second.result("final", "second's answer"), first.result("final", "the answer")]
        )
        await outputs.until(lambda records: len(records) >= 1)

    (completed,) = outputs.events()
    assert isinstance(completed, GoalCompleted)
    assert completed.output == "the answer"
    assert (completed.totals.tasks, completed.totals.succeeded) == (4, 4)
    # The first plan's 120 tokens and its four results of 15: nothing of the second's.
    assert completed.totals.usage == TokenUsage(prompt_tokens=140, completion_tokens=40)
    # Every result was handled before the outcome was published: whatever the second plan
    # could have released would be on the task topics by now.
    assert await published(kafka, *task_topics) == 2
    assert await published(kafka, topics.outputs) == 1


async def test_a_goal_never_planned_fails_at_the_deadline_its_submission_started(
    kafka: KafkaSettings, publisher: Publisher
) -> None:
    goal_id = uuid.uuid4()
    submitted = GoalSubmitted.accepted(
        "Which broker suits us?", goal_id=goal_id, options=GoalOptions(deadline_s=2)
    )
    outputs = Reader(kafka, kafka.topics.outputs)
    async with outputs:
        await publisher.publish([submitted])
        await outputs.until(lambda records: len(records) >= 1, within_s=20)

    (failed,) = outputs.events()
    assert isinstance(failed, GoalFailed)
    assert (failed.goal_id, failed.kind) == (goal_id, "deadline")
    assert "still being planned" in failed.reason
    assert failed.occurred_at >= submitted.deadline_at()
