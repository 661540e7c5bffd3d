"""The console's own API with fakes at the boundary: the goal list's search."""

from __future__ import annotations

import uuid

import pytest

from tests.unit.gateway.fakes import FakePublisher, FakeStore, client, goal_row


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


async def test_search_asks_the_store_for_goals_past_the_first_page(
    publisher: FakePublisher, store: FakeStore
) -> None:
    old = uuid.uuid4()
    store.goal_rows[old] = goal_row(old, 1, goal="Compare three QUEUES")
    for seq in range(2, 40):
        other = uuid.uuid4()
        store.goal_rows[other] = goal_row(other, seq, goal=f"goal number {seq}")

    async with client(publisher, store) as http:
        first = await http.get("/console/api/goals", params={"limit": 5})
        found = await http.get("/console/api/goals", params={"limit": 5, "q": " queues "})
        by_id = await http.get("/console/api/goals", params={"q": str(old)[:8]})

    assert first.status_code == 200, first.text
    assert str(old) not in {goal["goal_id"] for goal in first.json()["goals"]}
    assert found.status_code == 200, found.text
    assert [goal["goal_id"] for goal in found.json()["goals"]] == [str(old)]
    assert found.json()["next"] is None
    assert [goal["goal_id"] for goal in by_id.json()["goals"]] == [str(old)]
    assert store.searched == [None, "queues", str(old)[:8]]


@pytest.mark.parametrize(
    ("params", "field"), [({"q": "a\x00b"}, "q"), ({"q": "x" * 501}, "q"), ({"z": "1"}, "z")]
)
async def test_a_bad_search_is_400_naming_the_field(
    publisher: FakePublisher, store: FakeStore, params: dict[str, str], field: str
) -> None:
    async with client(publisher, store) as http:
        response = await http.get("/console/api/goals", params=params)

    assert response.status_code == 400, response.text
    assert [item["field"] for item in response.json()["error"]["fields"]] == [field]
