"""What changed between two views of a goal (`GET /goals/{id}`), as lines for a person."""

from __future__ import annotations

from typing import Any

from podium_common.events import local_task_id

Goal = dict[str, Any]
FINISHED = frozenset({"completed", "failed"})


def changes(before: Goal | None, now: Goal) -> list[str]:
    """Progress lines for everything new in `now` since `before` (None: nothing seen yet)."""
    lines = []
    if now.get("plan") and not (before and before.get("plan")):
        lines.append(describe_plan(now["plan"]))
    seen = {task["task_id"]: task for task in (before or {}).get("tasks") or []}
    for task in now.get("tasks") or []:
        line = task_change(seen.get(task["task_id"]), task)
        if line:
            lines.append(line)
    lines.extend(approval_line(now, approval) for approval in new_approvals(before, now))
    if before is None or before.get("status") != now.get("status"):
        # A new status opens what follows, but closes the story once the goal is done.
        status = f"status: {now.get('status')}"
        lines.insert(len(lines) if now.get("status") in FINISHED else 0, status)
    return lines


def new_approvals(before: Goal | None, now: Goal) -> list[Goal]:
    """The requests for a person's decision that `now` shows undecided and `before` did not."""
    asked = {(a["task_id"], a["round"]) for a in (before or {}).get("approvals") or []}
    return [
        approval
        for approval in now.get("approvals") or []
        if (approval["task_id"], approval["round"]) not in asked and approval["decision"] is None
    ]


def approval_line(goal: Goal, approval: Goal) -> str:
    """What waits for a person, and the commands that decide it."""
    task = local_task_id(approval["task_id"])
    what = "its input" if approval["stage"] == "before" else "its output"
    goal_id = goal.get("goal_id")
    return (
        f"task {task} waits for approval of {what}: `podium approve {goal_id} {task}` or "
        f"`podium reject {goal_id} {task} -m WHY`"
    )


def describe_plan(plan: Goal) -> str:
    tasks = plan.get("tasks") or []
    parts = []
    for task in tasks:
        after = ", ".join(local_task_id(dep) for dep in task.get("depends_on") or [])
        parts.append(
            f"{local_task_id(task['task_id'])} {task['type']}"
            + (f" after {after}" if after else "")
        )
    return f"planned {len(tasks)} tasks: " + "; ".join(parts)


def task_change(before: Goal | None, now: Goal) -> str | None:
    """A line when a task's status or attempt moved, else None."""
    status, attempts = now.get("status"), now.get("attempts") or 0
    if before is not None and (before.get("status"), before.get("attempts") or 0) == (
        status,
        attempts,
    ):
        return None
    name = "final synthesis" if now.get("final") else f"task {local_task_id(now['task_id'])}"
    name = "  " * (now.get("depth") or 0) + name + f" ({now.get('type')})"
    retry = f", attempt {attempts}" if attempts > 1 else ""
    if status == "succeeded":
        return f"{name} done{retry}{_usage(now)}"
    if status == "failed":
        return f"{name} failed{retry}: {_error(now.get('error'))}"
    if status == "dispatched":
        return f"{name} started{retry}"
    if status == "delegated":
        return f"{name} delegated its work to a sub-plan"
    return None


def _usage(task: Goal) -> str:
    parts = []
    if task.get("latency_ms") is not None:
        parts.append(f"{task['latency_ms'] / 1000:.1f}s")
    tokens = task.get("tokens") or {}
    total = (tokens.get("prompt") or 0) + (tokens.get("completion") or 0)
    if total:
        parts.append(f"{total} tokens")
    if task.get("cost"):
        parts.append(f"cost {task['cost']:g}")
    return f" ({', '.join(parts)})" if parts else ""


def _error(error: object) -> str:
    if isinstance(error, dict):
        return f"{error.get('kind', 'error')}: {error.get('message', '')}"
    return str(error) if error else "no reason given"


def failure(goal: Goal) -> str:
    """Why a failed goal failed, in one line."""
    return _error(goal.get("reason"))


def summary(goal: Goal) -> str:
    totals = goal.get("totals") or {}
    tokens = (totals.get("prompt_tokens") or 0) + (totals.get("completion_tokens") or 0)
    wall = (totals.get("wall_ms") or 0) / 1000
    cost = totals.get("cost")
    return (
        f"{goal.get('status')}: {totals.get('succeeded', 0)}/{totals.get('tasks', 0)} tasks "
        f"succeeded, {tokens} tokens"
        + (f", cost {cost:g}" if cost is not None else "")
        + f", {wall:.1f}s"
    )
