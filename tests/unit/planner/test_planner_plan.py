"""The planner's draft checks: JSON shape, graph errors, order and global ids."""

from __future__ import annotations

import json
import re

import pytest

from podium_common.plans import planned_tasks, review
from podium_common.topics import TaskType


def draft(*tasks: dict[str, object]) -> str:
    return json.dumps({"tasks": list(tasks)})


def task(local: str, kind: str = "researcher", *deps: str, **extra: object) -> dict[str, object]:
    return {
        "id": local,
        "type": kind,
        "description": f"do {local}",
        "depends_on": list(deps),
    } | extra


def test_a_valid_plan_comes_back_dependencies_first_and_stable():
    text = draft(task("t3", "specialist", "t1", "t2"), task("t1"), task("t2"), task("t4"))

    result = review(text, max_tasks=8)

    assert result.errors == []
    assert [t.id for t in result.tasks] == ["t1", "t2", "t4", "t3"]


def test_a_plan_in_a_markdown_fence_is_read():
    text = "```json\n" + draft(task("t1")) + "\n```"

    assert [t.id for t in review(text, max_tasks=8).tasks] == ["t1"]


def test_invalid_json_is_named():
    result = review("{not json", max_tasks=8)

    assert result.tasks == []
    assert len(result.errors) == 1
    assert result.errors[0].startswith("the reply is not valid JSON")


def test_shape_errors_name_the_field():
    text = json.dumps({"tasks": [{"id": "t1", "type": "researcher", "depends_on": "t0"}]})

    result = review(text, max_tasks=8)

    assert "tasks[0].description: Field required" in result.errors
    assert any(error.startswith("tasks[0].depends_on:") for error in result.errors)


def test_a_reply_without_tasks_is_named():
    assert review("{}", max_tasks=8).errors == ["tasks: Field required"]
    assert review('{"tasks": []}', max_tasks=8).errors == [
        "the plan has no tasks; it needs at least one"
    ]


@pytest.mark.parametrize(
    ("tasks", "expected"),
    [
        ([task("t1", "writer")], "task t1 has unknown type 'writer'"),
        ([task("t1"), task("t1")], "task id t1 is used 2 times"),
        ([task("t1"), task("t3", "specialist", "t9")], "task t3 depends on unknown task t9"),
        ([task("t1", "researcher", "t1")], "task t1 depends on itself"),
        ([task("t1", description="  ")], "task t1 has an empty description"),
        ([task("final")], "task id final is reserved for the final synthesis"),
        ([task("t 1")], "task id 't 1' must be 1-32 letters, digits, '-' or '_'"),
        ([task("t1", "validator")], "validator task t1 must depend on the task it checks"),
    ],
)
def test_each_graph_error_is_named(tasks, expected):
    result = review(draft(*tasks), max_tasks=8)

    assert result.tasks == []
    assert any(error.startswith(expected) for error in result.errors), result.errors


def test_a_cycle_is_named_in_dependency_order():
    text = draft(
        task("t1", "researcher", "t2"),
        task("t2", "researcher", "t3"),
        task("t3", "specialist", "t1"),
    )

    result = review(text, max_tasks=8)

    assert result.errors == ["cycle: t1 → t2 → t3 → t1 (each task depends on the next)"]


def test_all_errors_are_collected_at_once():
    text = draft(task("t1", "writer", "t9"), task("t2", "researcher", "t2"), task("t1"))

    errors = review(text, max_tasks=2).errors

    assert "the plan has 3 tasks; at most 2 are allowed" in errors
    assert "task id t1 is used 2 times" in errors
    assert "task t1 depends on unknown task t9" in errors
    assert "task t2 depends on itself" in errors
    assert any(error.startswith("task t1 has unknown type 'writer'") for error in errors)


def test_max_tasks_is_enforced_and_inclusive():
    tasks = [task(f"t{n}") for n in range(1, 5)]

    assert review(draft(*tasks), max_tasks=4).errors == []
    assert review(draft(*tasks), max_tasks=3).errors == [
        "the plan has 4 tasks; at most 3 are allowed"
    ]


def test_planned_tasks_get_global_ids_and_rewritten_dependencies():
    text = draft(task("t1", requirements=["cite", ""]), task("t2", "specialist", "t1", "t1"))
    tasks = review(text, max_tasks=8).tasks

    planned = planned_tasks(tasks, run_prefix="g.1.")

    prefix = planned[0].task_id.removesuffix("t1")
    assert re.fullmatch(r"g\.1\.[0-9a-f]{8}\.", prefix)
    assert [(p.task_id, p.type, p.depends_on) for p in planned] == [
        (prefix + "t1", TaskType.RESEARCHER, []),
        (prefix + "t2", TaskType.SPECIALIST, [prefix + "t1"]),
    ]
    assert planned[0].requirements == ["cite"]


def test_the_same_plan_gets_the_same_ids_and_any_other_plan_other_ids():
    def ids(*tasks: dict[str, object]) -> list[str]:
        planned = planned_tasks(review(draft(*tasks), max_tasks=8).tasks, run_prefix="g.1.")
        return [p.task_id for p in planned]

    plan = ids(task("t1"), task("t2", "specialist", "t1"))
    others = [
        ids(task("t1", description="look elsewhere"), task("t2", "specialist", "t1")),
        ids(task("t1"), task("t2", "validator", "t1")),
        ids(task("t1"), task("t2", "specialist", "t1", requirements=["brief"])),
        ids(task("t1"), task("t2", "specialist")),
        ids(task("t1"), task("t3", "specialist", "t1")),
    ]

    assert ids(task("t1"), task("t2", "specialist", "t1")) == plan
    for other in others:
        assert not set(other) & set(plan), other
