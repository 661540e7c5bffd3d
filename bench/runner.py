"""Runs the chosen scenarios one after another and writes the results after each, so a run
cut short keeps the figures of every scenario it finished."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

Scenario = Callable[[argparse.Namespace, dict[str, Any]], Awaitable[None]]
log = logging.getLogger("bench")


async def run(
    scenarios: Mapping[str, Scenario], args: argparse.Namespace, results: dict[str, Any]
) -> list[str]:
    """The names of the scenarios that failed; one broken scenario leaves the others'."""
    failed: list[str] = []
    for name in args.scenarios:
        try:
            await scenarios[name](args, results)
        except Exception:
            log.exception("scenario %s failed", name)
            failed.append(name)
        results["failed"] = failed
        write(args.out, results)
    return failed


def write(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
