"""The aggregator's Kafka producer: faust's own, made idempotent.

faust asks aiokafka for idempotence only inside its transactions (`exactly_once`), which the
aggregator does not use. Without it, a send retried after its acknowledgement was lost (a
timeout, a dropped connection) writes its records twice: a task twice on `tasks.<type>`
costs a second LLM call, however well the results are deduplicated. With it, the broker
drops the repeat by the producer's sequence numbers.

Those numbers are also what a broker's restart can leave out of step: the broker then
refuses every later send to the partition (`OutOfOrderSequenceNumber`). The aggregator does
not renew faust's producer in place: the failed send stops it, non-zero, its records
unacknowledged, and the process started again has a new producer
(`tests/integration/test_aggregator_durability.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiokafka
from faust.transport.drivers.aiokafka import Producer

# How far the test-only `desync` fault pushes a partition's sequence number.
DESYNC_BY = 5


class IdempotentProducer(Producer):
    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "enable_idempotence": True}


def push_sequences_ahead(producer: aiokafka.AIOKafkaProducer) -> int:
    """The `desync` fault (`podium_common.faults`): every partition the producer has written
    gets a sequence number the broker does not expect; returns how many."""
    manager = producer._txn_manager
    if manager is None:
        raise RuntimeError("the producer is not idempotent: it has no sequence numbers")
    written = [tp for tp, sequence in manager._sequence_numbers.items() if sequence > 0]
    for tp in written:
        manager.increment_sequence_number(tp, DESYNC_BY)
    return len(written)
