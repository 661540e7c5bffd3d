"""The aggregator's parsed states: handed out only for the bytes the table holds, only once,
never more than the capacity, and never an ended goal's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from podium_aggregator.parsed import ParsedStates
from podium_aggregator.state import GoalState, Outcome


def state() -> GoalState:
    return GoalState.new(uuid.uuid4(), 1)


def test_a_state_is_handed_out_for_the_value_it_was_kept_with() -> None:
    parsed = ParsedStates(capacity=4)
    kept = state()
    parsed.keep("g", b"v1", kept)

    assert parsed.take("g", b"v1") is kept


def test_a_state_is_handed_out_once_so_a_failed_change_is_not_seen_again() -> None:
    parsed = ParsedStates(capacity=4)
    parsed.keep("g", b"v1", state())
    parsed.take("g", b"v1")  # changed by a batch that then failed: never kept again

    assert parsed.take("g", b"v1") is None


def test_another_value_in_the_table_is_parsed_again() -> None:
    parsed = ParsedStates(capacity=4)
    parsed.keep("g", b"v1", state())  # the table since recovered another value

    assert parsed.take("g", b"v2") is None
    assert len(parsed) == 0


def test_the_oldest_kept_go_first_past_the_capacity() -> None:
    parsed = ParsedStates(capacity=2)
    first, second, third = state(), state(), state()
    parsed.keep("a", b"a", first)
    parsed.keep("b", b"b", second)
    parsed.keep("a", b"a2", first)  # written again: now the newest
    parsed.keep("c", b"c", third)

    assert len(parsed) == 2
    assert parsed.take("b", b"b") is None
    assert parsed.take("a", b"a2") is first
    assert parsed.take("c", b"c") is third


def test_a_forgotten_goal_is_not_handed_out() -> None:
    parsed = ParsedStates(capacity=2)
    parsed.keep("g", b"v", state())
    parsed.forget("g")

    assert parsed.take("g", b"v") is None


def test_an_ended_goal_is_not_kept_and_leaves_room_for_open_ones() -> None:
    parsed = ParsedStates(capacity=2)
    opened, ending = state(), state()
    parsed.keep("open", b"o", opened)
    parsed.keep("ending", b"e1", ending)  # kept while it runs
    ending.end(Outcome.COMPLETED, datetime.now(UTC))
    parsed.keep("ending", b"e2", ending)  # written as ended
    parsed.keep("new", b"n", state())

    assert parsed.take("ending", b"e2") is None
    assert parsed.take("open", b"o") is opened
