"""A `make bench` run cut short keeps the figures of every scenario it finished."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import bench.__main__ as bench_main


async def finished(args: argparse.Namespace, results: dict[str, Any]) -> None:
    results["pipeline"] = {"goals_per_s": 80.0}


seen_on_disk: list[dict[str, Any]] = []


async def broken(args: argparse.Namespace, results: dict[str, Any]) -> None:
    seen_on_disk.append(json.loads(args.out.read_text()) if args.out.exists() else {})
    raise RuntimeError("the broker went away")


async def no_earlier_runs(clean_them: bool) -> None:
    return None


def test_results_are_written_after_each_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_main, "SCENARIOS", {"pipeline": finished, "capacity": broken})
    monkeypatch.setattr(bench_main, "broker_jvm", lambda bootstrap: None)
    monkeypatch.setattr(bench_main, "earlier_runs", no_earlier_runs)
    out = tmp_path / "results" / "run.json"
    args = argparse.Namespace(quick=False, clean=False, out=out, scenarios=["pipeline", "capacity"])

    results, failed = asyncio.run(bench_main.main(args))

    assert seen_on_disk == [{**results, "failed": []}], "written before the next scenario"
    assert failed == ["capacity"]
    written = json.loads(out.read_text())
    assert written["pipeline"] == {"goals_per_s": 80.0}
    assert written["failed"] == ["capacity"]
    assert written == results
