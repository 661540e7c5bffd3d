"""One rate per model for the whole cluster: three researcher replicas share a limit of
600 requests a minute on their model (one every 100 ms), set by PODIUM_LEDGER__RATE_LIMITS,
while goals give them far more tasks than that. The scripted LLM's count of researcher
requests, sampled every 50 ms, never rises by more than the limit's share of a second in
any window of 0.9 s (the rest of the second is the margin for the time a sample and a
request take to reach the server), and the rate while tasks wait for it is close to the
limit: measured from a tenth of the requests to nine tenths (the first wait for the plans
and the last for the few tasks left, on a loaded machine)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import fresh_database
from tests.e2e.conftest import Stack, _bin, _spawn, running_stack
from tests.e2e.test_goals import submit, wait_for_end

pytestmark = pytest.mark.e2e

PER_MINUTE = 600
PER_SECOND = PER_MINUTE // 60
GOALS = 12
GOAL = "Name the owls of region {} [parallel=8]"
SAMPLE_S = 0.05
# A second less the margin for when a sample or a request is counted by the server.
WINDOW_S = 0.9


@pytest.fixture
async def limited_stack(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Stack]:
    async with fresh_database() as dsn:
        monkeypatch.setenv("PODIUM_LEDGER__DSN", dsn)
        limits = {"gpt-4o-mini": {"requests_per_minute": PER_MINUTE}}
        monkeypatch.setenv("PODIUM_LEDGER__RATE_LIMITS", json.dumps(limits))
        async with running_stack(tmp_path_factory, dsn) as stack:
            for replica in (2, 3):
                name = "podium-worker-researcher"
                stack.processes[f"{name}.{replica}"] = _spawn(
                    f"{name}.{replica}", [_bin(name)], stack.env, stack.logs
                )
            yield stack


async def researcher_requests(client: httpx.AsyncClient) -> int:
    stats = (await client.get("/_scripted/stats")).json()
    return int(stats["by_role"].get("researcher", 0))


async def test_three_replicas_share_one_rate_and_use_it(limited_stack: Stack) -> None:
    stack = limited_stack
    samples: list[tuple[float, int]] = []
    async with (
        httpx.AsyncClient(base_url=stack.gateway, timeout=10) as gateway,
        httpx.AsyncClient(base_url=stack.llm, timeout=10) as llm,
    ):
        ids = [await submit(gateway, GOAL.format(n)) for n in range(GOALS)]
        total = GOALS * 8
        deadline = time.monotonic() + 60
        while (count := await researcher_requests(llm)) < total:
            assert time.monotonic() < deadline, f"{count} of {total} researcher requests"
            if count:
                samples.append((time.monotonic(), count))
            await asyncio.sleep(SAMPLE_S)
        samples.append((time.monotonic(), count))
        bodies = await asyncio.gather(*(wait_for_end(gateway, gid, 90) for gid in ids))
    assert [body["status"] for body in bodies] == ["completed"] * GOALS

    busiest = max(
        later - earlier
        for i, (start, earlier) in enumerate(samples)
        for end, later in samples[i:]
        if end - start <= WINDOW_S
    )
    first = next(sample for sample in samples if sample[1] >= total // 10)
    last = next(sample for sample in samples if sample[1] >= total - total // 10)
    rate = (last[1] - first[1]) / (last[0] - first[0])
    print(f"researcher requests: busiest {WINDOW_S} s window {busiest}, {rate:.2f}/s busy")
    assert busiest <= PER_SECOND, f"{busiest} requests in one second, limit {PER_SECOND}"
    assert rate >= 0.85 * PER_SECOND, f"{rate:.2f} requests/s, limit {PER_SECOND}/s"
