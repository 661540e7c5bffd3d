"""`in_loop.InLoop`: a mode service thread run as a task of its parent's loop, with mode's
life cycle kept (start, crash, stop) and no thread started."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from podium_aggregator.in_loop import InLoop


class Probe(InLoop):
    """Records where it started and whether its body reached its stop."""

    def __init__(self, *, fail: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fail = fail
        self.started_on: tuple[int, asyncio.AbstractEventLoop] | None = None
        self.stopped = False

    async def on_start(self) -> None:
        if self.fail:
            raise OSError("broker refused the connection")
        self.started_on = (threading.get_ident(), asyncio.get_running_loop())

    async def on_thread_stop(self) -> None:
        await super().on_thread_stop()
        self.stopped = True


def here() -> tuple[int, asyncio.AbstractEventLoop]:
    return threading.get_ident(), asyncio.get_running_loop()


async def test_starts_on_the_callers_loop_without_a_thread() -> None:
    threads = threading.active_count()
    probe = Probe(loop=asyncio.get_running_loop())
    await probe.start()
    try:
        assert probe.started_on == here()
        assert probe.thread_loop is probe.parent_loop is asyncio.get_running_loop()
        assert threading.active_count() == threads
    finally:
        await probe.stop()
    assert probe.stopped


async def test_a_call_runs_in_place_and_its_error_reaches_the_caller() -> None:
    probe = Probe(loop=asyncio.get_running_loop())
    await probe.start()
    try:

        async def where(tag: str) -> tuple[str, tuple[int, asyncio.AbstractEventLoop]]:
            return tag, here()

        assert await probe.call_thread(where, "fetch") == ("fetch", here())
        assert await probe.call_thread(len, [1, 2, 3]) == 3  # a plain function too

        async def refused() -> None:
            raise ConnectionError("coordinator not available")

        with pytest.raises(ConnectionError, match="coordinator not available"):
            await probe.call_thread(refused)
    finally:
        await probe.stop()


async def test_stopping_leaves_the_loops_other_tasks_running() -> None:
    probe = Probe(loop=asyncio.get_running_loop())
    await probe.start()
    other = asyncio.create_task(asyncio.sleep(30))
    await probe.stop()
    await asyncio.sleep(0)
    assert probe.stopped
    assert not other.done()  # mode's own thread sweeps every task left on its loop
    other.cancel()


async def test_an_error_while_starting_is_raised_by_start() -> None:
    probe = Probe(loop=asyncio.get_running_loop(), fail=True)
    with pytest.raises(OSError, match="broker refused"):
        await probe.start()
    assert probe.started_on is None
