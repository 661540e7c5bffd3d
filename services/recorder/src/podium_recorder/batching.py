"""Group commit: the projections that concurrent handlers record while a write is under way
are written together by the next one, in one transaction.

Nothing waits to fill a batch: an idle recorder writes each event at once; a busy one writes
what piled up during the previous write. A handler returns only once its own event is
committed, so offsets are never committed ahead of PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from podium_common.errors import Unavailable
from podium_recorder.rows import Projection

log = logging.getLogger(__name__)


class BatchStore(Protocol):
    async def record_many(self, projections: Sequence[Projection]) -> None: ...


class GroupCommit:
    """A `Store` whose `record` joins the next batch of `store.record_many`."""

    def __init__(self, store: BatchStore, max_batch: int = 500) -> None:
        self._store = store
        self._max_batch = max_batch
        self._waiting: list[tuple[Projection, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, projection: Projection) -> None:
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((projection, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        await asyncio.shield(done)

    async def _write_all(self) -> None:
        while self._waiting:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            await self._write(batch)

    async def _write(self, batch: list[tuple[Projection, asyncio.Future[None]]]) -> None:
        try:
            await self._store.record_many([projection for projection, _ in batch])
        except Unavailable as error:  # every event waits and is retried
            _settle(batch, error)
        except Exception as error:  # noqa: BLE001 - handed to the events' own handlers
            if len(batch) == 1:
                _settle(batch, error)
                return
            # One bad event must not fail the others: each is written on its own.
            log.warning(
                "a batch of %d events failed (%r); writing them one by one", len(batch), error
            )
            for item in batch:
                await self._write([item])
        else:
            _settle(batch, None)
        finally:
            for _, done in batch:  # cancelled mid-write: the handlers are told so
                if not done.done():
                    done.cancel()


def _settle(
    batch: list[tuple[Projection, asyncio.Future[None]]], error: BaseException | None
) -> None:
    for _, done in batch:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
