"""Goal states already parsed, by table key, with the stored value each was parsed from or
written as.

The table holds each state as JSON; parsing it back was the aggregator's largest single
cost (8% of its CPU under load), though the value is most often the one this process just
wrote. A state is handed out only for the exact bytes the table holds now, and only once:
`take` removes it, so a state changed by a batch that then fails is never handed out again
(the next batch parses what the table holds). The oldest are dropped past `capacity`.

An ended goal's state is not kept: no more events are expected for it (a late one parses
the small state an ended goal keeps), and under a deep backlog the states of the goals that
just ended pushed out those of open goals, waiting longest for their next event.
"""

from __future__ import annotations

from collections import OrderedDict

from podium_aggregator.state import GoalState


class ParsedStates:
    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[bytes, GoalState]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, key: str, value: bytes) -> GoalState | None:
        """The state parsed from `value`, now the caller's to change; None if not kept."""
        entry = self._entries.pop(key, None)
        if entry is None or entry[0] != value:
            return None
        return entry[1]

    def keep(self, key: str, value: bytes, state: GoalState) -> None:
        """`state` is what `value` holds, and the table holds `value`."""
        if state.ended:
            self._entries.pop(key, None)
            return
        self._entries[key] = (value, state)
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)
