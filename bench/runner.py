"""Runs the chosen scenarios one after another and writes the results after each, so a run
cut short keeps the figures of every scenario it finished, with the minutes each took
(`scenario_minutes`) and, given a `Watch`, the machine's other work during each
(`bench.otherwork`)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from bench.otherwork import OtherWork, Watch, between

Scenario = Callable[[argparse.Namespace, dict[str, Any]], Awaitable[None]]
log = logging.getLogger("bench")


async def run(
    scenarios: Mapping[str, Scenario],
    args: argparse.Namespace,
    results: dict[str, Any],
    clock: Callable[[], float] = time.monotonic,
    watch: Watch | None = None,
) -> list[str]:
    """The names of the scenarios that failed; one broken scenario leaves the others'."""
    failed: list[str] = []
    minutes: dict[str, float] = results.setdefault("scenario_minutes", {})
    for name in args.scenarios:
        started = clock()
        marked = watch.mark() if watch is not None else None
        try:
            await scenarios[name](args, results)
        except Exception:
            log.exception("scenario %s failed", name)
            failed.append(name)
        minutes[name] = round((clock() - started) / 60, 1)
        print(f"scenario {name}: {minutes[name]:g} min", file=sys.stderr)
        if watch is not None and marked is not None:
            _other_work(name, between(marked, watch.mark()), results)
        results["failed"] = failed
        write(args.out, results)
    return failed


def _other_work(name: str, other: OtherWork, results: dict[str, Any]) -> None:
    results.setdefault("other_work_cores", {})[name] = other.cores
    if other.noticeable:
        results.setdefault("other_work_busiest", {})[name] = other.busiest
        print(
            f"scenario {name}: the machine was busy with other work ({other.describe()}); "
            "its figures measured that work too",
            file=sys.stderr,
        )


def write(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
