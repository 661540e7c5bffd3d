"""The planner's scripted plans: default shape, directives, the task limit, determinism."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.scripted_llm import chat

TYPES = {"researcher", "specialist", "validator", "synthesizer"}


def assert_valid(tasks: list[dict[str, Any]], goal_words: str) -> None:
    """Known types, unique ids, dependencies only on earlier tasks (so no cycles)."""
    seen: set[str] = set()
    for task in tasks:
        assert task["type"] in TYPES
        assert goal_words in task["description"]
        assert set(task["depends_on"]) <= seen
        assert task["id"] not in seen
        seen.add(task["id"])


def deps(tasks: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {task["id"]: task["depends_on"] for task in tasks}


async def test_default_plan_is_two_researchers_and_a_specialist(client):
    tasks = await chat.plan(client, "Compare tea and coffee")
    assert_valid(tasks, "Compare tea and coffee")
    assert [t["type"] for t in tasks] == ["researcher", "researcher", "specialist"]
    assert deps(tasks) == {"t1": [], "t2": [], "t3": ["t1", "t2"]}


async def test_parallel_directive_gives_independent_researchers(client):
    tasks = await chat.plan(client, "Survey rivers [parallel=4]")
    assert_valid(tasks, "Survey rivers")
    assert [t["type"] for t in tasks] == ["researcher"] * 4
    assert all(t["depends_on"] == [] for t in tasks)


async def test_chain_alone_is_a_chain(client):
    tasks = await chat.plan(client, "Refine a poem [chain=3]")
    assert deps(tasks) == {"t1": [], "t2": ["t1"], "t3": ["t2"]}


async def test_parallel_chain_and_validate_combine(client):
    tasks = await chat.plan(client, "Plan a trip [parallel=3] [chain=3] [validate]")
    assert_valid(tasks, "Plan a trip")
    assert deps(tasks) == {
        "t1": [],
        "t2": [],
        "t3": [],
        "t4": ["t1", "t2", "t3"],
        "t5": ["t4"],
        "t6": ["t5"],
        "t7": ["t6"],
    }
    assert tasks[-1]["type"] == "validator"
    assert "t6" in tasks[-1]["description"]


async def test_mark_approval_marks_the_last_task_alone(client):
    tasks = await chat.plan(client, "Name a lake [mark-approval]")
    assert [t.get("requires_approval") for t in tasks] == [None, None, "after"]
    assert all("[" not in t["description"] for t in tasks)


async def test_descriptions_leave_directives_out(client):
    tasks = await chat.plan(client, "Name a colour [parallel=2] [validate]")
    assert all("[" not in t["description"] for t in tasks)


@pytest.mark.parametrize(
    ("goal", "most", "expected"),
    [
        (
            "Sizes [parallel=5] [chain=3] [validate]",
            4,
            ["researcher", "specialist", "specialist", "validator"],
        ),
        (
            "Sizes [parallel=5] [chain=3] [validate]",
            6,
            ["researcher"] * 2 + ["specialist"] * 3 + ["validator"],
        ),
        ("Sizes", 2, ["researcher", "specialist"]),
        ("Sizes [parallel=3]", 1, ["researcher"]),
        ("Sizes [chain=4]", 0, ["specialist"]),
    ],
)
async def test_most_tasks_is_respected_with_valid_dependencies(client, goal, most, expected):
    tasks = await chat.plan(client, goal, most=most)
    assert_valid(tasks, "Sizes")
    assert [t["type"] for t in tasks] == expected


async def test_fail_task_marks_exactly_one_task_that_workers_refuse(client):
    tasks = await chat.plan(client, "Doomed [fail-task]")
    failing = [t for t in tasks if "[always-fail]" in t["description"]]
    assert len(failing) == 1
    response = await client.post(
        "/v1/chat/completions", json=chat.worker("researcher", failing[0]["description"], {})
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "always_fail"


def reask(goal: str, previous: str) -> dict[str, Any]:
    request = chat.planner(goal)
    request["messages"] += [
        {"role": "assistant", "content": previous},
        {"role": "user", "content": "Your plan was invalid:\n- t1: dependency cycle"},
    ]
    return request


async def test_invalid_plan_is_always_cyclic(client):
    first = await chat.content(client, chat.planner("Loop [invalid-plan]"))
    again = await chat.content(client, reask("Loop [invalid-plan]", first))
    for reply in (first, again):
        assert deps(json.loads(reply)["tasks"]) == {"t1": ["t2"], "t2": ["t1"]}


async def test_malformed_plan_is_never_json(client):
    first = await chat.content(client, chat.planner("Garble [malformed-plan]"))
    again = await chat.content(client, reask("Garble [malformed-plan]", first))
    for reply in (first, again):
        with pytest.raises(json.JSONDecodeError):
            json.loads(reply)


async def test_same_request_same_answer(client):
    request = chat.planner("Deterministic [parallel=3] [chain=2]")
    first = await client.post("/v1/chat/completions", json=request)
    second = await client.post("/v1/chat/completions", json=request)
    assert first.json()["choices"] == second.json()["choices"]
    assert first.json()["id"] == second.json()["id"]
    other = await client.post("/v1/chat/completions", json=chat.planner("Other [parallel=3]"))
    assert other.json()["choices"] != first.json()["choices"]
