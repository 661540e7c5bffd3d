"""`python -m chaos [--quick]`: a private stack with two replicas of each worker type and of
the aggregator, goals through its gateway while every service instance is SIGKILLed and
restarted, the broker restarted and PostgreSQL stopped; then one summary line on stdout
(progress goes to stderr) and a non-zero exit if a goal was lost or doubled, or if no task
was redelivered."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import shutil
import sys
import time
import uuid

import httpx

from chaos.check import Findings, describe_stuck, findings, wait_for_outcomes
from chaos.faults import FaultPlan, Tally, run_faults
from chaos.load import submit_all
from chaos.stack import ChaosStack
from podium_cli.stack.services import CONSUMERS

log = logging.getLogger("chaos")

# The LLM faults of a `--llm-faults` run: 20% 429, 10% 500, 5% timeouts, 5% malformed.
LLM_FAULTS = {"p_429": 0.2, "p_500": 0.1, "p_timeout": 0.05, "p_malformed": 0.05}


# Two of each worker type and of the aggregator: a killed replica's partitions move to the other.
REPLICAS = {name: 2 for name in CONSUMERS if name.startswith("worker-") or name == "aggregator"}

# A killed consumer's partitions wait this long for it (the broker's minimum is 6 s).
# The scripted LLM, asked for by name: its faults and counters are what chaos measures.
STACK_ENV = {
    "PODIUM_KAFKA__SESSION_TIMEOUT_MS": "6000",
    "PODIUM_LLM__BACKOFF_BASE_S": "0.2",
    "PODIUM_LLM__SCRIPTED": "1",
}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    cli = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    cli.add_argument("--quick", action="store_true", help="a short run for CI")
    cli.add_argument("--goals", type=int, help="goals to submit at least (500; quick: 40)")
    cli.add_argument("--rate", type=float, help="goals per second (1.6; quick: 0.5)")
    cli.add_argument("--rounds", type=int, help="kills per service (3; quick: 1)")
    cli.add_argument("--interval", type=float, help="mean seconds between faults (5; quick: 2.5)")
    cli.add_argument("--pg-outage", type=float, help="PostgreSQL outage in s (30; quick: 8)")
    cli.add_argument("--broker-down", type=float, default=3.0, help="broker down for s")
    cli.add_argument("--deadline", type=int, help="each goal's deadline in s (600; quick: 150)")
    cli.add_argument("--budget", type=float, help="the run's limit in s (5400; quick: 420)")
    cli.add_argument("--llm-faults", action="store_true", help="also 429/500/timeouts/malformed")
    cli.add_argument("--seed", type=int, default=None, help="seed of the fault schedule")
    cli.add_argument("--keep", action="store_true", help="keep the stack's state folder")
    args = cli.parse_args(argv)
    quick = args.quick
    for name, full, short in (
        ("goals", 500, 40),
        ("rate", 1.6, 0.5),
        ("rounds", 3, 1),
        ("interval", 5.0, 2.5),
        ("pg_outage", 30.0, 8.0),
        ("deadline", 600, 150),
        ("budget", 5400.0, 420.0),
    ):
        if getattr(args, name) is None:
            setattr(args, name, short if quick else full)
    return args


def summary(found: Findings, tally: Tally) -> str:
    return (
        f"chaos: goals={found.goals} completed={found.completed} failed={found.failed} "
        f"lost={found.lost} duplicate_outputs={found.duplicate_outputs} "
        f"kills={sum(tally.kills.values())} broker_restarts={tally.broker_restarts} "
        f"pg_outages={tally.pg_outages} redelivered_tasks={found.redelivered_tasks} "
        f"duplicate_llm_calls={found.duplicate_llm_calls}"
    )


async def configure_llm(stack: ChaosStack, args: argparse.Namespace) -> str:
    url = stack.settings.llm_base_url.removesuffix("/v1")
    config: dict[str, object] = {"latency_ms": 50, "latency_max_ms": 500, "seed": args.seed or 0}
    if args.llm_faults:
        config |= LLM_FAULTS | {"retry_after_s": 1, "timeout_hold_s": 5}
    async with httpx.AsyncClient() as client:
        (await client.post(f"{url}/_scripted/config", json=config)).raise_for_status()
    return url


async def llm_stats(url: str) -> dict[str, object]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{url}/_scripted/stats")
        response.raise_for_status()
        stats: dict[str, object] = response.json()
        return stats


async def run(stack: ChaosStack, args: argparse.Namespace) -> tuple[Findings, Tally]:
    await stack.up()
    llm = await configure_llm(stack, args)
    tally = Tally()
    started = time.monotonic()
    kafka, dsn = stack.settings.kafka_for_stack(), stack.settings.postgres_dsn
    try:
        async with asyncio.timeout(args.budget):
            stuck = await drive(stack, args, tally)
    except TimeoutError:
        tally.violations.append(f"the run took over its budget of {args.budget:.0f}s")
        stuck = await wait_for_outcomes(kafka, dsn, tally.goals, within_s=0)
    found = await findings(kafka, dsn, tally.goals, await llm_stats(llm))
    found.violations += await describe_stuck(dsn, stuck)
    log.info("run took %.0fs; kills %s", time.monotonic() - started, dict(tally.kills))
    log.info(
        "outcome records on outputs that repeat one (a crash before the aggregator's "
        "commit, deduped by event id): %d",
        found.republished_outputs,
    )
    return found, tally


async def drive(stack: ChaosStack, args: argparse.Namespace, tally: Tally) -> list[uuid.UUID]:
    """Goals in while the faults happen; returns the goals that did not end in time."""
    rng = random.Random(args.seed)  # noqa: S311 - a fault schedule, not a secret
    plan = FaultPlan(args.rounds, args.interval, args.broker_down, args.pg_outage)
    started = time.monotonic()
    faults = asyncio.create_task(run_faults(stack, plan, tally, rng, args.deadline))
    gateway = stack.settings.gateway_url
    tally.submitted = await submit_all(
        gateway, args.goals, args.rate, args.deadline, tally.accepted, faults
    )
    await faults
    log.info(
        "%d goals accepted, faults done after %.0fs",
        len(tally.accepted),
        time.monotonic() - started,
    )
    stopped = [name for name in stack.instances if stack.pid(name) is None]
    if stopped:
        tally.violations.append(f"services that stopped on their own: {stopped}")
        for name in stopped:
            await stack.restart(name)
    kafka, dsn = stack.settings.kafka_for_stack(), stack.settings.postgres_dsn
    return await wait_for_outcomes(kafka, dsn, tally.goals, within_s=args.deadline + 60)


def verdict(
    found: Findings, tally: Tally, args: argparse.Namespace, instances: list[str]
) -> list[str]:
    """Every broken promise, one line each; none means the run passed."""
    broken = [*found.violations, *tally.violations]
    submitted = max(args.goals, tally.submitted)
    if len(tally.accepted) < submitted:
        broken.append(f"only {len(tally.accepted)} of {submitted} goals were accepted")
    if found.failed and not args.llm_faults:
        broken.append(f"{found.failed} goals failed with no LLM faults injected")
    short = {name: tally.kills[name] for name in instances if tally.kills[name] < args.rounds}
    if short:
        broken.append(f"service instances killed fewer than {args.rounds} times: {short}")
    workers_killed = sum(n for name, n in tally.kills.items() if name.startswith("worker-"))
    if workers_killed and not found.redelivered_tasks:
        broken.append(
            f"no task was redelivered although worker replicas were killed {workers_killed} "
            "times: the run did not show recovery by redelivery (no task result came from "
            "two worker processes)"
        )
    return broken


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    for noisy in ("httpx", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stack = ChaosStack.create(partitions=3, extra_env=STACK_ENV, replicas=REPLICAS)
    log.info("chaos stack in %s", stack.state)
    broken = ["the run did not finish"]
    # stdout carries the summary line alone; what the stack code prints goes to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            found, tally = asyncio.run(run(stack, args))
            broken = verdict(found, tally, args, stack.instances)
        finally:
            stack.down()
            if broken:
                log.error("chaos: the stack's state and logs are kept in %s", stack.state)
            elif not args.keep:
                shutil.rmtree(stack.state, ignore_errors=True)
    for line in broken:
        log.error("chaos: %s", line)
    print(summary(found, tally), flush=True)
    return 1 if found.lost or found.duplicate_outputs or broken else 0


if __name__ == "__main__":
    sys.exit(main())
