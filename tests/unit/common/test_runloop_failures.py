"""The run loop's failure handling at its boundary: a fake publisher and a handler that
fails on purpose, records fed straight to the loop (no broker; the consumer never starts).
What is proven is which offsets the loop would commit: a record's ticket is released only
once it was handled or parked in its dead-letter topic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest
from aiokafka import ConsumerRecord

from podium_common.errors import LLMMalformed, LLMUnavailable, Unavailable
from podium_common.events import Event
from podium_common.runloop import RunLoop
from tests.unit.common.runloop_fakes import FAST, TP, FakePublisher, LoopOf, record


class Script:
    """A handler that raises its errors in order, then succeeds; counts its calls."""

    def __init__(self, *errors: Exception, always: Exception | None = None) -> None:
        self.errors = list(errors)
        self.always = always
        self.calls: list[float] = []

    async def __call__(self, event: Event) -> Sequence[Event]:
        self.calls.append(time.monotonic())
        if self.always is not None:
            raise self.always
        if self.errors:
            raise self.errors.pop(0)
        return [event]


async def run(loop: RunLoop, *records: ConsumerRecord[bytes, bytes]) -> None:
    """Feeds the records to the loop and waits for every handler to end."""
    for item in records:
        loop._start(TP, item)
    async with asyncio.timeout(5):
        await loop._drain()


async def test_an_ask_again_error_is_bounded_by_the_policy_then_parked(loop_of: LoopOf) -> None:
    handler, publisher = Script(always=LLMMalformed("not JSON")), FakePublisher()
    loop = loop_of(handler, publisher)
    await run(loop, record(0))
    assert len(handler.calls) == FAST.maximum_attempts
    assert publisher.letters == [(0, "llm_malformed", FAST.maximum_attempts)]
    assert loop.tracker.to_commit() == {TP: 1}  # parked: its offset may be committed


async def test_a_permanent_error_is_parked_at_once(loop_of: LoopOf) -> None:
    handler, publisher = Script(always=ValueError("a bug")), FakePublisher()
    loop = loop_of(handler, publisher)
    await run(loop, record(0), record(1, b"not avro"))
    assert len(handler.calls) == 1  # the undecodable record never reaches the handler
    assert publisher.letters == [(0, "ValueError", 1), (1, "undecodable", 1)]
    assert loop.tracker.to_commit() == {TP: 2}


async def test_retries_wait_at_least_the_retry_after_the_error_carries(loop_of: LoopOf) -> None:
    busy = LLMUnavailable("LLM answered 429", retry_after=0.05)
    handler, publisher = Script(busy, busy), FakePublisher()
    loop = loop_of(handler, publisher)
    await run(loop, record(0))
    first, second, third = handler.calls
    assert second - first >= 0.05
    assert third - second >= 0.05  # the policy alone would wait at most 0.002 s
    assert len(publisher.published) == 1
    assert publisher.letters == []


async def test_an_outage_is_retried_past_the_attempt_limit_and_not_parked(
    loop_of: LoopOf,
) -> None:
    handler, publisher = Script(*[Unavailable("PostgreSQL is down")] * 6), FakePublisher()
    loop = loop_of(handler, publisher)
    await run(loop, record(0))
    assert len(handler.calls) == 7
    assert len(publisher.published) == 1
    assert publisher.letters == []
    assert loop.tracker.to_commit() == {TP: 1}


async def test_a_failed_dead_letter_holds_its_offset_until_it_is_parked(
    loop_of: LoopOf,
) -> None:
    handler, publisher = Script(), FakePublisher()
    publisher.broker_down = True
    loop = loop_of(handler, publisher)
    for item in (record(0), record(1, b"not avro"), record(2)):
        loop._start(TP, item)
    async with asyncio.timeout(5):
        while publisher.letter_failures < 3:
            publisher.failed.clear()
            await publisher.failed.wait()
    # Both good records are done; the parked one is not, and the commit stays below it.
    assert len(publisher.published) == 2
    assert loop.tracker.to_commit() == {TP: 1}
    publisher.broker_down = False
    async with asyncio.timeout(5):
        await loop._drain()
    assert publisher.letters == [(1, "undecodable", 1)]
    assert loop.tracker.to_commit() == {TP: 3}


@pytest.mark.parametrize("stop_before_failing", [False, True])
async def test_a_stop_while_the_dead_letter_fails_leaves_the_record_for_redelivery(
    stop_before_failing: bool, loop_of: LoopOf
) -> None:
    handler, publisher = Script(), FakePublisher()
    publisher.broker_down = True
    loop = loop_of(handler, publisher)
    if stop_before_failing:
        loop.stop()
    for item in (record(0, b"not avro"), record(1)):
        loop._start(TP, item)
    async with asyncio.timeout(5):
        await publisher.failed.wait()
    loop.stop()
    started = time.monotonic()
    await run(loop)
    assert time.monotonic() - started < 1.0  # it does not wait out the drain timeout
    assert publisher.letters == []
    assert loop.tracker.to_commit() == {TP: 0}  # redelivered from the unparked record
