from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.hops import HOPS, describe_tail, tail


def _goal(goal_id: uuid.UUID, slow: float) -> list[dict[str, Any]]:
    """A goal's recorded events: two researchers, a specialist after both, the synthesis;
    every hop takes `slow` times 2 ms and every LLM call `slow` times 10 ms."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    rows: list[dict[str, Any]] = []

    def event(kind: str, after_ms: float, **payload: Any) -> None:
        nonlocal at
        at += timedelta(milliseconds=after_ms * slow)
        recorded = at + timedelta(milliseconds=2 * slow)
        rows.append(
            {
                "goal_id": goal_id,
                "type": kind,
                "occurred_at": at,
                "recorded_at": recorded,
                "payload": json.dumps(payload),
            }
        )

    plan = {"r1": [], "r2": [], "s": ["r1", "r2"], "g.final": ["s"]}
    event("GoalSubmitted", 0)
    event("PlanningStarted", 2)
    event("PlanCreated", 10, tasks=[{"task_id": t, "depends_on": d} for t, d in plan.items()])
    event("TaskAssigned", 2, task_id="r1", depends_on=[])
    event("TaskAssigned", 0, task_id="r2", depends_on=[])
    event("TaskResult", 12, task_id="r1", latency_ms=10 * slow)
    event("TaskResult", 0, task_id="r2", latency_ms=10 * slow)
    for task in ("s", "g.final"):
        event("TaskAssigned", 2, task_id=task, depends_on=plan[task])
        event("TaskResult", 12, task_id=task, latency_ms=10 * slow)
    event("GoalCompleted", 2)
    return rows


def test_the_tail_shows_each_hop_for_the_slowest_goals_next_to_all() -> None:
    slowness = {uuid.uuid4(): 1.0 for _ in range(99)} | {uuid.uuid4(): 5.0}
    events = {goal: _goal(goal, slow) for goal, slow in slowness.items()}
    goals = [(goal, 80 * slow) for goal, slow in slowness.items()]

    found = tail(events, goals)

    assert (found["goals"], found["slowest"]) == (100, 1)
    assert found["all_ms"]["end to end"] == 80
    assert found["slowest_ms"]["end to end"] == 400
    for hop in HOPS:
        assert found["all_ms"][hop] == 2, hop
        assert found["slowest_ms"][hop] == 10, hop
    assert found["all_ms"]["LLM critical path"] == 10 + 3 * 10  # planning, then three calls
    assert found["slowest_ms"]["LLM critical path"] == 200
    line = describe_tail(found)
    assert line.startswith("slowest 1 of 100 goals / all, median ms: end to end 400/80,")
    assert "result→aggregator 10/2" in line


def test_goals_without_recorded_events_are_left_out_of_the_tail() -> None:
    recorded = uuid.uuid4()
    found = tail({recorded: _goal(recorded, 1.0)}, [(recorded, 80.0), (uuid.uuid4(), 900.0)])
    assert found["goals"] == 1
    assert found["slowest_ms"]["end to end"] == 80
    assert tail({}, [(uuid.uuid4(), 1.0)]) == {}
    assert describe_tail({}) == "no goal recorded"
