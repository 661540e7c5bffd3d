"""How long the broker may hold a fetch reaches the consumer a run loop builds, and the
recorder's settings give it its own (the consumer is never started here)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from podium_common import runloop
from podium_common.kafka import Publisher
from podium_common.runloop import Fetching, LoopConfig, RunLoop
from podium_common.settings import KafkaSettings
from podium_recorder.settings import RecorderSettings


class Consumer:
    """Stands in for aiokafka's consumer class: keeps the options it was built with."""

    built: ClassVar[dict[str, Any]] = {}

    def __init__(self, **options: Any) -> None:
        Consumer.built = options


async def noop(_event: Any) -> list[Any]:
    return []


@pytest.mark.parametrize(
    ("fetching", "min_bytes", "max_wait_ms"),
    [(Fetching(), 1, 500), (Fetching(min_bytes=65_536, max_wait_ms=50), 65_536, 50)],
)
def test_the_consumer_is_built_with_the_loop_s_fetching(
    monkeypatch: pytest.MonkeyPatch, fetching: Fetching, min_bytes: int, max_wait_ms: int
) -> None:
    monkeypatch.setattr(runloop, "AIOKafkaConsumer", Consumer)
    config = LoopConfig(group_id="g", topics=["t"], fetching=fetching)
    RunLoop(KafkaSettings(), config, noop, Publisher.__new__(Publisher))

    assert (Consumer.built["fetch_min_bytes"], Consumer.built["fetch_max_wait_ms"]) == (
        min_bytes,
        max_wait_ms,
    )


def test_the_recorder_waits_for_more_records_and_says_when_a_setting_is_out_of_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = RecorderSettings()
    assert (settings.fetch_min_bytes, settings.fetch_max_wait_ms) == (65_536, 200)
    monkeypatch.setenv("PODIUM_FETCH_MAX_WAIT_MS", "5000")
    with pytest.raises(ValueError, match="fetch_max_wait_ms"):
        RecorderSettings()
