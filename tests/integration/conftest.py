"""Fixtures the integration tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from podium_common.kafka import Publisher
from podium_common.settings import KafkaSettings


@pytest.fixture
async def publisher(kafka: KafkaSettings) -> AsyncIterator[Publisher]:
    """Podium's own publisher on the test's fresh topics."""
    publisher = Publisher(kafka, client_id="test-publisher")
    await publisher.start()
    yield publisher
    await publisher.stop()
