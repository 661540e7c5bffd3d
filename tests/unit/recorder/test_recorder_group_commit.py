"""Group commit: events recorded while a write is under way go together into the next one;
a transient failure is every event's, any other failure only the bad event's."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import fields

import pytest

from podium_common.errors import Unavailable
from podium_recorder.batching import GroupCommit
from podium_recorder.handler import project
from podium_recorder.repository import INSERT_EVENTS
from podium_recorder.rows import EventRow, Projection
from tests.unit.recorder.story import story

EVENTS = [project(event) for event in story().events]


class Store:
    """Records the batches it is given; fails the events whose ids are in `bad`."""

    def __init__(self, *, bad: Sequence[Projection] = (), down: bool = False) -> None:
        self.batches: list[list[Projection]] = []
        self.bad = {p.event.event_id for p in bad}
        self.down = down
        self.gate = asyncio.Event()
        self.gate.set()

    async def record_many(self, projections: Sequence[Projection]) -> None:
        await self.gate.wait()
        if self.down:
            raise Unavailable("PostgreSQL unavailable")
        if any(p.event.event_id in self.bad for p in projections):
            raise ValueError("a value PostgreSQL refuses")
        self.batches.append(list(projections))


async def test_an_idle_recorder_writes_each_event_at_once() -> None:
    store = Store()
    group = GroupCommit(store)
    for projection in EVENTS[:3]:
        await group.record(projection)
    assert store.batches == [[EVENTS[0]], [EVENTS[1]], [EVENTS[2]]]


async def test_events_that_arrive_during_a_write_go_together_into_the_next() -> None:
    store = Store()
    store.gate.clear()
    group = GroupCommit(store)
    first = asyncio.create_task(group.record(EVENTS[0]))
    await asyncio.sleep(0)  # the first write is under way, held at the gate
    rest = [asyncio.create_task(group.record(p)) for p in EVENTS[1:5]]
    await asyncio.sleep(0)
    assert not any(task.done() for task in [first, *rest])  # none returns before its commit
    store.gate.set()
    await asyncio.gather(first, *rest)
    assert store.batches == [[EVENTS[0]], EVENTS[1:5]]


async def test_batches_are_capped() -> None:
    store = Store()
    store.gate.clear()
    group = GroupCommit(store, max_batch=2)
    tasks = [asyncio.create_task(group.record(p)) for p in EVENTS[:5]]
    await asyncio.sleep(0)
    store.gate.set()
    await asyncio.gather(*tasks)
    assert [len(batch) for batch in store.batches] == [2, 2, 1]


async def test_postgres_down_fails_every_event_of_the_batch_as_retriable() -> None:
    group = GroupCommit(Store(down=True))
    outcomes = await asyncio.gather(*(group.record(p) for p in EVENTS[:3]), return_exceptions=True)
    assert all(isinstance(outcome, Unavailable) for outcome in outcomes), outcomes


async def test_a_bad_event_fails_alone_and_the_others_are_recorded() -> None:
    bad = EVENTS[2]
    store = Store(bad=[bad])
    store.gate.clear()
    group = GroupCommit(store)
    tasks = [asyncio.create_task(group.record(p)) for p in EVENTS[:4]]
    await asyncio.sleep(0)
    store.gate.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(outcome) for outcome in outcomes] == [type(None)] * 2 + [ValueError, type(None)]
    recorded = [p for batch in store.batches for p in batch]
    assert sorted(p.event.event_id for p in recorded) == sorted(
        p.event.event_id for p in EVENTS[:4] if p is not bad
    )


async def test_a_handler_cancelled_while_waiting_leaves_the_batch_to_be_written() -> None:
    store = Store()
    store.gate.clear()
    group = GroupCommit(store)
    first = asyncio.create_task(group.record(EVENTS[0]))
    await asyncio.sleep(0)
    first.cancel()
    store.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.sleep(0)
    assert store.batches == [[EVENTS[0]]]


def test_the_event_insert_takes_the_event_row_s_columns_in_order() -> None:
    columns = INSERT_EVENTS.split("(", 1)[1].split(")", 1)[0]
    assert [c.strip() for c in columns.split(",")] == [f.name for f in fields(EventRow)]
