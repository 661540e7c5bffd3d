"""Which offset of a partition may be committed while records are handled concurrently.

Records finish out of order. The committable offset of a partition is the lowest offset
still in flight, or one past the highest finished offset when none is in flight: a crash
then redelivers every unfinished record and skips none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka import TopicPartition


@dataclass
class _Partition:
    in_flight: set[int] = field(default_factory=set)
    next_offset: int | None = None  # one past the highest offset taken
    committed: int | None = None


@dataclass(frozen=True)
class Ticket:
    """One record in flight."""

    state: _Partition
    offset: int


class OffsetTracker:
    def __init__(self) -> None:
        self._partitions: dict[TopicPartition, _Partition] = {}

    def started(self, tp: TopicPartition, offset: int) -> Ticket:
        state = self._partitions.setdefault(tp, _Partition())
        state.in_flight.add(offset)
        if state.next_offset is None or offset >= state.next_offset:
            state.next_offset = offset + 1
        return Ticket(state, offset)

    def finished(self, ticket: Ticket) -> None:
        # A ticket of a forgotten partition points at its orphaned state: a no-op.
        ticket.state.in_flight.discard(ticket.offset)

    def in_flight(self) -> int:
        return sum(len(state.in_flight) for state in self._partitions.values())

    def in_flight_of(self, partitions: set[TopicPartition]) -> int:
        return sum(
            len(self._partitions[tp].in_flight) for tp in partitions if tp in self._partitions
        )

    def to_commit(self, partitions: set[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Offsets that advanced since the last commit, for the given partitions (or all)."""
        offsets = {}
        for tp, state in self._partitions.items():
            if partitions is not None and tp not in partitions:
                continue
            if state.next_offset is None:
                continue
            offset = min(state.in_flight) if state.in_flight else state.next_offset
            if offset != state.committed:
                offsets[tp] = offset
        return offsets

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            if tp in self._partitions:
                self._partitions[tp].committed = offset

    def forget(self, partitions: set[TopicPartition]) -> None:
        """Drops revoked partitions: their unfinished records go to the new owner."""
        for tp in partitions:
            self._partitions.pop(tp, None)
