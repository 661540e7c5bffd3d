"""Open-loop load: goals arrive at a fixed rate (a Poisson process) whatever the system does.

A *step* offers one rate for a warm-up and then a measured window, and judges whether the
system sustained it: the p99 end-to-end latency of the window's goals within the plan's LLM
critical path plus a slack, and a backlog (goals arrived, not yet ended) that does not grow.
The *capacity search* steps the rate up until a step fails, then narrows the gap; capacity
is the highest rate a step of the full window sustained. `at_rates` runs full windows at
rates given instead, to look at a few rates again without a whole search.

Latency runs from a goal's scheduled arrival, not from when its submission was sent, so a
slow submission counts against the system (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from bench.procstat import machine_busy_seconds
from bench.stats import percentile


def arrival_offsets(rate: float, duration_s: float, rng: random.Random) -> list[float]:
    """Arrival times (seconds from 0) of a Poisson process of `rate` per second over
    `duration_s`: exponential gaps of mean 1/rate."""
    if rate <= 0:
        raise ValueError(f"rate {rate} must be positive")
    offsets: list[float] = []
    at = rng.expovariate(rate)
    while at < duration_s:
        offsets.append(at)
        at += rng.expovariate(rate)
    return offsets


class System(Protocol):
    """What a step needs from a system under test.

    `submit` hands one goal over and returns its key once the system accepted it (raising
    when it refused it); `ended` maps the key of every goal whose outcome was seen to
    (monotonic time it was seen, whether it completed), and only grows."""

    ended: dict[Hashable, tuple[float, bool]]

    async def submit(self) -> Hashable: ...


@dataclass(frozen=True)
class Criteria:
    """When a step counts as sustained."""

    # The LLM time on the plan's critical path (planner, researcher, specialist, synthesis).
    critical_path_ms: float
    slack_ms: float = 250.0
    # The backlog may grow, by its fitted slope over the window, by at most this share of
    # the window's arrivals, or by three standard deviations of a steady Poisson backlog
    # (√ of its mean) if that is more: a short window's noise is not growth.
    backlog_growth_share: float = 0.05

    @property
    def p99_limit_ms(self) -> float:
        return self.critical_path_ms + self.slack_ms


@dataclass
class Step:
    rate: float
    window_s: float
    arrived: int
    completed: int
    failed: int  # ended, but not completed (the system failed the goal)
    unfinished: int  # no outcome by the end of the drain
    refused: int  # the submission itself failed
    latency_ms: dict[str, float]
    backlog_mean: float
    backlog_growth: float  # the fitted slope times the window, in goals
    passed: bool
    reason: str
    cpu_s_per_goal: float | None = None
    # The machine's 1-minute load average at the window's end: the cores are shared.
    load_average: float | None = None
    # Cores busy on average over the window, whatever ran on them (the system's
    # processes, its broker and database, the LLM, this client, anything else).
    cores_busy: float | None = None
    # Each process's CPU-seconds over the whole step (warm-up and drain too) per goal that
    # ended in it, when the system names its processes.
    cpu_s_per_goal_by_process: dict[str, float] | None = None
    # The window's completed goals: (key, end-to-end ms), for the overhead.
    goals: list[tuple[Hashable, float]] = field(default_factory=list, repr=False)

    def figures(self) -> dict[str, Any]:
        out = asdict(self)
        del out["goals"]
        return out


def judge(
    criteria: Criteria,
    rate: float,
    window_s: float,
    latencies_ms: list[float],
    failed: int,
    unfinished: int,
    refused: int,
    backlog: list[tuple[float, int]],
) -> tuple[bool, str, dict[str, float], float, float]:
    """The verdict on one step's window: (passed, reason, latency summary, backlog mean,
    backlog growth). Goals failed, unfinished or refused count as infinitely late."""
    arrived = len(latencies_ms) + failed + unfinished + refused
    if arrived == 0:
        return False, "no goal arrived in the window", {}, 0.0, 0.0
    everything = latencies_ms + [math.inf] * (arrived - len(latencies_ms))
    p99 = percentile(everything, 99)
    summary = {f"p{q}": round(percentile(everything, q), 1) for q in (50, 95, 99)}
    mean = statistics.fmean(count for _, count in backlog) if backlog else 0.0
    growth = 0.0
    if len(backlog) >= 2 and len({at for at, _ in backlog}) >= 2:
        slope = statistics.linear_regression(
            [at for at, _ in backlog], [float(count) for _, count in backlog]
        ).slope
        growth = slope * window_s
    allowed = max(criteria.backlog_growth_share * arrived, 3 * math.sqrt(mean + 1))
    if p99 > criteria.p99_limit_ms:
        reason = f"p99 {summary['p99']} ms > {criteria.p99_limit_ms:.0f} ms"
        return False, reason, summary, mean, growth
    if growth > allowed:
        reason = f"backlog grew by {growth:.0f} goals (> {allowed:.0f})"
        return False, reason, summary, mean, growth
    return True, "sustained", summary, mean, growth


@dataclass(frozen=True)
class StepConfig:
    warmup_s: float
    window_s: float
    drain_s: float = 120.0
    sample_s: float = 0.5


async def step(
    system: System,
    rate: float,
    config: StepConfig,
    criteria: Criteria,
    *,
    rng: random.Random,
    cpu: Callable[[], float] | None = None,
    machine: Callable[[], float] = machine_busy_seconds,
) -> Step:
    """Offers `rate` goals/s for the warm-up and the window, then waits for the outcomes
    (at most `drain_s` once the arrivals stop) and judges the window's goals. `cpu` gives
    the system's CPU-seconds so far, `machine` the busy CPU-seconds of all cores."""
    loop = asyncio.get_running_loop()
    offsets = arrival_offsets(rate, config.warmup_s + config.window_s, rng)
    start = time.monotonic()
    window = (start + config.warmup_s, start + config.warmup_s + config.window_s)
    arrivals: list[tuple[float, asyncio.Task[Hashable]]] = []
    backlog: list[tuple[float, int]] = []
    cpu_marks: list[float] = []
    machine_marks: list[float] = []

    def outstanding() -> int:
        """This step's goals not ended yet: submitting, or accepted without an outcome (a
        goal refused is not waited for; one of an earlier step that ends now is not this
        step's)."""
        count = 0
        for _, task in arrivals:
            if not task.done():
                count += 1
            elif not task.cancelled() and task.exception() is None:
                count += task.result() not in system.ended
        return count

    async def sample() -> None:
        while True:
            now = time.monotonic()
            if window[0] <= now < window[1]:
                backlog.append((now - window[0], outstanding()))
            await asyncio.sleep(config.sample_s)

    async def mark_cpu() -> None:
        for edge in window:
            await asyncio.sleep(max(0.0, edge - time.monotonic()))
            machine_marks.append(machine())
            if cpu is not None:
                cpu_marks.append(cpu())

    watchers = [asyncio.create_task(sample()), asyncio.create_task(mark_cpu())]
    try:
        for offset in offsets:
            at = start + offset
            delay = at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            arrivals.append((at, loop.create_task(system.submit())))
        await asyncio.sleep(max(0.0, window[1] - time.monotonic()))
        load_average = os.getloadavg()[0]
        await asyncio.wait_for(watchers[1], timeout=5)
    finally:
        for watcher in watchers:
            watcher.cancel()
    deadline = time.monotonic() + config.drain_s
    if arrivals:
        await asyncio.wait([task for _, task in arrivals], timeout=config.drain_s)
    while time.monotonic() < deadline:  # the outcomes of goals accepted already
        if outstanding() <= 0:
            break
        await asyncio.sleep(0.1)

    goals: list[tuple[Hashable, float]] = []
    failed = unfinished = refused = 0
    for at, task in arrivals:
        accepted = task.done() and not task.cancelled() and task.exception() is None
        if not window[0] <= at < window[1]:
            continue
        if not accepted:
            refused += 1
            continue
        key = task.result()
        outcome = system.ended.get(key)
        if outcome is None:
            unfinished += 1
        elif not outcome[1]:
            failed += 1
        else:
            goals.append((key, (outcome[0] - at) * 1000))
    latencies = [ms for _, ms in goals]
    for _, task in arrivals:
        task.cancel()
    passed, reason, summary, mean, growth = judge(
        criteria, rate, config.window_s, latencies, failed, unfinished, refused, backlog
    )
    arrived = len(latencies) + failed + unfinished + refused
    return Step(
        rate=round(rate, 2),
        window_s=config.window_s,
        arrived=arrived,
        completed=len(latencies),
        failed=failed,
        unfinished=unfinished,
        refused=refused,
        latency_ms=summary,
        backlog_mean=round(mean, 1),
        backlog_growth=round(growth, 1),
        passed=passed,
        reason=reason,
        cpu_s_per_goal=(
            round((cpu_marks[1] - cpu_marks[0]) / max(len(latencies), 1), 4)
            if len(cpu_marks) == 2
            else None
        ),
        load_average=round(load_average, 2),
        cores_busy=(
            round((machine_marks[1] - machine_marks[0]) / config.window_s, 2)
            if len(machine_marks) == 2
            else None
        ),
        goals=goals,
    )


@dataclass(frozen=True)
class SearchConfig:
    """How the rate steps: doubling from `start` with short probe windows until a probe
    fails twice in a row (one failure can be a hiccup of a shared machine), then full
    windows: the last rate probed good is confirmed (halved again while it is not), then
    `refine` bisections (geometric) between it and the first that failed.

    `floor` is a rate another configuration of the same system already sustained: once a
    rate at or below it has failed, this one cannot beat it, and the search ends there
    (its capacity is then only known to be under that rate)."""

    start: float = 2.0
    growth: float = 2.0
    probe_s: float = 10.0
    window_s: float = 60.0
    refine: int = 2
    max_rate: float = 400.0
    min_rate: float = 0.1
    # A probe lasts long enough for this many arrivals (up to the full window): a p99 of a
    # handful of goals is their slowest one.
    probe_goals: int = 30
    floor: float = 0.0

    def probe_window(self, rate: float) -> float:
        return min(self.window_s, max(self.probe_s, self.probe_goals / rate))


@dataclass
class Capacity:
    goals_per_s: float  # the highest rate a full window sustained; 0 when none did
    at_least: bool  # true when no rate up to the search's ceiling failed
    best: Step | None
    steps: list[Step]
    # Set when the search ended at its floor: a rate at or under it failed, the capacity
    # is below that rate (and `goals_per_s` the best sustained before, if any).
    beaten_below: float | None = None

    def figures(self) -> dict[str, Any]:
        figures: dict[str, Any] = {
            "goals_per_s": self.goals_per_s,
            "at_least": self.at_least,
            "steps": [s.figures() for s in self.steps],
        }
        if self.beaten_below is not None:
            figures["beaten_below"] = self.beaten_below
        return figures


Trial = Callable[[float, float], Awaitable[Step]]


async def search(trial: Trial, config: SearchConfig) -> Capacity:
    """The capacity: `trial(rate, window_s)` runs one step and says if it was sustained."""
    steps: list[Step] = []

    async def run(rate: float, window_s: float) -> Step:
        result = await trial(rate, window_s)
        steps.append(result)
        return result

    async def probe(rate: float) -> bool:
        if (await run(rate, config.probe_window(rate))).passed:
            return True
        return (await run(rate, config.probe_window(rate))).passed

    good, bad = 0.0, math.inf

    def beaten() -> bool:
        return bad <= config.floor

    rate = config.start
    while rate <= config.max_rate:
        if await probe(rate):
            good, rate = rate, rate * config.growth
        else:
            bad = rate
            break
    if good == 0.0:  # the start rate already failed: down until a probe passes
        rate = config.start / config.growth
        while rate >= config.min_rate and good == 0.0 and not beaten():
            if await probe(rate):
                good = rate
            else:
                bad, rate = rate, rate / config.growth
    best: Step | None = None
    while good >= config.min_rate and best is None and not beaten():
        confirmed = await run(good, config.window_s)
        if confirmed.passed:
            best = confirmed
        else:
            bad, good = good, good / config.growth
    if beaten():
        return Capacity(best.rate if best else 0.0, False, best, steps, beaten_below=bad)
    if best is None:
        return Capacity(0.0, False, None, steps)
    if math.isfinite(bad):
        for _ in range(config.refine):
            middle = math.sqrt(best.rate * bad)
            tried = await run(middle, config.window_s)
            if tried.passed:
                best = tried
            else:
                bad = middle
    return Capacity(best.rate, not math.isfinite(bad), best, steps)


async def at_rates(trial: Trial, rates: list[float], window_s: float) -> Capacity:
    """Full windows at the given rates, in that order, with no search: the highest rate
    sustained is the capacity they show (0 when none was), `at_least` when no higher rate
    of them failed."""
    steps = [await trial(rate, window_s) for rate in rates]
    best = max((s for s in steps if s.passed), key=lambda s: s.rate, default=None)
    sustained = best.rate if best is not None else 0.0
    failed_above = any(not s.passed and s.rate > sustained for s in steps)
    return Capacity(sustained, best is not None and not failed_above, best, steps)
