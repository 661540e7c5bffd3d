"""The aggregator's fetches are held long only when they leave out no partition it reads."""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition
from aiokafka.protocol.fetch import FetchRequest

from podium_aggregator.fetch_hold import IDLE_HOLD_MS, SHORT_HOLD_MS, asked_by, hold_per_fetch

CHANGELOG = "goals-changelog"


class Assignment:
    def __init__(self, *tps: TopicPartition) -> None:
        self.tps = set(tps)


class Fetcher:
    """aiokafka's fetcher as `hold_per_fetch` sees it: the fetches it plans for a round,
    and the broker each partition is read from (partition 9 on broker 2, the rest on 1)."""

    def __init__(self, *requests: tuple[int, FetchRequest]) -> None:
        self.requests = list(requests)

    def _get_actions_per_node(self, assignment: Any) -> tuple[Any, ...]:
        return (self.requests, {}, 0.1, False, [])

    def _select_read_replica(self, tp: TopicPartition) -> int:
        return 2 if tp.partition == 9 else 1


def fetch(*asked: tuple[str, int]) -> FetchRequest:
    topics: dict[str, list[tuple[int, int, int]]] = {}
    for topic, partition in asked:
        topics.setdefault(topic, []).append((partition, 0, 1024))
    return FetchRequest(20, 1, 1 << 20, 0, list(topics.items()))


def holds(fetcher: Fetcher, assignment: Assignment) -> list[int]:
    hold_per_fetch(fetcher, {CHANGELOG})
    requests, *rest = fetcher._get_actions_per_node(assignment)
    assert rest == [{}, 0.1, False, []]
    return [request._max_wait_ms for _, request in requests]


READ = Assignment(
    TopicPartition("goals", 0), TopicPartition("results", 0), TopicPartition(CHANGELOG, 0)
)


def test_a_fetch_asking_for_every_partition_read_is_held_long() -> None:
    everything = fetch(("goals", 0), ("results", 0), (CHANGELOG, 0))
    assert holds(Fetcher((1, everything)), READ) == [IDLE_HOLD_MS]


def test_the_changelog_left_out_does_not_count() -> None:
    assert holds(Fetcher((1, fetch(("goals", 0), ("results", 0)))), READ) == [IDLE_HOLD_MS]


def test_a_fetch_leaving_a_partition_read_out_ends_soon() -> None:
    assert holds(Fetcher((1, fetch(("goals", 0), (CHANGELOG, 0)))), READ) == [SHORT_HOLD_MS]


def test_each_broker_counts_only_its_own_partitions() -> None:
    assignment = Assignment(*READ.tps, TopicPartition("results", 9))
    on_one = fetch(("goals", 0), ("results", 0))
    # Broker 2's partition is left out of this round (its fetch in flight): broker 1's
    # fetch still asks for all of its own.
    assert holds(Fetcher((1, on_one)), assignment) == [IDLE_HOLD_MS]
    short_on_two = fetch(("goals", 0))
    assert holds(Fetcher((1, short_on_two), (2, fetch(("results", 9)))), assignment) == [
        SHORT_HOLD_MS,
        IDLE_HOLD_MS,
    ]


def test_the_partitions_a_request_asks_for() -> None:
    request = fetch(("goals", 0), ("goals", 1), ("results", 0))
    assert asked_by(request) == {("goals", 0), ("goals", 1), ("results", 0)}
