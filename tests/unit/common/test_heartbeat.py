"""A heartbeat's content, and how a reader tells alive, stopped and lost workers apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from podium_cli.commands.workers import row
from podium_common.heartbeat import Heartbeat, Holding, state


async def _never(topic: str, key: bytes, value: bytes) -> None:
    raise ConnectionError("broker down")


def heartbeat() -> Heartbeat:
    return Heartbeat(
        worker_id="worker-researcher@host:1",
        service="worker-researcher",
        group="podium-worker-researcher",
        topic="heartbeats",
        send=_never,
        holding=lambda: Holding(3, ["tasks.researcher[0]"]),
        interval_s=5,
    )


def test_a_beat_carries_what_the_process_holds() -> None:
    beat = heartbeat().beat()
    assert (beat.in_flight, beat.partitions) == (3, ["tasks.researcher[0]"])
    assert beat.group == "podium-worker-researcher"
    assert not beat.stopped


def test_alive_until_lost_after_the_interval_and_stopped_when_it_says_so() -> None:
    beat = heartbeat().beat()
    assert state(beat, beat.beat_at + timedelta(seconds=14), lost_after_s=15) == "alive"
    assert state(beat, beat.beat_at + timedelta(seconds=16), lost_after_s=15) == "lost"
    last = heartbeat().beat(stopped=True)
    assert state(last, last.beat_at, lost_after_s=15) == "stopped"


async def test_a_beat_that_cannot_be_sent_does_not_stop_the_service() -> None:
    await heartbeat().send()  # logged, not raised


def test_the_workers_row_shows_state_lag_and_partitions() -> None:
    beat = heartbeat().beat()
    shown = row(beat, datetime.now(UTC) + timedelta(seconds=30), 15, lag=7)
    assert shown[0] == "lost"
    assert shown[6] == "7"
    assert shown[7] == "tasks.researcher[0]"
