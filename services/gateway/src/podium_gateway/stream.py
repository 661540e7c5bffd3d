"""A goal's progress as Server-Sent Events, polled from the recorded events."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
from sse_starlette import ServerSentEvent

from podium_common.errors import Unavailable

log = logging.getLogger(__name__)

Row = Mapping[str, Any]
# The events after which a run has nothing more to say.
TERMINAL = frozenset({"GoalCompleted", "GoalFailed"})
# Longer than any recorder transaction takes between its start and its commit.
SETTLE_S = 10.0


class EventSource(Protocol):
    async def events(
        self, goal_id: uuid.UUID, run: int, after: int, settle_s: float
    ) -> Sequence[Row]: ...


@dataclass
class Cursor:
    """Where a stream is in a goal's events.

    Events are numbered as they are recorded, but concurrent transactions may commit out of
    that order, so a number can become visible after a higher one. The cursor moves past an
    event only once it has settled (every lower number has committed by then), and keeps
    the numbers above it that it has sent, so that no event is missed or sent twice.
    """

    floor: int = 0
    sent: set[int] = field(default_factory=set)

    def fresh(self, rows: Sequence[Row]) -> list[Row]:
        """The rows not sent yet, of all the rows above the floor, in order."""
        new = [row for row in rows if row["seq"] not in self.sent]
        for row in rows:
            if not row["settled"]:
                break
            self.floor = row["seq"]
        self.sent = {row["seq"] for row in rows if row["seq"] > self.floor}
        return new


async def progress(
    source: EventSource,
    goal_id: uuid.UUID,
    run: int,
    *,
    cursor: Cursor,
    poll_s: float,
    retry_s: float,
    stop: anyio.Event,
) -> AsyncGenerator[ServerSentEvent, None]:
    """Every event of the run as it is recorded, ending after the run's outcome, or when
    `stop` is set (the server is shutting down: the client reconnects from its last id)."""
    while not stop.is_set():
        try:
            rows = await source.events(goal_id, run, cursor.floor, SETTLE_S)
        except Unavailable as error:
            log.warning("progress of %s paused: %s", goal_id, error)
            await _wait(stop, retry_s)
            continue
        fresh = cursor.fresh(rows)
        for row in fresh:
            yield ServerSentEvent(
                data=json.dumps(row["payload"]), event=row["type"], id=str(row["seq"])
            )
        # The whole batch is sent first: an event recorded just before the outcome but
        # numbered after it still reaches the client.
        if any(row["type"] in TERMINAL for row in fresh):
            return
        await _wait(stop, poll_s)


async def _wait(stop: anyio.Event, seconds: float) -> None:
    with anyio.move_on_after(seconds):
        await stop.wait()
