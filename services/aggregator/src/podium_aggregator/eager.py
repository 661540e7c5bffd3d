"""A coroutine run at once, in the caller, up to its first wait (Python 3.12's eager tasks).

faust hands each fetched record to the agent's channel in a task of its own, raced against
the flow being suspended by a rebalance: four tasks and a wait for every record, though a
delivery almost never waits. `started` runs the delivery in place: one that ends without
waiting needs no task and no race; one that waits comes back as a task running the rest,
to be raced as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any


def started(coro: Awaitable[Any]) -> asyncio.Future[Any] | None:
    """Runs `coro` up to its first wait: None if it ended there (its result dropped, its
    error raised here), else a task that runs the rest of it. An awaitable that is not a
    coroutine is run as a task from the start."""
    if not isinstance(coro, Coroutine):
        return asyncio.ensure_future(coro)
    try:
        awaiting = coro.send(None)
    except StopIteration:
        return None
    return asyncio.ensure_future(_Rest(coro, awaiting))


class _Rest:
    """What is left of a coroutine that stopped at a wait: awaited by a task, it hands the
    task what the coroutine waits on (as `await` would have), then resumes the coroutine
    with what the task sends or throws back, to its end."""

    def __init__(self, coro: Coroutine[Any, Any, Any], awaiting: Any) -> None:
        self._coro = coro
        self._awaiting = awaiting

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, awaiting = self._coro, self._awaiting
        while True:
            try:
                try:
                    sent = yield awaiting
                except GeneratorExit:
                    coro.close()
                    raise
                except BaseException as error:  # noqa: BLE001 - the task's cancellation, passed on
                    awaiting = coro.throw(error)
                else:
                    awaiting = coro.send(sent)
            except StopIteration as end:
                return end.value
