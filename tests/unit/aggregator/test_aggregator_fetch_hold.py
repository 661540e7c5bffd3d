"""The aggregator's fetches are held long only when they ask for every partition it reads."""

from __future__ import annotations

from aiokafka.protocol.fetch import FetchRequest

from podium_aggregator.fetch_hold import IDLE_HOLD_MS, SHORT_HOLD_MS, asked_by, hold_ms

READ = [("goals", 0), ("goals", 1), ("results", 0)]


def test_a_fetch_asking_for_every_partition_read_is_held_long() -> None:
    assert hold_ms(READ, READ) == IDLE_HOLD_MS
    assert hold_ms([*READ, ("goals-changelog", 0)], READ) == IDLE_HOLD_MS


def test_a_fetch_leaving_one_out_ends_soon() -> None:
    assert hold_ms(READ[:2], READ) == SHORT_HOLD_MS
    assert hold_ms([], READ) == SHORT_HOLD_MS


def test_a_broker_leading_nothing_read_holds_long() -> None:
    assert hold_ms([("goals-changelog", 0)], []) == IDLE_HOLD_MS


def test_the_partitions_a_request_asks_for() -> None:
    request = FetchRequest(
        20, 1, 1 << 20, 0, [("goals", [(0, 5, 1024), (1, 9, 1024)]), ("results", [(0, 2, 1024)])]
    )
    assert asked_by(request) == READ
