"""The scripted answers read prompts exactly as Podium's workers and planner write them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from podium_common.events import DependencyOutput, TaskAssigned, Trace
from podium_common.prompts import user_message
from podium_common.topics import TaskType
from tests.unit.scripted_llm import chat


def assigned(kind: TaskType, inputs: dict[str, str], feedback: str | None = None) -> str:
    task = TaskAssigned(
        event_id=uuid.uuid4(),
        goal_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        trace=Trace.new(),
        task_id="g.1.t9",
        type=kind,
        description="Weigh the evidence",
        requirements=["be brief"],
        goal="Compare tea and coffee [validate] [reject-once]",
        inputs=[
            DependencyOutput(
                task_id=task_id, type=TaskType.RESEARCHER, description="find", output=output
            )
            for task_id, output in inputs.items()
        ],
        attempt=1,
        deadline=datetime.now(UTC),
        feedback=feedback,
    )
    return user_message(task)


async def test_worker_reads_task_inputs_and_feedback(client):
    message = assigned(TaskType.SPECIALIST, {"g.1.t1": "\ntea: old\nmore"}, feedback="Cite it")
    text = await chat.content(client, chat.body("specialist", message))
    assert text.splitlines() == [
        "Specialist result for task: Weigh the evidence",
        "Based on 1 input(s): t1.",
        "Revised after Feedback: Cite it",
    ]


async def test_synthesizer_reads_first_lines_of_real_inputs(client):
    message = assigned(TaskType.SYNTHESIZER, {"g.1.t1": "tea: old\nx", "g.1.t2": "coffee: new"})
    text = await chat.content(client, chat.body("synthesizer", message))
    assert text.startswith("Answer: tea: old | coffee: new\n")


async def test_reject_once_round_trip(client):
    checked = {"g.1.t3": "first draft"}
    first = await chat.content(
        client, chat.body("validator", assigned(TaskType.VALIDATOR, checked))
    )
    verdict = json.loads(first)
    assert verdict["passed"] is False
    redo = assigned(TaskType.SPECIALIST, {}, feedback=verdict["feedback"])
    revised = await chat.content(client, chat.body("specialist", redo))
    again = assigned(TaskType.VALIDATOR, {"g.1.t3": revised})
    assert json.loads(await chat.content(client, chat.body("validator", again)))["passed"]


async def test_multi_line_goal_keeps_its_directives(client):
    tasks = await chat.plan(client, "Compare tea\nand coffee [parallel=3]")
    assert [t["type"] for t in tasks] == ["researcher"] * 3
    assert tasks[0]["description"].endswith("Compare tea and coffee")
