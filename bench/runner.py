"""Runs the chosen scenarios one after another and writes the results after each, so a run
cut short keeps the figures of every scenario it finished, with the minutes each took
(`scenario_minutes`)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

Scenario = Callable[[argparse.Namespace, dict[str, Any]], Awaitable[None]]
log = logging.getLogger("bench")


async def run(
    scenarios: Mapping[str, Scenario],
    args: argparse.Namespace,
    results: dict[str, Any],
    clock: Callable[[], float] = time.monotonic,
) -> list[str]:
    """The names of the scenarios that failed; one broken scenario leaves the others'."""
    failed: list[str] = []
    minutes: dict[str, float] = results.setdefault("scenario_minutes", {})
    for name in args.scenarios:
        started = clock()
        try:
            await scenarios[name](args, results)
        except Exception:
            log.exception("scenario %s failed", name)
            failed.append(name)
        minutes[name] = round((clock() - started) / 60, 1)
        print(f"scenario {name}: {minutes[name]:g} min", file=sys.stderr)
        results["failed"] = failed
        write(args.out, results)
    return failed


def write(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
