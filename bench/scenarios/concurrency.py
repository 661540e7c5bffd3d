"""Item 3: one worker process, LLM latency 2 s, against Little's law at several in-flight limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.infra import Infra
from bench.tasks import WorkerLoad, measure

LIMITS = (64, 256, 1024, 4096)


async def run(
    infra: Infra, *, duration_s: float, warmup_s: float, profile_dir: Path | None = None
) -> dict[str, Any]:
    """`inflight`: {limit: {tasks_per_s, ideal_tasks_per_s, efficiency, rss_mb, cores_busy}}."""
    return {
        str(limit): await measure(
            infra,
            WorkerLoad(
                latency_ms=2000,
                max_in_flight=limit,
                duration_s=duration_s,
                warmup_s=warmup_s,
                profile_dir=None if profile_dir is None else profile_dir / f"inflight-{limit}",
            ),
        )
        for limit in LIMITS
    }
