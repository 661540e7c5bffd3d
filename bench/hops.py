"""Per-goal timings from the read model: each hop, and the LLM time on the critical path.

Every event carries `occurred_at` (set by the process that produced it) and the recorder
adds `recorded_at`; all processes share this machine's clock.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from bench.stats import percentile

HOPS = (
    "gateway→planner",
    "dispatch→worker start",
    "result→aggregator",
    "aggregator→output",
    "output→PostgreSQL",
)


@dataclass
class GoalTimings:
    hops: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    llm_critical_ms: float = 0.0
    # From the gateway's GoalSubmitted to the aggregator's outcome: the goal's time inside
    # Podium, without the client's request in and its read of `outputs` (None: not both).
    span_ms: float | None = None


def _ms(delta: timedelta) -> float:
    return delta.total_seconds() * 1000


async def fetch_events(dsn: str, goal_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT goal_id, type, occurred_at, recorded_at, payload::text AS payload"
            " FROM events WHERE goal_id = ANY($1::uuid[]) ORDER BY occurred_at",
            goal_ids,
        )
    finally:
        await connection.close()
    by_goal: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in rows:
        by_goal[row["goal_id"]].append(row)
    return by_goal


def timings(events: list[Any]) -> GoalTimings:
    """Hops and critical-path LLM time of one goal, from its recorded events."""
    first: dict[str, datetime] = {}
    assigned: dict[str, datetime] = {}
    results: dict[str, tuple[datetime, float]] = {}
    depends: dict[str, list[str]] = {}
    out = GoalTimings()
    for row in events:
        payload = json.loads(row["payload"])
        kind, at = row["type"], row["occurred_at"]
        first.setdefault(kind, at)
        if kind == "PlanCreated":
            depends = {t["task_id"]: t["depends_on"] for t in payload["tasks"]}
        elif kind == "TaskAssigned":
            assigned.setdefault(payload["task_id"], at)
            depends.setdefault(payload["task_id"], payload["depends_on"])
        elif kind == "TaskResult":
            results[payload["task_id"]] = (at, float(payload["latency_ms"]))
        elif kind in ("GoalCompleted", "GoalFailed"):
            out.hops["output→PostgreSQL"].append(_ms(row["recorded_at"] - at))
    if "PlanningStarted" in first and "GoalSubmitted" in first:
        out.hops["gateway→planner"].append(_ms(first["PlanningStarted"] - first["GoalSubmitted"]))
    end = first.get("GoalCompleted") or first.get("GoalFailed")  # the outcome's event
    if end is not None and "GoalSubmitted" in first:
        out.span_ms = _ms(end - first["GoalSubmitted"])
    for task_id, (done, latency) in results.items():
        if task_id in assigned:
            start = done - timedelta(milliseconds=latency)
            out.hops["dispatch→worker start"].append(_ms(start - assigned[task_id]))
        if task_id.endswith(".final") and end is not None:
            out.hops["aggregator→output"].append(_ms(end - done))
    for task_id, inputs in depends.items():
        ready = [results[d][0] for d in inputs if d in results]
        if inputs and len(ready) == len(inputs) and task_id in assigned:
            out.hops["result→aggregator"].append(_ms(assigned[task_id] - max(ready)))
    planning = 0.0
    if "PlanCreated" in first and "PlanningStarted" in first:
        planning = _ms(first["PlanCreated"] - first["PlanningStarted"])
    out.llm_critical_ms = planning + _critical_path(depends, results)
    return out


def _critical_path(
    depends: dict[str, list[str]], results: dict[str, tuple[datetime, float]]
) -> float:
    """The longest chain of LLM latencies through the plan, the final synthesis after it."""
    memo: dict[str, float] = {}

    def longest(task_id: str) -> float:
        if task_id not in memo:
            before = max((longest(d) for d in depends.get(task_id, [])), default=0.0)
            memo[task_id] = before + results.get(task_id, (None, 0.0))[1]
        return memo[task_id]

    planned = max((longest(t) for t in depends if not t.endswith(".final")), default=0.0)
    final = next((lat for t, (_, lat) in results.items() if t.endswith(".final")), 0.0)
    return planned + final


def tail(
    events: dict[uuid.UUID, list[Any]], goals: list[tuple[Any, float]], share: float = 0.01
) -> dict[str, Any]:
    """Where a step's slowest goals lost their time: the median of each hop (a goal's mean
    over its tasks), and of the LLM time on its critical path, for the slowest `share` of
    the goals (by end-to-end latency) next to all of them. A tail slow in one hop points at
    that hop; one slow in every hop at once, the LLM call included, at the cores."""
    ranked = sorted(
        ((latency, timings(events[goal])) for goal, latency in goals if events.get(goal)),
        key=lambda pair: pair[0],
    )
    if not ranked:
        return {}
    slowest = ranked[-max(1, round(len(ranked) * share)) :]

    def medians(group: list[tuple[float, GoalTimings]]) -> dict[str, float | None]:
        out: dict[str, float | None] = {"end to end": _median([e2e for e2e, _ in group])}
        for hop in HOPS:
            out[hop] = _median([_mean(t.hops[hop]) for _, t in group if t.hops.get(hop)])
        out["LLM critical path"] = _median([t.llm_critical_ms for _, t in group])
        return out

    return {
        "goals": len(ranked),
        "slowest": len(slowest),
        "all_ms": medians(ranked),
        "slowest_ms": medians(slowest),
    }


def describe_tail(found: dict[str, Any]) -> str:
    """One line: each hop's median for the slowest goals, then for all of them."""
    if not found:
        return "no goal recorded"
    parts = [
        f"{hop} {slow:g}/{found['all_ms'][hop]:g}"
        for hop, slow in found["slowest_ms"].items()
        if slow is not None and found["all_ms"][hop] is not None
    ]
    return f"slowest {found['slowest']} of {found['goals']} goals / all, median ms: " + ", ".join(
        parts
    )


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _median(values: list[float]) -> float | None:
    return round(percentile(values, 50), 1) if values else None
