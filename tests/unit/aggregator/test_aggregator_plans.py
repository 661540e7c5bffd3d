"""A goal planned twice: the results bind to the first plan the aggregator adopts, and the
second plan's results change nothing, in whatever order they arrive."""

from __future__ import annotations

import random

from podium_aggregator.state import GoalState
from podium_common.events import Event, GoalCompleted, TaskAssigned, TokenUsage
from podium_common.topics import TaskType
from tests.unit.aggregator.scenario import Goal, comparable, run


def two_plans() -> tuple[Goal, Goal]:
    """Two different plans of one run, as a planner that crashed before its commit makes."""
    first = Goal({"t1": [], "t2": ["t1"]}, digest="a1a1a1a1")
    second = Goal(
        {"t1": [], "t3": []},
        types={"t3": TaskType.SPECIALIST},
        goal_id=first.goal_id,
        digest="b2b2b2b2",
        usage=TokenUsage(prompt_tokens=999, completion_tokens=999),
    )
    return first, second


def test_the_second_plan_and_its_results_change_nothing() -> None:
    first, second = two_plans()
    state = first.state()
    # One of the second plan's results even arrives before either plan.
    assert run(state, [second.result("t1", output="second's t1")]) == []
    assert run(state, [first.plan(), second.plan(), second.result("t3")]) == []

    (released,) = run(state, [first.result("t1", output="first's t1")])

    assert isinstance(released, TaskAssigned)
    assert released.task_id == first.tid("t2")
    assert [(i.task_id, i.output) for i in released.inputs] == [(first.tid("t1"), "first's t1")]

    (final,) = run(state, [second.result("final"), first.result("t2")])

    assert isinstance(final, TaskAssigned)
    assert final.final
    assert final.task_id == first.tid("final") != second.tid("final")
    assert [i.task_id for i in final.inputs] == [first.tid("t1"), first.tid("t2")]

    (done,) = run(state, [second.result("final", 2), first.result("final", output="answer")])

    assert isinstance(done, GoalCompleted)
    assert done.output == "answer"
    # The first plan's 150 tokens and its three results of 15: nothing of the second's.
    assert done.totals.usage == TokenUsage(prompt_tokens=130, completion_tokens=65)
    assert (done.totals.tasks, done.totals.succeeded, done.totals.failed) == (3, 3, 0)


def test_the_outcome_is_the_first_plans_in_any_order_of_arrival() -> None:
    first, second = two_plans()
    results: list[Event] = [
        *(first.result(local) for local in ("t1", "t2", "final")),
        *(second.result(local) for local in ("t1", "t3", "final")),
    ]
    expected = run(first.state(), [first.plan(), second.plan(), *results])
    assert isinstance(expected[-1], GoalCompleted)

    rng = random.Random(11)
    for _ in range(200):
        order = list(results)
        rng.shuffle(order)
        # The first plan is first on `plans`; results come before, between and after.
        plans_at = sorted(rng.sample(range(len(order) + 1), 2))
        order.insert(plans_at[1], second.plan())
        order.insert(plans_at[0], first.plan())
        state: GoalState = first.state()
        assert comparable(run(state, order, round_trip=True)) == comparable(expected)
