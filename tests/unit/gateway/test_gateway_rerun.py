"""POST /goals/{id}/rerun with fakes at the boundary: the goal's next run is published, as
`podium rerun` publishes it; refused while its latest run goes on, for an unknown goal and
for another tenant's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from podium_common.apikeys import ApiKey
from podium_common.events import GoalSubmitted, derived_id
from tests.unit.gateway.fakes import FakePublisher, FakeStore, client, goal_row

ACME = "podium_aaaaaaaaaaaa_" + "a" * 43
OPTIONS: dict[str, object] = {"max_tasks": 3, "deadline_s": 60, "token_budget": None, "models": {}}


@pytest.fixture
def store() -> FakeStore:
    store = FakeStore()
    store.keys[ACME] = ApiKey("aaaaaaaaaaaa", "acme", "ada", datetime(2026, 1, 1, tzinfo=UTC))
    return store


def ended_goal(store: FakeStore, **fields: object) -> uuid.UUID:
    goal_id = uuid.uuid4()
    store.goal_rows[goal_id] = goal_row(
        goal_id, 1, run=2, status="completed", goal="Compare queues", options=OPTIONS, **fields
    )
    return goal_id


@pytest.mark.parametrize("status", ["completed", "failed"])
async def test_an_ended_goal_runs_again_as_its_next_run(
    publisher: FakePublisher, store: FakeStore, status: str
) -> None:
    goal_id = ended_goal(store, submitter="ada", tenant="acme")
    store.goal_rows[goal_id]["status"] = status
    traceparent = f"00-{'a' * 32}-{'b' * 16}-01"

    async with client(publisher, store) as http:
        response = await http.post(f"/goals/{goal_id}/rerun", headers={"traceparent": traceparent})

    assert response.status_code == 202, response.text
    assert response.json() == {
        "goal_id": str(goal_id),
        "run": 3,
        "status": "queued",
        "links": {"self": f"/goals/{goal_id}", "events": f"/goals/{goal_id}/events"},
    }
    assert response.headers["location"] == f"/goals/{goal_id}"
    (event,) = publisher.published
    assert isinstance(event, GoalSubmitted)
    assert (event.goal_id, event.run) == (goal_id, 3)
    assert event.event_id == derived_id("goal", goal_id, 3)
    assert (event.goal, event.submitter, event.tenant) == ("Compare queues", "ada", "acme")
    assert (event.options.max_tasks, event.options.deadline_s) == (3, 60)
    assert event.trace.traceparent.split("-")[1] == "a" * 32


@pytest.mark.parametrize("status", ["queued", "planning", "running"])
async def test_a_goal_whose_run_goes_on_is_409(
    publisher: FakePublisher, store: FakeStore, status: str
) -> None:
    goal_id = ended_goal(store)
    store.goal_rows[goal_id]["status"] = status
    async with client(publisher, store) as http:
        response = await http.post(f"/goals/{goal_id}/rerun")

    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "not_ended"
    assert f"run 2 is {status}" in error["message"]
    assert publisher.published == []


async def test_unknown_malformed_and_other_tenants_goals_are_refused(
    publisher: FakePublisher, store: FakeStore
) -> None:
    theirs = ended_goal(store, tenant="globex")
    ours = ended_goal(store, tenant="acme")
    key = {"Authorization": f"Bearer {ACME}"}
    async with client(publisher, store, require_keys=True) as http:
        unknown = await http.post(f"/goals/{uuid.uuid4()}/rerun", headers=key)
        malformed = await http.post("/goals/nope/rerun", headers=key)
        another = await http.post(f"/goals/{theirs}/rerun", headers=key)
        keyless = await http.post(f"/goals/{ours}/rerun")
        wrong_method = await http.get(f"/goals/{ours}/rerun", headers=key)
        own = await http.post(f"/goals/{ours}/rerun", headers=key)

    assert [r.status_code for r in (unknown, malformed, another, keyless)] == [404, 400, 404, 401]
    assert wrong_method.status_code == 405
    assert own.status_code == 202, own.text
    assert [event.goal_id for event in publisher.published] == [ours]


async def test_the_document_describes_the_route(publisher: FakePublisher, store: FakeStore) -> None:
    async with client(publisher, store) as http:
        document = (await http.get("/openapi.json")).json()

    operation = document["paths"]["/goals/{goal_id}/rerun"]["post"]
    assert operation["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Accepted"
    }
    assert operation["responses"]["409"]["description"] == "the goal's latest run has not ended"
    assert {"400", "401", "404", "429", "503"} <= set(operation["responses"])
