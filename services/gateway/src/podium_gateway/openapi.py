"""The gateway's OpenAPI document, generated from the pydantic models that validate requests
(`models`) and from the models of what it answers (`replies`)."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from podium_gateway import replies
from podium_gateway.models import CancelQuery, ListQuery, Submission

REF = "#/components/schemas/{model}"
_ERRORS = {
    400: "a malformed id, query or JSON body",
    401: "no valid API key (when keys are required)",
    404: "no such goal (or not the caller's tenant's)",
    409: "the goal has already ended",
    413: "the body is too large",
    422: "the body is invalid; `fields` names each field and why",
    429: "too many requests from this key; `Retry-After` says when to retry",
    503: "a dependency is down; `Retry-After` says when to retry",
}
_GOAL_ID = {
    "name": "goal_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _query(model: type[BaseModel]) -> list[dict[str, Any]]:
    """Each field of a query model as a query parameter."""
    schema = model.model_json_schema(ref_template=REF)
    return [
        {"name": name, "in": "query", "required": False, "schema": field}
        for name, field in schema["properties"].items()
    ]


def _operation(
    summary: str,
    ok: int,
    ok_reply: dict[str, Any],
    errors: tuple[int, ...],
    *,
    why: dict[int, str] | None = None,
    **more: Any,
) -> dict[str, Any]:
    """An operation that answers `ok_reply`, or an error of `errors` (described by `why`
    where the usual description does not fit) or of every route (401, 429, 503)."""
    responses = {str(ok): ok_reply}
    headers = {"Retry-After": {"schema": {"type": "string"}}}
    for status in (*errors, 401, 429, 503):
        reply = _json(replies.ErrorReply, (why or {}).get(status, _ERRORS[status]))
        if status in (429, 503):
            reply["headers"] = headers
        responses[str(status)] = reply
    return {"summary": summary, "responses": responses, **more}


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route under `/goals`."""
    models: list[type[BaseModel]] = [
        Submission,
        replies.Accepted,
        replies.Cancelling,
        replies.GoalPage,
        replies.GoalDetail,
        replies.ErrorReply,
    ]
    _, schemas = models_json_schema([(model, "validation") for model in models], ref_template=REF)
    events = {
        "description": "the goal's progress as server-sent events, until it ends",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
    submit_body = {"required": True, "content": {"application/json": {"schema": _ref(Submission)}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Podium gateway", "version": "1"},
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}, {}],
        "paths": {
            "/goals": {
                "post": _operation(
                    "Submit a goal",
                    202,
                    _json(replies.Accepted, "the goal is accepted and published"),
                    (400, 413, 422),
                    requestBody=submit_body,
                ),
                "get": _operation(
                    "List goals, newest first",
                    200,
                    _json(replies.GoalPage, "a page of goals"),
                    (400,),
                    parameters=_query(ListQuery),
                ),
            },
            "/goals/{goal_id}": {
                "get": _operation(
                    "A goal: its plan, tasks, output, tokens and cost",
                    200,
                    _json(replies.GoalDetail, "the goal's latest run"),
                    (400, 404),
                    parameters=[_GOAL_ID],
                ),
                "delete": _operation(
                    "Cancel a goal's latest run",
                    202,
                    _json(replies.Cancelling, "the cancellation is published"),
                    (400, 404, 409),
                    parameters=[_GOAL_ID, *_query(CancelQuery)],
                ),
            },
            "/goals/{goal_id}/rerun": {
                "post": _operation(
                    "Run an ended goal again: its next run, same text and options",
                    202,
                    _json(replies.Accepted, "the goal's next run is accepted and published"),
                    (400, 404, 409),
                    why={409: "the goal's latest run has not ended"},
                    parameters=[_GOAL_ID],
                ),
            },
            "/goals/{goal_id}/events": {
                "get": _operation(
                    "Follow a goal's progress", 200, events, (400, 404), parameters=[_GOAL_ID]
                ),
            },
        },
    }
