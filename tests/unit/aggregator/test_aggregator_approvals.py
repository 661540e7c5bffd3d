"""Approval gates in the aggregator: a task waits for a person before it runs or before its
output is used; decisions bind to what was shown; timeouts; the deadline stands meanwhile."""

from __future__ import annotations

from datetime import timedelta

from podium_aggregator.handler import handle, on_tick
from podium_aggregator.state import GoalState, Limits, Phase
from podium_common.events import (
    ApprovalDecided,
    ApprovalRequested,
    Event,
    GoalCompleted,
    GoalFailed,
    GoalOptions,
    PlanCreated,
    TaskAssigned,
    Trace,
    derived_id,
)
from tests.unit.aggregator.scenario import DEADLINE, NOW, Goal, run


def gated(stage: str, **options: object) -> tuple[Goal, PlanCreated]:
    goal = Goal({"t1": [], "t2": ["t1"]})
    plan = goal.plan()
    tasks = [plan.tasks[0], plan.tasks[1].model_copy(update={"approval": stage})]
    opts = GoalOptions.model_validate(options)
    return goal, plan.model_copy(update={"tasks": tasks, "options": opts})


def decide(
    request: Event, *, approved: bool, comment: str = "", digest: str | None = None
) -> ApprovalDecided:
    assert isinstance(request, ApprovalRequested)
    return ApprovalDecided(
        event_id=derived_id("decision", request.task_id, request.round, approved),
        goal_id=request.goal_id,
        run=request.run,
        occurred_at=NOW,
        trace=Trace.new(),
        task_id=request.task_id,
        round=request.round,
        digest=digest or request.digest,
        approved=approved,
        comment=comment,
        decided_by="alice",
    )


def at(state: GoalState, when: timedelta, event: Event) -> list[Event]:
    return handle(state, event, NOW + when, Limits())


def test_a_task_approved_before_it_runs_waits_then_runs_with_exactly_what_was_shown() -> None:
    goal, plan = gated("before")
    state = goal.state()
    (request,) = run(state, [plan, goal.result("t1")])
    assert isinstance(request, ApprovalRequested)

    assert (request.task_id, request.stage, request.round) == (goal.tid("t2"), "before", 1)
    assert "Input t1 (researcher):\noutput of t1#1" in request.shown
    assert state.tasks[goal.tid("t2")].phase is Phase.APPROVAL
    assert run(state, [decide(request, approved=True, digest="0" * 64)]) == []  # not shown

    (assigned,) = run(state, [decide(request, approved=True)])

    assert isinstance(assigned, TaskAssigned)
    assert (assigned.task_id, assigned.attempt) == (goal.tid("t2"), 1)
    assert run(state, [decide(request, approved=True)]) == []  # decided already


def test_a_root_task_approved_before_is_not_issued_by_the_plan() -> None:
    goal = Goal({"t1": []})
    plan = goal.plan()
    plan = plan.model_copy(
        update={"tasks": [plan.tasks[0].model_copy(update={"approval": "before"})]}
    )
    state = goal.state()
    (request,) = run(state, [plan])
    assert isinstance(request, ApprovalRequested)
    (assigned,) = run(state, [decide(request, approved=True)])
    assert isinstance(assigned, TaskAssigned)
    assert assigned.attempt == 1


def test_an_output_rejected_with_a_comment_is_redone_once_and_shown_again() -> None:
    goal, plan = gated("after")
    state = goal.state()
    *_, request = run(state, [plan, goal.result("t1"), goal.result("t2")])
    assert isinstance(request, ApprovalRequested)
    assert (request.stage, request.shown) == ("after", "output of t2#1")

    (redo,) = run(state, [decide(request, approved=False, comment="shorter, please")])
    assert isinstance(redo, TaskAssigned)
    assert (redo.attempt, redo.feedback) == (2, "shorter, please")

    (again,) = run(state, [goal.result("t2", 2)])
    assert isinstance(again, ApprovalRequested)
    assert (again.round, again.shown) == (2, "output of t2#2")
    (failed,) = run(state, [decide(again, approved=False, comment="still too long")])
    assert isinstance(failed, GoalFailed)
    assert failed.kind == "rejected"
    assert "rejected by alice: still too long" in failed.reason


def test_an_approved_output_is_what_the_final_synthesis_gets() -> None:
    goal, plan = gated("after")
    state = goal.state()
    *_, request = run(state, [plan, goal.result("t1"), goal.result("t2")])
    assert isinstance(request, ApprovalRequested)
    (final,) = run(state, [decide(request, approved=True)])
    assert isinstance(final, TaskAssigned)
    assert final.final
    assert [i.output for i in final.inputs] == ["output of t1#1", "output of t2#1"]
    (done,) = run(state, [goal.result("final")])
    assert isinstance(done, GoalCompleted)


def test_a_rejection_without_a_comment_fails_the_goal() -> None:
    goal, plan = gated("after")
    state = goal.state()
    *_, request = run(state, [plan, goal.result("t1"), goal.result("t2")])
    assert isinstance(request, ApprovalRequested)
    (failed,) = run(state, [decide(request, approved=False)])
    assert isinstance(failed, GoalFailed)
    assert failed.kind == "rejected"


def test_the_deadline_stands_while_a_person_decides() -> None:
    goal, plan = gated("after")
    state = goal.state()
    *_, request = run(state, [plan, goal.result("t1"), goal.result("t2")])
    assert isinstance(request, ApprovalRequested)
    assert state.waiting_since == NOW
    assert state.due() == request.timeout_at  # not the deadline
    assert on_tick(state, DEADLINE + timedelta(minutes=5)) == []

    at(state, timedelta(hours=1), decide(request, approved=True))

    assert state.waiting_since is None
    assert state.deadline == DEADLINE + timedelta(hours=1)
    assert state.due() == DEADLINE + timedelta(hours=1)


def test_the_deadline_runs_on_when_the_limits_count_the_wait() -> None:
    goal, plan = gated("after")
    state = goal.state()
    run(
        state,
        [plan, goal.result("t1"), goal.result("t2")],
        Limits(deadline_counts_approval_wait=True),
    )
    assert state.waiting_since is None
    (failed,) = on_tick(state, DEADLINE)
    assert isinstance(failed, GoalFailed)
    assert failed.kind == "deadline"


def test_an_approval_nobody_decides_in_time_fails_the_goal() -> None:
    goal, plan = gated("before", approval_timeout_s=60)
    state = goal.state()
    (request,) = run(state, [plan, goal.result("t1")])
    assert isinstance(request, ApprovalRequested)
    assert request.timeout_at == NOW + timedelta(seconds=60)
    assert on_tick(state, NOW + timedelta(seconds=59)) == []
    (failed,) = on_tick(state, NOW + timedelta(seconds=60))
    assert isinstance(failed, GoalFailed)
    assert failed.kind == "approval_timeout"


def test_or_rejects_it_as_podium_when_the_options_say_so() -> None:
    goal, plan = gated("before", approval_timeout_s=60, on_approval_timeout="reject")
    state = goal.state()
    (request,) = run(state, [plan, goal.result("t1")])
    assert isinstance(request, ApprovalRequested)
    decided, failed = on_tick(state, NOW + timedelta(seconds=61))
    assert isinstance(decided, ApprovalDecided)
    assert (decided.approved, decided.decided_by, decided.digest) == (
        False,
        "podium:timeout",
        request.digest,
    )
    assert isinstance(failed, GoalFailed)
    assert failed.kind == "rejected"


def test_gates_survive_the_table_round_trip() -> None:
    goal, plan = gated("before")
    state = goal.state()
    (request,) = run(state, [plan, goal.result("t1")])
    assert isinstance(request, ApprovalRequested)
    state = GoalState.model_validate_json(state.model_dump_json())
    (assigned,) = run(state, [decide(request, approved=True)])
    assert isinstance(assigned, TaskAssigned)
