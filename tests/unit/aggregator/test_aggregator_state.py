"""When the goal table may forget a state: ended goals after their retention, results whose
goal never arrived after their time to live, open goals never (their deadline ends them)."""

from __future__ import annotations

from datetime import timedelta

from podium_aggregator.handler import on_tick
from podium_aggregator.state import LONG_AGO, GoalState, Limits
from podium_common.events import GoalCompleted
from tests.unit.aggregator.scenario import DEADLINE, NOW, Goal, run

RETENTION = timedelta(minutes=30)
TTL = timedelta(minutes=5)


def expires(state: GoalState) -> object:
    """As the table sees it: after a round trip through JSON."""
    return GoalState.model_validate_json(state.model_dump_json()).expires_at(RETENTION, TTL)


def test_an_ended_goal_expires_its_retention_after_it_ended() -> None:
    goal = Goal({"t1": []})
    completed = goal.state()
    events = run(completed, [goal.plan(), goal.result("t1"), goal.result("final")])
    assert isinstance(events[-1], GoalCompleted)
    timed_out = goal.state()
    run(timed_out, [goal.submitted()])
    on_tick(timed_out, DEADLINE + timedelta(seconds=3))

    assert completed.ended_at == NOW
    assert expires(completed) == NOW + RETENTION
    assert expires(timed_out) == DEADLINE + timedelta(seconds=3) + RETENTION


def test_results_without_their_goal_expire_their_time_to_live_after_first_seen() -> None:
    goal = Goal({"t1": []})
    state = goal.state()
    run(state, [goal.result("t1")])

    assert state.first_seen == NOW
    assert expires(state) == NOW + TTL


def test_an_open_goal_does_not_expire_submitted_or_planned() -> None:
    goal = Goal({"t1": [], "t2": ["t1"]})
    submitted, planned = goal.state(), goal.state()
    run(submitted, [goal.result("t1"), goal.submitted()])
    run(planned, [goal.plan()])

    assert expires(submitted) is None
    assert expires(planned) is None


def test_a_state_stored_without_its_times_counts_them_as_long_ago() -> None:
    goal = Goal({"t1": []})
    ended = goal.state()
    run(ended, [goal.plan(), goal.result("t1"), goal.result("final")])
    waiting = goal.state()
    run(waiting, [goal.result("t1")])
    for state in (ended, waiting):
        state.first_seen = state.ended_at = None

    assert expires(ended) == LONG_AGO + RETENTION
    assert expires(waiting) == LONG_AGO + TTL


def test_the_limits_give_an_hour_of_each_by_default() -> None:
    limits = Limits()
    assert (limits.retention, limits.unplanned_ttl) == (timedelta(hours=1), timedelta(hours=1))
    assert Limits(retention_s=90).retention == timedelta(seconds=90)
