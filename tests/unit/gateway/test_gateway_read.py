"""GET /goals/{id}, GET /goals, health and metrics, over an in-memory read model."""

from __future__ import annotations

import uuid

import httpx
import pytest
from prometheus_client import REGISTRY

from podium_gateway.app import create_app
from tests.unit.gateway.fakes import FakePublisher, FakeStore, client, goal_row, settings, task_row


def completed_goal(store: FakeStore) -> uuid.UUID:
    goal_id = uuid.uuid4()
    plan = {
        "model": "planner-m",
        "attempts": 2,
        "usage": {"prompt_tokens": 100, "completion_tokens": 50},
        "tasks": [
            {"task_id": "a", "type": "researcher", "description": "A", "requirements": [],
             "depends_on": []},
            {"task_id": "b", "type": "specialist", "description": "B", "requirements": ["x"],
             "depends_on": ["a"]},
        ],
    }  # fmt: skip
    store.goal_rows[goal_id] = goal_row(
        goal_id,
        1,
        status="completed",
        plan=plan,
        output="the answer",
        planning_prompt_tokens=100,
        planning_completion_tokens=50,
        outcome_totals={"wall_ms": 4321},
    )
    store.task_rows[goal_id] = [
        task_row(goal_id, "a", prompt_tokens=10, completion_tokens=1),
        task_row(goal_id, "b", prompt_tokens=20, completion_tokens=2, attempts=2),
        task_row(goal_id, "c", status="failed", error={"kind": "k", "message": "m"}, output=None),
        task_row(goal_id, "final", final=True, prompt_tokens=30, completion_tokens=3),
    ]
    return goal_id


async def test_a_goal_shows_its_plan_tasks_output_and_totals(store: FakeStore) -> None:
    goal_id = completed_goal(store)
    async with client(FakePublisher(), store) as http:
        response = await http.get(f"/goals/{goal_id}")
    assert response.status_code == 200
    goal = response.json()
    assert goal["status"] == "completed"
    assert goal["output"] == "the answer"
    assert goal["reason"] is None
    assert goal["plan"]["model"] == "planner-m"
    assert goal["plan"]["tasks"][1] == {
        "task_id": "b",
        "type": "specialist",
        "description": "B",
        "requirements": ["x"],
        "depends_on": ["a"],
    }
    assert goal["totals"] == {
        "tasks": 4,
        "succeeded": 3,
        "failed": 1,
        "prompt_tokens": 160,
        "completion_tokens": 56,
        "cost": None,  # no model has a price
        "wall_ms": 4321,
    }
    task = goal["tasks"][1]
    assert set(task) == {
        "task_id", "type", "description", "depends_on", "final", "status", "attempts",
        "output", "verdict", "error", "model", "tokens", "cost", "latency_ms", "parent_id",
        "depth",
    }  # fmt: skip
    assert task["tokens"] == {"prompt": 20, "completion": 2}
    assert task["attempts"] == 2
    assert goal["tasks"][2]["error"] == {"kind": "k", "message": "m"}
    assert goal["tasks"][3]["final"] is True


async def test_a_goal_shows_each_tasks_cost_and_its_total_at_the_configured_prices(
    store: FakeStore,
) -> None:
    goal_id = completed_goal(store)
    prices = {
        "planner-m": {"input_per_million": 3, "output_per_million": 15},
        "m": {"input_per_million": 0.5, "output_per_million": 2},
    }
    async with client(FakePublisher(), store, prices=prices) as http:
        goal = (await http.get(f"/goals/{goal_id}")).json()
    costs = [task["cost"] for task in goal["tasks"]]
    assert costs == pytest.approx([7e-6, 14e-6, 0.0, 21e-6])
    planner = (100 * 3 + 50 * 15) / 1e6
    assert goal["totals"]["cost"] == pytest.approx(planner + 42e-6)


async def test_a_failed_goal_gives_its_reason(store: FakeStore) -> None:
    goal_id = uuid.uuid4()
    store.goal_rows[goal_id] = goal_row(
        goal_id, 1, status="failed", reason_kind="plan_rejected", reason_message="cycle"
    )
    async with client(FakePublisher(), store) as http:
        goal = (await http.get(f"/goals/{goal_id}")).json()
    assert goal["reason"] == {"kind": "plan_rejected", "message": "cycle"}
    assert goal["plan"] is None
    assert goal["tasks"] == []
    # Still running or failed without an outcome: wall time since submission.
    assert goal["totals"]["wall_ms"] >= 2000


@pytest.mark.parametrize("path", ["/goals/nope", "/goals/123", "/goals/nope/events"])
async def test_a_malformed_id_is_400(store: FakeStore, path: str) -> None:
    async with client(FakePublisher(), store) as http:
        response = await http.get(path)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_id"


@pytest.mark.parametrize("suffix", ["", "/events"])
async def test_an_unknown_goal_is_404(store: FakeStore, suffix: str) -> None:
    async with client(FakePublisher(), store) as http:
        response = await http.get(f"/goals/{uuid.uuid4()}{suffix}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "path",
    ["/goals/x", "/goals", f"/goals/{uuid.uuid4()}/events"],
    ids=["goal", "list", "events"],
)
async def test_postgres_down_is_503_with_retry_after(store: FakeStore, path: str) -> None:
    store.down = True
    async with client(FakePublisher(), store) as http:
        response = await http.get(path.replace("/x", f"/{uuid.uuid4()}"))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json()["error"]["code"] == "unavailable"


async def test_routes_and_methods_that_do_not_exist_answer_json(store: FakeStore) -> None:
    async with client(FakePublisher(), store) as http:
        missing = await http.get("/nowhere")
        wrong = await http.delete("/goals")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "method_not_allowed")


async def test_the_list_pages_newest_first_with_a_cursor(store: FakeStore) -> None:
    ids = [uuid.uuid4() for _ in range(5)]
    for seq, goal_id in enumerate(ids, start=1):
        status = "completed" if seq % 2 else "running"
        store.goal_rows[goal_id] = goal_row(goal_id, seq, status=status)
    async with client(FakePublisher(), store) as http:
        first = (await http.get("/goals", params={"limit": 2})).json()
        second = (await http.get("/goals", params={"limit": 2, "before": first["next"]})).json()
        last = (await http.get("/goals", params={"limit": 2, "before": second["next"]})).json()
        done = (await http.get("/goals", params={"status": "completed"})).json()
    listed = [g["goal_id"] for page in (first, second, last) for g in page["goals"]]
    assert listed == [str(goal_id) for goal_id in reversed(ids)]
    assert last["next"] is None
    assert [g["goal_id"] for g in done["goals"]] == [str(ids[4]), str(ids[2]), str(ids[0])]
    assert first["goals"][0]["links"]["self"] == f"/goals/{ids[4]}"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": "0"}, "limit"), ({"limit": "many"}, "limit"), ({"status": "lost"}, "status"),
     ({"before": "x"}, "before"), ({"colour": "red"}, "colour")],
)  # fmt: skip
async def test_a_bad_list_query_is_400(
    store: FakeStore, params: dict[str, str], field: str
) -> None:
    async with client(FakePublisher(), store) as http:
        response = await http.get("/goals", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_query"
    assert [item["field"] for item in error["fields"]] == [field]


async def test_ready_only_with_the_producer_started_and_postgres_up(store: FakeStore) -> None:
    publisher = FakePublisher()
    app = create_app(settings(), publisher, store)
    async with client(publisher, store) as http:
        assert (await http.get("/healthz")).status_code == 200
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        before = await http.get("/readyz")
        async with app.router.lifespan_context(app):
            assert publisher.started
            ready = await http.get("/readyz")
            store.down = True
            down = await http.get("/readyz")
        assert not publisher.started
    assert before.status_code == 503
    assert before.json()["checks"] == {"kafka": False, "postgres": True}
    assert ready.status_code == 200
    assert down.status_code == 503
    assert down.json()["checks"] == {"kafka": True, "postgres": False}


def requests_counted(route: str, status: str) -> float:
    labels = {"method": "GET", "route": route, "status": status}
    return REGISTRY.get_sample_value("podium_gateway_requests_total", labels) or 0.0


async def test_metrics_count_requests_by_route_template(store: FakeStore) -> None:
    before = requests_counted("/goals/{goal_id}", "404")
    async with client(FakePublisher(), store) as http:
        await http.get(f"/goals/{uuid.uuid4()}")
        await http.get(f"/goals/{uuid.uuid4()}")
        await http.post("/goals", json={"goal": "counted"})
        text = (await http.get("/metrics")).text
    assert requests_counted("/goals/{goal_id}", "404") == before + 2
    assert "podium_gateway_goals_submitted_total" in text
    assert 'route="/goals",status="202"' in text
