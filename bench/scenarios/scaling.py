"""Item 4: 1, 2 and 3 replicas of worker-researcher in one consumer group, LLM latency 200 ms."""

from __future__ import annotations

from typing import Any

from bench.infra import Infra
from bench.tasks import WorkerLoad, measure


async def run(infra: Infra, *, duration_s: float, warmup_s: float) -> dict[str, Any]:
    """`scaling`: {replicas: {tasks_per_s, ideal_tasks_per_s, efficiency, rss_mb}}."""
    return {
        str(replicas): await measure(
            infra,
            WorkerLoad(latency_ms=200, replicas=replicas, duration_s=duration_s, warmup_s=warmup_s),
        )
        for replicas in (1, 2, 3)
    }
