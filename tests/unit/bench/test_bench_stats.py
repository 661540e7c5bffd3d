"""The benchmark's statistics: percentiles, rates and the per-goal timings from the read model."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.hops import timings
from bench.stats import per_goal, percentile, rate, summary

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_percentile_interpolates_between_ranks() -> None:
    values = [40.0, 10.0, 30.0, 20.0]
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(values, 99) == pytest.approx(39.7)


def test_percentile_of_nothing_is_nan_and_out_of_range_is_refused() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 101)


def test_summary_and_rate() -> None:
    assert summary([5.0] * 10) == {"p50": 5.0, "p95": 5.0, "p99": 5.0}
    assert rate(30, 2.0) == 15.0
    assert rate(30, 0.0) == 0.0


def _row(kind: str, at_ms: float, payload: dict[str, Any], recorded_ms: float | None = None):
    at = T0 + timedelta(milliseconds=at_ms)
    recorded = T0 + timedelta(milliseconds=recorded_ms if recorded_ms is not None else at_ms)
    return {
        "type": kind,
        "occurred_at": at,
        "recorded_at": recorded,
        "payload": json.dumps(payload),
    }


def _task(task_id: str, depends_on: list[str]) -> dict[str, Any]:
    return {"task_id": task_id, "depends_on": depends_on}


def test_timings_of_a_four_task_goal() -> None:
    plan = [_task("g.1.t1", []), _task("g.1.t2", []), _task("g.1.t3", ["g.1.t1", "g.1.t2"])]
    events = [
        _row("GoalSubmitted", 0, {}),
        _row("PlanningStarted", 5, {}),
        _row("PlanCreated", 25, {"tasks": plan}),  # 20 ms planning
        _row("TaskAssigned", 26, {"task_id": "g.1.t1", "depends_on": []}),
        _row("TaskAssigned", 26, {"task_id": "g.1.t2", "depends_on": []}),
        _row("TaskResult", 140, {"task_id": "g.1.t1", "latency_ms": 100}),  # started at 40
        _row("TaskResult", 160, {"task_id": "g.1.t2", "latency_ms": 120}),  # started at 40
        _row("TaskAssigned", 170, {"task_id": "g.1.t3", "depends_on": ["g.1.t1", "g.1.t2"]}),
        _row("TaskResult", 250, {"task_id": "g.1.t3", "latency_ms": 50}),
        _row("TaskAssigned", 260, {"task_id": "g.1.final", "depends_on": ["g.1.t3"]}),
        _row("TaskResult", 300, {"task_id": "g.1.final", "latency_ms": 30}),
        _row("GoalCompleted", 310, {}, recorded_ms=330),
    ]
    out = timings(events)
    assert out.hops["gateway→planner"] == [5.0]
    assert out.hops["dispatch→worker start"][:2] == [14.0, 14.0]
    assert sorted(out.hops["result→aggregator"]) == [10.0, 10.0]
    assert out.hops["aggregator→output"] == [10.0]
    assert out.hops["output→PostgreSQL"] == [20.0]
    # planning 20 + the slower parallel task 120 + t3 50 + the final 30
    assert out.llm_critical_ms == pytest.approx(220.0)
    assert out.span_ms == pytest.approx(310.0)  # GoalSubmitted at 0, GoalCompleted at 310


def test_a_goal_without_its_outcome_has_no_span() -> None:
    assert timings([_row("GoalSubmitted", 0, {}), _row("PlanningStarted", 5, {})]).span_ms is None


def test_each_process_cpu_per_goal_costliest_first() -> None:
    before = {"planner": 10.0, "aggregator": 20.0}
    after = {"planner": 11.0, "aggregator": 23.0, "scripted-llm": 0.5}

    assert per_goal(before, after, goals=100) == {
        "aggregator": 0.03,
        "planner": 0.01,
        "scripted-llm": 0.005,
    }
    assert list(per_goal(before, after, goals=100)) == ["aggregator", "planner", "scripted-llm"]


def test_a_step_in_which_no_goal_ended_counts_its_cpu_once() -> None:
    assert per_goal({"gateway": 1.0}, {"gateway": 1.5}, goals=0) == {"gateway": 0.5}
