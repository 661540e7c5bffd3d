"""Commits never pass an unfinished record, whatever order records finish in."""

from __future__ import annotations

from aiokafka import TopicPartition

from podium_common.offsets import OffsetTracker

TP = TopicPartition("tasks.researcher", 0)
OTHER = TopicPartition("tasks.researcher", 1)


def test_commit_stops_at_the_lowest_unfinished_record() -> None:
    tracker = OffsetTracker()
    tickets = [tracker.started(TP, offset) for offset in range(10, 15)]
    for ticket in (tickets[1], tickets[3], tickets[4]):
        tracker.finished(ticket)
    assert tracker.to_commit() == {TP: 10}
    tracker.finished(tickets[0])
    assert tracker.to_commit() == {TP: 12}
    tracker.finished(tickets[2])
    assert tracker.to_commit() == {TP: 15}


def test_only_advanced_offsets_are_committed_again() -> None:
    tracker = OffsetTracker()
    tracker.finished(tracker.started(TP, 0))
    tracker.committed(tracker.to_commit())
    assert tracker.to_commit() == {}
    tracker.started(OTHER, 7)
    assert tracker.to_commit() == {OTHER: 7}


def test_partitions_are_independent_and_counted() -> None:
    tracker = OffsetTracker()
    tracker.started(TP, 0)
    tracker.finished(tracker.started(OTHER, 3))
    assert tracker.in_flight() == 1
    assert tracker.in_flight_of({OTHER}) == 0
    assert tracker.to_commit({OTHER}) == {OTHER: 4}


def test_a_forgotten_partition_ignores_late_finishes_of_its_old_records() -> None:
    tracker = OffsetTracker()
    old = tracker.started(TP, 5)
    tracker.forget({TP})
    redelivered = tracker.started(TP, 5)
    tracker.finished(old)  # the old owner's copy finishing must not free the new one
    assert tracker.to_commit() == {TP: 5}
    tracker.finished(redelivered)
    assert tracker.to_commit() == {TP: 6}
