"""every topic → PostgreSQL: turns each event into the read-model rows it touches.

`project` is pure: an event in, the changes to its goal, tasks and task attempt out. The
repository applies them as upserts that commute, so the read model comes out the same
whatever order the topics deliver the events in, and however often.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from podium_common.events import (
    FINAL_LOCAL_ID,
    ApprovalDecided,
    ApprovalRequested,
    Event,
    GoalCancelled,
    GoalCompleted,
    GoalFailed,
    GoalSubmitted,
    PlanCreated,
    PlannedTask,
    PlanningStarted,
    PlanRejected,
    TaskAssigned,
    TaskResult,
    topic_for,
)
from podium_common.topics import Topics
from podium_recorder.rows import (
    ApprovalRow,
    Assignment,
    AttemptResult,
    DecisionRow,
    EventRow,
    GoalChange,
    GoalStatus,
    Projection,
    Rank,
    TaskRow,
)

# Events are recorded under their contract topic names, whatever the deployment's prefix.
_CONTRACT_TOPICS = Topics()


class Store(Protocol):
    async def record(self, projection: Projection) -> None: ...


async def handle(event: Event, store: Store) -> Sequence[Event]:
    """Records one event and its projection; the recorder publishes nothing."""
    await store.record(project(event))
    return ()


def project(event: Event) -> Projection:
    row = EventRow(
        event_id=event.event_id,
        goal_id=event.goal_id,
        run=event.run,
        type=type(event).__name__,
        topic=topic_for(event, _CONTRACT_TOPICS),
        occurred_at=event.occurred_at,
        payload=event.model_dump_json(),
    )
    goal = goal_change(event)
    match event:
        case TaskAssigned():
            return Projection(row, goal, (_task(event),), assignment=_assigned(event))
        case TaskResult():
            tasks = (_task(event), *_subtasks(event))
            return Projection(row, goal, tasks, result=_finished(event))
        case PlanCreated():
            return Projection(row, goal, _planned_tasks(event))
        case ApprovalRequested():
            return Projection(row, goal, approval=_requested(event))
        case ApprovalDecided():
            return Projection(row, goal, decision=_decided(event))
    return Projection(row, goal)


def goal_change(event: Event) -> GoalChange:
    """What an event says about its goal (every event says at least that it exists)."""
    match event:
        case GoalSubmitted():
            return _change(
                event,
                GoalStatus.QUEUED,
                Rank.QUEUED,
                goal=event.goal,
                submitter=event.submitter,
                tenant=event.tenant,
                options=event.options.model_dump(mode="json"),
                submitted_at=event.occurred_at,
            )
        case PlanningStarted():
            return _change(event, GoalStatus.PLANNING, Rank.PLANNING)
        case PlanCreated():
            return _plan_created(event)
        case PlanRejected():
            return _change(
                event,
                GoalStatus.FAILED,
                Rank.PLAN_REJECTED,
                planning_prompt_tokens=event.usage.prompt_tokens,
                planning_completion_tokens=event.usage.completion_tokens,
                reason_kind="plan_rejected",
                reason_message="; ".join([event.reason, *event.errors]),
            )
        case GoalCancelled():
            return _change(
                event,
                GoalStatus.FAILED,
                Rank.CANCEL_REQUESTED,
                reason_kind="cancelled",
                reason_message=event.describe(),
            )
        case GoalCompleted():
            return _outcome(event, GoalStatus.COMPLETED, output=event.output)
        case GoalFailed():
            return _outcome(
                event, GoalStatus.FAILED, reason_kind=event.kind, reason_message=event.reason
            )
    return _running(event)


def _change(event: Event, status: GoalStatus, rank: Rank, **fields: Any) -> GoalChange:
    return GoalChange(event.goal_id, event.run, status, rank, event.occurred_at, **fields)


def _running(event: Event) -> GoalChange:
    return _change(event, GoalStatus.RUNNING, Rank.RUNNING)


def _outcome(event: GoalCompleted | GoalFailed, status: GoalStatus, **fields: Any) -> GoalChange:
    return _change(
        event,
        status,
        Rank.OUTCOME,
        outcome_totals=event.totals.model_dump(mode="json"),
        completed_at=event.occurred_at,
        **fields,
    )


def _plan_created(event: PlanCreated) -> GoalChange:
    plan = {
        "model": event.model,
        "attempts": event.attempts,
        "tasks": [task.model_dump(mode="json") for task in event.tasks],
        "usage": event.usage.model_dump(mode="json"),
    }
    return _change(
        event,
        GoalStatus.RUNNING,
        Rank.RUNNING,
        goal=event.goal,
        options=event.options.model_dump(mode="json"),
        plan=plan,
        deadline=event.deadline,
        planning_prompt_tokens=event.usage.prompt_tokens,
        planning_completion_tokens=event.usage.completion_tokens,
    )


def _planned_tasks(event: PlanCreated) -> tuple[TaskRow, ...]:
    return _planned(event, event.tasks)


def _planned(
    event: PlanCreated | TaskResult,
    tasks: Sequence[PlannedTask],
    *,
    parent_id: str | None = None,
    depth: int = 0,
) -> tuple[TaskRow, ...]:
    """The rows of a plan's tasks, in the plan's order."""
    return tuple(
        TaskRow(
            task_id=task.task_id,
            goal_id=event.goal_id,
            run=event.run,
            type=task.type.value,
            description=task.description,
            requirements=list(task.requirements),
            depends_on=list(task.depends_on),
            position=position,
            parent_id=parent_id,
            depth=depth,
        )
        for position, task in enumerate(tasks)
    )


def _task(event: TaskAssigned | TaskResult) -> TaskRow:
    if isinstance(event, TaskResult):
        return TaskRow(
            event.task_id,
            event.goal_id,
            event.run,
            event.type.value,
            event.final,
            depth=event.depth,
        )
    return TaskRow(
        task_id=event.task_id,
        goal_id=event.goal_id,
        run=event.run,
        type=event.type.value,
        final=event.final,
        description=event.description,
        requirements=list(event.requirements),
        depends_on=list(event.depends_on),
        parent_id=event.parent_id,
        depth=event.depth,
    )


def _subtasks(event: TaskResult) -> tuple[TaskRow, ...]:
    """The tasks of the sub-plan a result answered with: under it, one deeper."""
    return _planned(event, event.subtasks, parent_id=event.task_id, depth=event.depth + 1)


def synthesis_id(event: TaskResult) -> str | None:
    """The id of the task whose output becomes a delegating task's: its sub-plan's synthesis
    (named like the final synthesis, under the sub-plan's prefix)."""
    if not event.subtasks:
        return None
    return f"{event.subtasks[0].task_id.rpartition('.')[0]}.{FINAL_LOCAL_ID}"


def _requested(event: ApprovalRequested) -> ApprovalRow:
    return ApprovalRow(
        task_id=event.task_id,
        round=event.round,
        goal_id=event.goal_id,
        run=event.run,
        type=event.type.value,
        stage=event.stage,
        shown=event.shown,
        digest=event.digest,
        requested_at=event.occurred_at,
        timeout_at=event.timeout_at,
    )


def _decided(event: ApprovalDecided) -> DecisionRow:
    return DecisionRow(
        event_id=event.event_id,
        task_id=event.task_id,
        round=event.round,
        goal_id=event.goal_id,
        run=event.run,
        digest=event.digest,
        approved=event.approved,
        comment=event.comment,
        decided_by=event.decided_by,
        decided_at=event.occurred_at,
    )


def _assigned(event: TaskAssigned) -> Assignment:
    return Assignment(
        task_id=event.task_id,
        attempt=event.attempt,
        goal_id=event.goal_id,
        run=event.run,
        assigned_at=event.occurred_at,
        feedback=event.feedback,
        model=event.model,
    )


def _finished(event: TaskResult) -> AttemptResult:
    return AttemptResult(
        task_id=event.task_id,
        attempt=event.attempt,
        goal_id=event.goal_id,
        run=event.run,
        status=event.status.value,
        output=event.output,
        verdict=event.verdict.model_dump(mode="json") if event.verdict else None,
        error=event.error.model_dump(mode="json") if event.error else None,
        model=event.model,
        prompt_tokens=event.usage.prompt_tokens,
        completion_tokens=event.usage.completion_tokens,
        latency_ms=event.latency_ms,
        worker_id=event.worker_id,
        finished_at=event.occurred_at,
        subtasks=[task.task_id for task in event.subtasks] or None,
        synthesis_id=synthesis_id(event),
    )
