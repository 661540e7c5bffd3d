"""every topic → PostgreSQL: turns each event into the read-model rows it touches.

`project` is pure: an event in, the changes to its goal, tasks and task attempt out. The
repository applies them as upserts that commute, so the read model comes out the same
whatever order the topics deliver the events in, and however often.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from podium_common.avro import as_json
from podium_common.events import (
    Event,
    GoalCancelled,
    GoalCompleted,
    GoalFailed,
    GoalSubmitted,
    PlanCreated,
    PlanningStarted,
    PlanRejected,
    TaskAssigned,
    TaskResult,
    topic_for,
)
from podium_common.topics import Topics
from podium_recorder.rows import (
    Assignment,
    AttemptResult,
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
        payload=as_json(event),
    )
    goal = goal_change(event)
    match event:
        case TaskAssigned():
            return Projection(row, goal, (_task(event),), assignment=_assigned(event))
        case TaskResult():
            return Projection(row, goal, (_task(event),), result=_finished(event))
        case PlanCreated():
            return Projection(row, goal, _planned_tasks(event))
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
        )
        for position, task in enumerate(event.tasks)
    )


def _task(event: TaskAssigned | TaskResult) -> TaskRow:
    if isinstance(event, TaskResult):
        return TaskRow(event.task_id, event.goal_id, event.run, event.type.value, event.final)
    return TaskRow(
        task_id=event.task_id,
        goal_id=event.goal_id,
        run=event.run,
        type=event.type.value,
        final=event.final,
        description=event.description,
        requirements=list(event.requirements),
        depends_on=list(event.depends_on),
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
    )
