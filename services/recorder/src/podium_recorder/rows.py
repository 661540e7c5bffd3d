"""The read-model rows one event touches, as plain values for the repository to upsert.

Field names are column names: the repository inserts each row's fields as they are.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any


class GoalStatus(StrEnum):
    QUEUED = "queued"
    PLANNING = "planning"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class Rank(IntEnum):
    """How far along a goal is; a change applies only if it ranks higher than the goal."""

    QUEUED = 0
    PLANNING = 1
    RUNNING = 2
    # A rejected plan, or a cancellation, fails the goal, but the goal's outcome, when one
    # follows, has the last word on status and reason (a goal that completed before its
    # cancellation reached the aggregator stays completed).
    PLAN_REJECTED = 3
    CANCEL_REQUESTED = 3  # the same rank: whichever of the two is recorded first stays
    OUTCOME = 4


@dataclass(frozen=True)
class EventRow:
    event_id: uuid.UUID
    goal_id: uuid.UUID
    run: int
    type: str
    topic: str
    occurred_at: datetime
    payload: str  # the event as JSON text


@dataclass(frozen=True)
class GoalChange:
    """Fields left None are not known to this event and keep their recorded value."""

    goal_id: uuid.UUID
    run: int
    status: GoalStatus
    status_rank: Rank
    updated_at: datetime
    goal: str | None = None
    submitter: str | None = None
    tenant: str | None = None
    options: dict[str, Any] | None = None
    submitted_at: datetime | None = None
    plan: dict[str, Any] | None = None
    deadline: datetime | None = None
    planning_prompt_tokens: int | None = None
    planning_completion_tokens: int | None = None
    reason_kind: str | None = None
    reason_message: str | None = None
    output: str | None = None
    outcome_totals: dict[str, Any] | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True)
class TaskRow:
    """What is known of a task; None fields keep their recorded value."""

    task_id: str
    goal_id: uuid.UUID
    run: int
    type: str
    final: bool = False
    description: str | None = None
    requirements: list[str] | None = None
    depends_on: list[str] | None = None
    position: int | None = None
    parent_id: str | None = None
    depth: int = 0


@dataclass(frozen=True)
class Assignment:
    task_id: str
    attempt: int
    goal_id: uuid.UUID
    run: int
    assigned_at: datetime
    feedback: str | None
    model: str | None


@dataclass(frozen=True)
class AttemptResult:
    task_id: str
    attempt: int
    goal_id: uuid.UUID
    run: int
    status: str
    output: str | None
    verdict: dict[str, Any] | None
    error: dict[str, Any] | None
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    worker_id: str
    finished_at: datetime
    # A sub-plan instead of an output: its tasks' ids and its synthesis's id.
    subtasks: list[str] | None = None
    synthesis_id: str | None = None


@dataclass(frozen=True)
class ApprovalRow:
    task_id: str
    round: int
    goal_id: uuid.UUID
    run: int
    type: str
    stage: str
    shown: str
    digest: str
    requested_at: datetime
    timeout_at: datetime


@dataclass(frozen=True)
class DecisionRow:
    event_id: uuid.UUID
    task_id: str
    round: int
    goal_id: uuid.UUID
    run: int
    digest: str
    approved: bool
    comment: str
    decided_by: str
    decided_at: datetime


@dataclass(frozen=True)
class Projection:
    event: EventRow
    goal: GoalChange
    tasks: tuple[TaskRow, ...] = ()
    assignment: Assignment | None = None
    result: AttemptResult | None = None
    approval: ApprovalRow | None = None
    decision: DecisionRow | None = None
