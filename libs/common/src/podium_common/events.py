"""The events Podium's services exchange, mirroring the Avro schemas in `schemas/v1/`.

Each event model has the name of its Avro record; `tests/unit/test_schemas.py` proves that
models and schemas agree field by field. Events are immutable values.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from podium_common.topics import TaskType, Topics

# Deterministic ids (uuid5) make redelivered and replayed events recognisable.
ID_NAMESPACE = uuid.UUID("0b6f3f8e-7c1a-4d5e-9a57-2f1c0d9e4b21")
# How long a goal may take when its options name no deadline: the planner bounds its asks
# by it and the aggregator fails the goal when it passes.
DEFAULT_DEADLINE_S = 600
# The last part of the final synthesis's task id; no planned task may take it. A sub-plan's
# synthesis is named the same way under its parent.
FINAL_LOCAL_ID = "final"
# When a person decides on a task: its input before it runs, or its output after.
BEFORE = "before"
AFTER = "after"
# What an approval that nobody decided in time does: fail the goal, or reject the task.
ON_TIMEOUT = ("fail", "reject")


def _utc(value: datetime) -> datetime:
    if value.tzinfo is UTC and not value.microsecond % 1000:
        return value  # as every decoded event's timestamps are: a tenth of the time
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    # Avro timestamp-millis keeps milliseconds; truncate so a round trip is exact.
    return value.astimezone(UTC).replace(microsecond=value.microsecond // 1000 * 1000)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


def utcnow() -> datetime:
    return _utc(datetime.now(UTC))


# The digest of a plan's content in its task ids (see the planner's `planned_tasks`).
PLAN_DIGEST = re.compile(r"[0-9a-f]{8}")


def derived_id(*parts: object) -> uuid.UUID:
    """A deterministic id from the parts that identify an event."""
    return uuid.uuid5(ID_NAMESPACE, "/".join(str(part) for part in parts))


# A sub-plan's part of its tasks' ids: `/<parent attempt>.<sub-plan digest>.`
SUBPLAN_PART = re.compile(r"/\d+\.[0-9a-f]{8}\.")


def local_task_id(task_id: str) -> str:
    """The plan's own name of a task: `<goal_id>.<run>.<plan digest>.t3` → `t3` (and the
    older `<goal_id>.<run>.t3` → `t3`); a sub-plan's task is named under its parent's name,
    `<t3's id>/<attempt>.<digest>.s1` → `t3/s1`. The same in every run of a goal."""
    parts = task_id.split(".", 3)
    if len(parts) == 4 and PLAN_DIGEST.fullmatch(parts[2]):
        return SUBPLAN_PART.sub("/", parts[3])
    return SUBPLAN_PART.sub("/", ".".join(parts[2:])) if len(parts) >= 3 else task_id


def subplan_prefix(parent_id: str, attempt: int) -> str:
    """What a sub-plan's task ids begin with, before its digest: the parent's id and the
    attempt that answered with it, so a redone parent's new sub-plan never reuses an id."""
    return f"{parent_id}/{attempt}."


def _one_of(*allowed: str) -> AfterValidator:
    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, not {value!r}")
        return value

    return AfterValidator(check)


Stage = Annotated[str, _one_of(BEFORE, AFTER)]
OnTimeout = Annotated[str, _one_of(*ON_TIMEOUT)]


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TaskStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Trace(Record):
    traceparent: str
    tracestate: str = ""

    @classmethod
    def new(cls) -> Trace:
        return cls(traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01")

    def child(self) -> Trace:
        """The same trace, with a new parent span id."""
        version, trace_id, _parent, flags = self.traceparent.split("-")
        return Trace(
            traceparent=f"{version}-{trace_id}-{uuid.uuid4().hex[:16]}-{flags}",
            tracestate=self.tracestate,
        )


class GoalOptions(Record):
    max_tasks: int | None = Field(default=None, ge=1, le=100)
    deadline_s: int | None = Field(default=None, ge=1, le=7 * 24 * 3600)
    token_budget: int | None = Field(default=None, ge=1)
    models: dict[str, str] = Field(default_factory=dict)
    # Task types whose tasks wait for a person: `before` they run, or `after` (their output).
    approvals: dict[str, Stage] = Field(default_factory=dict)
    approval_timeout_s: int | None = Field(default=None, ge=1, le=30 * 24 * 3600)
    on_approval_timeout: OnTimeout | None = None
    max_depth: int | None = Field(default=None, ge=0, le=5)
    # Whether tasks the plan or a sub-plan marks for approval wait for a person; None: the
    # deployment's PODIUM_PLAN_APPROVALS (a plan carries the value its planner resolved).
    plan_approvals: bool | None = None

    def follows_plan_marks(self, deployment: bool) -> bool:
        """Whether a plan's own approval marks make its tasks wait: the goal's say, if it
        has one, else the deployment's (`PODIUM_PLAN_APPROVALS`)."""
        return deployment if self.plan_approvals is None else self.plan_approvals


class TokenUsage(Record):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class PlannedTask(Record):
    task_id: str
    type: TaskType
    description: str
    requirements: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    approval: Stage | None = None


class DependencyOutput(Record):
    task_id: str
    type: TaskType
    description: str
    output: str


class TaskError(Record):
    kind: str
    message: str


class Verdict(Record):
    passed: bool
    feedback: str = ""


class GoalTotals(Record):
    tasks: int
    succeeded: int
    failed: int
    usage: TokenUsage
    wall_ms: int


class Event(Record):
    """Fields every event carries."""

    topic_key: ClassVar[str] = "goal_id"

    event_id: uuid.UUID
    goal_id: uuid.UUID
    run: int = 1
    occurred_at: UtcDatetime
    trace: Trace

    @property
    def key(self) -> bytes:
        """The Kafka key: the goal id, or the task id for task topics."""
        return str(getattr(self, self.topic_key)).encode()


class GoalSubmitted(Event):
    goal: str
    submitter: str = "anonymous"
    tenant: str = "default"
    options: GoalOptions

    @classmethod
    def accepted(
        cls,
        goal: str,
        *,
        goal_id: uuid.UUID | None = None,
        run: int = 1,
        trace: Trace | None = None,
        submitter: str = "anonymous",
        tenant: str = "default",
        options: GoalOptions | None = None,
        at: datetime | None = None,
    ) -> GoalSubmitted:
        """Run `run` of a goal (a new goal id unless one is given), accepted `at` (now): its
        event id derived from the goal's id and the run, so that a run published twice is
        one run; a new trace unless one is given."""
        goal_id = uuid.uuid4() if goal_id is None else goal_id
        return cls(
            event_id=derived_id("goal", goal_id, run),
            goal_id=goal_id,
            run=run,
            occurred_at=utcnow() if at is None else at,
            trace=Trace.new() if trace is None else trace,
            goal=goal,
            submitter=submitter,
            tenant=tenant,
            options=GoalOptions() if options is None else options,
        )

    def deadline_at(self, default_s: int = DEFAULT_DEADLINE_S) -> datetime:
        """When the goal must have ended: `options.deadline_s`, or `default_s`, after it was
        accepted (its `occurred_at`)."""
        return self.occurred_at + timedelta(seconds=self.options.deadline_s or default_s)


class GoalCancelled(Event):
    """A request to stop a run; on `plans`, in order with its plan and its results' joins."""

    requested_by: str = "anonymous"
    reason: str = ""

    def describe(self) -> str:
        """One line for a person, e.g. `cancelled by ops: not needed any more`."""
        said = f"cancelled by {self.requested_by}"
        return f"{said}: {self.reason}" if self.reason else said


class PlanningStarted(Event):
    attempt: int
    model: str


class PlanCreated(Event):
    goal: str
    options: GoalOptions
    deadline: UtcDatetime
    tasks: list[PlannedTask]
    model: str
    usage: TokenUsage
    attempts: int

    @property
    def final_task_id(self) -> str:
        """The final synthesis's task id: the plan's task-id prefix and `final`, e.g.
        `<goal_id>.<run>.<plan digest>.final`, so it is as much the plan's as its tasks are."""
        prefix = self.tasks[0].task_id.rpartition(".")[0] if self.tasks else ""
        return f"{prefix or f'{self.goal_id}.{self.run}'}.{FINAL_LOCAL_ID}"


class PlanRejected(Event):
    reason: str
    errors: list[str]
    model: str
    usage: TokenUsage
    attempts: int


class TaskAssigned(Event):
    topic_key: ClassVar[str] = "task_id"

    task_id: str
    type: TaskType
    description: str
    requirements: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    goal: str
    inputs: list[DependencyOutput] = Field(default_factory=list)
    attempt: int
    deadline: UtcDatetime
    feedback: str | None = None
    model: str | None = None
    final: bool = False
    parent_id: str | None = None
    depth: int = 0
    # The most tasks a sub-plan may have in place of an answer; 0: answer directly.
    max_subtasks: int = 0


class TaskResult(Event):
    task_id: str
    type: TaskType
    status: TaskStatus
    output: str | None = None
    verdict: Verdict | None = None
    error: TaskError | None = None
    model: str
    usage: TokenUsage
    latency_ms: int
    worker_id: str
    attempt: int
    final: bool = False
    depth: int = 0
    # A sub-plan instead of an answer: its tasks run in this task's place.
    subtasks: list[PlannedTask] = Field(default_factory=list)

    @property
    def delegated(self) -> bool:
        return self.status is TaskStatus.SUCCEEDED and bool(self.subtasks)


class ApprovalRequested(Event):
    """A task waits for a person: its input (`before`) or its output (`after`)."""

    task_id: str
    type: TaskType
    stage: Stage
    round: int
    shown: str
    digest: str
    timeout_at: UtcDatetime


class ApprovalDecided(Event):
    """A person's decision; it applies to the request of its round whose digest it names."""

    task_id: str
    round: int
    digest: str
    approved: bool
    comment: str = ""
    decided_by: str = "anonymous"


def approval_digest(task_id: str, stage: str, shown: str) -> str:
    """What a decision binds to: the task, the stage and exactly what was shown."""
    content = "\0".join((task_id, stage, shown))
    return hashlib.sha256(content.encode()).hexdigest()


class GoalCompleted(Event):
    output: str
    totals: GoalTotals


class GoalFailed(Event):
    kind: str
    reason: str
    totals: GoalTotals


EVENT_TYPES: tuple[type[Event], ...] = (
    GoalSubmitted,
    GoalCancelled,
    PlanningStarted,
    PlanCreated,
    PlanRejected,
    TaskAssigned,
    TaskResult,
    ApprovalRequested,
    ApprovalDecided,
    GoalCompleted,
    GoalFailed,
)


def topic_for(event: Event, topics: Topics) -> str:
    """The topic an event is published to."""
    match event:
        case GoalSubmitted():
            return topics.goals
        case PlanningStarted() | PlanCreated() | PlanRejected() | GoalCancelled():
            return topics.plans
        case TaskAssigned():
            return topics.tasks(event.type)
        case TaskResult():
            return topics.results
        case ApprovalRequested() | ApprovalDecided():
            return topics.approvals
        case GoalCompleted() | GoalFailed():
            return topics.outputs
    raise TypeError(f"no topic for {type(event).__name__}")
