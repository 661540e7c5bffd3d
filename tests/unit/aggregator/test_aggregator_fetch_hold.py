"""How long the broker may hold the aggregator's fetches: short while a partition the agent
reads is left out of the fetch (records arriving on it wait for the fetch to return), long
while none is (a record on any partition in the fetch ends the hold)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

from podium_aggregator.consumer import (
    FETCH_MAX_WAIT_MS,
    IDLE_FETCH_MAX_WAIT_MS,
    FetchingThread,
    fetch_wait_ms,
)

RESULTS = TP("results", 2)
CHANGELOG = TP("podium-aggregator-goals-changelog", 2)


def is_changelog(tp: TP) -> bool:
    return tp.topic.endswith("-changelog")


@pytest.mark.parametrize(
    ("left_out", "wait_ms"),
    [
        ([], IDLE_FETCH_MAX_WAIT_MS),  # every partition is in the fetch
        ([CHANGELOG], IDLE_FETCH_MAX_WAIT_MS),  # only a changelog, whose records nobody takes
        ([RESULTS], FETCH_MAX_WAIT_MS),  # the agent's records would wait for the fetch
        ([CHANGELOG, RESULTS], FETCH_MAX_WAIT_MS),
    ],
)
def test_the_hold_is_short_only_while_a_partition_the_agent_reads_is_left_out(
    left_out: list[TP], wait_ms: int
) -> None:
    assert fetch_wait_ms(left_out, is_changelog) == wait_ms
    assert FETCH_MAX_WAIT_MS < IDLE_FETCH_MAX_WAIT_MS


class Fetcher:
    """aiokafka's fetcher as far as the thread uses it: the records fetched and not taken,
    its hold, and the method that builds each fetch request with that hold."""

    def __init__(self) -> None:
        self._records: dict[TP, object] = {}
        self._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        self.built_with: list[int] = []

    def _get_actions_per_node(self, assignment: Any) -> str:
        self.built_with.append(self._fetch_max_wait_ms)
        return f"actions for {assignment}"


async def test_each_fetch_request_is_built_with_the_hold_of_its_moment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def started(self: AIOKafkaConsumerThread) -> None:
        return None

    monkeypatch.setattr(AIOKafkaConsumerThread, "on_start", started)
    fetcher = Fetcher()
    thread = FetchingThread.__new__(FetchingThread)
    parts: Any = thread  # the aiokafka consumer and faust's, as far as on_start uses them
    parts._consumer = SimpleNamespace(_fetcher=fetcher)
    parts.consumer = SimpleNamespace(_is_changelog_tp=is_changelog)
    await thread.on_start()

    assert fetcher._get_actions_per_node("a") == "actions for a"
    fetcher._records[RESULTS] = object()
    fetcher._get_actions_per_node("b")
    del fetcher._records[RESULTS]
    fetcher._records[CHANGELOG] = object()
    fetcher._get_actions_per_node("c")

    assert fetcher.built_with == [IDLE_FETCH_MAX_WAIT_MS, FETCH_MAX_WAIT_MS, IDLE_FETCH_MAX_WAIT_MS]
