"""`python -m bench [--quick] [scenario ...]`: runs the scenarios, prints a table, writes JSON."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import profile, runner
from bench.arguments import argument, parse_levels, parse_rates, parse_systems
from bench.infra import Infra, clean, leftovers
from bench.otherwork import Watch
from bench.procstat import broker_pid
from bench.report import CAPACITY_SYSTEMS, backlog_ratio, headline, table
from bench.scenarios import capacity, celery_baseline, concurrency, pipeline, scaling

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


def broker_jvm(bootstrap: str) -> list[str] | None:
    """The JVM options of the broker process listening at `bootstrap`, when it runs here:
    its collector and compiler shape every figure."""
    import psutil

    pid = broker_pid(bootstrap)
    if pid is None:
        return None
    return [arg for arg in psutil.Process(pid).cmdline() if arg.startswith("-X")]


async def run_pipeline(args: argparse.Namespace, results: dict[str, Any]) -> None:
    config = (
        pipeline.PipelineConfig(duration_s=15, warmup_s=5, overhead_s=10, idle_s=5)
        if args.quick
        else pipeline.PipelineConfig()
    )
    if args.duration:
        config = replace(config, duration_s=args.duration)
    config = replace(config, profile_dir=args.profile)
    if args.outstanding:
        config = replace(config, outstanding=args.outstanding)
    if args.deep_outstanding is not None:
        config = replace(config, deep_outstanding=args.deep_outstanding)
    if args.in_flight:
        config = replace(config, max_in_flight=args.in_flight)
    if args.aggregators:
        config = replace(config, aggregators=args.aggregators)
    if args.overhead_rate:
        config = replace(config, overhead_rate=args.overhead_rate)
    figures = await pipeline.run(Infra.from_env(), config)
    results["pipeline"] = figures
    results.update(
        goals_per_s=figures["goals_per_s"],
        tasks_per_s=figures["tasks_per_s"],
        cpu_s_per_goal=figures["cpu_s_per_goal"],
        overhead_ms=figures["overhead"]["overhead_ms"],
        rss_mb_idle=figures["rss_mb_idle"],
        deep_backlog_cpu_ratio=backlog_ratio(figures),
    )


def window(args: argparse.Namespace) -> dict[str, float]:
    duration, warmup = (8.0, 3.0) if args.quick else (30.0, 5.0)
    return {"duration_s": args.duration or duration, "warmup_s": warmup}


async def run_concurrency(args: argparse.Namespace, results: dict[str, Any]) -> None:
    results["inflight"] = await concurrency.run(
        Infra.from_env(), **window(args), profile_dir=args.profile
    )


async def run_scaling(args: argparse.Namespace, results: dict[str, Any]) -> None:
    results["scaling"] = await scaling.run(Infra.from_env(), **window(args))


async def run_celery(args: argparse.Namespace, results: dict[str, Any]) -> None:
    if shutil.which("redis-server") is None:
        results["celery"] = {"skipped": "redis-server is not installed"}
        return
    config = celery_baseline.CeleryConfig()
    if args.quick:
        config = celery_baseline.CeleryConfig(duration_s=10, warmup_s=3, overhead_s=8)
    if args.duration:
        config = replace(config, duration_s=args.duration)
    if args.outstanding:
        config = replace(config, outstanding=args.outstanding)
    if args.in_flight:
        config = replace(config, threads=args.in_flight)
    results["celery"] = await asyncio.to_thread(celery_baseline.run, config)
    results["ratio_vs_celery"] = ratio(results)


def ratio(results: dict[str, Any]) -> float | None:
    """Podium's goals/s at 2 s over Celery's best at 2 s."""
    podium = results.get("pipeline", {}).get("at_2s", {}).get("goals_per_s")
    celery = results["celery"]
    best = max(celery.get(f"{pool}_goals_per_s_at_2s", 0.0) for pool in ("prefork", "threads"))
    return round(podium / best, 2) if podium and best else None


async def run_capacity(args: argparse.Namespace, results: dict[str, Any]) -> None:
    config = capacity.CapacityConfig()
    if args.quick:
        config = replace(config, window_s=10, probe_s=5)
    if args.window:
        config = replace(config, window_s=args.window, probe_s=min(config.probe_s, args.window))
    systems = args.systems or CAPACITY_SYSTEMS
    if "celery" in systems and shutil.which("redis-server") is None:
        systems = tuple(name for name in systems if name != "celery")
        results["capacity_celery_skipped"] = "redis-server is not installed"
    config = replace(config, systems=systems)
    if args.in_flight:
        config = replace(config, max_in_flight=args.in_flight)
    if args.celery_concurrency:
        config = replace(config, celery_concurrency=args.celery_concurrency)
    if args.rates:
        config = replace(config, rates=args.rates)
    infra = Infra.from_env() if "podium" in systems else None
    figures = await capacity.run(infra, config)
    results["capacity"] = figures
    results.update(headline(figures))
    if figures["failed"]:
        raise RuntimeError(f"capacity failed for {', '.join(figures['failed'])}")


SCENARIOS: dict[str, runner.Scenario] = {
    "pipeline": run_pipeline,
    "concurrency": run_concurrency,
    "scaling": run_scaling,
    "celery": run_celery,
    "capacity": run_capacity,
}


async def earlier_runs(clean_them: bool) -> int | None:
    """How many earlier runs' topics and databases the broker and PostgreSQL hold at the
    start (none once `--clean` deleted them); None when either server is not named."""
    infra = named_infra()
    if infra is None:
        return None
    tags = await leftovers(infra)
    if tags and clean_them:
        # Not listed again: the broker may list a deleted topic a moment longer.
        print(f"deleting the topics and databases of {len(tags)} earlier runs", file=sys.stderr)
        await clean(infra, tags)
        return 0
    if tags:
        print(
            f"the broker and PostgreSQL hold the topics and databases of {len(tags)} earlier "
            "runs (killed, or kept with PODIUM_BENCH_KEEP=1); their partitions slow the "
            "broker: --clean deletes them first",
            file=sys.stderr,
        )
    return len(tags)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    """The figures of every scenario run, with `failed`: the names of those that failed."""
    results: dict[str, Any] = {
        "machine": machine(),
        "broker_jvm": broker_jvm(os.environ.get("PODIUM_BENCH_BOOTSTRAP", "")),
        "earlier_runs_left": await earlier_runs(args.clean),
        "quick": args.quick,
    }
    results["failed"] = await runner.run(SCENARIOS, args, results, watch=watch())
    return results


def named_infra() -> Infra | None:
    """The broker and PostgreSQL when the environment names both."""
    if not {"PODIUM_BENCH_BOOTSTRAP", "PODIUM_BENCH_PG_DSN"} <= os.environ.keys():
        return None
    return Infra.from_env()


def watch() -> Watch | None:
    """What tells the machine's other work from the benchmark's, once the servers are named."""
    infra = named_infra()
    return None if infra is None else Watch.of_benchmark(infra.bootstrap, infra.admin_dsn)


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke test")
    parser.add_argument("--duration", type=float, help="seconds each measurement lasts")
    parser.add_argument(
        "--outstanding", type=int, help="goals kept in flight by the closed loops (200)"
    )
    parser.add_argument(
        "--deep-outstanding",
        type=int,
        help="pipeline: goals outstanding in the deep-backlog closed loop (1000; 0: skipped)",
    )
    parser.add_argument(
        "--in-flight",
        type=int,
        help="each service's in-flight limit (256) and the Celery threads per process (64)",
    )
    parser.add_argument("--aggregators", type=int, help="pipeline: aggregator replicas (1)")
    parser.add_argument(
        "--overhead-rate",
        type=float,
        help="pipeline: goals/s the overhead is measured at (half the throughput measured)",
    )
    parser.add_argument(
        "--window",
        type=float,
        help="capacity: seconds a rate must be sustained (60; 10 with --quick)",
    )
    parser.add_argument(
        "--systems",
        type=argument(lambda text: parse_systems(text, CAPACITY_SYSTEMS)),
        help="capacity: which systems, comma-separated (podium,celery,langgraph)",
    )
    parser.add_argument(
        "--celery-concurrency",
        type=argument(parse_levels),
        help="capacity: the gevent pool's concurrency per process, stepped (64,256,1024)",
    )
    parser.add_argument(
        "--rates",
        type=argument(parse_rates),
        help="capacity: full windows at these goals/s, comma-separated, instead of the search",
    )
    parser.add_argument(
        "--clean",
        action="store_true",
        help="first delete the topics and databases that earlier runs left (killed, or kept"
        " with PODIUM_BENCH_KEEP=1); not while another run uses the same servers",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="profile the processes (py-spy) while pipeline and concurrency measure",
    )
    parser.add_argument("scenarios", nargs="*", choices=[*SCENARIOS, []], default=[])
    args = parser.parse_args()
    args.scenarios = args.scenarios or list(SCENARIOS)
    logging.basicConfig(level=logging.WARNING)
    results = asyncio.run(main(args))
    results["profiled"] = args.profile is not None
    print(table(results))
    if args.profile is not None:
        print(f"\nProfiles (py-spy, collapsed stacks) in {args.profile}")
        print(profile.report(args.profile))
    runner.write(args.out, results)
    print(f"\nwritten to {args.out}")
    if results["failed"]:
        sys.exit(f"failed: {', '.join(results['failed'])}")


if __name__ == "__main__":
    cli()
