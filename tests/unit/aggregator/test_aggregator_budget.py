"""A goal whose token budget is spent fails with reason `budget`: from a worker's result
that says so (no retry would fit either), or from the planner's rejection."""

from __future__ import annotations

from podium_common.errors import BUDGET_SPENT
from podium_common.events import GoalFailed, PlanRejected, TaskError, TokenUsage, Trace, derived_id
from tests.unit.aggregator.scenario import T0, Goal, run


def test_a_task_refused_by_the_budget_fails_the_goal_at_once() -> None:
    goal = Goal({"t1": [], "t2": [], "t3": ["t1", "t2"]})
    state = goal.state()
    run(state, [goal.plan(), goal.result("t1")])
    refused = goal.result("t2", ok=False).model_copy(
        update={
            "error": TaskError(
                kind="budget",
                message="the token budget of 900 has no room for a call of up to 400 tokens: "
                "700 tokens spent by 5 calls, 0 reserved by calls in flight",
            )
        }
    )

    (failed,) = run(state, [refused])

    assert isinstance(failed, GoalFailed)
    assert failed.kind == "budget"
    assert "task t2 could not run" in failed.reason
    assert "700 tokens spent by 5 calls" in failed.reason
    # The plan's tokens and the two results', each counted once.
    assert failed.totals.usage.total == goal.plan().usage.total + 30
    assert run(state, [goal.result("t2", attempt=2)]) == []


def test_a_plan_refused_by_the_budget_fails_the_goal_with_reason_budget() -> None:
    goal = Goal({"t1": []})
    rejected = PlanRejected(
        event_id=derived_id("plan", goal.goal_id, goal.run),
        goal_id=goal.goal_id,
        run=goal.run,
        occurred_at=T0,
        trace=Trace.new(),
        reason=BUDGET_SPENT,
        errors=["the token budget of 10 has no room for a call of up to 500 tokens"],
        model="planner-model",
        usage=TokenUsage(),
        attempts=1,
    )

    (failed,) = run(goal.state(), [rejected])

    assert isinstance(failed, GoalFailed)
    assert failed.kind == "budget"
    assert "budget of 10" in failed.reason
