"""The aggregator's unstored states: a batch's changed goal is found there until its value is
written, and stays while a later batch has changed it again."""

from __future__ import annotations

import uuid

from podium_aggregator.state import GoalState
from podium_aggregator.unstored import UnstoredStates


def state() -> GoalState:
    return GoalState.new(uuid.uuid4(), 1)


def test_a_changed_goal_is_found_until_its_value_is_written() -> None:
    unstored = UnstoredStates()
    changed, value = state(), b"v1"
    unstored.put("g", value, changed)

    assert unstored.get("g") == (value, changed)
    unstored.written("g", value)
    assert unstored.get("g") is None
    assert len(unstored) == 0


def test_a_goal_changed_again_stays_when_the_older_value_is_written() -> None:
    unstored = UnstoredStates()
    changed = state()
    older, newer = b"v1", b"v2"
    unstored.put("g", older, changed)
    unstored.put("g", newer, changed)  # the next batch, before the first one's write

    unstored.written("g", older)
    assert unstored.get("g") == (newer, changed)
    unstored.written("g", newer)
    assert unstored.get("g") is None


def test_an_equal_value_from_an_older_batch_does_not_clear_a_newer_one() -> None:
    unstored = UnstoredStates()
    changed = state()
    older = b"same bytes"
    newer = bytes(bytearray(older))  # equal, but a later batch's own value
    assert newer == older
    assert newer is not older
    unstored.put("g", older, changed)
    unstored.put("g", newer, changed)

    unstored.written("g", older)

    assert unstored.get("g") is not None
