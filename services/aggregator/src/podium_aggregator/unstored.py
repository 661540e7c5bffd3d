"""Goal states a batch has changed whose writes are not yet acknowledged, by table key.

The aggregator applies a batch while the batch before it waits for the broker. A goal that
batch changed is not in the table yet (the table is written only once the batch's events
are acknowledged), so the next batch takes it from here: the very state, with the value it
will be written as. Its entry goes once that value is written, unless a later batch has
changed the goal again meanwhile.
"""

from __future__ import annotations

from podium_aggregator.state import GoalState


class UnstoredStates:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[bytes, GoalState]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> tuple[bytes, GoalState] | None:
        """The goal's newest state and the value it will be written as; None if the table
        holds the newest."""
        return self._entries.get(key)

    def put(self, key: str, value: bytes, state: GoalState) -> None:
        """A batch changed the goal to `state`, to be written as `value`."""
        self._entries[key] = (value, state)

    def written(self, key: str, value: bytes) -> None:
        """`value` is in the table now: the entry goes, unless a later batch changed the
        goal since."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] is value:
            del self._entries[key]
