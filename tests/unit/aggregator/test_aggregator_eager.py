"""`eager.started`: a coroutine run in place up to its first wait; the rest, if any, as a
task that behaves as if the coroutine had been a task from the start."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest

from podium_aggregator.eager import started


async def test_a_coroutine_that_never_waits_runs_to_its_end_in_place() -> None:
    ran: list[int] = []

    async def deliver() -> None:
        ran.append(1)

    assert started(deliver()) is None
    assert ran == [1]  # before the caller yields to the loop


async def test_an_error_before_any_wait_is_raised_in_place() -> None:
    async def deliver() -> None:
        raise ValueError("undecodable")

    with pytest.raises(ValueError, match="undecodable"):
        started(deliver())


async def test_a_coroutine_that_waits_goes_on_in_a_task_with_what_it_waited_for() -> None:
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    steps: list[str] = []

    async def deliver() -> str:
        steps.append("before")
        got = await ready
        steps.append(got)
        await asyncio.sleep(0)  # a bare yield to the loop on the way
        steps.append("after")
        return "done"

    rest = started(deliver())
    assert rest is not None
    assert steps == ["before"]
    await asyncio.sleep(0.01)
    assert not rest.done()
    ready.set_result("room")
    assert await rest == "done"
    assert steps == ["before", "room", "after"]


async def test_an_error_after_a_wait_ends_the_task_with_it() -> None:
    gate = asyncio.Event()

    async def deliver() -> None:
        await gate.wait()
        raise KeyError("gone")

    rest = started(deliver())
    assert rest is not None
    gate.set()
    with pytest.raises(KeyError, match="gone"):
        await rest


async def test_cancelling_the_task_cancels_the_coroutine_where_it_waits() -> None:
    gate = asyncio.Event()
    cleaned: list[bool] = []

    async def deliver() -> None:
        try:
            await gate.wait()
        finally:
            cleaned.append(True)

    rest = started(deliver())
    assert rest is not None
    await asyncio.sleep(0)
    rest.cancel()
    with pytest.raises(asyncio.CancelledError):
        await rest
    assert rest.cancelled()
    assert cleaned == [True]


async def test_a_coroutine_may_catch_a_cancellation_and_finish() -> None:
    gate = asyncio.Event()

    async def deliver() -> str:
        try:
            await gate.wait()
        except asyncio.CancelledError:
            return "let go"
        return "delivered"

    rest = started(deliver())
    assert rest is not None
    await asyncio.sleep(0)
    rest.cancel()
    assert await rest == "let go"


async def test_an_awaitable_that_is_no_coroutine_runs_as_a_task() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    awaitable: Awaitable[int] = future
    rest = started(awaitable)
    assert rest is not None
    future.set_result(7)
    assert await rest == 7
