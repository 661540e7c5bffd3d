"""The aggregator's index of what falls due: the same answers as scanning every entry (the
timer's way before), over random puts, discards and clock steps, and the cases by name."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from podium_aggregator.due import DueIndex

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_only_what_is_due_in_the_given_partitions_earliest_first() -> None:
    index = DueIndex()
    index.put("late", at(30), 0)
    index.put("soon", at(10), 1)
    index.put("sooner", at(5), 0)
    index.put("elsewhere", at(1), 2)

    assert index.due(at(0), {0, 1, 2}) == []
    assert index.due(at(10), {0, 1}) == [("sooner", 0), ("soon", 1)]
    assert index.due(at(10), {0, 1, 2}) == [("elsewhere", 2), ("sooner", 0), ("soon", 1)]


def test_what_is_due_stays_due_until_it_is_changed_or_discarded() -> None:
    index = DueIndex()
    index.put("a", at(1), 0)
    index.put("b", at(2), 0)

    assert index.due(at(5), {0}) == [("a", 0), ("b", 0)]
    assert index.due(at(5), {0}) == [("a", 0), ("b", 0)]  # nothing handled them
    index.put("a", at(60), 0)  # e.g. an approval moved the goal's next timeout
    index.discard("b")  # ended and forgotten
    assert index.due(at(5), {0}) == []
    assert index.due(at(60), {0}) == [("a", 0)]
    assert len(index) == 1


def test_a_time_set_back_and_forth_is_answered_once() -> None:
    index = DueIndex()
    for due in (5, 9, 5, 5):
        index.put("a", at(due), 3)
    assert index.due(at(10), {3}) == [("a", 3)]
    assert index.due(at(10), {3}) == [("a", 3)]


def test_random_operations_answer_as_a_scan_of_every_entry_does() -> None:
    rng = random.Random(7)
    index, plain = DueIndex(), dict[str, tuple[datetime, int]]()
    now = 0.0
    for _ in range(20_000):
        key = f"g{rng.randrange(300)}"
        choice = rng.random()
        if choice < 0.6:
            due, partition = at(now + rng.uniform(-5, 60)), rng.randrange(4)
            index.put(key, due, partition)
            plain[key] = (due, partition)
        elif choice < 0.8:
            index.discard(key)
            plain.pop(key, None)
        else:
            now += rng.uniform(0, 3)
            active = {p for p in range(4) if rng.random() < 0.8}
            scanned = sorted(
                (due, key)
                for key, (due, partition) in plain.items()
                if due <= at(now) and partition in active
            )
            expected = [(key, plain[key][1]) for _due, key in scanned]
            assert index.due(at(now), active) == expected
    assert len(index) == len(plain)
