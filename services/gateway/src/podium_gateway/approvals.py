"""HTTP → approvals: a person's decision on a task that waits for one (ApprovalDecided).

`POST /goals/{id}/approvals/{task}` with `{"decision": "approve" | "reject", "comment",
"decided_by", "digest"}`; `task` is the task's id or the plan's own name of it (`t3`,
`t1/s2`). The decision binds to the digest of what awaits it: the one the client read (and
sends), or else the one the read model shows now; the aggregator applies it only if that is
still what awaits a decision, so a changed input or output is never approved unseen.
Answers 202 once the decision is on `approvals`; 404 for an unknown goal, 409 for a goal
that has ended, a task that waits for no decision, or a digest that is not what awaits one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from podium_common.events import ApprovalDecided, derived_id, local_task_id, utcnow
from podium_common.reruns import ENDED
from podium_gateway.auth import Auth
from podium_gateway.handler import (
    EventPublisher,
    from_key,
    parse_goal_id,
    read_body,
    trace_of,
)
from podium_gateway.models import ApiError, invalid
from podium_gateway.settings import GatewaySettings

Row = Mapping[str, Any]


class Decision(BaseModel):
    """The body of `POST /goals/{id}/approvals/{task}`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    decision: Literal["approve", "reject"]
    comment: str = Field(default="", max_length=4000)
    decided_by: str = Field(default="anonymous", min_length=1, max_length=200)
    # The digest of what the person was shown (`approvals[].digest` of `GET /goals/{id}`).
    digest: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class GoalReader(Protocol):
    async def goal(self, goal_id: uuid.UUID) -> tuple[Row, Sequence[Row]] | None: ...


class Approvals:
    def __init__(
        self, settings: GatewaySettings, publisher: EventPublisher, store: GoalReader, auth: Auth
    ) -> None:
        self.settings = settings
        self.publisher = publisher
        self.store = store
        self.auth = auth

    async def decide(self, request: Request) -> Response:
        caller = await self.auth.caller(request)
        goal_id = parse_goal_id(request)
        body = parse_decision(await read_body(request, self.settings.max_body_bytes))
        if caller.name is not None:
            if "decided_by" in body.model_fields_set:
                raise from_key("decided_by")
            body = body.model_copy(update={"decided_by": caller.name})
        found = await self.store.goal(goal_id)
        if found is None or not caller.sees(found[0]):
            raise ApiError(404, "not_found", f"no goal {goal_id}")
        goal = found[0]
        if goal["status"] in ENDED:
            raise ApiError(409, "ended", f"goal {goal_id} has already {goal['status']}")
        awaiting = waiting_request(goal, request.path_params["task_id"])
        if body.digest is not None and body.digest != awaiting["digest"]:
            raise ApiError(
                409, "changed", "what awaits a decision is not what was shown (digest differs)"
            )
        event = decided(goal, awaiting, body, request)
        await self.publisher.publish([event])
        answer = {
            "goal_id": str(goal_id),
            "task_id": event.task_id,
            "round": event.round,
            "digest": event.digest,
            "decision": body.decision,
            "status": "decided",
        }
        return JSONResponse(answer, status_code=202)


def parse_decision(body: bytes) -> Decision:
    try:
        return Decision.model_validate_json(body)
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise ApiError(400, "invalid_json", "the body is not valid JSON") from error
        raise invalid(error, status=422, code="invalid_body", what="body") from error


def waiting_request(goal: Row, task: str) -> Row:
    """The latest request on `task` (its id or local name) no decision applies to yet."""
    waiting = [
        row
        for row in goal.get("approvals") or []
        if row["decided_at"] is None and task in (row["task_id"], local_task_id(row["task_id"]))
    ]
    if not waiting:
        raise ApiError(409, "not_waiting", f"task {task} waits for no decision")
    return max(waiting, key=lambda row: int(row["round"]))


def decided(goal: Row, awaiting: Row, body: Decision, request: Request) -> ApprovalDecided:
    """The decision, with an id of what it says: a client that sends it twice sends one."""
    approved = body.decision == "approve"
    task_id, round_, digest = awaiting["task_id"], int(awaiting["round"]), awaiting["digest"]
    return ApprovalDecided(
        event_id=derived_id(
            "decision", task_id, round_, digest, approved, body.comment, body.decided_by
        ),
        goal_id=goal["goal_id"],
        run=int(goal["run"]),
        occurred_at=utcnow(),
        trace=trace_of(request),
        task_id=task_id,
        round=round_,
        digest=digest,
        approved=approved,
        comment=body.comment,
        decided_by=body.decided_by,
    )
