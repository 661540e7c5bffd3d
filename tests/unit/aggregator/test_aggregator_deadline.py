"""A goal's deadline runs from its submission: a goal still being planned fails at it too,
once, and what comes after changes nothing."""

from __future__ import annotations

from datetime import timedelta

from podium_aggregator.handler import handle, on_tick
from podium_aggregator.state import Limits, Outcome
from podium_common.events import GoalCompleted, GoalFailed, TaskAssigned, TaskError, derived_id
from tests.unit.aggregator.scenario import DEADLINE, NOW, T0, Goal, run


def test_a_goal_still_being_planned_fails_at_its_deadline_once() -> None:
    goal = Goal({"t1": []})
    state = goal.state()
    submitted = goal.submitted()
    assert run(state, [submitted]) == []
    assert state.deadline == T0 + timedelta(seconds=Limits().deadline_s) == DEADLINE
    assert on_tick(state, DEADLINE - timedelta(seconds=1)) == []

    (failed,) = on_tick(state, DEADLINE)

    assert isinstance(failed, GoalFailed)
    assert failed.kind == "deadline"
    assert (
        failed.reason
        == f"deadline {DEADLINE.isoformat()} passed while the goal was still being planned"
    )
    assert failed.event_id == derived_id("outcome", goal.goal_id, goal.run)
    assert failed.trace.traceparent.split("-")[1] == submitted.trace.traceparent.split("-")[1]
    assert (failed.totals.tasks, failed.totals.wall_ms) == (0, 600_000)
    assert state.outcome is Outcome.FAILED
    # A plan and results that come late, and the next ticks: nothing more.
    assert run(state, [goal.plan(), goal.result("t1"), goal.submitted()]) == []
    assert on_tick(state, DEADLINE + timedelta(seconds=1)) == []


def test_the_deadline_is_the_goals_own_or_the_limits_default() -> None:
    goal = Goal({"t1": []})

    own = goal.state()
    run(own, [goal.submitted(deadline_s=30)])
    default = goal.state()
    handle(default, goal.submitted(), NOW, Limits(deadline_s=45))

    assert own.deadline == T0 + timedelta(seconds=30)
    assert default.deadline == T0 + timedelta(seconds=45)


def test_a_plan_keeps_the_deadline_its_tasks_carry_in_either_order() -> None:
    goal = Goal({"t1": []})
    short = goal.submitted(deadline_s=5)
    for events in ([short, goal.plan()], [goal.plan(), short]):
        state = goal.state()
        run(state, events)
        assert state.deadline == DEADLINE
        assert on_tick(state, T0 + timedelta(seconds=5)) == []


def test_a_planned_goal_past_its_deadline_names_its_unfinished_tasks() -> None:
    goal = Goal({"t1": [], "t2": ["t1"]})
    state = goal.state()
    run(state, [goal.submitted(), goal.plan(), goal.result("t1")])

    (failed,) = on_tick(state, DEADLINE)

    assert isinstance(failed, GoalFailed)
    assert failed.reason == (
        f"deadline {DEADLINE.isoformat()} passed with tasks unfinished: {goal.tid('t2')}"
    )


def test_wall_time_runs_from_the_submission() -> None:
    goal = Goal({"t1": []})
    state = goal.state()
    plan = goal.plan().model_copy(update={"occurred_at": T0 + timedelta(seconds=20)})
    events = run(state, [plan, goal.result("t1"), goal.submitted(), goal.result("final")])

    assert isinstance(events[0], TaskAssigned)
    assert isinstance(events[-1], GoalCompleted)
    assert events[-1].totals.wall_ms == (NOW - T0).total_seconds() * 1000


def test_a_task_stopped_by_the_deadline_fails_the_goal_for_its_deadline() -> None:
    goal = Goal({"t1": []})
    stopped = goal.result("t1", ok=False).model_copy(
        update={"error": TaskError(kind="deadline", message="the deadline passed")}
    )
    early, late = goal.state(), goal.state()
    run(early, [goal.submitted(), goal.plan()])
    run(late, [goal.submitted(), goal.plan()])

    # Before the goal's own deadline (a task deadline of an older plan): retried as a failure.
    (retried,) = handle(early, stopped, DEADLINE - timedelta(seconds=1), Limits())
    (failed,) = handle(late, stopped, DEADLINE, Limits())

    assert isinstance(retried, TaskAssigned)
    assert retried.attempt == 2
    assert isinstance(failed, GoalFailed)
    assert failed.kind == "deadline"
    assert failed.reason == "task t1 stopped: deadline: the deadline passed"
