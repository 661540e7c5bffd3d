"""POST /goals with fakes at the boundary: what is accepted, published, and refused how."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from podium_common.events import GoalSubmitted, derived_id
from tests.unit.gateway.fakes import FakePublisher, FakeStore, client


async def post(publisher: FakePublisher, store: FakeStore, body: Any, **kwargs: Any) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with client(publisher, store) as http:
        return await http.post("/goals", content=content, **kwargs)


async def test_a_goal_is_published_and_shown_queued(
    publisher: FakePublisher, store: FakeStore
) -> None:
    body = {
        "goal": "Compare A and B",
        "options": {
            "max_tasks": 4,
            "deadline_s": 60,
            "models": {"planner": "big"},
            "plan_approvals": False,
        },
        "submitter": "ada",
    }
    response = await post(publisher, store, body)

    assert response.status_code == 202
    answer = response.json()
    goal_id = uuid.UUID(answer["goal_id"])
    assert answer == {
        "goal_id": str(goal_id),
        "run": 1,
        "status": "queued",
        "links": {"self": f"/goals/{goal_id}", "events": f"/goals/{goal_id}/events"},
    }
    assert response.headers["location"] == f"/goals/{goal_id}"
    (event,) = publisher.published
    assert isinstance(event, GoalSubmitted)
    assert event.goal_id == goal_id
    assert event.key == str(goal_id).encode()
    assert event.event_id == derived_id("goal", goal_id, 1)
    assert (event.goal, event.submitter) == ("Compare A and B", "ada")
    assert event.options.max_tasks == 4
    assert event.options.models == {"planner": "big"}
    assert event.options.plan_approvals is False
    assert store.goal_rows[goal_id]["status"] == "queued"


async def test_the_callers_trace_is_continued(publisher: FakePublisher, store: FakeStore) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    await post(publisher, store, {"goal": "x"}, headers={"traceparent": parent})
    traceparent = publisher.published[0].trace.traceparent
    assert traceparent.startswith("00-0af7651916cd43dd8448eb211c80319c-")
    assert traceparent != parent


async def test_postgres_down_still_accepts_the_goal(
    publisher: FakePublisher, store: FakeStore
) -> None:
    store.down = True
    response = await post(publisher, store, {"goal": "x"})
    assert response.status_code == 202
    assert len(publisher.published) == 1


async def test_a_queued_row_that_fails_unforeseen_still_accepts_the_published_goal(
    publisher: FakePublisher, store: FakeStore, caplog: pytest.LogCaptureFixture
) -> None:
    # Kafka has the goal: any answer but 202 would have the client submit it twice.
    async def broken(event: GoalSubmitted) -> None:
        raise RuntimeError("cannot switch to state 15")

    store.insert_queued = broken  # type: ignore[method-assign]
    response = await post(publisher, store, {"goal": "x"})
    assert response.status_code == 202
    (event,) = publisher.published
    assert response.json()["goal_id"] == str(event.goal_id)
    assert f"goal {event.goal_id} accepted; its queued row failed" in caplog.text


async def test_kafka_down_is_503_with_retry_after_and_nothing_recorded(
    publisher: FakePublisher, store: FakeStore
) -> None:
    publisher.down = True
    response = await post(publisher, store, {"goal": "x"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json()["error"]["code"] == "unavailable"
    assert store.goal_rows == {}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["goal"]),
        ({"goal": ""}, ["goal"]),
        ({"goal": "   "}, ["goal"]),
        ({"goal": "x" * 20_001}, ["goal"]),
        ({"goal": 42}, ["goal"]),
        ({"goal": "x", "options": {"max_tasks": "5"}}, ["options.max_tasks"]),
        ({"goal": "x", "options": {"max_tasks": True}}, ["options.max_tasks"]),
        ({"goal": "x", "options": {"max_tasks": 0}}, ["options.max_tasks"]),
        ({"goal": "x", "options": {"deadline_s": 1.5}}, ["options.deadline_s"]),
        ({"goal": "x", "options": {"colour": "red"}}, ["options.colour"]),
        ({"goal": "x", "options": {"plan_approvals": "no"}}, ["options.plan_approvals"]),
        ({"goal": "x", "options": {"plan_approvals": 0}}, ["options.plan_approvals"]),
        ({"goal": "x", "options": {"models": {"poet": "m"}}}, ["options.models"]),
        ({"goal": "x", "options": []}, ["options"]),
        ({"goal": "x", "priority": 1}, ["priority"]),
        ({"goal": "x", "submitter": ""}, ["submitter"]),
        ({"goal": 1, "options": {"token_budget": -1}}, ["goal", "options.token_budget"]),
        (["goal"], ["body"]),
    ],
)
async def test_schema_violations_name_their_fields(
    publisher: FakePublisher, store: FakeStore, body: Any, fields: list[str]
) -> None:
    response = await post(publisher, store, body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_body"
    assert [item["field"] for item in error["fields"]] == fields
    assert all(item["message"] for item in error["fields"])
    assert publisher.published == []


@pytest.mark.parametrize("body", [b"", b"{", b'{"goal": "x",}', b"\xff\xfe", b"goal=x"])
async def test_invalid_json_is_400(publisher: FakePublisher, store: FakeStore, body: bytes) -> None:
    response = await post(publisher, store, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert publisher.published == []


async def test_a_body_too_large_is_413(publisher: FakePublisher, store: FakeStore) -> None:
    body = json.dumps({"goal": "x" * 300_000}).encode()
    response = await post(publisher, store, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert publisher.published == []
