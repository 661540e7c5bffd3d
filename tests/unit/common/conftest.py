"""The `loop_of` fixture the run loop's unit tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from podium_common.kafka import Publisher
from podium_common.runloop import Handler, LoopConfig, RunLoop
from podium_common.settings import KafkaSettings
from tests.unit.common.runloop_fakes import FAST, TOPIC, LoopOf


@pytest.fixture
async def loop_of() -> AsyncIterator[LoopOf]:
    """Builds run loops on the fast policy; closes their (never started) consumers."""
    loops: list[RunLoop] = []

    def build(
        handler: Handler, publisher: Publisher, *, max_in_flight: int = LoopConfig.max_in_flight
    ) -> RunLoop:
        config = LoopConfig(
            group_id="g",
            topics=[TOPIC],
            max_in_flight=max_in_flight,
            retry=FAST,
            drain_timeout_s=5.0,
        )
        loops.append(RunLoop(KafkaSettings(), config, handler, publisher))
        return loops[-1]

    yield build
    for loop in loops:
        await loop._consumer.stop()
