"""The console's own API with fakes at the boundary: the goal list's search, and the prompt
a task's worker sent, made by the worker's own role from the task's recorded assignment."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from podium_common.apikeys import ApiKey
from podium_common.avro import as_json
from podium_common.events import DependencyOutput, TaskAssigned, Trace, utcnow
from podium_common.llm import Message
from podium_common.topics import TaskType
from podium_common.worker import delegation_prompt, first_messages
from podium_worker_specialist.handler import ROLE as SPECIALIST
from podium_worker_validator.handler import ROLE as VALIDATOR
from tests.unit.gateway.fakes import FakePublisher, FakeStore, client, goal_row

ACME = "podium_aaaaaaaaaaaa_" + "a" * 43


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


def assigned(goal_id: uuid.UUID, local: str, type_: TaskType, **fields: Any) -> TaskAssigned:
    return TaskAssigned(
        event_id=uuid.uuid4(),
        goal_id=goal_id,
        run=1,
        occurred_at=utcnow(),
        trace=Trace.new(),
        task_id=f"{goal_id}.1.{local}",
        type=type_,
        description=f"do {local}",
        requirements=["cite figures"],
        goal="Compare three queues",
        attempt=2,
        deadline=utcnow() + timedelta(minutes=5),
        **fields,
    )


async def test_a_tasks_prompt_is_what_its_worker_sends_for_its_latest_assignment(
    publisher: FakePublisher, store: FakeStore
) -> None:
    goal_id = uuid.uuid4()
    store.goal_rows[goal_id] = goal_row(goal_id, 1, status="running")
    dependency = DependencyOutput(
        task_id=f"{goal_id}.1.t1", type=TaskType.RESEARCHER, description="find", output="Kafka"
    )
    task = assigned(
        goal_id,
        "t2",
        TaskType.SPECIALIST,
        inputs=[dependency],
        feedback="add latency figures",
        max_subtasks=3,
    )
    store.assigned[(goal_id, 1, task.task_id)] = as_json(task)

    async with client(publisher, store) as http:
        response = await http.get(
            f"/console/api/goals/{goal_id}/prompt", params={"task": task.task_id}
        )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["task_id"], body["attempt"], body["type"]) == (task.task_id, 2, "specialist")
    system, user = body["messages"]
    assert system == {"role": "system", "content": SPECIALIST.system_prompt + delegation_prompt(3)}
    assert user["role"] == "user"
    assert user["content"].startswith("Goal: Compare three queues\n\nTask: do t2")
    assert "Input t1 (researcher):\nKafka" in user["content"]
    assert user["content"].endswith("Feedback:\nadd latency figures")
    assert [Message(**m) for m in body["messages"]] == first_messages(task, SPECIALIST)


async def test_a_validators_prompt_offers_no_delegation(
    publisher: FakePublisher, store: FakeStore
) -> None:
    goal_id = uuid.uuid4()
    store.goal_rows[goal_id] = goal_row(goal_id, 1, status="running")
    task = assigned(goal_id, "t3", TaskType.VALIDATOR, max_subtasks=3)
    store.assigned[(goal_id, 1, task.task_id)] = as_json(task)

    async with client(publisher, store) as http:
        response = await http.get(
            f"/console/api/goals/{goal_id}/prompt", params={"task": task.task_id}
        )

    system = response.json()["messages"][0]["content"]
    assert system == VALIDATOR.system_prompt
    assert "Delegation" not in system


async def test_a_prompt_not_sent_or_of_another_tenant_is_404(
    publisher: FakePublisher, store: FakeStore
) -> None:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    store.keys[ACME] = ApiKey("aaaaaaaaaaaa", "acme", "ada", created)
    ours, theirs = uuid.uuid4(), uuid.uuid4()
    store.goal_rows[ours] = goal_row(ours, 1, tenant="acme")
    store.goal_rows[theirs] = goal_row(theirs, 2, tenant="globex")
    task = assigned(theirs, "t1", TaskType.RESEARCHER)
    store.assigned[(theirs, 1, task.task_id)] = as_json(task)
    key = {"Authorization": f"Bearer {ACME}"}

    async with client(publisher, store, require_keys=True) as http:
        another = await http.get(
            f"/console/api/goals/{theirs}/prompt", params={"task": task.task_id}, headers=key
        )
        pending = await http.get(
            f"/console/api/goals/{ours}/prompt", params={"task": f"{ours}.1.t1"}, headers=key
        )
        keyless = await http.get(f"/console/api/goals/{ours}/prompt", params={"task": "t1"})

    assert (another.status_code, pending.status_code, keyless.status_code) == (404, 404, 401)
    assert "no task" in pending.json()["error"]["message"]
