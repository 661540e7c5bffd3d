"""What each event says about its goal, tasks and attempts: the recorder's projection rules."""

from __future__ import annotations

import json
import uuid

import pytest

from podium_common.events import (
    Event,
    GoalCancelled,
    GoalFailed,
    GoalTotals,
    PlanCreated,
    PlannedTask,
    PlanRejected,
    TaskResult,
    TokenUsage,
    Trace,
    derived_id,
    utcnow,
)
from podium_common.topics import TaskType
from podium_recorder import migrations
from podium_recorder.handler import goal_change, handle, project
from podium_recorder.rows import GoalStatus, Projection, Rank
from tests.unit.recorder.story import GOAL_TEXT, PLANNING, story


def by_type(events: list[Event], name: str) -> list[Event]:
    return [event for event in events if type(event).__name__ == name]


def test_ranks_only_grow_along_a_goals_life() -> None:
    told = story()
    ranks = [goal_change(event).status_rank for event in told.events]
    # The story is in emission order: a goal never ranks lower than an earlier event.
    assert ranks == sorted(ranks)
    assert Rank.QUEUED < Rank.PLANNING < Rank.RUNNING < Rank.PLAN_REJECTED < Rank.OUTCOME


@pytest.mark.parametrize(
    ("name", "status", "rank"),
    [
        ("GoalSubmitted", GoalStatus.QUEUED, Rank.QUEUED),
        ("PlanningStarted", GoalStatus.PLANNING, Rank.PLANNING),
        ("PlanCreated", GoalStatus.RUNNING, Rank.RUNNING),
        ("TaskAssigned", GoalStatus.RUNNING, Rank.RUNNING),
        ("TaskResult", GoalStatus.RUNNING, Rank.RUNNING),
        ("GoalCompleted", GoalStatus.COMPLETED, Rank.OUTCOME),
    ],
)
def test_each_event_moves_the_goal_to_its_status(name: str, status: GoalStatus, rank: Rank) -> None:
    change = goal_change(by_type(story().events, name)[0])
    assert (change.status, change.status_rank) == (status, rank)


def test_a_rejected_plan_fails_the_goal_below_its_outcome() -> None:
    goal_id = uuid.uuid4()
    rejected = PlanRejected(
        event_id=derived_id("plan", goal_id, 1),
        goal_id=goal_id,
        occurred_at=utcnow(),
        trace=Trace.new(),
        reason="no valid plan after 3 attempts",
        errors=["cycle: t1 → t2 → t1"],
        model="m",
        usage=TokenUsage(prompt_tokens=7, completion_tokens=3),
        attempts=3,
    )
    failed = GoalFailed(
        event_id=derived_id("outcome", goal_id, 1),
        goal_id=goal_id,
        occurred_at=utcnow(),
        trace=Trace.new(),
        kind="plan_rejected",
        reason="the plan was rejected",
        totals=GoalTotals(tasks=0, succeeded=0, failed=0, usage=TokenUsage(), wall_ms=5),
    )
    change = goal_change(rejected)
    assert change.status == GoalStatus.FAILED
    assert change.status_rank == Rank.PLAN_REJECTED < goal_change(failed).status_rank
    assert change.reason_kind == "plan_rejected"
    assert change.reason_message == "no valid plan after 3 attempts; cycle: t1 → t2 → t1"
    assert (change.planning_prompt_tokens, change.planning_completion_tokens) == (7, 3)
    outcome = goal_change(failed)
    assert (outcome.reason_kind, outcome.reason_message) == ("plan_rejected", failed.reason)
    assert outcome.completed_at == failed.occurred_at
    assert outcome.outcome_totals is not None
    assert outcome.outcome_totals["wall_ms"] == 5


def test_a_plan_lists_its_tasks_in_order_as_pending_rows() -> None:
    told = story()
    plan = by_type(told.events, "PlanCreated")[0]
    assert isinstance(plan, PlanCreated)
    projection = project(plan)
    assert [task.task_id for task in projection.tasks] == [
        told.task_id("t1"),
        told.task_id("t2"),
        told.task_id("t3"),
    ]
    assert [task.position for task in projection.tasks] == [0, 1, 2]
    assert projection.tasks[2].depends_on == [told.task_id("t1"), told.task_id("t2")]
    assert projection.goal.goal == GOAL_TEXT
    assert projection.goal.plan is not None
    assert projection.goal.plan["model"] == "planner-m"
    assert projection.goal.planning_prompt_tokens == PLANNING.prompt_tokens
    assert projection.assignment is None
    assert projection.result is None


def test_a_result_knows_its_task_but_not_its_description() -> None:
    told = story()
    final = [e for e in by_type(told.events, "TaskResult") if isinstance(e, TaskResult) and e.final]
    projection = project(final[0])
    (task,) = projection.tasks
    # None keeps whatever the plan or the assignment recorded, in whichever order they come.
    assert (task.final, task.description, task.depends_on, task.position) == (
        True,
        None,
        None,
        None,
    )
    assert projection.result is not None
    assert projection.result.status == "succeeded"
    assert projection.result.prompt_tokens == 23
    assert projection.assignment is None


def test_a_delegating_result_lists_its_sub_plan_under_it_one_deeper() -> None:
    told = story()
    result = next(e for e in by_type(told.events, "TaskResult") if isinstance(e, TaskResult))
    first, second = f"{result.task_id}.s1", f"{result.task_id}.s2"
    sub_plan = [
        PlannedTask(task_id=first, type=TaskType.RESEARCHER, description="one part"),
        PlannedTask(
            task_id=second, type=TaskType.SPECIALIST, description="the other", depends_on=[first]
        ),
    ]
    projection = project(result.model_copy(update={"subtasks": sub_plan, "depth": 1}))
    own, *rows = projection.tasks
    assert (own.task_id, own.depth, own.parent_id) == (result.task_id, 1, None)
    assert [(row.task_id, row.position, row.parent_id, row.depth) for row in rows] == [
        (first, 0, result.task_id, 2),
        (second, 1, result.task_id, 2),
    ]
    assert [(row.type, row.description, row.depends_on) for row in rows] == [
        ("researcher", "one part", []),
        ("specialist", "the other", [first]),
    ]
    assert projection.result is not None
    assert projection.result.subtasks == [first, second]


def test_an_assignment_opens_an_attempt() -> None:
    assigned = by_type(story().events, "TaskAssigned")[2]  # t2's second attempt
    projection = project(assigned)
    assert projection.assignment is not None
    assert projection.assignment.attempt == 2
    assert projection.assignment.model == "model-a"
    assert projection.result is None
    assert projection.event.topic == "tasks.researcher"


def test_events_are_recorded_under_their_contract_topics() -> None:
    topics = {type(e).__name__: project(e).event.topic for e in story().events}
    assert topics == {
        "GoalSubmitted": "goals",
        "PlanningStarted": "plans",
        "PlanCreated": "plans",
        "TaskAssigned": "tasks.synthesizer",  # the last one assigned: the final synthesis
        "TaskResult": "results",
        "GoalCompleted": "outputs",
    }


class FakeStore:
    def __init__(self) -> None:
        self.recorded: list[Projection] = []

    async def record(self, projection: Projection) -> None:
        self.recorded.append(projection)


async def test_handle_records_the_projection_and_publishes_nothing() -> None:
    store = FakeStore()
    event = story().events[0]
    assert await handle(event, store) == ()
    assert [p.event.event_id for p in store.recorded] == [event.event_id]
    assert json.loads(store.recorded[0].event.payload)["goal"] == GOAL_TEXT


def test_migrations_are_numbered_in_order() -> None:
    # Numbers are handed out ahead of the work, so one may be missing for a while; each is
    # applied once whatever the gaps (applied versions are a set).
    found = migrations.migrations()
    assert found, "no migration shipped"
    versions = [m.version for m in found]
    assert versions == sorted(set(versions))
    assert versions[0] == 1
    assert all("CREATE" in m.sql for m in found[:1])


def test_a_cancellation_fails_the_goal_below_its_outcome() -> None:
    goal_id = uuid.uuid4()
    cancelled = GoalCancelled(
        event_id=derived_id("cancel", goal_id, 1),
        goal_id=goal_id,
        occurred_at=utcnow(),
        trace=Trace.new(),
        requested_by="ops",
        reason="wrong goal",
    )

    change = goal_change(cancelled)

    assert (change.status, change.status_rank) == (GoalStatus.FAILED, Rank.CANCEL_REQUESTED)
    assert (change.reason_kind, change.reason_message) == (
        "cancelled",
        "cancelled by ops: wrong goal",
    )
    assert Rank.RUNNING < change.status_rank < Rank.OUTCOME
    assert project(cancelled).event.topic == "plans"
