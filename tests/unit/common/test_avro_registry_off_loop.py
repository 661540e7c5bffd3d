"""A first request to the schema registry is a blocking HTTP call: `decoded` and `encoded`
make it in a thread, so the event loop (a consumer's heartbeats, other records) goes on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest

from podium_common import avro
from podium_common.avro import Codec, decoded, encoded
from podium_common.registry import Registry
from podium_common.settings import SchemaRegistrySettings
from tests.unit.workers.fakes import make_task

T = TypeVar("T")
TOPIC = "tasks.researcher"
DELAY_S = 0.5


class SlowRegistry(Registry):
    """A registry that answers each request after `DELAY_S`; counts the requests."""

    def __init__(self) -> None:
        super().__init__(SchemaRegistrySettings(url="http://127.0.0.1:9/apis/ccompat/v7"))
        self.requests = 0
        self._subjects: dict[str, int] = {}
        self._raws: dict[int, dict[str, Any]] = {}

    def knows(self, name: str) -> bool:
        return name in self._subjects

    def id_for(self, name: str, schema: dict[str, Any]) -> int:
        if name not in self._subjects:
            self._answer()
            self._subjects[name] = len(self._subjects) + 1
            self._raws[self._subjects[name]] = schema
        return self._subjects[name]

    def schema(self, schema_id: int) -> dict[str, Any]:
        self._answer()
        return self._raws[schema_id]

    def _answer(self) -> None:
        self.requests += 1
        time.sleep(DELAY_S)


async def ticks_while(work: Awaitable[T]) -> tuple[T, int]:
    """What `work` returned, and how often another task ran every 10 ms meanwhile."""
    ticks = 0
    done = asyncio.Event()

    async def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    try:
        return await work, ticks
    finally:
        done.set()
        await ticker


async def test_first_requests_to_the_registry_leave_the_event_loop_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = SlowRegistry()
    writer, reader = Codec(registry=registry), Codec(registry=registry)
    task = make_task()

    monkeypatch.setattr(avro, "codec", lambda: writer)
    data, ticks = await ticks_while(encoded(task, TOPIC))
    assert registry.requests == 1
    assert ticks >= 10, "the event loop stood still while the subject's id was asked for"

    monkeypatch.setattr(avro, "codec", lambda: reader)
    back, ticks = await ticks_while(decoded(data))
    assert back == task
    assert registry.requests == 2
    assert ticks >= 10, "the event loop stood still while the schema was asked for"

    # Known from then on: no request, no thread.
    assert await decoded(data) == task
    assert await encoded(task, TOPIC) == data
    assert registry.requests == 2
    assert not reader.asks_registry(data)
    assert not writer.asks_registry_to_encode(task, TOPIC)
