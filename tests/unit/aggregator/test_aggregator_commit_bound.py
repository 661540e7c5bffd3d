"""The aggregator never commits past the highest offset its agent handled in a partition."""

from __future__ import annotations

import pytest

from podium_aggregator.consumer import commit_bound


@pytest.mark.parametrize(
    ("acknowledged", "handled", "commit"),
    [
        (None, 7, None),  # nothing acknowledged
        (8, 7, 8),  # everything acknowledged was handled: up to the next record
        (12, 7, 8),  # 8..11 acknowledged only because faust skipped them: not past 7
        (5, None, None),  # acknowledged, none handled here: skipped records only
        (3, 7, 3),  # handled further than faust will commit yet
    ],
)
def test_a_commit_is_bounded_by_what_was_handled(acknowledged, handled, commit):
    assert commit_bound(acknowledged, handled) == commit
