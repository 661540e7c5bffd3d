"""Capacity, open-loop: Podium, Celery and LangGraph at 0 ms and 2 s LLM latency.

Goals arrive as a Poisson process at a rate stepped up (bench.openloop); capacity is the
highest rate a full window sustained with p99 end-to-end ≤ the plan's LLM critical path
+ 250 ms and a backlog that does not grow. The plan is the same for all three (planner, two
researchers, a specialist after both, the synthesis: four LLM calls on the critical path),
answered by the same scripted LLM over HTTP on the same machine.

- Podium: every service as a process, goals in through the gateway, outcomes read from
  `outputs`, on the shared Kafka and PostgreSQL. Each step reports each process's CPU a
  goal, the broker's ("kafka") and PostgreSQL's ("postgresql") among them.
- Celery: the flow of bench.celery_app (a chord for the fan-in, acks_late) over a Redis of
  its own; the gevent pool its documentation recommends for I/O-bound tasks, one worker
  process per core, its concurrency raised until capacity stops growing by 10%; the
  prefork pool reported at one size. Outcomes are read from a Redis list. A pool whose
  rate failed at or under what an earlier pool sustained cannot be Celery's best: its
  search ends there (`beaten_below` in its figures), and only the pool that is best so
  far has its overhead measured.
- LangGraph: bench.langgraph_app in this process (no checkpointer): the in-process floor.

Overhead: at half of each system's capacity at 0 ms, for a full window, end-to-end latency
minus the LLM time measured on each goal's critical path.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import sys
import time
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Any

import psutil

from bench.hops import describe_tail, fetch_events, tail, timings
from bench.infra import Infra, fresh_run
from bench.load import GOAL, GoalDriver
from bench.openloop import (
    Capacity,
    Criteria,
    SearchConfig,
    Step,
    StepConfig,
    at_rates,
    search,
    step,
)
from bench.procstat import ProcessTree, servers_cpu
from bench.report import CAPACITY_SYSTEMS
from bench.scenarios.celery_baseline import llm_server, redis_server, worker_processes
from bench.stack import ALL_SERVICES, every_service
from bench.stats import per_goal, summary

log = logging.getLogger("bench.capacity")
# Planner, researcher, specialist, synthesis: the LLM calls one after another.
CALLS_ON_CRITICAL_PATH = 4


@dataclass(frozen=True)
class CapacityConfig:
    window_s: float = 60.0
    probe_s: float = 10.0
    refine: int = 2
    latencies_ms: tuple[float, ...] = (0.0, 2000.0)
    systems: tuple[str, ...] = CAPACITY_SYSTEMS
    start_rate: float = 4.0
    # Celery: gevent workers (one per core), their concurrency stepped up until capacity
    # stops growing by `celery_growth`; the prefork pool at one size.
    celery_processes: int = os.cpu_count() or 1
    celery_concurrency: tuple[int, ...] = (64, 256, 1024)
    celery_growth: float = 1.1
    celery_prefork: int = 8
    # Podium's per-type in-flight limit; None keeps the services' default.
    max_in_flight: int | None = None
    # Full windows at these rates instead of the search (goals/s, every system and latency).
    rates: tuple[float, ...] = ()
    seed: int = 1


def key(latency_ms: float) -> str:
    return f"{latency_ms / 1000:g}s" if latency_ms >= 1000 else f"{latency_ms:g}ms"


def criteria(latency_ms: float) -> Criteria:
    return Criteria(critical_path_ms=CALLS_ON_CRITICAL_PATH * latency_ms)


def step_config(latency_ms: float, window_s: float) -> StepConfig:
    """A warm-up of one and a half goal lifetimes (3 s at least): the window starts with
    the system at its steady state for the rate."""
    limit_s = criteria(latency_ms).p99_limit_ms / 1000
    return StepConfig(warmup_s=max(3.0, 1.5 * limit_s), window_s=window_s)


async def measure(
    system: Any,
    latency_ms: float,
    config: CapacityConfig,
    cpu: Callable[[], float],
    rng: random.Random,
    start_rate: float | None = None,
    by_process: Callable[[], dict[str, float]] | None = None,
    floor: float = 0.0,
) -> Capacity:
    """One system's capacity at one LLM latency; `by_process` gives the CPU-seconds so far
    of each of its processes, when it has several; `floor` is what another configuration
    of the system sustained (`SearchConfig.floor`)."""
    base = step_config(latency_ms, config.window_s)
    rule = criteria(latency_ms)

    async def trial(rate: float, window_s: float) -> Step:
        before, ended = by_process() if by_process else {}, len(system.ended)
        result = await step(system, rate, replace(base, window_s=window_s), rule, rng=rng, cpu=cpu)
        if by_process is not None:
            goals = len(system.ended) - ended
            result.cpu_s_per_goal_by_process = per_goal(before, by_process(), goals)
        print(
            f"  {rate:7.2f} goals/s for {window_s:g} s: p99 {result.latency_ms.get('p99')} ms,"
            f" backlog {result.backlog_mean} (+{result.backlog_growth}),"
            f" {result.cores_busy} of {os.cpu_count()} cores busy: {result.reason}",
            file=sys.stderr,
        )
        if result.cpu_s_per_goal_by_process:
            spent = result.cpu_s_per_goal_by_process.items()
            print("    CPU-s a goal: " + ", ".join(f"{n} {s:g}" for n, s in spent), file=sys.stderr)
        return result

    if config.rates:
        return await at_rates(trial, list(config.rates), config.window_s)
    return await search(
        trial,
        SearchConfig(
            start=start_rate or config.start_rate,
            probe_s=min(config.probe_s, config.window_s),
            window_s=config.window_s,
            refine=config.refine,
            floor=floor,
        ),
    )


async def overhead_step(
    system: Any, capacity: float, config: CapacityConfig, cpu: Callable[[], float], rng: Any
) -> Step:
    """Half the capacity at 0 ms (1 goal/s when no rate was sustained), for the full window
    or long enough for 200 goals (up to three windows)."""
    rate = capacity / 2 if capacity > 0 else 1.0
    window_s = max(config.window_s, min(200 / rate, 3 * config.window_s))
    return await step(system, rate, step_config(0, window_s), criteria(0), rng=rng, cpu=cpu)


def _overheads(
    goals: list[tuple[Hashable, float]], llm_ms: dict[Any, float]
) -> dict[str, float] | None:
    values = [latency - llm_ms[goal] for goal, latency in goals if goal in llm_ms]
    return summary(values) if values else None


def _figures(found: Capacity) -> dict[str, Any]:
    figures = found.figures()
    if found.best is not None:
        figures["cpu_s_per_goal"] = found.best.cpu_s_per_goal
        figures["latency_ms"] = found.best.latency_ms
    return figures


# Podium


class PodiumSystem:
    def __init__(self, driver: GoalDriver) -> None:
        self._driver = driver
        self.ended = driver.ended

    async def submit(self) -> Hashable:
        return await self._driver.submit()


async def podium(infra: Infra, config: CapacityConfig, rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with fresh_run(infra) as run_, every_service(run_, config.max_in_flight) as stack:
        services = ProcessTree([stack.processes[name].pid for name in ALL_SERVICES])
        servers = servers_cpu(infra.bootstrap, infra.admin_dsn)
        async with GoalDriver(stack.gateway_url, run_.kafka) as driver:
            await driver.run_one()
            system = PodiumSystem(driver)
            for latency_ms in config.latencies_ms:
                print(f"podium at {latency_ms:g} ms", file=sys.stderr)
                await stack.configure_llm(latency_ms)
                found = await measure(
                    system,
                    latency_ms,
                    config,
                    services,
                    rng,
                    by_process=lambda: {**stack.cpu(), **servers()},
                )
                out[key(latency_ms)] = _figures(found)
                await _tails(run_.dsn, found, out[key(latency_ms)]["steps"], config.window_s)
                if latency_ms == 0:
                    out["overhead"] = await _podium_overhead(
                        system, found.goals_per_s, config, services, rng, run_.dsn
                    )
            await stack.configure_llm(0)
            out["goals_lost"] = await _lost(driver.submitted, driver.ended)
    return out


async def _podium_overhead(
    system: PodiumSystem,
    capacity: float,
    config: CapacityConfig,
    cpu: Callable[[], float],
    rng: random.Random,
    dsn: str,
) -> dict[str, Any]:
    half = await overhead_step(system, capacity, config, cpu, rng)
    await asyncio.sleep(2)  # the recorder writes the last outcomes
    ids = [goal for goal, _ in half.goals if isinstance(goal, uuid.UUID)]
    events = await fetch_events(dsn, ids)
    llm_ms = {goal: timings(events.get(goal, [])).llm_critical_ms for goal in ids}
    return {"step": half.figures(), "overhead_ms": _overheads(half.goals, llm_ms)}


async def _tails(dsn: str, found: Capacity, figures: list[dict[str, Any]], window_s: float) -> None:
    """Each full window's tail (bench.hops.tail) into its step's figures, from the read
    model once the search is over (the recorder has caught up by then)."""
    for measured, shown in zip(found.steps, figures, strict=True):
        if measured.window_s != window_s or not measured.goals:
            continue
        ids = [goal for goal, _ in measured.goals if isinstance(goal, uuid.UUID)]
        shown["tail"] = tail(await fetch_events(dsn, ids), measured.goals)
        print(
            f"  tail of {measured.rate:g} goals/s: {describe_tail(shown['tail'])}", file=sys.stderr
        )


async def _lost(submitted: dict[Any, Any], ended: dict[Any, Any], within_s: float = 120) -> int:
    """Goals accepted and still without an outcome after `within_s` more seconds."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if all(goal in ended for goal in submitted):
            return 0
        await asyncio.sleep(0.5)
    return sum(1 for goal in submitted if goal not in ended)


# Celery

DONE = "podium_bench:done"


class CelerySystem:
    """Goals handed to Celery as `run_goal` tasks; outcomes popped from the DONE list."""

    def __init__(self, broker: str) -> None:
        import redis.asyncio
        from celery import Celery

        from bench import celery_app

        # A client app of its own on this broker: the workers' module app may still hold a
        # connection to another run's Redis.
        self._app = Celery("podium_bench_client", broker=broker, backend=broker)
        self._app.conf.update(
            task_serializer="json", result_serializer="json", accept_content=["json"]
        )
        self._run_goal = celery_app.run_goal.name
        self._redis = redis.asyncio.Redis.from_url(broker)
        self.ended: dict[Hashable, tuple[float, bool]] = {}
        self.submitted: dict[Hashable, float] = {}
        self.llm_ms: dict[Any, float] = {}
        self._collector: asyncio.Task[None] | None = None

    async def __aenter__(self) -> CelerySystem:
        await self._redis.delete(DONE)
        self._collector = asyncio.create_task(self._collect())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._collector is not None:
            self._collector.cancel()
            await asyncio.gather(self._collector, return_exceptions=True)
        await self._redis.aclose()
        self._app.close()

    async def _collect(self) -> None:
        while True:
            popped = await self._redis.blpop([DONE], timeout=1)
            if popped is None:
                continue
            outcome = json.loads(popped[1])
            self.ended[outcome["goal_id"]] = (time.monotonic(), True)
            self.llm_ms[outcome["goal_id"]] = outcome["llm_ms"]

    async def submit(self) -> Hashable:
        goal_id = uuid.uuid4().hex
        self.submitted[goal_id] = time.monotonic()
        self._app.send_task(self._run_goal, args=(goal_id, GOAL))
        return goal_id


async def _celery_pool(
    label: str,
    pool: str,
    processes: int,
    concurrency: int,
    broker: Any,
    llm: str,
    latency_ms: float,
    config: CapacityConfig,
    rng: random.Random,
    start_rate: float | None,
    best: float = 0.0,
) -> tuple[Capacity, CelerySystem, dict[str, Any]]:
    """One pool's capacity; `best` is what an earlier pool sustained at this latency: a
    pool that cannot beat it is not searched further, and only a pool that beats it (or
    the first) has its overhead measured, the best pool's being the one reported."""
    print(f"celery {label} at {latency_ms:g} ms", file=sys.stderr)
    with worker_processes(pool, processes, concurrency, broker.url, llm) as started:
        cpu = ProcessTree([*started.pids, broker.pid])
        async with CelerySystem(broker.url) as system:
            await system.submit()  # the workers are up: one goal end to end
            await _lost(system.submitted, system.ended)
            found = await measure(system, latency_ms, config, cpu, rng, start_rate, floor=best)
            figures = _figures(found)
            figures.update(processes=processes, concurrency=concurrency)
            if found.beaten_below is not None:
                print(
                    f"    under {found.beaten_below:g} goals/s, not above another pool's {best:g}:"
                    " not searched further",
                    file=sys.stderr,
                )
            if latency_ms == 0 and (best == 0 or found.goals_per_s > best):
                half = await overhead_step(system, found.goals_per_s, config, cpu, rng)
                figures["overhead"] = {
                    "step": half.figures(),
                    "overhead_ms": _overheads(half.goals, system.llm_ms),
                }
            figures["goals_lost"] = await _lost(system.submitted, system.ended)
            figures["worker_log"] = problems = started.log_problems()
            if problems["errors"] or problems["critical"]:
                print(
                    f"    the workers logged {problems['errors']} errors and"
                    f" {problems['critical']} critical records; the first: {problems['first']}",
                    file=sys.stderr,
                )
    return found, system, figures


async def celery(config: CapacityConfig, rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {"goals_lost": 0}
    with redis_server() as broker:
        for latency_ms in config.latencies_ms:
            with llm_server(latency_ms) as llm:
                runs: dict[str, Any] = {}
                # Prefork blocks a process per LLM call: at 2 s, 8 processes serve about
                # one goal a second; start below that rather than drain an overload.
                prefork_start = (
                    config.celery_prefork * 1000 / (CALLS_ON_CRITICAL_PATH * latency_ms) / 2
                    if latency_ms
                    else None
                )
                found, _, figures = await _celery_pool(
                    f"prefork ({config.celery_prefork})",
                    "prefork",
                    1,
                    config.celery_prefork,
                    broker,
                    llm,
                    latency_ms,
                    config,
                    rng,
                    prefork_start,
                )
                runs[f"prefork {config.celery_prefork}"] = figures
                best_pool, best = f"prefork {config.celery_prefork}", found.goals_per_s
                previous = 0.0
                for concurrency in config.celery_concurrency:
                    label = f"gevent {config.celery_processes} x {concurrency}"
                    found, _, figures = await _celery_pool(
                        label,
                        "gevent",
                        config.celery_processes,
                        concurrency,
                        broker,
                        llm,
                        latency_ms,
                        config,
                        rng,
                        max(previous / 2, 0.5) if previous else None,
                        best,
                    )
                    runs[label] = figures
                    if found.goals_per_s > best:
                        best_pool, best = label, found.goals_per_s
                    if found.beaten_below is not None:
                        continue  # under the best so far: how far under is not known
                    if found.goals_per_s < previous * config.celery_growth:
                        break  # capacity stopped growing with concurrency
                    previous = found.goals_per_s
                out[key(latency_ms)] = {"goals_per_s": best, "best": best_pool, "runs": runs}
                out["goals_lost"] += sum(run["goals_lost"] for run in runs.values())
                if latency_ms == 0:
                    out["overhead"] = runs[best_pool].get("overhead")
    return out


# LangGraph


class LangGraphSystem:
    """Each goal one `ainvoke` of the graph, as a task of this process's event loop."""

    def __init__(self, llm_url: str) -> None:
        from bench.langgraph_app import Flow

        self._flow = Flow(llm_url)
        self.ended: dict[Hashable, tuple[float, bool]] = {}
        self.submitted: dict[Hashable, float] = {}
        self.llm_ms: dict[Any, float] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._count = 0

    async def close(self) -> None:
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        await self._flow.close()

    async def submit(self) -> Hashable:
        self._count += 1
        goal = self._count
        self.submitted[goal] = time.monotonic()
        task = asyncio.create_task(self._run(goal))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return goal

    async def _run(self, goal: int) -> None:
        try:
            _, llm_ms = await self._flow.run(GOAL)
        except Exception:  # a goal that failed is counted, not raised
            log.exception("langgraph goal %s failed", goal)
            self.ended[goal] = (time.monotonic(), False)
        else:
            self.ended[goal] = (time.monotonic(), True)
            self.llm_ms[goal] = llm_ms


async def langgraph(config: CapacityConfig, rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {"goals_lost": 0}
    me = psutil.Process()

    def cpu() -> float:
        times = me.cpu_times()
        return float(times.user + times.system)

    for latency_ms in config.latencies_ms:
        with llm_server(latency_ms) as llm:
            print(f"langgraph at {latency_ms:g} ms", file=sys.stderr)
            system = LangGraphSystem(llm)
            try:
                await system.submit()
                await _lost(system.submitted, system.ended)
                found = await measure(system, latency_ms, config, cpu, rng)
                out[key(latency_ms)] = _figures(found)
                if latency_ms == 0:
                    half = await overhead_step(system, found.goals_per_s, config, cpu, rng)
                    out["overhead"] = {
                        "step": half.figures(),
                        "overhead_ms": _overheads(half.goals, system.llm_ms),
                    }
                out["goals_lost"] += await _lost(system.submitted, system.ended)
            finally:
                await system.close()
    return out


async def run(infra: Infra | None, config: CapacityConfig) -> dict[str, Any]:
    """Every system's figures, then the summary results.json keeps at its top level."""
    rng = random.Random(config.seed)
    figures: dict[str, Any] = {
        "window_s": config.window_s,
        "cpus": os.cpu_count(),
        "p99_limit_ms": {key(ms): criteria(ms).p99_limit_ms for ms in config.latencies_ms},
    }
    if config.rates:
        figures["rates"] = list(config.rates)  # steps at these rates, not a search
    failed = []
    for name in config.systems:
        try:
            if name == "podium":
                if infra is None:
                    raise ValueError("podium needs the broker and PostgreSQL (Infra)")
                figures["podium"] = await podium(infra, config, rng)
            elif name == "celery":
                figures["celery"] = await celery(config, rng)
            elif name == "langgraph":
                figures["langgraph"] = await langgraph(config, rng)
        except Exception as error:  # one system's failure leaves the others' figures
            log.exception("capacity of %s failed", name)
            figures[name] = {"failed": repr(error)}
            failed.append(name)
    figures["failed"] = failed
    return figures
