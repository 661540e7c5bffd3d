"""The faults of a chaos run, one after another every few seconds: each service instance
(every replica on its own) SIGKILLed and restarted a number of times in random order, the
broker restarted once, PostgreSQL stopped once (while it is down, the gateway must accept
goals and answer reads with 503 and Retry-After).

A worker replica is killed just after it published a result, before the offset commit that
covers the task: the task is redelivered, to the other replica or to the restarted one.
Other instances are killed whenever their turn comes."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from chaos.stack import ChaosStack
from chaos.watch import ResultWatch

log = logging.getLogger("chaos")

BROKER, POSTGRES = "broker", "postgres"
# A fault (with the restart after it) that takes longer is a finding, and the run goes on.
STEP_LIMIT_S = 120.0
# How long a worker replica's turn waits for it to publish a result before it is killed anyway.
RESULT_WAIT_S = 8.0


@dataclass(frozen=True)
class FaultPlan:
    rounds: int  # each service is killed this many times
    interval_s: float  # mean pause between two faults
    broker_down_s: float
    pg_outage_s: float


@dataclass
class Tally:
    kills: Counter[str] = field(default_factory=Counter)
    broker_restarts: int = 0
    pg_outages: int = 0
    # Goals submitted, those the gateway accepted, and those the probe sent during the
    # PostgreSQL outage.
    submitted: int = 0
    accepted: list[str] = field(default_factory=list)
    probe_goals: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @property
    def goals(self) -> list[uuid.UUID]:
        return [uuid.UUID(goal) for goal in [*self.accepted, *self.probe_goals]]


def steps(plan: FaultPlan, rng: random.Random, instances: Sequence[str]) -> list[str]:
    """Kills in rounds (every instance once per round, shuffled), the broker restart a third
    of the way in and the PostgreSQL outage two thirds in."""
    order: list[str] = []
    for _ in range(plan.rounds):
        shuffled = list(instances)
        rng.shuffle(shuffled)
        order += shuffled
    if plan.broker_down_s >= 0:
        order.insert(len(order) // 3, BROKER)
    if plan.pg_outage_s > 0:
        order.insert(2 * len(order) // 3, POSTGRES)
    return order


async def run_faults(
    stack: ChaosStack, plan: FaultPlan, tally: Tally, rng: random.Random, deadline_s: int
) -> None:
    kafka = stack.settings.kafka_for_stack()
    async with ResultWatch.following(kafka) as watch:
        for step in steps(plan, rng, stack.instances):
            await asyncio.sleep(plan.interval_s * rng.uniform(0.5, 1.5))
            await _bounded(stack, step, plan, tally, rng, deadline_s, watch)


async def _bounded(
    stack: ChaosStack,
    step: str,
    plan: FaultPlan,
    tally: Tally,
    rng: random.Random,
    deadline_s: int,
    watch: ResultWatch,
) -> None:
    try:
        async with asyncio.timeout(STEP_LIMIT_S):
            if step == BROKER:
                log.info("restarting the broker (down %.0fs)", plan.broker_down_s)
                await stack.restart_broker(plan.broker_down_s)
                tally.broker_restarts += 1
            elif step == POSTGRES:
                await _postgres_outage(stack, plan.pg_outage_s, tally, deadline_s)
            else:
                await _kill_and_restart(stack, step, tally, rng, watch)
    except TimeoutError:
        tally.violations.append(f"{step}: the fault and recovery took over {STEP_LIMIT_S}s")
        log.error("%s: the fault and recovery took over %.0fs", step, STEP_LIMIT_S)


async def _kill_and_restart(
    stack: ChaosStack, name: str, tally: Tally, rng: random.Random, watch: ResultWatch
) -> None:
    pid = stack.service_pid(name)
    if name.startswith("worker-") and pid is not None:
        if await watch.published_by(pid, RESULT_WAIT_S):
            log.info("%s published a result: killing it before it commits", name)
        else:
            log.info("%s published no result in %.0fs: killing it anyway", name, RESULT_WAIT_S)
    if not await stack.kill(name):
        tally.violations.append(f"{name} was not running when its turn to be killed came")
    else:
        tally.kills[name] += 1
    await asyncio.sleep(rng.uniform(0, 1.5))
    took = await stack.restart(name)
    log.info("killed %s (kill %d), ready again in %.1fs", name, tally.kills[name], took)


async def _postgres_outage(
    stack: ChaosStack, seconds: float, tally: Tally, deadline_s: int
) -> None:
    log.info("stopping PostgreSQL for %.0fs", seconds)
    outage = asyncio.create_task(stack.postgres_outage(seconds))
    await asyncio.sleep(min(2.0, seconds / 3))
    gateway = stack.settings.gateway_url
    async with httpx.AsyncClient(base_url=gateway, timeout=10) as client:
        read = await client.get(f"/goals/{uuid.uuid4()}")
        if read.status_code != 503 or "Retry-After" not in read.headers:
            tally.violations.append(
                f"a read during the PostgreSQL outage answered {read.status_code} "
                f"(Retry-After {read.headers.get('Retry-After')}), not 503 with Retry-After"
            )
        response = await client.post(
            "/goals",
            json={
                "goal": "Chaos probe during the PostgreSQL outage",
                "options": {"deadline_s": deadline_s},
            },
        )
        if response.status_code == 202:
            tally.probe_goals.append(response.json()["goal_id"])
        else:
            tally.violations.append(
                f"a goal during the PostgreSQL outage was refused: {response.status_code}"
            )
    await outage
    tally.pg_outages += 1
    log.info("PostgreSQL is back")
