"""The events Podium's services exchange, mirroring the Avro schemas in `schemas/v1/`.

Each event model has the name of its Avro record; `tests/unit/test_schemas.py` proves that
models and schemas agree field by field. Events are immutable values.
"""

from __future__ import annotations

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
# The last part of the final synthesis's task id; no planned task may take it.
FINAL_LOCAL_ID = "final"


def _utc(value: datetime) -> datetime:
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


def local_task_id(task_id: str) -> str:
    """The plan's own name of a task: `<goal_id>.<run>.<plan digest>.t3` → `t3` (and the
    older `<goal_id>.<run>.t3` → `t3`). The same in every run of a goal."""
    parts = task_id.split(".", 3)
    if len(parts) == 4 and PLAN_DIGEST.fullmatch(parts[2]):
        return parts[3]
    return ".".join(parts[2:]) if len(parts) >= 3 else task_id


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
        case GoalCompleted() | GoalFailed():
            return topics.outputs
    raise TypeError(f"no topic for {type(event).__name__}")
