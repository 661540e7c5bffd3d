"""DELETE /goals/{id} with fakes at the boundary: what is published, and refused how."""

from __future__ import annotations

import uuid

import pytest

from podium_common.events import GoalCancelled, derived_id
from tests.unit.gateway.fakes import FakePublisher, FakeStore, client, goal_row


async def test_a_running_goal_is_cancelled_for_its_latest_run(
    publisher: FakePublisher, store: FakeStore
) -> None:
    goal_id = uuid.uuid4()
    store.goal_rows[goal_id] = goal_row(goal_id, 1, status="running", run=2)
    traceparent = f"00-{'a' * 32}-{'b' * 16}-01"

    async with client(publisher, store) as http:
        response = await http.delete(
            f"/goals/{goal_id}",
            params={"reason": "wrong question", "requested_by": "ada"},
            headers={"traceparent": traceparent},
        )

    assert response.status_code == 202, response.text
    assert response.json() == {"goal_id": str(goal_id), "run": 2, "status": "cancelling"}
    (event,) = publisher.published
    assert isinstance(event, GoalCancelled)
    assert event.event_id == derived_id("cancel", goal_id, 2)
    assert (event.goal_id, event.run) == (goal_id, 2)
    assert (event.requested_by, event.reason) == ("ada", "wrong question")
    assert event.trace.traceparent.split("-")[1] == "a" * 32


async def test_cancelling_twice_publishes_the_same_event(
    publisher: FakePublisher, store: FakeStore
) -> None:
    goal_id = uuid.uuid4()
    store.goal_rows[goal_id] = goal_row(goal_id, 1, status="queued")
    async with client(publisher, store) as http:
        first = await http.delete(f"/goals/{goal_id}")
        second = await http.delete(f"/goals/{goal_id}")

    assert (first.status_code, second.status_code) == (202, 202)
    assert {event.event_id for event in publisher.published} == {derived_id("cancel", goal_id, 1)}


async def test_an_unknown_goal_is_404(publisher: FakePublisher, store: FakeStore) -> None:
    async with client(publisher, store) as http:
        response = await http.delete(f"/goals/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert publisher.published == []


@pytest.mark.parametrize("status", ["completed", "failed"])
async def test_an_ended_goal_is_409(
    publisher: FakePublisher, store: FakeStore, status: str
) -> None:
    goal_id = uuid.uuid4()
    store.goal_rows[goal_id] = goal_row(goal_id, 1, status=status)
    async with client(publisher, store) as http:
        response = await http.delete(f"/goals/{goal_id}")
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "ended",
        "message": f"goal {goal_id} has already {status}",
    }
    assert publisher.published == []


async def test_bad_ids_and_queries_are_400(publisher: FakePublisher, store: FakeStore) -> None:
    goal_id = uuid.uuid4()
    store.goal_rows[goal_id] = goal_row(goal_id, 1, status="running")
    async with client(publisher, store) as http:
        bad_id = await http.delete("/goals/not-a-uuid")
        bad_query = await http.delete(f"/goals/{goal_id}", params={"force": "yes"})
    assert bad_id.json()["error"]["code"] == "invalid_id"
    assert bad_query.status_code == 400
    assert bad_query.json()["error"]["code"] == "invalid_query"
    assert publisher.published == []


async def test_postgres_down_is_503_and_kafka_down_is_503(
    publisher: FakePublisher, store: FakeStore
) -> None:
    goal_id = uuid.uuid4()
    store.goal_rows[goal_id] = goal_row(goal_id, 1, status="running")
    async with client(publisher, store) as http:
        store.down = True
        no_postgres = await http.delete(f"/goals/{goal_id}")
        store.down, publisher.down = False, True
        no_kafka = await http.delete(f"/goals/{goal_id}")
    assert (no_postgres.status_code, no_kafka.status_code) == (503, 503)
    assert "retry-after" in no_postgres.headers
    assert publisher.published == []
