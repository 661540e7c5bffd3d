"""Delegation in the aggregator: a task answered with a sub-plan is expanded under it, the
sub-plan's synthesis becomes its output, and the goal's limits bound the tree."""

from __future__ import annotations

from podium_aggregator.state import GoalState, Limits, Phase
from podium_common.events import (
    ApprovalRequested,
    Event,
    GoalCompleted,
    GoalFailed,
    PlannedTask,
    TaskAssigned,
    TaskResult,
    Verdict,
    derived_id,
    local_task_id,
    subplan_prefix,
)
from podium_common.topics import TaskType
from tests.unit.aggregator.scenario import Goal, run

DIGEST = "0123abcd"


def delegating(
    goal: Goal, local: str, subplan: dict[str, list[str]], attempt: int = 1
) -> TaskResult:
    """`local`'s answer: a sub-plan, e.g. `{"s1": [], "s2": ["s1"]}`."""
    prefix = subplan_prefix(goal.tid(local), attempt) + DIGEST + "."
    tasks = [
        PlannedTask(
            task_id=prefix + sub,
            type=TaskType.RESEARCHER,
            description=f"do {sub}",
            depends_on=[prefix + dep for dep in deps],
        )
        for sub, deps in subplan.items()
    ]
    result = goal.result(local, attempt, output="delegated")
    return result.model_copy(update={"subtasks": tasks})


def answer(assigned: Event, output: str) -> TaskResult:
    assert isinstance(assigned, TaskAssigned)
    return TaskResult(
        event_id=derived_id("result", assigned.task_id, assigned.attempt),
        goal_id=assigned.goal_id,
        run=assigned.run,
        occurred_at=assigned.occurred_at,
        trace=assigned.trace,
        task_id=assigned.task_id,
        type=assigned.type,
        status="succeeded",
        output=output,
        model="m",
        usage={"prompt_tokens": 1, "completion_tokens": 1},
        latency_ms=1,
        worker_id="w",
        attempt=assigned.attempt,
        depth=assigned.depth,
    )


def test_a_sub_plan_runs_in_its_parents_place_and_its_synthesis_is_the_parents_output() -> None:
    goal = Goal({"t1": [], "t2": ["t1"]})
    state = goal.state()
    (s1,) = run(state, [goal.plan(), delegating(goal, "t1", {"s1": [], "s2": ["s1"]})])

    assert isinstance(s1, TaskAssigned)
    assert local_task_id(s1.task_id) == "t1/s1"
    assert (s1.parent_id, s1.depth) == (goal.tid("t1"), 1)
    assert state.tasks[goal.tid("t1")].phase is Phase.DELEGATED

    (s2,) = run(state, [answer(s1, "part one")])
    assert isinstance(s2, TaskAssigned)
    assert [i.output for i in s2.inputs] == ["part one"]
    (synthesis,) = run(state, [answer(s2, "part two")])
    assert isinstance(synthesis, TaskAssigned)
    assert local_task_id(synthesis.task_id) == "t1/final"
    assert synthesis.type is TaskType.SYNTHESIZER
    assert (synthesis.parent_id, synthesis.max_subtasks) == (goal.tid("t1"), 0)
    assert [i.output for i in synthesis.inputs] == ["part one", "part two"]

    (t2,) = run(state, [answer(synthesis, "t1, synthesized")])
    assert isinstance(t2, TaskAssigned)
    assert t2.task_id == goal.tid("t2")
    assert [i.output for i in t2.inputs] == ["t1, synthesized"]
    (final,) = run(state, [goal.result("t2")])
    assert isinstance(final, TaskAssigned)
    assert final.depends_on == [goal.tid("t1"), goal.tid("t2")]  # the plan's own tasks
    (done,) = run(state, [goal.result("final")])
    assert isinstance(done, GoalCompleted)
    assert done.totals.tasks == 2 + 1 + 3  # the plan, the final, the sub-plan and its synthesis


def test_offers_to_delegate_follow_the_depth_and_the_tasks_left() -> None:
    goal = Goal({"t1": [], "t2": [], "t3": []})
    state = goal.state()
    run(state, [goal.plan()], Limits(max_tasks=6, max_depth=1))
    limits = Limits(max_tasks=6, max_depth=1)
    (s1, s2) = run(state, [delegating(goal, "t1", {"s1": [], "s2": []})], limits)
    assert isinstance(s1, TaskAssigned)
    assert isinstance(s2, TaskAssigned)
    assert s1.max_subtasks == 0  # depth 1 is the deepest
    left = state.room_for_subtasks(state.tasks[goal.tid("t2")], limits)
    assert left == 0  # 5 tasks of 6: one more is no sub-plan


def test_a_sub_plan_beyond_the_limits_is_a_failed_attempt_of_its_parent() -> None:
    goal = Goal({"t1": []})
    state = goal.state()
    limits = Limits(max_tasks=3)
    (retry,) = run(
        state, [goal.plan(), delegating(goal, "t1", {"a": [], "b": [], "c": []})], limits
    )
    assert isinstance(retry, TaskAssigned)
    assert (retry.task_id, retry.attempt, retry.max_subtasks) == (goal.tid("t1"), 2, 2)
    assert state.failed_attempts == 1
    (failed,) = run(state, [delegating(goal, "t1", {"a": [], "b": [], "c": []}, attempt=2)], limits)
    assert isinstance(failed, GoalFailed)
    assert "subplan_rejected: the sub-plan has 3 tasks; at most 2 are allowed" in failed.reason


def test_a_delegated_task_sent_back_by_its_validator_drops_its_subtree() -> None:
    goal = Goal({"t1": [], "v": ["t1"]}, types={"v": TaskType.VALIDATOR})
    state = goal.state()
    (s1,) = run(state, [goal.plan(), delegating(goal, "t1", {"s1": []})])
    (synthesis,) = run(state, [answer(s1, "one")])
    (validator,) = run(state, [answer(synthesis, "whole")])
    assert isinstance(validator, TaskAssigned)
    assert validator.inputs[0].output == "whole"
    rejected = answer(validator, "no").model_copy(
        update={"verdict": Verdict(passed=False, feedback="redo")}
    )
    (redo,) = run(state, [rejected])
    assert isinstance(redo, TaskAssigned)
    assert (redo.task_id, redo.attempt, redo.feedback) == (goal.tid("t1"), 2, "redo")
    assert set(state.tasks) == {goal.tid("t1"), goal.tid("v")}
    assert run(state, [answer(s1, "late copy")]) == []  # of the dropped subtree: ignored


def test_the_tree_survives_the_table_round_trip() -> None:
    goal = Goal({"t1": []})
    state = goal.state()
    (s1,) = run(state, [goal.plan(), delegating(goal, "t1", {"s1": []})])
    state = GoalState.model_validate_json(state.model_dump_json())
    (synthesis,) = run(state, [answer(s1, "one")])
    assert isinstance(synthesis, TaskAssigned)
    assert isinstance(s1, TaskAssigned)
    assert synthesis.depends_on == [s1.task_id]


def test_a_sub_plans_own_approval_marks_are_followed_unless_switched_off() -> None:
    for limits, first in (
        (Limits(), ApprovalRequested),
        (Limits(plan_approvals=False), TaskAssigned),
    ):
        goal = Goal({"t1": []})
        state = goal.state()
        result = delegating(goal, "t1", {"s1": []})
        marked = [task.model_copy(update={"approval": "before"}) for task in result.subtasks]
        (out,) = run(state, [goal.plan(), result.model_copy(update={"subtasks": marked})], limits)
        assert isinstance(out, first), out
        assert local_task_id(out.task_id) == "t1/s1"


def test_a_plans_resolved_say_on_marks_wins_over_the_aggregators_setting() -> None:
    for limits, carried, first in (
        (Limits(plan_approvals=False), True, ApprovalRequested),
        (Limits(), False, TaskAssigned),
    ):
        goal = Goal({"t1": []})
        state = goal.state()
        plan = goal.plan()
        plan = plan.model_copy(
            update={"options": plan.options.model_copy(update={"plan_approvals": carried})}
        )
        result = delegating(goal, "t1", {"s1": []})
        marked = [task.model_copy(update={"approval": "before"}) for task in result.subtasks]
        (out,) = run(state, [plan, result.model_copy(update={"subtasks": marked})], limits)
        assert isinstance(out, first), out
        assert local_task_id(out.task_id) == "t1/s1"
