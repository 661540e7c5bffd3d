"""API keys and tenants at the gateway, with fakes at the boundary: every route of `/goals`
with two tenants, each seeing, streaming and cancelling only its own goals; what belongs to
every tenant at once (dead letters, workers) only with an operator's key."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from podium_common.apikeys import ApiKey
from podium_common.events import GoalCancelled, GoalSubmitted
from podium_gateway.settings import GatewaySettings
from tests.unit.gateway.fakes import FakePublisher, FakeStore, client, event_row, goal_row

ACME, GLOBEX = "podium_aaaaaaaaaaaa_" + "a" * 43, "podium_bbbbbbbbbbbb_" + "b" * 43
OPS = "podium_dddddddddddd_" + "d" * 43
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def store() -> FakeStore:
    store = FakeStore()
    store.keys[ACME] = ApiKey("aaaaaaaaaaaa", "acme", "ada", CREATED)
    store.keys[GLOBEX] = ApiKey("bbbbbbbbbbbb", "globex", "bob", CREATED)
    store.keys[OPS] = ApiKey("dddddddddddd", "acme", "ops", CREATED, operator=True)
    return store


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def goal_of(store: FakeStore, tenant: str) -> uuid.UUID:
    goal_id = uuid.uuid4()
    store.goal_rows[goal_id] = goal_row(goal_id, len(store.goal_rows) + 1, tenant=tenant)
    store.event_rows[goal_id] = [event_row(1, "GoalCompleted")]
    return goal_id


async def test_keys_are_required_unless_the_gateway_listens_on_loopback_only() -> None:
    assert not GatewaySettings(host="127.0.0.1").keys_required
    assert GatewaySettings(host="0.0.0.0").keys_required
    assert GatewaySettings(host="127.0.0.1", require_keys=True).keys_required


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "requires an API key"),
        ({"Authorization": "Basic YTpi"}, "requires an API key"),
        ({"Authorization": "Bearer podium_cccccccccccc_" + "c" * 43}, "not valid"),
        ({"Authorization": "Bearer nonsense"}, "not valid"),
    ],
)
async def test_without_a_valid_key_every_goal_route_is_401(
    store: FakeStore, headers: dict[str, str], message: str
) -> None:
    publisher = FakePublisher()
    goal_id = goal_of(store, "acme")
    async with client(publisher, store, require_keys=True) as http:
        for method, path in [
            ("POST", "/goals"),
            ("GET", "/goals"),
            ("GET", f"/goals/{goal_id}"),
            ("DELETE", f"/goals/{goal_id}"),
            ("GET", f"/goals/{goal_id}/events"),
            ("POST", f"/goals/{goal_id}/approvals/t1"),
        ]:
            response = await http.request(method, path, headers=headers, json={"goal": "x"})
            assert response.status_code == 401, (method, path)
            assert message in response.json()["error"]["message"]
            assert response.headers["www-authenticate"].startswith("Bearer")
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/openapi.json")).status_code == 200
    assert publisher.published == []


async def test_tenant_and_submitter_come_from_the_key(store: FakeStore) -> None:
    publisher = FakePublisher()
    async with client(publisher, store, require_keys=True) as http:
        accepted = await http.post("/goals", json={"goal": "x"}, headers=bearer(ACME))
        assert accepted.status_code == 202
        spoofed = await http.post(
            "/goals", json={"goal": "x", "submitter": "bob"}, headers=bearer(ACME)
        )
        assert spoofed.status_code == 422
        assert spoofed.json()["error"]["fields"][0]["field"] == "submitter"
    [event] = publisher.published
    assert isinstance(event, GoalSubmitted)
    assert (event.tenant, event.submitter) == ("acme", "ada")


async def test_each_tenant_lists_shows_and_streams_only_its_own_goals(store: FakeStore) -> None:
    mine, theirs = goal_of(store, "acme"), goal_of(store, "globex")
    async with client(FakePublisher(), store, require_keys=True) as http:
        listed = (await http.get("/goals", headers=bearer(ACME))).json()["goals"]
        assert [goal["goal_id"] for goal in listed] == [str(mine)]
        assert (await http.get(f"/goals/{mine}", headers=bearer(ACME))).status_code == 200
        assert (await http.get(f"/goals/{theirs}", headers=bearer(ACME))).status_code == 404
        stream = await http.get(f"/goals/{theirs}/events", headers=bearer(ACME))
        assert stream.status_code == 404
        stream = await http.get(f"/goals/{theirs}/events", headers=bearer(GLOBEX))
        assert stream.status_code == 200
        listed = (await http.get("/goals", headers=bearer(GLOBEX))).json()["goals"]
        assert [goal["goal_id"] for goal in listed] == [str(theirs)]


async def test_a_tenant_cancels_only_its_own_goals_in_its_own_name(store: FakeStore) -> None:
    publisher = FakePublisher()
    mine, theirs = goal_of(store, "acme"), goal_of(store, "globex")
    async with client(publisher, store, require_keys=True) as http:
        refused = await http.delete(f"/goals/{theirs}", headers=bearer(ACME))
        assert refused.status_code == 404
        spoofed = await http.delete(
            f"/goals/{mine}", params={"requested_by": "bob"}, headers=bearer(ACME)
        )
        assert spoofed.status_code == 400
        cancelled = await http.delete(f"/goals/{mine}", headers=bearer(ACME))
        assert cancelled.status_code == 202
    [event] = publisher.published
    assert isinstance(event, GoalCancelled)
    assert (event.goal_id, event.requested_by) == (mine, "ada")


async def test_without_keys_required_every_goal_is_seen_and_submitted_to_default(
    store: FakeStore,
) -> None:
    publisher = FakePublisher()
    goal_of(store, "acme"), goal_of(store, "globex")
    async with client(publisher, store) as http:
        listed = (await http.get("/goals")).json()["goals"]
        assert len(listed) == 2
        assert (await http.post("/goals", json={"goal": "x"})).status_code == 202
    assert isinstance(publisher.published[0], GoalSubmitted)
    assert publisher.published[0].tenant == "default"


async def test_a_key_past_its_requests_per_minute_is_429_with_retry_after(
    store: FakeStore,
) -> None:
    async with client(FakePublisher(), store, require_keys=True, key_requests_per_minute=3) as http:
        answered = [(await http.get("/goals", headers=bearer(ACME))) for _ in range(4)]
        other = await http.get("/goals", headers=bearer(GLOBEX))
    assert [response.status_code for response in answered] == [200, 200, 200, 429]
    assert answered[-1].json()["error"]["code"] == "rate_limited"
    assert 1 <= int(answered[-1].headers["retry-after"]) <= 60
    assert other.status_code == 200


async def test_a_tenant_decides_approvals_only_on_its_own_goals_in_its_own_name(
    store: FakeStore,
) -> None:
    publisher = FakePublisher()
    theirs = goal_of(store, "globex")
    body = {"decision": "approve"}
    async with client(publisher, store, require_keys=True) as http:
        path = f"/goals/{theirs}/approvals/t1"
        assert (await http.post(path, json=body, headers=bearer(ACME))).status_code == 404
        spoofed = {**body, "decided_by": "bob"}
        refused = await http.post(path, json=spoofed, headers=bearer(GLOBEX))
        assert refused.status_code == 422
        assert refused.json()["error"]["fields"][0]["field"] == "decided_by"
    assert publisher.published == []


CLUSTER_ROUTES = [
    ("GET", "/console/api/deadletters", "dead letters"),
    ("POST", "/console/api/deadletters/redrive", "dead letters"),
    ("GET", "/console/api/workers", "the workers"),
]


async def test_dead_letters_and_workers_are_403_to_a_tenants_key(store: FakeStore) -> None:
    publisher = FakePublisher()
    redrive = {"topic": "goals.dlq", "partition": 0, "offset": 0}
    async with client(publisher, store, require_keys=True) as http:
        for method, path, what in CLUSTER_ROUTES:
            response = await http.request(method, path, headers=bearer(ACME), json=redrive)
            assert response.status_code == 403, (path, response.text)
            error = response.json()["error"]
            assert error["code"] == "forbidden"
            assert error["message"].startswith(f"{what} belong to every tenant")
            assert "podium keys create --operator" in error["message"]
    assert publisher.published == []


async def test_an_operators_key_passes_to_the_request_itself(store: FakeStore) -> None:
    """Its re-drive is judged on its body (422), where a tenant's key with the same body is
    refused for the key (403)."""
    async with client(FakePublisher(), store, require_keys=True) as http:
        path = "/console/api/deadletters/redrive"
        by_operator = await http.post(path, headers=bearer(OPS), json={"topic": ""})
        by_tenant = await http.post(path, headers=bearer(ACME), json={"topic": ""})

    assert by_operator.status_code == 422, by_operator.text
    assert {item["field"] for item in by_operator.json()["error"]["fields"]} >= {"topic"}
    assert by_tenant.status_code == 403, by_tenant.text


async def test_without_keys_required_the_open_caller_operates() -> None:
    async with client(FakePublisher(), FakeStore()) as http:
        response = await http.post("/console/api/deadletters/redrive", json={"topic": ""})

    assert response.status_code == 422, response.text
