"""A worker offered delegation may answer with a sub-plan, reviewed as the planner reviews a
plan; an invalid one is asked again with its errors, then fails the task with the reason."""

from __future__ import annotations

import json

from podium_common.events import TaskStatus, local_task_id
from podium_common.topics import TaskType
from podium_common.worker import WorkerRole, run_task
from tests.unit.workers.fakes import FakeLLM, make_task

ROLE = WorkerRole(task_type=TaskType.RESEARCHER, system_prompt="You are Podium's researcher.")
SUBPLAN = {
    "tasks": [
        {"id": "s1", "type": "researcher", "description": "find part one"},
        {"id": "s2", "type": "specialist", "description": "combine", "depends_on": ["s1"]},
    ]
}


async def test_a_sub_plan_becomes_the_results_subtasks_under_the_task() -> None:
    llm = FakeLLM(json.dumps(SUBPLAN))
    task = make_task(max_subtasks=3, depth=1)
    result = await run_task(task, llm=llm, role=ROLE, worker_id="w", model="m")
    assert result.status is TaskStatus.SUCCEEDED
    assert result.delegated
    assert result.depth == 1
    assert [local_task_id(t.task_id) for t in result.subtasks] == [
        f"{local_task_id(task.task_id)}/s1",
        f"{local_task_id(task.task_id)}/s2",
    ]
    assert all(t.task_id.startswith(f"{task.task_id}/1.") for t in result.subtasks)
    assert "Most subtasks: 3" in llm.requests[0].messages[0].content


async def test_an_invalid_sub_plan_is_repaired_with_its_errors_then_fails_the_task() -> None:
    cyclic = {
        "tasks": [{"id": "s1", "type": "researcher", "description": "x", "depends_on": ["s1"]}]
    }
    too_big = {
        "tasks": [{"id": f"s{i}", "type": "researcher", "description": "x"} for i in range(4)]
    }
    llm = FakeLLM(json.dumps(cyclic), json.dumps(too_big), json.dumps(too_big))
    result = await run_task(make_task(max_subtasks=2), llm=llm, role=ROLE, worker_id="w", model="m")
    assert result.status is TaskStatus.FAILED
    assert result.error is not None
    assert "the sub-plan is invalid" in result.error.message
    assert "at most 2 are allowed" in result.error.message
    assert "task s1 depends on itself" in llm.requests[1].messages[-1].content


async def test_a_task_not_offered_delegation_is_not_told_of_it_and_json_is_an_answer() -> None:
    llm = FakeLLM(json.dumps(SUBPLAN))
    result = await run_task(make_task(), llm=llm, role=ROLE, worker_id="w", model="m")
    assert not result.delegated
    assert result.output == json.dumps(SUBPLAN)
    assert "Most subtasks" not in llm.requests[0].messages[0].content
