"""The run loop's in-flight limit counts handlers, not records: a record whose outputs wait
for the broker holds no slot, and a record waiting for a slot when the loop stops is left
for redelivery. Records are fed straight to the loop (no broker; the consumer never starts)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from podium_common.events import Event
from tests.unit.common.runloop_fakes import TP, FakePublisher, LoopOf, record


class Gated:
    """A handler that holds every call until `open` is set; counts calls and the most at once."""

    def __init__(self, *, open: bool = False) -> None:
        self.open = asyncio.Event()
        if open:
            self.open.set()
        self.calls = 0
        self.running = 0
        self.peak = 0
        self.arrived = asyncio.Semaphore(0)  # released once per call

    async def __call__(self, event: Event) -> Sequence[Event]:
        self.calls += 1
        self.arrived.release()
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.open.wait()
        finally:
            self.running -= 1
        return [event]


class SlowBroker(FakePublisher):
    """Publishes only once `acked` is set, as a broker slow to acknowledge."""

    def __init__(self) -> None:
        super().__init__()
        self.acked = asyncio.Event()
        self.waiting = asyncio.Semaphore(0)  # released once per publish

    async def publish(self, events: Iterable[Event]) -> None:
        self.waiting.release()
        await self.acked.wait()
        await super().publish(events)


async def taken(count: int, semaphore: asyncio.Semaphore) -> None:
    """Waits until `semaphore` was released `count` times."""
    async with asyncio.timeout(5):
        for _ in range(count):
            await semaphore.acquire()


async def test_handlers_never_exceed_the_limit(loop_of: LoopOf) -> None:
    handler, publisher = Gated(), FakePublisher()
    loop = loop_of(handler, publisher, max_in_flight=2)
    for offset in range(4):
        loop._start(TP, record(offset))
    await taken(2, handler.arrived)
    await asyncio.sleep(0.05)
    assert (handler.calls, loop.in_flight) == (2, 2)  # the other two wait for a slot
    handler.open.set()
    await loop._drain()
    assert (handler.calls, handler.peak, len(publisher.published)) == (4, 2, 4)
    assert loop.tracker.to_commit() == {TP: 4}


async def test_a_record_whose_outputs_wait_for_the_broker_holds_no_slot(
    loop_of: LoopOf,
) -> None:
    handler, publisher = Gated(open=True), SlowBroker()
    loop = loop_of(handler, publisher, max_in_flight=2)
    for offset in range(4):
        loop._start(TP, record(offset))
    # Every handler ran, two at a time, while no output was acknowledged yet ...
    await taken(4, publisher.waiting)
    assert (handler.calls, loop.in_flight) == (4, 0)
    assert handler.peak <= 2
    # ... and nothing is committed before its outputs are.
    assert loop.tracker.to_commit() == {TP: 0}
    publisher.acked.set()
    await loop._drain()
    assert len(publisher.published) == 4
    assert loop.tracker.to_commit() == {TP: 4}


async def test_a_record_waiting_for_a_slot_at_stop_is_left_for_redelivery(
    loop_of: LoopOf,
) -> None:
    handler, publisher = Gated(), FakePublisher()
    loop = loop_of(handler, publisher, max_in_flight=1)
    loop._start(TP, record(0))
    loop._start(TP, record(1))
    await taken(1, handler.arrived)
    loop.stop()
    handler.open.set()
    await loop._drain()
    # The record in its handler finished and was published; the one still waiting for a
    # slot never reached the handler and its offset is not committed.
    assert (handler.calls, len(publisher.published)) == (1, 1)
    assert loop.tracker.to_commit() == {TP: 1}
