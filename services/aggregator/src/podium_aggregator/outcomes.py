"""The events the aggregator emits: task assignments, approval requests (and the automatic
rejection of one nobody decided in time), and a goal's outcome, with its totals."""

from __future__ import annotations

from datetime import datetime

from podium_aggregator.state import Gate, GoalState, Outcome, Phase, TaskState
from podium_common.events import (
    ApprovalDecided,
    ApprovalRequested,
    DependencyOutput,
    GoalCompleted,
    GoalFailed,
    GoalTotals,
    PlanCreated,
    TaskAssigned,
    Trace,
    derived_id,
)

# Who rejected an approval that timed out, in the recorded decision.
TIMEOUT_DECIDER = "podium:timeout"


def assigned(
    state: GoalState,
    plan: PlanCreated,
    task: TaskState,
    inputs: list[DependencyOutput],
    trace: Trace,
    now: datetime,
    *,
    attempt: int,
    max_subtasks: int,
) -> TaskAssigned:
    """Attempt `attempt` of `task`; its deadline is the goal's, which moves on by the time
    spent waiting for people."""
    planned = task.task
    return TaskAssigned(
        event_id=derived_id("task", planned.task_id, attempt),
        goal_id=state.goal_id,
        run=state.run,
        occurred_at=now,
        trace=trace,
        task_id=planned.task_id,
        type=planned.type,
        description=planned.description,
        requirements=planned.requirements,
        depends_on=planned.depends_on,
        goal=plan.goal,
        inputs=inputs,
        attempt=attempt,
        deadline=state.deadline or plan.deadline,
        feedback=task.feedback,
        model=plan.options.models.get(planned.type.value),
        final=task.final,
        parent_id=task.parent,
        depth=task.depth,
        max_subtasks=max_subtasks,
    )


def approval_requested(
    state: GoalState, task: TaskState, gate: Gate, shown: str, trace: Trace, now: datetime
) -> ApprovalRequested:
    return ApprovalRequested(
        event_id=derived_id("approval", task.task.task_id, gate.round),
        goal_id=state.goal_id,
        run=state.run,
        occurred_at=now,
        trace=trace,
        task_id=task.task.task_id,
        type=task.task.type,
        stage=gate.stage,
        round=gate.round,
        shown=shown,
        digest=gate.digest,
        timeout_at=gate.timeout_at,
    )


def rejected_by_timeout(
    state: GoalState, task: TaskState, gate: Gate, trace: Trace, now: datetime
) -> ApprovalDecided:
    """The decision nobody made in time, made by Podium: recorded like a person's."""
    return ApprovalDecided(
        event_id=derived_id("approval-timeout", task.task.task_id, gate.round),
        goal_id=state.goal_id,
        run=state.run,
        occurred_at=now,
        trace=trace,
        task_id=task.task.task_id,
        round=gate.round,
        digest=gate.digest,
        approved=False,
        comment=f"nobody decided by {gate.timeout_at.isoformat()}",
        decided_by=TIMEOUT_DECIDER,
    )


def completed(state: GoalState, output: str, trace: Trace, now: datetime) -> GoalCompleted:
    event = GoalCompleted(
        event_id=derived_id("outcome", state.goal_id, state.run),
        goal_id=state.goal_id,
        run=state.run,
        occurred_at=now,
        trace=trace,
        output=output,
        totals=totals(state, now),
    )
    state.end(Outcome.COMPLETED, now)
    return event


def failed(state: GoalState, kind: str, reason: str, trace: Trace, now: datetime) -> GoalFailed:
    event = GoalFailed(
        event_id=derived_id("outcome", state.goal_id, state.run),
        goal_id=state.goal_id,
        run=state.run,
        occurred_at=now,
        trace=trace,
        kind=kind,
        reason=reason,
        totals=totals(state, now),
    )
    state.end(Outcome.FAILED, now)
    return event


def totals(state: GoalState, now: datetime) -> GoalTotals:
    """Tasks include the final synthesis and the sub-plans' tasks and syntheses; usage
    includes planning; wall time runs from the goal's submission, or from its plan when the
    aggregator has not read the submission."""
    delegated = sum(task.parent is not None for task in state.tasks.values())
    planned = len(state.plan.tasks) + 1 + delegated if state.plan is not None else 0
    start = state.accepted_at or state.submitted_at or now
    return GoalTotals(
        tasks=planned,
        succeeded=sum(task.phase is Phase.SUCCEEDED for task in state.tasks.values()),
        failed=state.failed_attempts,
        usage=state.usage,
        wall_ms=max(0, int((now - start).total_seconds() * 1000)),
    )
