"""The cluster's rate gate on the real PostgreSQL: a Retry-After seen by one replica holds
back the others; requests are spaced by the limit whichever replica sends them."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import SecretStr

from podium_common.ledger import Ledger, LedgerSettings, RateLimit
from podium_common.llm import Message, Request
from podium_common.ratelimit import ClusterRate

pytestmark = pytest.mark.integration

REQUEST = Request(model="m", messages=(Message("user", "hello"),), max_tokens=16)


async def test_a_retry_after_seen_by_one_replica_holds_back_another(pg_dsn) -> None:
    settings = LedgerSettings(dsn=SecretStr(pg_dsn))
    one, other = Ledger(settings), Ledger(settings)
    try:
        first, second = ClusterRate(one, "e", {}), ClusterRate(other, "e", {})
        await second.admit(REQUEST)  # not limited: admitted at once
        await first.block("m", 0.6)
        started = time.monotonic()
        await second.admit(REQUEST)
        assert time.monotonic() - started >= 0.5
        await ClusterRate(other, "another endpoint", {}).admit(REQUEST)
        assert time.monotonic() - started < 0.9  # the next one was not held again
    finally:
        await one.close()
        await other.close()


async def test_replicas_are_spaced_by_the_limit(pg_dsn) -> None:
    settings = LedgerSettings(dsn=SecretStr(pg_dsn))
    ledgers = [Ledger(settings) for _ in range(3)]
    limits = {"m": RateLimit(requests_per_minute=1200)}  # one every 50 ms
    try:
        gates = [ClusterRate(ledger, "e", limits) for ledger in ledgers]
        started = time.monotonic()

        async def admitted(gate: ClusterRate) -> float:
            await gate.admit(REQUEST)
            return time.monotonic() - started

        times = sorted(await asyncio.gather(*(admitted(gates[n % 3]) for n in range(12))))
    finally:
        await asyncio.gather(*(ledger.close() for ledger in ledgers))
    # 12 requests need 11 gaps of 50 ms; spacing is kept by the database's clock.
    assert times[-1] - times[0] >= 0.5
    assert times[-1] < 2.0
