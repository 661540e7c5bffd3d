"""Fixtures the integration tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podium_common.kafka import Publisher
from podium_common.settings import KafkaSettings
from tests.integration.test_aggregator import Worker


@pytest.fixture
async def publisher(kafka: KafkaSettings) -> AsyncIterator[Publisher]:
    """Podium's own publisher on the test's fresh topics."""
    publisher = Publisher(kafka, client_id="test-publisher")
    await publisher.start()
    yield publisher
    await publisher.stop()


@pytest.fixture
async def worker(kafka: KafkaSettings, tmp_path: Path) -> AsyncIterator[Worker]:
    """An aggregator process the test starts and stops itself; killed at the end if it
    still runs, so a failed test leaves none behind."""
    worker = Worker(kafka, tmp_path)
    try:
        yield worker
    finally:
        await worker.kill()
