"""A plan an LLM drafts: its JSON shape, the checks it must pass, its tasks in order.

The planner's plan of a goal and a worker's sub-plan of a task (delegation) have the same
JSON contract and are reviewed by the same code. A draft is read in two steps: pydantic
checks the JSON shape, then the graph checks look at what pydantic cannot see (types, ids,
dependencies, cycles, size). Every problem found is reported as one readable line, so the
LLM can be asked to repair them all at once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from podium_common.events import FINAL_LOCAL_ID, PlannedTask
from podium_common.structured import parse_reply, schema_of
from podium_common.topics import TaskType

# Local ids become the last part of a global task id `<goal_id>.<run>.<digest>.<local id>`.
LOCAL_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
# Hex digits of the plan's digest in its task ids.
DIGEST_LENGTH = 8
KNOWN_TYPES = tuple(task_type.value for task_type in TaskType)


class DraftTask(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str
    # Checked against TaskType below, for a clearer message than pydantic's; the schema the
    # LLM is asked with names the types, so a constrained decoder writes only those.
    type: str = Field(json_schema_extra={"enum": list(KNOWN_TYPES)})
    description: str = Field(json_schema_extra={"minLength": 1})
    requirements: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    # A person approves the task's input before it runs, or its output before it is used.
    requires_approval: Literal["before", "after"] | None = None


class DraftPlan(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tasks: list[DraftTask]


@functools.lru_cache(maxsize=64)
def plan_schema(max_tasks: int) -> dict[str, Any]:
    """The JSON schema the LLM is asked to answer in: `DraftPlan`'s, of 1 to `max_tasks`
    tasks. Made once per size (pydantic's schema generation cost the planner 8% of its
    CPU when made per call); shared, so never to be changed by a caller."""
    schema = schema_of(DraftPlan)
    schema["properties"]["tasks"].update(minItems=1, maxItems=max_tasks)
    return schema


@dataclass(frozen=True)
class Review:
    """The outcome of reading a draft: its tasks in dependency order, or what is wrong."""

    tasks: list[DraftTask] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def review(text: str, *, max_tasks: int) -> Review:
    """Reads the LLM's reply and checks it as a plan of at most `max_tasks` tasks."""
    try:
        draft = parse_reply(DraftPlan, text)
    except ValidationError as error:
        return Review(errors=[_describe(detail) for detail in error.errors()])
    errors = _size_errors(draft, max_tasks) + _task_errors(draft) + _cycle_errors(draft)
    if errors:
        return Review(errors=errors)
    return Review(tasks=_in_order(draft))


def approval_of(
    marked: str | None, task_type: str, approvals: dict[str, str], *, plan_approvals: bool
) -> str | None:
    """When a task of a plan or sub-plan waits for a person: its own mark, unless plans'
    marks go unfollowed (`GoalOptions.follows_plan_marks`), else its type's entry in
    `approvals`."""
    return (marked if plan_approvals else None) or approvals.get(task_type)


def planned_tasks(
    tasks: list[DraftTask],
    *,
    run_prefix: str,
    approvals: dict[str, str] | None = None,
    plan_approvals: bool = True,
) -> list[PlannedTask]:
    """The draft's tasks with global ids, dependencies rewritten: `run_prefix`, the digest of
    the plan's content, `.` and the local id. A goal planned twice (the planner crashed
    before its commit) gets the same ids for the same plan and other ids for another, so a
    result can never be taken for the answer to a differently described task. A task the
    draft does not mark for approval (or every task, when `plan_approvals` is off: the
    draft's marks are then ignored) takes its type's entry in `approvals`, if any."""
    approvals = approvals or {}
    local = [
        PlannedTask(
            task_id=task.id,
            type=TaskType(task.type),
            description=task.description,
            requirements=[item for item in task.requirements if item],
            depends_on=list(dict.fromkeys(task.depends_on)),
            approval=approval_of(
                task.requires_approval, task.type, approvals, plan_approvals=plan_approvals
            ),
        )
        for task in tasks
    ]
    prefix = f"{run_prefix}{digest(local)}."
    return [
        task.model_copy(
            update={
                "task_id": prefix + task.task_id,
                "depends_on": [prefix + dep for dep in task.depends_on],
            }
        )
        for task in local
    ]


def digest(tasks: list[PlannedTask]) -> str:
    """A short hash of everything the tasks say, in their order."""
    # A task marked for no approval hashes as it did before approvals existed.
    dumped = [
        task.model_dump(mode="json", exclude={"approval"} if task.approval is None else None)
        for task in tasks
    ]
    content = json.dumps(dumped, sort_keys=True)
    return hashlib.sha256(content.encode()).hexdigest()[:DIGEST_LENGTH]


def _describe(detail: ErrorDetails) -> str:
    if detail["type"] == "json_invalid":
        return f"the reply is not valid JSON ({detail['msg']})"
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in detail["loc"])
    return f"{where.lstrip('.') or 'the reply'}: {detail['msg']}"


def _size_errors(draft: DraftPlan, max_tasks: int) -> list[str]:
    count = len(draft.tasks)
    if count == 0:
        return ["the plan has no tasks; it needs at least one"]
    if count > max_tasks:
        return [f"the plan has {count} tasks; at most {max_tasks} are allowed"]
    return []


def _task_errors(draft: DraftPlan) -> list[str]:
    counts = Counter(task.id for task in draft.tasks)
    errors = [f"task id {local} is used {n} times" for local, n in counts.items() if n > 1]
    for task in draft.tasks:
        errors += _one_task_errors(task, set(counts))
    return errors


def _one_task_errors(task: DraftTask, ids: set[str]) -> list[str]:
    errors = []
    if task.id == FINAL_LOCAL_ID:
        errors.append(f"task id {FINAL_LOCAL_ID} is reserved for the final synthesis")
    elif not LOCAL_ID.fullmatch(task.id):
        errors.append(f"task id {task.id!r} must be 1-32 letters, digits, '-' or '_'")
    if task.type not in KNOWN_TYPES:
        known = ", ".join(KNOWN_TYPES)
        errors.append(f"task {task.id} has unknown type {task.type!r}; use one of {known}")
    if not task.description:
        errors.append(f"task {task.id} has an empty description")
    if task.type == TaskType.VALIDATOR and not task.depends_on:
        errors.append(f"validator task {task.id} must depend on the task it checks")
    for dep in dict.fromkeys(task.depends_on):
        if dep == task.id:
            errors.append(f"task {task.id} depends on itself")
        elif dep not in ids:
            errors.append(f"task {task.id} depends on unknown task {dep}")
    return errors


def _graph(draft: DraftPlan) -> dict[str, set[str]]:
    """Each task's known dependencies (self and unknown ones are reported elsewhere)."""
    ids = {task.id for task in draft.tasks}
    graph: dict[str, set[str]] = {}
    for task in draft.tasks:
        deps = {dep for dep in task.depends_on if dep in ids and dep != task.id}
        graph.setdefault(task.id, set()).update(deps)
    return graph


def _cycle_errors(draft: DraftPlan) -> list[str]:
    try:
        TopologicalSorter(_graph(draft)).prepare()
    except CycleError as error:
        # graphlib lists each dependency before its dependent; read "→" as "depends on".
        nodes = list(reversed(error.args[1]))
        return ["cycle: " + " → ".join(nodes) + " (each task depends on the next)"]
    return []


def _in_order(draft: DraftPlan) -> list[DraftTask]:
    """Dependencies first; among tasks ready together, the order the LLM gave them."""
    position = {task.id: index for index, task in enumerate(draft.tasks)}
    by_id = {task.id: task for task in draft.tasks}
    sorter = TopologicalSorter(_graph(draft))
    sorter.prepare()
    ordered: list[DraftTask] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        ordered += [by_id[local] for local in ready]
        sorter.done(*ready)
    return ordered
