"""A `make bench` run cut short keeps the figures of every scenario it finished."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from bench import runner


def test_results_are_written_after_each_scenario(tmp_path: Path) -> None:
    out = tmp_path / "results" / "run.json"
    seen_on_disk: list[dict[str, Any]] = []

    async def finished(args: argparse.Namespace, results: dict[str, Any]) -> None:
        results["pipeline"] = {"goals_per_s": 80.0}

    async def broken(args: argparse.Namespace, results: dict[str, Any]) -> None:
        seen_on_disk.append(json.loads(out.read_text()) if out.exists() else {})
        raise RuntimeError("the broker went away")

    args = argparse.Namespace(out=out, scenarios=["pipeline", "capacity"])
    results: dict[str, Any] = {"quick": False}
    # Each scenario reads the clock before and after: 90 s, then 30 s.
    ticks = iter([0.0, 90.0, 100.0, 130.0])

    failed = asyncio.run(
        runner.run(
            {"pipeline": finished, "capacity": broken}, args, results, clock=lambda: next(ticks)
        )
    )

    assert seen_on_disk == [
        {
            "quick": False,
            "scenario_minutes": {"pipeline": 1.5},
            "pipeline": {"goals_per_s": 80.0},
            "failed": [],
        }
    ], "written before the next scenario"
    assert failed == ["capacity"]
    assert json.loads(out.read_text()) == {
        "quick": False,
        "scenario_minutes": {"pipeline": 1.5, "capacity": 0.5},
        "pipeline": {"goals_per_s": 80.0},
        "failed": ["capacity"],
    }
