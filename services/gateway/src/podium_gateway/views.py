"""Read-model rows → the JSON of the HTTP contract. Pure functions of the rows they are given."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from podium_common import prices as pricing
from podium_common.prices import Price

Prices = Mapping[str, Price]
Row = Mapping[str, Any]
PLAN_TASK_FIELDS = ("task_id", "type", "description", "requirements", "depends_on")


def links(goal_id: object) -> dict[str, str]:
    return {"self": f"/goals/{goal_id}", "events": f"/goals/{goal_id}/events"}


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _reason(goal: Row) -> dict[str, str] | None:
    if goal["reason_kind"] is None:
        return None
    return {"kind": goal["reason_kind"], "message": goal["reason_message"] or ""}


def status(goal: Row) -> str:
    """The recorded status; a running goal with a request no decision applies to yet is
    `waiting_approval`."""
    if goal["status"] == "running" and goal.get("waiting_approval"):
        return "waiting_approval"
    return str(goal["status"])


def summary(goal: Row) -> dict[str, Any]:
    """A goal as `GET /goals` lists it."""
    return {
        "goal_id": str(goal["goal_id"]),
        "run": goal["run"],
        "goal": goal["goal"],
        "status": status(goal),
        "reason": _reason(goal),
        "submitter": goal["submitter"],
        "submitted_at": _time(goal["submitted_at"]),
        "updated_at": _time(goal["updated_at"]),
        "completed_at": _time(goal["completed_at"]),
        "links": links(goal["goal_id"]),
    }


def detail(
    goal: Row, tasks: Sequence[Row], now: datetime, prices: Prices | None = None
) -> dict[str, Any]:
    """A goal as `GET /goals/{id}` shows it: its plan, its tasks (a tree: each names its
    parent and depth), what waits or waited for a person, its output and totals; tokens
    priced by `prices` (PODIUM_PRICES)."""
    prices = prices or {}
    approvals = [approval(row) for row in goal.get("approvals") or []]
    waiting = {row["task_id"] for row in approvals if row["decision"] is None}
    if goal["status"] != "running":
        waiting = set()
    return {
        **summary(goal),
        "options": goal["options"],
        "deadline": _time(goal["deadline"]),
        "plan": plan(goal["plan"]),
        "tasks": [task(row, prices, waiting=row["task_id"] in waiting) for row in tasks],
        "approvals": approvals,
        "output": goal["output"],
        "totals": totals(goal, tasks, now, prices),
    }


def approval(row: Row) -> dict[str, Any]:
    """A request for a person's decision, and the decision that applied, if any."""
    decided = row["decided_at"] is not None
    return {
        "task_id": row["task_id"],
        "type": row["type"],
        "stage": row["stage"],
        "round": row["round"],
        "shown": row["shown"],
        "digest": row["digest"],
        "requested_at": _time(row["requested_at"]),
        "timeout_at": _time(row["timeout_at"]),
        "decision": {
            "approved": row["approved"],
            "comment": row["comment"],
            "decided_by": row["decided_by"],
            "decided_at": _time(row["decided_at"]),
        }
        if decided
        else None,
    }


def plan(recorded: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if recorded is None:
        return None
    return {
        "model": recorded["model"],
        "attempts": recorded["attempts"],
        "tasks": [
            {field: planned.get(field) for field in PLAN_TASK_FIELDS}
            for planned in recorded["tasks"]
        ],
    }


def task_cost(row: Row, prices: Prices) -> float | None:
    """A task's cost: the tokens of all its attempts at its model's price."""
    return pricing.cost(prices, row["model"], row["prompt_tokens"], row["completion_tokens"])


def planning_cost(goal: Row, prices: Prices) -> float | None:
    """The planner's cost: its tokens at the price of the model that planned."""
    model = (goal["plan"] or {}).get("model")
    prompt, completion = goal["planning_prompt_tokens"], goal["planning_completion_tokens"]
    return pricing.cost(prices, model, prompt or 0, completion or 0)


def task(row: Row, prices: Prices | None = None, *, waiting: bool = False) -> dict[str, Any]:
    return {
        "task_id": row["task_id"],
        "type": row["type"],
        "description": row["description"],
        "depends_on": row["depends_on"] or [],
        "parent_id": row.get("parent_id"),
        "depth": row.get("depth") or 0,
        "final": row["final"],
        "status": "waiting_approval" if waiting else row["status"],
        "attempts": row["attempts"],
        "output": row["output"],
        "verdict": row["verdict"],
        "error": row["error"],
        "model": row["model"],
        "tokens": {"prompt": row["prompt_tokens"], "completion": row["completion_tokens"]},
        "cost": task_cost(row, prices or {}),
        "latency_ms": row["latency_ms"],
    }


def totals(
    goal: Row, tasks: Sequence[Row], now: datetime, prices: Prices | None = None
) -> dict[str, Any]:
    """Counts, tokens and cost over every attempt of every task, plus the planner's; the
    cost is None when a model that used tokens has no price.

    Wall time is the outcome's when the goal has one, else the time since submission.
    """
    recorded = goal["outcome_totals"]
    if recorded is not None:
        wall_ms = int(recorded["wall_ms"])
    elif goal["submitted_at"] is not None:
        wall_ms = max(0, int((now - goal["submitted_at"]).total_seconds() * 1000))
    else:
        wall_ms = 0
    return {
        "tasks": len(tasks),
        "succeeded": sum(1 for row in tasks if row["status"] == "succeeded"),
        "failed": sum(1 for row in tasks if row["status"] == "failed"),
        "prompt_tokens": (goal["planning_prompt_tokens"] or 0)
        + sum(row["prompt_tokens"] for row in tasks),
        "completion_tokens": (goal["planning_completion_tokens"] or 0)
        + sum(row["completion_tokens"] for row in tasks),
        "cost": pricing.total(
            [planning_cost(goal, prices or {}), *(task_cost(row, prices or {}) for row in tasks)]
        ),
        "wall_ms": wall_ms,
    }
