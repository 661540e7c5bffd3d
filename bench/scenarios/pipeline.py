"""Items 1, 2 and 4: throughput at a zero-latency LLM, the same closed loop with a deep
backlog, then the overhead at half the throughput.

Both run on one stack of every service: goals go in through the gateway, outcomes are
read from `outputs`, per-hop timings from the read model in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from bench.brokerhop import CRITICAL_HOPS, broker_hop
from bench.hops import HOPS, fetch_events, timings
from bench.infra import Infra, fresh_run
from bench.load import TASKS_PER_GOAL, GoalDriver
from bench.procstat import machine_busy_seconds
from bench.profile import recording
from bench.stack import Stack, every_service
from bench.stats import rate, summary


class Runner(Protocol):
    async def run_one(self) -> uuid.UUID: ...


@dataclass(frozen=True)
class PipelineConfig:
    duration_s: float = 60.0
    warmup_s: float = 10.0
    overhead_s: float = 30.0
    # How long the idle processes' CPU is measured, once every consumer has joined.
    idle_s: float = 10.0
    # Goals kept outstanding while throughput is measured (a closed loop).
    outstanding: int = 200
    # The closed loop again with this many outstanding: CPU per goal under a deep backlog
    # (target 4). None, or not above `outstanding`: not measured.
    deep_outstanding: int | None = 1000
    # With a folder, every service is profiled (py-spy) while throughput is measured.
    profile_dir: Path | None = None
    # Every service's in-flight limit; None keeps their default (256).
    max_in_flight: int | None = None
    # Aggregator replicas: its batches are handled one after another, so under a deep
    # closed loop one replica is where goals queue (docs/benchmarks-history.md).
    aggregators: int = 1
    # Goals/s the overhead is measured at; None: half the throughput just measured. A fixed
    # rate compares code changes at the same load, whatever their throughput.
    overhead_rate: float | None = None


async def run(infra: Infra, config: PipelineConfig) -> dict[str, Any]:
    async with (
        fresh_run(infra) as run_,
        every_service(run_, config.max_in_flight, aggregators=config.aggregators) as stack,
    ):
        await asyncio.sleep(3)  # let start-up settle before idle memory is read
        idle = stack.rss()
        async with GoalDriver(stack.gateway_url, run_.kafka) as driver:
            await driver.run_one()  # every consumer has joined and fetched once
            idle_cpu = await cpu_at_idle(stack, config.idle_s)
            figures = await throughput(stack, driver, config, config.profile_dir)
            if config.deep_outstanding and config.deep_outstanding > config.outstanding:
                deep = replace(config, outstanding=config.deep_outstanding)
                figures["deep_backlog"] = await throughput(stack, driver, deep)
                # The first loop once more: the deep one is compared with both (bench.report),
                # which cancels the machine's steady drift over the three.
                figures["after_deep_backlog"] = await throughput(stack, driver, config)
            overhead_rate = config.overhead_rate or figures["goals_per_s"] / 2
            figures["overhead"] = await overhead(
                stack, driver, run_.dsn, overhead_rate, config.overhead_s, config.warmup_s
            )
            figures["overhead"]["broker_alone"] = await broker_hop(
                run_.kafka, overhead_rate, config.overhead_s
            )
            figures["overhead"]["critical_path_hops"] = CRITICAL_HOPS
            figures["at_2s"] = await throughput_at_2s(stack, driver, config)
        figures["rss_mb_idle"] = idle
        figures["cpu_ms_per_s_idle"] = idle_cpu
        return figures


async def cpu_at_idle(stack: Stack, seconds: float) -> dict[str, float]:
    """Each process's CPU with no goal in flight, in ms a second: its polls, fetches,
    heartbeats and timers, which it also pays under load."""
    before = stack.cpu()
    await asyncio.sleep(seconds)
    after = stack.cpu()
    return {name: round(1000 * (after[name] - before[name]) / seconds, 1) for name in after}


async def _closed_loop(driver: GoalDriver, outstanding: int, stop: asyncio.Event) -> None:
    async def client() -> None:
        while not stop.is_set():
            await driver.run_one()

    clients = [asyncio.create_task(client()) for _ in range(outstanding)]
    await stop.wait()
    for task in clients:
        task.cancel()
    await asyncio.gather(*clients, return_exceptions=True)


async def throughput(
    stack: Stack, driver: GoalDriver, config: PipelineConfig, profile_dir: Path | None = None
) -> dict[str, Any]:
    """Sustained goals/s with `outstanding` goals in flight, and CPU-seconds per goal."""
    stop = asyncio.Event()
    loop = asyncio.create_task(_closed_loop(driver, config.outstanding, stop))
    await asyncio.sleep(config.warmup_s)
    cpu_before, busy_before, started = stack.cpu(), machine_busy_seconds(), time.monotonic()
    client_before = time.process_time()
    if profile_dir is None:
        await asyncio.sleep(config.duration_s)
    else:
        with recording(stack.pids(), config.duration_s, profile_dir):
            await asyncio.sleep(config.duration_s)
    cpu_after, busy_after, ended = stack.cpu(), machine_busy_seconds(), time.monotonic()
    client_cpu = time.process_time() - client_before
    stop.set()
    await loop
    await driver.drain()
    window = {g: e for g, e in driver.ended.items() if started <= e.at < ended}
    goals = len(window)
    seconds = ended - started
    return {
        "duration_s": round(seconds, 1),
        "outstanding": config.outstanding,
        "aggregators": config.aggregators,
        "goals": goals,
        "failed": sum(1 for e in window.values() if not e.completed),
        "goals_per_s": rate(goals, seconds),
        "tasks_per_s": rate(goals * TASKS_PER_GOAL, seconds),
        # To 10 µs: a change of a tenth of a millisecond per goal shows.
        "cpu_s_per_goal": {
            name: round((cpu_after[name] - cpu_before[name]) / max(goals, 1), 5)
            for name in cpu_after
        },
        # How busy the machine's cores were, and what outside the services used them: the
        # broker, PostgreSQL and this benchmark's own client.
        "machine_cpu_busy": round(
            (busy_after - busy_before) / (seconds * (os.cpu_count() or 1)), 3
        ),
        "cpu_s_per_goal_outside_services": round(
            (busy_after - busy_before - sum(cpu_after.values()) + sum(cpu_before.values()))
            / max(goals, 1),
            4,
        ),
        # Of that, this benchmark's own process: the goals' HTTP client and outcome reader.
        "cpu_s_per_goal_client": round(client_cpu / max(goals, 1), 4),
        "client_cores_busy": round(client_cpu / seconds, 2),
        # A closed loop: goals/s is the outstanding goals over this time.
        # (A goal can end before its submission's response is read: it waits for that.)
        "goal_ms": summary(list(driver.latencies_ms(list(window)).values())),
    }


async def throughput_at_2s(
    stack: Stack, driver: GoalDriver, config: PipelineConfig
) -> dict[str, Any]:
    """The same closed loop with every LLM call taking 2 s (a goal then needs at least 8 s)."""
    await stack.configure_llm(2000)
    slow = replace(config, warmup_s=max(config.warmup_s, 25.0))
    figures = await throughput(stack, driver, slow)
    await stack.configure_llm(0)
    return {key: figures[key] for key in ("goals_per_s", "tasks_per_s", "goals", "failed")}


async def paced(
    driver: Runner, goals_per_s: float, duration_s: float, warmup_s: float
) -> list[uuid.UUID]:
    """Goals sent at a fixed rate for `warmup_s + duration_s`, each run to its outcome;
    returns those sent after the warm-up, in the order they were sent."""
    interval = 1 / max(goals_per_s, 0.1)
    pending: list[asyncio.Task[uuid.UUID]] = []
    start = time.monotonic()
    while time.monotonic() - start < warmup_s + duration_s:
        pending.append(asyncio.create_task(driver.run_one()))
        await asyncio.sleep(max(0.0, start + len(pending) * interval - time.monotonic()))
    ids = await asyncio.wait_for(asyncio.gather(*pending), timeout=120)
    return ids[round(warmup_s * goals_per_s) :]


async def overhead(
    stack: Stack,
    driver: GoalDriver,
    dsn: str,
    goals_per_s: float,
    duration_s: float,
    warmup_s: float,
) -> dict[str, Any]:
    """Goals at a fixed rate; end-to-end latency minus the LLM time on the critical path.
    The goals of the first `warmup_s` are left out: the closed loop before leaves every
    consumer a backlog to catch up on, which is not the load measured here."""
    ids = await paced(driver, goals_per_s, duration_s, warmup_s)
    latencies = driver.latencies_ms(ids)
    await asyncio.sleep(2)  # the recorder writes the last outcomes
    events = await fetch_events(dsn, ids)
    overheads: list[float] = []
    inside: list[float] = []
    client: list[float] = []
    hops: dict[str, list[float]] = {hop: [] for hop in HOPS}
    llm: list[float] = []
    for goal_id, latency in latencies.items():
        timing = timings(events.get(goal_id, []))
        overheads.append(latency - timing.llm_critical_ms)
        llm.append(timing.llm_critical_ms)
        if timing.span_ms is not None:
            inside.append(timing.span_ms - timing.llm_critical_ms)
            client.append(latency - timing.span_ms)
        for hop, values in timing.hops.items():
            hops[hop].extend(values)
    return {
        "goals_per_s": round(goals_per_s, 2),
        "warmup_s": warmup_s,
        "goals": len(ids),
        "latency_ms": summary(list(latencies.values())),
        "llm_critical_ms": summary(llm),
        "overhead_ms": summary(overheads),
        # The overhead split: between GoalSubmitted and the outcome event (Podium's), and
        # the rest of the client's end to end (its HTTP request in, its read of `outputs`).
        "overhead_inside_ms": summary(inside) if inside else None,
        "client_legs_ms": summary(client) if client else None,
        "hops_ms": {hop: summary(values) for hop, values in hops.items()},
    }
