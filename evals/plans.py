"""`make eval-plans`: how many of 20 fixed, varied goals a model plans validly through the
planner's own code (its prompt, the plan's JSON schema, its checks and repair asks).

The model is the local one `podium up` would serve (`PODIUM_LOCAL_MODEL`, or `--model`),
started here on a free port with the settings the stack gives it; with
`PODIUM_LLM__BASE_URL` set, that endpoint (and `PODIUM_MODEL`) instead. Prints one line
per goal, then `plans: valid=V/20 first_ask=F/20 ...`, and exits non-zero below `--min`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from podium_cli import models
from podium_cli.settings import CliSettings
from podium_cli.stack.layout import Layout
from podium_cli.stack.local_llm import LocalLLM
from podium_cli.stack.processes import free_port
from podium_common.events import (
    Event,
    GoalSubmitted,
    PlanCreated,
    PlanRejected,
)
from podium_common.llm import LLM
from podium_common.llm_cache import LLMCacheSettings, build_llm
from podium_common.llm_limits import LimitedLLM
from podium_planner.handler import handle
from podium_planner.settings import PlannerSettings

GOALS = (
    "Compare three ways to rate-limit an HTTP API",
    "Write a one-week onboarding plan for a new backend engineer",
    "Explain how TLS 1.3 differs from TLS 1.2 and whether to upgrade",
    "Design a PostgreSQL schema for a library's loans and reservations",
    "Find the causes of a Python service's memory growth and how to confirm each",
    "Draft a blog post announcing a product's new dark mode",
    "Decide between Kafka and RabbitMQ for an order-processing system",
    "Summarise the trade-offs of microservices versus a modular monolith",
    "Plan a migration of a cron job fleet to Kubernetes CronJobs",
    "Write unit test cases for a function that parses ISO 8601 dates",
    "Estimate the monthly cloud cost of serving 10 million image thumbnails",
    "Propose a code review checklist for a team of five",
    "Explain the CAP theorem with an example from a shopping cart",
    "Create a study plan to learn Rust in six weeks",
    "Assess the risks of storing user passwords with SHA-256 and propose a fix",
    "Write a short incident report template and fill it in for a DNS outage",
    "Compare SQLite, PostgreSQL and DuckDB for a local analytics tool",
    "Suggest five names for a hiking app and check each for obvious conflicts",
    "Outline a talk on event sourcing for developers new to it",
    "Translate the key points of a privacy policy into plain language for users",
)


def goal(text: str) -> GoalSubmitted:
    return GoalSubmitted.accepted(text)


async def nothing(_: Sequence[Event]) -> None:
    """The planner's progress events go nowhere here."""


async def evaluate(settings: PlannerSettings, label: str) -> int:
    """Plans every goal; prints a line each and the totals; returns the valid plans."""
    llm = LimitedLLM(build_llm(settings.llm, LLMCacheSettings()), settings.llm, role="planner")
    try:
        return await _plan_all(settings, llm, label)
    finally:
        await llm.close()


async def _plan_all(settings: PlannerSettings, llm: LLM, label: str) -> int:
    valid = first = 0
    took: list[float] = []
    for number, text in enumerate(GOALS, 1):
        begun = time.monotonic()
        events = await handle(goal(text), llm, settings, nothing)
        took.append(time.monotonic() - begun)
        outcome = events[-1] if events else None
        if isinstance(outcome, PlanCreated):
            valid += 1
            first += outcome.attempts == 1
            shown = f"ok  asks={outcome.attempts} {len(outcome.tasks)} tasks"
        elif isinstance(outcome, PlanRejected):
            shown = f"BAD asks={outcome.attempts} {outcome.reason}: {'; '.join(outcome.errors[:2])}"
        else:
            shown = "BAD no plan before the deadline"
        print(f"{number:>2} {took[-1]:5.1f}s {shown} | {text}")
    mean = sum(took) / len(took)
    count = len(GOALS)
    print(f"plans: valid={valid}/{count} first_ask={first}/{count} model={label} mean={mean:.1f}s")
    return valid


def local_settings(model: models.LocalModel, base_url: str) -> PlannerSettings:
    """The planner's settings as `podium up` gives them for this local model."""
    os.environ.update(models.service_env(model, base_url, dict(os.environ)))
    return PlannerSettings()


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m evals.plans", description=__doc__)
    cli.add_argument(
        "--model", help="a local model (default: PODIUM_LOCAL_MODEL, else the default)"
    )
    cli.add_argument("--min", type=int, default=0, help="exit 1 with fewer valid plans")
    args = cli.parse_args(argv)
    # Stopped with SIGTERM, the local server is still stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.model:
        os.environ["PODIUM_LOCAL_MODEL"] = args.model
    settings = CliSettings()
    if settings.llm_kind == "external":
        planner = PlannerSettings()
        valid = asyncio.run(evaluate(planner, f"{planner.model} at {settings.llm.base_url}"))
    else:
        local = LocalLLM(settings, Layout.of(settings))
        log = Path(tempfile.gettempdir()) / f"podium-eval-{local.model.name}.log"
        print(f"serving {local.model.describes} (log {log})", file=sys.stderr)
        with local.serving(free_port(), log) as base_url:
            planner = local_settings(local.model, base_url)
            valid = asyncio.run(evaluate(planner, local.model.name))
    return 0 if valid >= args.min else 1


if __name__ == "__main__":
    sys.exit(main())
