"""The aggregator handles every record of a partition in order and never commits past the next
one it must handle, whatever faust delivered or acknowledged."""

from __future__ import annotations

import pytest

from podium_aggregator.consumer import commit_bound, turn


@pytest.mark.parametrize(
    ("acknowledged", "next_offset", "commit"),
    [
        (None, 8, None),  # nothing acknowledged
        (8, 8, 8),  # everything acknowledged was handled
        (12, 8, 8),  # 8..11 acknowledged (skipped, or a gap faust filled) yet unhandled
        (5, None, None),  # acknowledged, but the partition's start is not known yet
        (3, 8, 3),  # handled further than faust will commit yet
    ],
)
def test_a_commit_never_passes_the_next_record_to_handle(acknowledged, next_offset, commit):
    assert commit_bound(acknowledged, next_offset) == commit


@pytest.mark.parametrize(
    ("offset", "expected", "rewinding", "verdict"),
    [
        (8, 8, False, "handle"),
        (8, 8, True, "handle"),  # the rewound record came back
        (7, 8, False, "skip"),  # delivered again after a rewind
        (9, 8, False, "rewind"),  # 8 never came: fetch again from 8
        (9, 8, True, "skip"),  # still ahead of the rewind already asked for
    ],
)
def test_records_are_taken_in_order(offset, expected, rewinding, verdict):
    assert turn(offset, expected, rewinding=rewinding) == verdict
