"""faust's consumer "thread" run on the agent's own event loop, as a task: no thread.

faust runs its Kafka consumer in a thread with an event loop of its own, and every call into
it (each fetch, commit, seek) crosses between the two loops through a queue: a future set
from the other thread, both loops woken through their self-pipes, the GIL handed over. At a
moderate rate each record is a fetch of its own: at 32 goals/s a third of the aggregator's
profile samples were in that thread. aiokafka is made to run on the loop of the code that
calls it, as every other Podium service runs it; what faust's thread gave (heartbeats while
the agent computes) the agent keeps by yielding every `YIELD_EVERY` records.

`InLoop` keeps mode's service life cycle as it is (start, crash, stop, the rebalance
callbacks through faust's method queue) and changes the rest: the service's body runs
as a task of the parent loop, calls are made in place, and nothing sweeps the loop's other
tasks when the service ends (on a loop of its own, mode cancels every task left on it); and
mode's watches over a thread and its loop are left out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from mode import Service
from mode.threads import QueueServiceThread, WorkerThread
from mode.utils.futures import maybe_async


class InLoopWorker(WorkerThread):
    """Stands in for mode's worker thread: runs the service's body as a task."""

    # Held here: the loop keeps only a weak reference to a running task.
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        service = self.service
        self.task = service.parent_loop.create_task(service._serve())
        self.task.add_done_callback(_retrieve)

    def stop(self) -> None:
        """Nothing to join: the body ends as the service stops (mode's `stop` waits for it
        to report its shutdown before it calls this)."""


def _retrieve(task: asyncio.Task[None]) -> None:
    """A body that failed has crashed its service already (mode's `_serve`); its error is
    taken here so that asyncio does not report it again when the task is collected."""
    if not task.cancelled():
        task.exception()


class InLoop(QueueServiceThread):
    """A mode service thread that runs on its parent's loop (mixed in before the thread
    class it changes)."""

    Worker = InLoopWorker

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["thread_loop"] = kwargs.get("loop") or asyncio.get_event_loop()
        super().__init__(*args, **kwargs)

    async def call_thread(self, fun: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Calls `fun` here and now (faust passes coroutine functions, and aiokafka's
        `subscribe`, a plain one)."""
        return await maybe_async(fun(*args, **kwargs))

    async def _gather_remaining_tasks(self) -> None:
        """The loop's other tasks are the app's: they end with it, not with this service."""

    async def _keepalive2(self) -> None:
        """No thread to watch: mode's watch, on this loop, would call every stall of the
        agent's loop a thread that does not respond."""

    @Service.task
    async def _thread_keepalive(self) -> None:
        """No loop of its own to keep awake (mode wakes a thread's loop every second)."""
