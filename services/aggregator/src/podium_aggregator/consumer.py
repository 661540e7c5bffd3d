"""The aggregator's Kafka consumer: faust's own, committing nothing the agent has not handled.

Besides the records the agent acknowledges once their effects are durable, faust
acknowledges the records it skips: records fetched before a rebalance (or while a table
recovers), dropped unhandled because the new assignment fetches them again. Their offsets
join the acknowledged ones, so a commit could pass records the agent has not handled yet,
and a crash then would lose them. This consumer bounds every commit by the highest offset
the agent handled in the partition.
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers.aiokafka import Consumer, Transport
from faust.types import TP


class HandledConsumer(Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The highest offset the agent handled, per partition.
        self.handled: dict[TP, int] = {}

    def on_handled(self, tp: TP, offset: int) -> None:
        if offset > self.handled.get(tp, -1):
            self.handled[tp] = offset

    def _new_offset(self, tp: TP) -> int | None:
        return commit_bound(super()._new_offset(tp), self.handled.get(tp))


def commit_bound(acknowledged: int | None, handled: int | None) -> int | None:
    """The offset to commit: what faust's acknowledgements allow, but never past the highest
    offset handled (None: nothing to commit)."""
    if acknowledged is None or handled is None:
        return None
    return min(acknowledged, handled + 1)


class HandledTransport(Transport):
    """faust's Kafka transport with the consumer above."""

    Consumer = HandledConsumer
