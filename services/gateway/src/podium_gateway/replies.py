"""What the gateway answers, as models: the OpenAPI document describes the responses with
them, and the fuzz test checks every response against that document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from podium_gateway.models import GoalStatusName


class Reply(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Links(Reply):
    self: str
    events: str


class Accepted(Reply):
    goal_id: str
    run: int
    status: Literal["queued"]
    links: Links


class Cancelling(Reply):
    goal_id: str
    run: int
    status: Literal["cancelling"]


class Reason(Reply):
    kind: str
    message: str


class GoalSummary(Reply):
    goal_id: str
    run: int
    goal: str | None
    status: GoalStatusName | Literal["waiting_approval"]
    reason: Reason | None
    submitter: str | None
    submitted_at: str | None
    updated_at: str | None
    completed_at: str | None
    links: Links


class GoalPage(Reply):
    goals: list[GoalSummary]
    next: str | None


class PlannedTask(Reply):
    task_id: str | None
    type: str | None
    description: str | None
    requirements: list[str] | None
    depends_on: list[str] | None


class Plan(Reply):
    model: str | None
    attempts: int | None
    tasks: list[PlannedTask]


class Tokens(Reply):
    prompt: int | None
    completion: int | None


class Task(Reply):
    task_id: str
    type: str
    description: str | None
    depends_on: list[str]
    parent_id: str | None
    depth: int
    final: bool
    # `delegated`: its sub-plan runs in its place, until the sub-plan's synthesis succeeds.
    status: Literal["pending", "dispatched", "delegated", "succeeded", "failed", "waiting_approval"]
    attempts: int
    output: str | None
    verdict: dict[str, Any] | None
    error: dict[str, Any] | None
    model: str | None
    tokens: Tokens
    # In the currency of PODIUM_PRICES; null when its model has no price.
    cost: float | None
    latency_ms: int | None


class Totals(Reply):
    tasks: int
    succeeded: int
    failed: int
    prompt_tokens: int
    completion_tokens: int
    # The planner's and every task's cost; null when a model that used tokens has no price.
    cost: float | None
    wall_ms: int


class Decision(Reply):
    approved: bool | None
    comment: str | None
    decided_by: str | None
    decided_at: str | None


class Approval(Reply):
    task_id: str
    type: str | None
    stage: str | None
    round: int | None
    shown: str | None
    digest: str | None
    requested_at: str | None
    timeout_at: str | None
    decision: Decision | None


class GoalDetail(GoalSummary):
    options: dict[str, Any] | None
    deadline: str | None
    plan: Plan | None
    tasks: list[Task]
    approvals: list[Approval]
    output: str | None
    totals: Totals


class FieldError(Reply):
    field: str
    message: str


class Error(Reply):
    code: str
    message: str
    fields: list[FieldError] | None = None


class ErrorReply(Reply):
    error: Error
