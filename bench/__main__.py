"""`python -m bench [--quick] [scenario ...]`: runs the scenarios, prints a table, writes JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.infra import Infra
from bench.report import table
from bench.scenarios import celery_baseline, concurrency, pipeline, scaling

SCENARIOS = ("pipeline", "concurrency", "scaling", "celery")
RESULTS = Path(__file__).parent / "results.json"


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{os.cpu_count()} x {model}, Python {platform.python_version()}"


async def main(args: argparse.Namespace) -> dict[str, Any]:
    infra = Infra.from_env()
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    if "pipeline" in args.scenarios:
        config = (
            pipeline.PipelineConfig(duration_s=15, warmup_s=5, overhead_s=10)
            if args.quick
            else pipeline.PipelineConfig()
        )
        if args.duration:
            config = replace(config, duration_s=args.duration)
        figures = await pipeline.run(infra, config)
        results["pipeline"] = figures
        results.update(
            goals_per_s=figures["goals_per_s"],
            tasks_per_s=figures["tasks_per_s"],
            cpu_s_per_goal=figures["cpu_s_per_goal"],
            overhead_ms=figures["overhead"]["overhead_ms"],
            rss_mb_idle=figures["rss_mb_idle"],
        )
    window = (
        {"duration_s": 8.0, "warmup_s": 3.0}
        if args.quick
        else {"duration_s": 30.0, "warmup_s": 5.0}
    )
    if args.duration:
        window["duration_s"] = args.duration
    if "concurrency" in args.scenarios:
        results["inflight"] = await concurrency.run(infra, **window)
    if "scaling" in args.scenarios:
        results["scaling"] = await scaling.run(infra, **window)
    if "celery" in args.scenarios and shutil.which("redis-server") is None:
        results["celery"] = {"skipped": "redis-server is not installed"}
    elif "celery" in args.scenarios:
        results["celery"] = await asyncio.to_thread(celery_baseline.run, celery_config(args))
        results["ratio_vs_celery"] = ratio(results)
    return results


def celery_config(args: argparse.Namespace) -> celery_baseline.CeleryConfig:
    if args.quick:
        return celery_baseline.CeleryConfig(duration_s=10, warmup_s=3, overhead_s=8)
    config = celery_baseline.CeleryConfig()
    return replace(config, duration_s=args.duration) if args.duration else config


def ratio(results: dict[str, Any]) -> float | None:
    """Podium's goals/s at 2 s over Celery's best at 2 s."""
    podium = results.get("pipeline", {}).get("at_2s", {}).get("goals_per_s")
    celery = results["celery"]
    best = max(celery.get(f"{pool}_goals_per_s_at_2s", 0.0) for pool in ("prefork", "threads"))
    return round(podium / best, 2) if podium and best else None


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke test")
    parser.add_argument("--duration", type=float, help="seconds each measurement lasts")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("scenarios", nargs="*", choices=[*SCENARIOS, []], default=[])
    args = parser.parse_args()
    args.scenarios = args.scenarios or list(SCENARIOS)
    logging.basicConfig(level=logging.WARNING)
    results = asyncio.run(main(args))
    print(table(results))
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    cli()
