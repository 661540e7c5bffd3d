"""The open-loop load: Poisson arrivals, a step's verdict, the capacity search."""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import statistics
import time
from collections.abc import Hashable

import pytest

from bench.openloop import (
    Criteria,
    SearchConfig,
    Step,
    StepConfig,
    arrival_offsets,
    at_rates,
    judge,
    search,
    step,
)


def test_poisson_arrivals_have_the_rate_and_exponential_gaps() -> None:
    offsets = arrival_offsets(50.0, 200.0, random.Random(7))
    assert len(offsets) == pytest.approx(10_000, rel=0.03)
    assert offsets == sorted(offsets)
    assert offsets[0] > 0
    assert offsets[-1] < 200.0
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    # An exponential distribution: the mean is 1/rate and so is the standard deviation.
    assert statistics.fmean(gaps) == pytest.approx(0.02, rel=0.03)
    assert statistics.stdev(gaps) / statistics.fmean(gaps) == pytest.approx(1.0, abs=0.05)
    # Memoryless: the share of gaps longer than twice the mean is e^-2.
    assert sum(g > 0.04 for g in gaps) / len(gaps) == pytest.approx(math.exp(-2), abs=0.02)


def test_poisson_arrivals_are_seeded_and_refuse_a_rate_of_zero() -> None:
    assert arrival_offsets(5, 10, random.Random(1)) == arrival_offsets(5, 10, random.Random(1))
    with pytest.raises(ValueError, match="positive"):
        arrival_offsets(0, 10, random.Random(1))


CRITERIA = Criteria(critical_path_ms=8000)  # 4 calls of 2 s: p99 must stay ≤ 8250 ms


def _steady(mean: int, seconds: int = 60) -> list[tuple[float, int]]:
    return [(t / 2, mean + (1 if t % 2 else -1)) for t in range(seconds * 2)]


def test_a_step_within_the_p99_limit_and_a_flat_backlog_is_sustained() -> None:
    latencies = [8100.0] * 990 + [8240.0] * 10
    passed, reason, summary, mean, growth = judge(
        CRITERIA, 16.7, 60, latencies, 0, 0, 0, _steady(134)
    )
    assert passed, reason
    assert summary["p50"] == 8100.0
    assert mean == pytest.approx(134, abs=1)
    assert abs(growth) < 5


def test_a_late_p99_fails_the_step() -> None:
    latencies = [8100.0] * 980 + [8300.0] * 20
    passed, reason, *_ = judge(CRITERIA, 16.7, 60, latencies, 0, 0, 0, _steady(134))
    assert not passed
    assert "p99" in reason


def test_goals_lost_refused_or_failed_count_as_infinitely_late() -> None:
    on_time = [8100.0] * 985
    assert judge(CRITERIA, 16.7, 60, on_time, 0, 0, 5, _steady(134))[0]
    for failed, unfinished, refused in [(15, 0, 0), (0, 15, 0), (0, 0, 15)]:
        passed, _, summary, *_ = judge(
            CRITERIA, 16.7, 60, on_time, failed, unfinished, refused, _steady(134)
        )
        assert not passed
        assert summary["p99"] == math.inf


def test_a_growing_backlog_fails_the_step_even_with_latencies_in_bounds() -> None:
    # Arrivals 20/s, completions 18/s: the backlog grows by 2 goals a second.
    growing = [(t / 2, 100 + t) for t in range(120)]
    passed, reason, _, _, growth = judge(CRITERIA, 20, 60, [8000.0] * 1200, 0, 0, 0, growing)
    assert not passed
    assert "backlog grew" in reason
    assert growth == pytest.approx(120, rel=0.05)


def test_a_short_windows_noise_is_not_growth() -> None:
    # Ten seconds at 20/s: a Poisson backlog around 160 wanders by ±13 (√160).
    noisy = [(t / 2, 160 + (12 if t >= 10 else -12)) for t in range(20)]
    assert judge(CRITERIA, 20, 10, [8000.0] * 200, 0, 0, 0, noisy)[0]


def test_a_window_without_arrivals_is_not_sustained() -> None:
    assert not judge(CRITERIA, 0.1, 1, [], 0, 0, 0, [])[0]


def _fake_step(rate: float, window_s: float, passed: bool) -> Step:
    return Step(rate, window_s, 1, 1, 0, 0, 0, {}, 0.0, 0.0, passed, "")


def _system_with_capacity(capacity: float, noisy_probe_above: float = 0.0):
    """A trial that sustains every rate up to `capacity` in a full window; a short probe
    also passes up to `noisy_probe_above` (a probe can be luckier than a full window)."""
    tried: list[tuple[float, float]] = []

    async def trial(rate: float, window_s: float) -> Step:
        tried.append((rate, window_s))
        limit = capacity if window_s >= 60 else max(capacity, noisy_probe_above)
        return _fake_step(rate, window_s, rate <= limit)

    return trial, tried


@pytest.mark.parametrize("capacity", [0.7, 3.0, 11.0, 27.0, 45.0, 130.0])
async def test_the_search_finds_the_capacity_from_below_within_its_resolution(
    capacity: float,
) -> None:
    trial, tried = _system_with_capacity(capacity)
    found = await search(
        trial, SearchConfig(start=2, probe_s=10, window_s=60, refine=2, probe_goals=0)
    )
    # Never above; within the bracket's factor 2 narrowed twice: 2^(1/4) below at most.
    assert found.goals_per_s <= capacity
    assert found.goals_per_s >= capacity / 2 ** (1 / 4) - 0.01
    assert not found.at_least
    assert found.best is not None
    assert found.best.window_s == 60
    full = [rate for rate, window in tried if window == 60]
    assert len(full) <= 3  # one confirmation and two bisections
    assert len(found.steps) == len(tried)


async def test_a_probe_luckier_than_the_full_window_is_not_taken_for_capacity() -> None:
    trial, tried = _system_with_capacity(10.0, noisy_probe_above=20.0)
    found = await search(trial, SearchConfig(start=2, refine=2))
    assert 10.0 / 2 ** (1 / 4) - 0.01 <= found.goals_per_s <= 10.0
    assert (16.0, 60) in tried  # the probe's last good rate failed its full window


async def test_one_failed_probe_is_tried_again_before_it_ends_the_climb() -> None:
    trial, tried = _system_with_capacity(40.0)
    hiccup = {4.0}

    async def flaky(rate: float, window_s: float) -> Step:
        result: Step = await trial(rate, window_s)
        if rate in hiccup and window_s < 60:
            hiccup.discard(rate)
            return _fake_step(rate, window_s, False)
        return result

    found = await search(flaky, SearchConfig(start=2, refine=2))
    assert found.goals_per_s >= 40 / 2 ** (1 / 4) - 0.01
    assert [rate for rate, _ in tried].count(4.0) == 2


async def test_a_search_ends_once_a_rate_at_or_under_its_floor_failed() -> None:
    trial, tried = _system_with_capacity(20.0)
    found = await search(trial, SearchConfig(start=4, refine=2, floor=38.0))
    # The probes climb 4, 8, 16 and fail at 32 (twice): 32 is under the floor, so no full
    # window is spent on a capacity that cannot beat it.
    assert found.beaten_below == 32
    assert found.goals_per_s == 0.0
    assert found.best is None
    assert all(window < 60 for _, window in tried)
    assert found.figures()["beaten_below"] == 32


async def test_a_floor_under_the_capacity_changes_nothing() -> None:
    for floor in (0.0, 10.0):
        trial, tried = _system_with_capacity(27.0)
        found = await search(trial, SearchConfig(start=2, refine=2, floor=floor))
        unbounded_trial, unbounded_tried = _system_with_capacity(27.0)
        unbounded = await search(unbounded_trial, SearchConfig(start=2, refine=2))
        assert found.goals_per_s == unbounded.goals_per_s
        assert tried == unbounded_tried
        assert found.beaten_below is None
        assert "beaten_below" not in found.figures()


async def test_a_capacity_between_the_floor_and_the_first_failure_is_still_found() -> None:
    # Full windows fail down to 0.5 (above the floor 0.25), 0.25 passes: the bisections
    # above it can still beat the floor, so they run.
    trial, tried = _system_with_capacity(0.3)
    found = await search(trial, SearchConfig(start=4, refine=2, floor=0.25, min_rate=0.1))
    assert found.beaten_below is None
    assert 0.25 < found.goals_per_s <= 0.3
    # Failing at 0.5 with the floor at 0.5 ends it before 0.25 is tried.
    trial, tried = _system_with_capacity(0.3)
    found = await search(trial, SearchConfig(start=4, refine=2, floor=0.5, min_rate=0.1))
    assert found.beaten_below == 0.5
    assert 0.25 not in [rate for rate, _ in tried]


async def test_given_rates_run_full_windows_in_order_and_the_highest_sustained_counts() -> None:
    trial, tried = _system_with_capacity(30.0, noisy_probe_above=100.0)
    found = await at_rates(trial, [20.0, 40.0, 28.0], 60)
    assert tried == [(20.0, 60), (40.0, 60), (28.0, 60)]
    assert found.goals_per_s == 28.0
    assert found.best is not None
    assert found.best.rate == 28.0
    assert not found.at_least  # 40 failed: the capacity is under it
    assert [s["rate"] for s in found.figures()["steps"]] == [20.0, 40.0, 28.0]


async def test_given_rates_all_sustained_say_at_least_and_none_sustained_give_zero() -> None:
    trial, _ = _system_with_capacity(50.0)
    found = await at_rates(trial, [10.0, 45.0], 60)
    assert (found.goals_per_s, found.at_least) == (45.0, True)
    trial, _ = _system_with_capacity(5.0)
    found = await at_rates(trial, [10.0, 45.0], 60)
    assert (found.goals_per_s, found.at_least, found.best) == (0.0, False, None)


def test_a_probe_lasts_for_enough_arrivals_up_to_the_full_window() -> None:
    config = SearchConfig(probe_s=10, window_s=60, probe_goals=30)
    assert config.probe_window(20) == 10
    assert config.probe_window(1) == 30
    assert config.probe_window(0.2) == 60


async def test_nothing_sustained_gives_zero_and_a_ceiling_never_reached_says_at_least() -> None:
    trial, _ = _system_with_capacity(0.0)
    nothing = await search(trial, SearchConfig(start=1, min_rate=0.1))
    assert nothing.goals_per_s == 0.0
    assert nothing.best is None
    trial, _ = _system_with_capacity(1000.0)
    ceiling = await search(trial, SearchConfig(start=4, max_rate=64))
    assert ceiling.goals_per_s == 64
    assert ceiling.at_least


class _Echo:
    """A system that ends every goal `latency_s` after it was submitted."""

    def __init__(self, latency_s: float, lose_every: int = 0) -> None:
        self.ended: dict[Hashable, tuple[float, bool]] = {}
        self.latency_s = latency_s
        self._lose_every = lose_every
        self._count = 0

    async def submit(self) -> Hashable:
        self._count += 1
        key = self._count
        if not (self._lose_every and key % self._lose_every == 0):
            asyncio.get_running_loop().call_later(self.latency_s, self._end, key)
        return key

    def _end(self, key: int) -> None:
        self.ended[key] = (time.monotonic(), True)


async def test_a_step_measures_latency_from_the_scheduled_arrival() -> None:
    config = StepConfig(warmup_s=0.2, window_s=1.0, drain_s=1.0, sample_s=0.05)
    ticks = iter(range(100))
    busy = iter([40.0, 41.5])  # the cores' busy CPU-seconds at the window's two edges
    result = await step(
        _Echo(0.03),
        200,
        config,
        Criteria(critical_path_ms=0, slack_ms=250),
        rng=random.Random(3),
        cpu=lambda: float(next(ticks)),
        machine=lambda: next(busy),
    )
    assert result.passed, result.reason
    assert result.arrived == pytest.approx(200, rel=0.25)
    assert result.completed == result.arrived
    assert 25 <= result.latency_ms["p50"] < 200
    assert result.cpu_s_per_goal == pytest.approx(1 / result.completed, abs=1e-4)
    assert result.cores_busy == 1.5


async def test_a_step_counts_goals_that_never_end_and_fails() -> None:
    config = StepConfig(warmup_s=0.1, window_s=0.5, drain_s=0.2, sample_s=0.05)
    result = await step(
        _Echo(0.01, lose_every=10),
        200,
        config,
        Criteria(critical_path_ms=0),
        rng=random.Random(4),
    )
    assert result.unfinished > 0
    assert not result.passed


async def test_goals_of_an_earlier_step_that_end_late_are_not_this_steps_backlog() -> None:
    system = _Echo(0.6)  # the first step's goals end after its drain, during the second
    first = await step(
        system,
        200,
        StepConfig(warmup_s=0.05, window_s=0.2, drain_s=0.05, sample_s=0.05),
        Criteria(critical_path_ms=0),
        rng=random.Random(5),
    )
    assert first.unfinished > 0
    system.latency_s = 0.01
    second = await step(
        system,
        40,
        StepConfig(warmup_s=0.1, window_s=0.8, drain_s=0.5, sample_s=0.05),
        Criteria(critical_path_ms=0),
        rng=random.Random(6),
    )
    assert len(system.ended) > first.arrived + second.arrived  # the late ones ended meanwhile
    assert 0 <= second.backlog_mean < 5
    assert second.passed, second.reason
