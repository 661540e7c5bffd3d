"""The planner's scripted plans: their shape is steered by directives in the goal text.

    [parallel=N]     N independent researcher tasks
    [chain=N]        N specialist tasks, each depending on the one before (the first on
                     every parallel task)
    [validate]       a validator task checking the last task
    [fail-task]      the first task's description carries `[always-fail]`
    [mark-approval]  the last task is marked `requires_approval: after`, as a model may
                     mark one unasked
    [delegate=N]     the first task's description carries `[split=N]`: offered delegation,
                     its worker answers with a sub-plan whose first task does the same
                     with N-1, down to N levels
    [invalid-plan]   always a dependency cycle
    [malformed-plan] never valid JSON
    (none)           2 parallel researchers and a specialist depending on both

`Most tasks: N` is respected by dropping parallel tasks first (down to one), then chain
tasks, then the validator, so dependencies stay valid.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

ALWAYS_FAIL = "[always-fail]"
DEFAULT_MOST_TASKS = 10
_COUNT = re.compile(r"\[(parallel|chain)=(\d+)\]")
_DIRECTIVE = re.compile(r"\[[a-z-]+(?:=\d+)?\]")
# The goal runs from `Goal:` to the next section of the prompt contract, or to the end.
_GOAL = re.compile(
    r"^[ \t]*Goal:(.*?)(?=^[ \t]*(?:Task|Most tasks|Requirements|Feedback|Input \S+ \(\w+\)):|\Z)",
    re.MULTILINE | re.DOTALL,
)
_DELEGATE = re.compile(r"\[delegate=(\d+)\]")
_MOST = re.compile(r"^\s*Most tasks:\s*(\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Shape:
    parallel: int
    chain: int
    validate: bool
    fail_task: bool
    delegate: int = 0
    mark_approval: bool = False

    @property
    def size(self) -> int:
        return self.parallel + self.chain + int(self.validate)


def goal_of(text: str) -> str:
    match = _GOAL.search(text)
    return " ".join(match.group(1).split()) if match else ""


def clean(goal: str) -> str:
    """The goal without its directives, for task descriptions."""
    return " ".join(_DIRECTIVE.sub(" ", goal).split()) or "the goal"


def shape_of(goal: str, most: int) -> Shape:
    counts = {name: int(value) for name, value in _COUNT.findall(goal)}
    if counts:
        parallel, chain = counts.get("parallel", 0), counts.get("chain", 0)
    else:
        parallel, chain = 2, 1
    validate = "[validate]" in goal
    most = max(1, most)
    while parallel + chain + int(validate) > most:
        if parallel > 1:
            parallel -= 1
        elif chain > 0:
            chain -= 1
        elif validate:
            validate = False
        else:
            parallel -= 1
    if parallel + chain == 0:
        parallel = 1
    delegate = _DELEGATE.search(goal)
    levels = int(delegate.group(1)) if delegate else 0
    return Shape(
        parallel, chain, validate, "[fail-task]" in goal, levels, "[mark-approval]" in goal
    )


def task_shape(
    local_id: str, kind: str, description: str, requirements: list[str], depends_on: list[str]
) -> dict[str, Any]:
    """One task as a plan (or a sub-plan) lists it."""
    return {
        "id": local_id,
        "type": kind,
        "description": description,
        "requirements": requirements,
        "depends_on": depends_on,
    }


def tasks_for(shape: Shape, goal: str) -> list[dict[str, Any]]:
    topic = clean(goal)
    tasks = [
        task_shape(
            f"t{i}",
            "researcher",
            f"Research part {i} of {shape.parallel} for the goal: {topic}",
            ["cover one distinct aspect", "plain text"],
            [],
        )
        for i in range(1, shape.parallel + 1)
    ]
    previous = [task["id"] for task in tasks]
    for step in range(1, shape.chain + 1):
        local_id = f"t{len(tasks) + 1}"
        description = f"Specialist step {step} of {shape.chain}: build on the inputs for: {topic}"
        tasks.append(task_shape(local_id, "specialist", description, ["use every input"], previous))
        previous = [local_id]
    if shape.validate:
        last = tasks[-1]["id"]
        description = f"Check that {last} answers the goal: {topic}"
        tasks.append(
            task_shape(f"t{len(tasks) + 1}", "validator", description, ["a JSON verdict"], [last])
        )
    if shape.fail_task:
        tasks[0]["description"] += f" {ALWAYS_FAIL}"
    if shape.delegate:
        tasks[0]["description"] += f" [split={shape.delegate}]"
    if shape.mark_approval:
        tasks[-1]["requires_approval"] = "after"
    return tasks


def cyclic(goal: str) -> list[dict[str, Any]]:
    topic = clean(goal)
    return [
        task_shape("t1", "researcher", f"Research the goal: {topic}", [], ["t2"]),
        task_shape("t2", "specialist", f"Refine the research on: {topic}", [], ["t1"]),
    ]


def plan(text: str) -> str:
    """The planner's reply to a request whose messages read `text`."""
    goal = goal_of(text)
    if "[malformed-plan]" in goal:
        return f"Plan for {clean(goal)}: t1 researcher, t2 specialist after t1 {{tasks: ["
    if "[invalid-plan]" in goal:
        return json.dumps({"tasks": cyclic(goal)})
    most = _MOST.search(text)
    shape = shape_of(goal, int(most.group(1)) if most else DEFAULT_MOST_TASKS)
    return json.dumps({"tasks": tasks_for(shape, goal)})
