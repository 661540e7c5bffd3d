"""Goals by the time something falls due for them: a deadline or an approval's timeout, or
the end of an ended goal's retention.

The aggregator's timer asks every second what has fallen due. A heap answers in time that
grows with what is due, not with every goal kept: scanning them all, an hour of ended goals
at 16 goals/s (57,600) took 2.2 ms of the event loop every second (0.7 µs with the heap),
and grew with the rate and the retention.
"""

from __future__ import annotations

import heapq
from datetime import datetime


class DueIndex:
    """Keys with their due time and partition; `due` lists those whose time has come."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[datetime, int]] = {}
        # (due, key) for every entry, and stale pairs of keys since changed or discarded:
        # skipped when they reach the top, and dropped when they outnumber the live ones.
        self._heap: list[tuple[datetime, str]] = []

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: str, due: datetime, partition: int) -> None:
        before = self._entries.get(key)
        self._entries[key] = (due, partition)
        if before is None or before[0] != due:
            heapq.heappush(self._heap, (due, key))
            if len(self._heap) > 2 * len(self._entries) + 1024:
                self._rebuild()

    def discard(self, key: str) -> None:
        self._entries.pop(key, None)

    def due(self, now: datetime, partitions: set[int]) -> list[tuple[str, int]]:
        """The keys due by `now` in `partitions`, earliest first, with their partition.
        They stay in the index, due, until `put` or `discard` changes them."""
        found: list[tuple[datetime, str]] = []
        while self._heap and self._heap[0][0] <= now:
            due, key = heapq.heappop(self._heap)
            entry = self._entries.get(key)
            if entry is not None and entry[0] == due and (due, key) not in found[-1:]:
                found.append((due, key))
        for pair in found:
            heapq.heappush(self._heap, pair)
        return [
            (key, partition)
            for _due, key in found
            for partition in [self._entries[key][1]]
            if partition in partitions
        ]

    def _rebuild(self) -> None:
        self._heap = [(due, key) for key, (due, _partition) in self._entries.items()]
        heapq.heapify(self._heap)
