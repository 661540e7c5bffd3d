"""The aggregator's rules: releasing tasks, the final synthesis, retries, validation rounds,
deadlines, rejected plans, dedupe and independence from arrival order."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import pytest

from podium_aggregator.handler import on_result, on_tick
from podium_aggregator.state import FINAL_DESCRIPTION, GoalState, Limits, Outcome
from podium_common.events import (
    Event,
    GoalCompleted,
    GoalFailed,
    PlanRejected,
    TaskAssigned,
    TaskResult,
    TokenUsage,
    Trace,
    Verdict,
    derived_id,
)
from podium_common.topics import TaskType
from tests.unit.aggregator.scenario import DEADLINE, NOW, T0, Goal, comparable, run

DIAMOND = {"t1": [], "t2": [], "t3": ["t1", "t2"]}


def diamond() -> Goal:
    return Goal(DIAMOND, types={"t3": TaskType.SPECIALIST}, models={"specialist": "big-model"})


def test_a_task_is_released_with_its_dependencies_outputs() -> None:
    goal = diamond()
    state = goal.state()
    assert run(state, [goal.plan(), goal.result("t1")]) == []

    (released,) = run(state, [goal.result("t2")])

    assert isinstance(released, TaskAssigned)
    assert released.event_id == derived_id("task", goal.tid("t3"), 1)
    assert (released.task_id, released.attempt, released.type) == (goal.tid("t3"), 1, "specialist")
    assert [(i.task_id, i.output) for i in released.inputs] == [
        (goal.tid("t1"), "output of t1#1"),
        (goal.tid("t2"), "output of t2#1"),
    ]
    assert released.goal == goal.text
    assert released.deadline == DEADLINE
    assert released.model == "big-model"
    assert released.requirements == ["req t3"]
    assert not released.final


def test_every_task_done_asks_for_the_final_synthesis_then_completes() -> None:
    goal = diamond()
    state = goal.state()
    run(state, [goal.plan(), goal.result("t1"), goal.result("t2")])

    (final,) = run(state, [goal.result("t3")])

    assert isinstance(final, TaskAssigned)
    assert final.task_id == goal.tid("final")
    assert final.final
    assert final.type is TaskType.SYNTHESIZER
    assert final.description == FINAL_DESCRIPTION
    assert [i.task_id for i in final.inputs] == [goal.tid(t) for t in ("t1", "t2", "t3")]

    (done,) = run(state, [goal.result("final", output="the answer")])

    assert isinstance(done, GoalCompleted)
    assert done.event_id == derived_id("outcome", goal.goal_id, goal.run)
    assert done.output == "the answer"
    totals = done.totals
    assert (totals.tasks, totals.succeeded, totals.failed) == (4, 4, 0)
    # The plan's 150 tokens and 4 results of 15 each.
    assert totals.usage == TokenUsage(prompt_tokens=140, completion_tokens=70)
    assert totals.wall_ms == (NOW - T0).total_seconds() * 1000
    assert state.outcome is Outcome.COMPLETED


def full_run(goal: Goal) -> list[Event]:
    return [goal.plan(), *(goal.result(t) for t in ("t1", "t2", "t3", "final"))]


def test_outputs_do_not_depend_on_the_arrival_order() -> None:
    goal = diamond()
    expected = comparable(run(goal.state(), full_run(goal)))
    # t3, the final synthesis, and the outcome.
    assert len(expected) == 3
    assert str(derived_id("outcome", goal.goal_id, goal.run)) in {e["event_id"] for e in expected}

    for order in itertools.permutations(full_run(goal)):
        assert comparable(run(goal.state(), order, round_trip=True)) == expected


def test_a_result_before_its_plan_waits_for_it() -> None:
    goal = diamond()
    state = goal.state()
    assert run(state, [goal.result("t2"), goal.result("t1")]) == []
    assert len(state.buffered) == 2

    (released,) = run(state, [goal.plan()])

    assert isinstance(released, TaskAssigned)
    assert released.task_id == goal.tid("t3")
    assert state.buffered == []


def test_redelivered_events_count_once() -> None:
    goal = diamond()
    events = full_run(goal)
    once = comparable(run(goal.state(), events))

    state = goal.state()
    twice = run(state, [event for event in events for _ in range(2)])

    assert comparable(twice) == once
    (done,) = [event for event in twice if isinstance(event, GoalCompleted)]
    assert done.totals.usage.total == 150 + 4 * 15


def test_an_ended_goal_ignores_further_events() -> None:
    goal = diamond()
    state = goal.state()
    run(state, full_run(goal))
    late = goal.result("t1", attempt=2)

    assert run(state, [late, goal.plan()]) == []
    assert on_tick(state, DEADLINE + timedelta(hours=1)) == []
    # What an ended goal keeps in the table: only that it ended.
    assert (state.plan, state.tasks, state.seen, state.buffered) == (None, {}, set(), [])


def test_a_failed_task_is_retried_then_fails_the_goal() -> None:
    goal = diamond()
    state = goal.state()
    run(state, [goal.plan()])

    (retry,) = run(state, [goal.result("t1", ok=False)])
    assert isinstance(retry, TaskAssigned)
    assert (retry.task_id, retry.attempt) == (goal.tid("t1"), 2)
    assert retry.event_id == derived_id("task", goal.tid("t1"), 2)

    (failed,) = run(state, [goal.result("t1", attempt=2, ok=False)])
    assert isinstance(failed, GoalFailed)
    assert failed.kind == "task_failed"
    assert goal.tid("t1") in failed.reason
    assert "t1 refused" in failed.reason
    assert failed.totals.failed == 2
    assert run(state, [goal.result("t2"), goal.result("t1", attempt=3)]) == []


def test_the_number_of_attempts_is_a_setting() -> None:
    goal = diamond()
    state = goal.state()
    limits = Limits(max_task_attempts=3)
    outputs = run(state, [goal.plan(), *(goal.result("t2", a, ok=False) for a in (1, 2))], limits)
    assert [(e.task_id, e.attempt) for e in outputs if isinstance(e, TaskAssigned)] == [
        (goal.tid("t2"), 2),
        (goal.tid("t2"), 3),
    ]
    assert not state.ended


def test_a_retried_task_succeeding_lets_the_goal_go_on() -> None:
    goal = diamond()
    state = goal.state()
    (retry,) = run(state, [goal.plan(), goal.result("t1", ok=False), goal.result("t1", 2)])
    (released,) = run(state, [goal.result("t2")])

    assert isinstance(retry, TaskAssigned)
    assert isinstance(released, TaskAssigned)
    assert released.task_id == goal.tid("t3")
    assert released.inputs[0].output == "output of t1#2"


def test_the_final_synthesis_failing_for_good_fails_the_goal() -> None:
    goal = diamond()
    state = goal.state()
    run(state, [goal.plan(), *(goal.result(t) for t in ("t1", "t2", "t3"))])

    outputs = run(state, [goal.result("final", ok=False), goal.result("final", 2, ok=False)])

    assert isinstance(outputs[0], TaskAssigned)
    assert outputs[0].final
    assert outputs[0].attempt == 2
    assert isinstance(outputs[1], GoalFailed)
    assert outputs[1].kind == "task_failed"
    assert goal.tid("final") in outputs[1].reason


def validated() -> Goal:
    return Goal({"t1": [], "v": ["t1"]}, types={"v": TaskType.VALIDATOR})


def rejects(goal: Goal, attempt: int) -> TaskResult:
    return goal.result("v", attempt, verdict=Verdict(passed=False, feedback=f"fix #{attempt}"))


def test_a_failed_validation_sends_the_work_back_with_feedback() -> None:
    goal = validated()
    state = goal.state()
    (check,) = run(state, [goal.plan(), goal.result("t1")])
    assert isinstance(check, TaskAssigned)
    assert check.task_id == goal.tid("v")

    (redo,) = run(state, [rejects(goal, 1)])
    assert isinstance(redo, TaskAssigned)
    assert (redo.task_id, redo.attempt, redo.feedback) == (goal.tid("t1"), 2, "fix #1")

    (recheck,) = run(state, [goal.result("t1", 2)])
    assert isinstance(recheck, TaskAssigned)
    assert (recheck.task_id, recheck.attempt) == (goal.tid("v"), 2)
    assert recheck.inputs[0].output == "output of t1#2"

    passed = goal.result("v", 2, verdict=Verdict(passed=True))
    (final,) = run(state, [passed])
    assert isinstance(final, TaskAssigned)
    assert final.final
    assert state.accepted_failed_validations == []


def test_validation_rounds_are_bounded_then_the_verdict_is_accepted() -> None:
    goal = validated()
    state = goal.state()
    limits = Limits(max_validation_rounds=1)
    events = [goal.plan(), goal.result("t1"), rejects(goal, 1), goal.result("t1", 2)]
    run(state, events, limits)

    (final,) = run(state, [rejects(goal, 2)], limits)

    assert isinstance(final, TaskAssigned)
    assert final.final
    assert state.accepted_failed_validations == [goal.tid("v")]


def test_a_task_failing_after_a_validation_gets_its_own_retries() -> None:
    goal = validated()
    state = goal.state()
    events = [goal.plan(), goal.result("t1"), rejects(goal, 1), goal.result("t1", 2, ok=False)]
    (*_, retry) = run(state, events)
    assert isinstance(retry, TaskAssigned)
    assert (retry.task_id, retry.attempt, retry.feedback) == (goal.tid("t1"), 3, "fix #1")


def with_retries_and_validation() -> tuple[Goal, list[Event]]:
    goal = Goal(
        {"t1": [], "t2": [], "t3": ["t1", "t2"], "v": ["t3"]},
        types={"t3": TaskType.SPECIALIST, "v": TaskType.VALIDATOR},
    )
    events = [
        goal.plan(),
        goal.result("t1", ok=False),
        goal.result("t1", 2),
        goal.result("t2"),
        goal.result("t3"),
        rejects(goal, 1),
        goal.result("t3", 2),
        goal.result("v", 2, verdict=Verdict(passed=True)),
        goal.result("final"),
    ]
    return goal, events


def test_retries_and_validation_do_not_depend_on_the_arrival_order() -> None:
    goal, events = with_retries_and_validation()
    state = goal.state()
    expected = run(state, events)
    assert isinstance(expected[-1], GoalCompleted)
    assert expected[-1].totals.failed == 1

    shuffle = random.Random(7).shuffle
    for _ in range(200):
        order = list(events)
        shuffle(order)
        assert comparable(run(goal.state(), order, round_trip=True)) == comparable(expected)


def test_a_passed_deadline_fails_the_goal_once() -> None:
    goal = diamond()
    state = goal.state()
    run(state, [goal.plan(), goal.result("t1")])
    assert on_tick(state, DEADLINE - timedelta(seconds=1)) == []

    (failed,) = on_tick(state, DEADLINE)

    assert isinstance(failed, GoalFailed)
    assert failed.kind == "deadline"
    assert goal.tid("t2") in failed.reason
    assert goal.tid("t1") not in failed.reason
    assert failed.event_id == derived_id("outcome", goal.goal_id, goal.run)
    assert on_tick(state, DEADLINE + timedelta(seconds=5)) == []
    assert run(state, [goal.result("t2"), goal.result("t3")]) == []


def test_no_deadline_is_known_before_the_plan() -> None:
    goal = diamond()
    state = goal.state()
    run(state, [goal.result("t1")])
    assert on_tick(state, DEADLINE + timedelta(days=1)) == []


def test_a_rejected_plan_fails_the_goal() -> None:
    goal = diamond()
    state = goal.state()
    rejected = PlanRejected(
        event_id=derived_id("plan", goal.goal_id, goal.run),
        goal_id=goal.goal_id,
        run=goal.run,
        occurred_at=T0,
        trace=Trace.new(),
        reason="no valid plan after 3 asks",
        errors=["dependency cycle: t1 → t2 → t1"],
        model="planner-model",
        usage=TokenUsage(prompt_tokens=300),
        attempts=3,
    )

    (failed,) = run(state, [goal.result("t1"), rejected, goal.plan()])

    assert isinstance(failed, GoalFailed)
    assert failed.kind == "plan_rejected"
    assert "no valid plan after 3 asks" in failed.reason
    assert "dependency cycle" in failed.reason
    # The planning's tokens; a result binds to no plan here, so it counts nothing.
    assert failed.totals.usage.prompt_tokens == 300
    assert state.outcome is Outcome.FAILED


def test_a_result_for_a_task_the_plan_does_not_have_is_ignored() -> None:
    goal = diamond()
    state = goal.state()
    run(state, [goal.plan()])
    stranger = Goal({"x": []}, goal_id=goal.goal_id).result("x")

    assert on_result(state, stranger, NOW, Limits()) == []
    assert state.buffered == []
    assert state.usage.total == 150


@pytest.mark.parametrize("cut", range(1, 6))
def test_the_state_survives_storage_at_any_point(cut: int) -> None:
    goal = diamond()
    events = full_run(goal)
    first = goal.state()
    before = run(first, events[:cut])
    stored = GoalState.model_validate_json(first.model_dump_json())

    after = run(stored, events[cut:])

    assert comparable(before + after) == comparable(run(goal.state(), events))
