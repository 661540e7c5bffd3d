"""Cancellation in the aggregator: the run fails with kind `cancelled`, nothing more is
released, late results and a late plan change nothing, and an ended run stays as it ended."""

from __future__ import annotations

from podium_aggregator.handler import on_tick
from podium_aggregator.state import Outcome
from podium_common.events import (
    GoalCancelled,
    GoalCompleted,
    GoalFailed,
    TaskAssigned,
    Trace,
    derived_id,
)
from podium_common.topics import TaskType
from tests.unit.aggregator.scenario import DEADLINE, T0, Goal, run

DIAMOND = {"t1": [], "t2": [], "t3": ["t1", "t2"]}


def diamond() -> Goal:
    return Goal(DIAMOND, types={"t3": TaskType.SPECIALIST})


def cancel(goal: Goal, reason: str = "") -> GoalCancelled:
    return GoalCancelled(
        event_id=derived_id("cancel", goal.goal_id, goal.run),
        goal_id=goal.goal_id,
        run=goal.run,
        occurred_at=T0,
        trace=Trace.new(),
        requested_by="ops",
        reason=reason,
    )


def test_a_cancelled_goal_fails_once_and_releases_nothing_more() -> None:
    goal = diamond()
    state = goal.state()
    run(state, [goal.plan(), goal.result("t1")])

    (failed,) = run(state, [cancel(goal, "not needed any more")])

    assert isinstance(failed, GoalFailed)
    assert failed.kind == "cancelled"
    assert failed.reason == "cancelled by ops: not needed any more"
    assert failed.event_id == derived_id("outcome", goal.goal_id, goal.run)
    assert failed.totals.usage.total == 150 + 15
    assert state.outcome is Outcome.FAILED
    # t2 would release t3, and t3 the final synthesis: nothing follows a cancellation.
    late = [goal.result("t2"), goal.result("t3"), goal.result("final"), cancel(goal)]
    assert run(state, late) == []
    assert on_tick(state, DEADLINE) == []


def test_a_cancellation_before_the_plan_ends_the_goal_and_the_plan_changes_nothing() -> None:
    goal = diamond()
    state = goal.state()

    (failed,) = run(state, [goal.result("t1"), cancel(goal)])

    assert isinstance(failed, GoalFailed)
    assert (failed.kind, failed.reason) == ("cancelled", "cancelled by ops")
    assert failed.totals.tasks == 0
    assert run(state, [goal.plan(), goal.result("t2")]) == []
    assert state.plan is None


def test_a_completed_goal_is_not_cancelled_afterwards() -> None:
    goal = Goal({"t1": []})
    state = goal.state()
    events = run(state, [goal.plan(), goal.result("t1"), goal.result("final")])
    assert isinstance(events[-1], GoalCompleted)

    assert run(state, [cancel(goal)]) == []
    assert state.outcome is Outcome.COMPLETED


def test_a_cancellation_survives_storage() -> None:
    goal = diamond()
    state = goal.state()
    outputs = run(
        state, [goal.plan(), cancel(goal), goal.result("t1"), goal.result("t2")], round_trip=True
    )

    assert [type(event) for event in outputs] == [GoalFailed]
    assert not any(isinstance(event, TaskAssigned) for event in outputs)
