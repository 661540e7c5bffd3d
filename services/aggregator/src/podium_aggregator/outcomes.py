"""The events the aggregator emits: task assignments and a goal's outcome, with its totals."""

from __future__ import annotations

from datetime import datetime

from podium_aggregator.state import GoalState, Outcome, Phase, TaskState
from podium_common.events import (
    DependencyOutput,
    GoalCompleted,
    GoalFailed,
    GoalTotals,
    PlanCreated,
    TaskAssigned,
    Trace,
    derived_id,
)


def assigned(
    state: GoalState,
    plan: PlanCreated,
    task: TaskState,
    inputs: list[DependencyOutput],
    trace: Trace,
    now: datetime,
) -> TaskAssigned:
    """The current attempt of `task`."""
    planned = task.task
    return TaskAssigned(
        event_id=derived_id("task", planned.task_id, task.attempt),
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
        attempt=task.attempt,
        deadline=plan.deadline,
        feedback=task.feedback,
        model=plan.options.models.get(planned.type.value),
        final=task.final,
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
    """Tasks include the final synthesis; usage includes planning; wall time runs from the
    goal's submission, or from its plan when the aggregator has not read the submission."""
    planned = len(state.plan.tasks) + 1 if state.plan is not None else 0
    start = state.accepted_at or state.submitted_at or now
    return GoalTotals(
        tasks=planned,
        succeeded=sum(task.phase is Phase.SUCCEEDED for task in state.tasks.values()),
        failed=state.failed_attempts,
        usage=state.usage,
        wall_ms=max(0, int((now - start).total_seconds() * 1000)),
    )
