"""A goal's next run: the same goal id, text, submitter, tenant and options, `run + 1`.

Only a goal whose latest run has ended runs again, so that one goal never has two runs
going at once. `podium rerun` and the gateway's `POST /goals/{id}/rerun` both build the
next run here, from the latest run's row in the read model (`goals`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from podium_common.errors import PodiumError
from podium_common.events import GoalOptions, GoalSubmitted, Trace

ENDED = frozenset({"completed", "failed"})


class NoSuchGoal(PodiumError):
    kind = "not_found"


class NotEnded(PodiumError):
    """The goal's latest run is still going, or was never submitted as far as the read
    model knows: there is nothing to run again yet."""

    kind = "not_ended"


def next_run(latest: Mapping[str, Any] | None, goal_id: uuid.UUID, trace: Trace) -> GoalSubmitted:
    """The GoalSubmitted of the run after `latest`, the goal's latest run (None: no goal)."""
    if latest is None:
        raise NoSuchGoal(f"no goal {goal_id} in the read model", goal_id=goal_id)
    if latest["goal"] is None:
        raise NotEnded(
            f"goal {goal_id} has no recorded submission: nothing to run again", goal_id=goal_id
        )
    if latest["status"] not in ENDED:
        raise NotEnded(
            f"goal {goal_id} run {latest['run']} is {latest['status']}: wait for it to end, "
            "or cancel it (DELETE /goals/{id}), then run it again",
            goal_id=goal_id,
        )
    return GoalSubmitted.accepted(
        latest["goal"],
        goal_id=goal_id,
        run=int(latest["run"]) + 1,
        trace=trace,
        submitter=latest["submitter"] or "anonymous",
        tenant=latest["tenant"] or "default",
        options=GoalOptions.model_validate(latest["options"] or {}),
    )
