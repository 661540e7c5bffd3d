"""Statistics the scenarios share: percentiles, rates, CPU per goal."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 to 100) by linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    if ordered[high] == ordered[low]:  # also between two infinities (goals that never ended)
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50, p95 and p99 of `values`, rounded to 0.1."""
    return {f"p{q}": round(percentile(values, q), 1) for q in (50, 95, 99)}


def rate(count: int, seconds: float) -> float:
    """Events per second, rounded to 0.01; zero over an empty window."""
    return round(count / seconds, 2) if seconds > 0 else 0.0


def per_goal(before: dict[str, float], after: dict[str, float], goals: int) -> dict[str, float]:
    """Each process's CPU-seconds between two readings, per goal, the costliest first."""
    spent = {name: after[name] - before.get(name, 0.0) for name in after}
    return {
        name: round(seconds / max(goals, 1), 4)
        for name, seconds in sorted(spent.items(), key=lambda item: item[1], reverse=True)
    }
