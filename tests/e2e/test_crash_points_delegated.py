"""A delegated task through the crash points: the aggregator killed while it expands a
sub-plan (at each of its points), a worker killed once it has published one. The goal still
completes exactly once, its tree whole, with totals that count the sub-plan's tasks.

The goal has one task, `t1`, whose worker answers with a sub-plan (`t1/s1`, `t1/s2`); their
synthesis `t1/final` becomes `t1`'s output. The faults are aimed as in `test_crash_points`:
the aggregator's strikes at the goal's first result after its plan is committed, which is
`t1`'s sub-plan; the researcher's at `t1`, the goal's first researcher task.
"""

from __future__ import annotations

import httpx
import pytest

from podium_common.events import TaskStatus, local_task_id
from tests.e2e.conftest import Stack
from tests.e2e.test_crash_points import (  # noqa: F401 - small_llm_latency: an autouse fixture
    AGGREGATOR,
    logs_on_failure,
    recovered,
    small_llm_latency,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

GOAL = "Recover a delegated task from a kill at {point} in {service} [parallel=1][delegate=1]"
CASES = [(AGGREGATOR, point) for point in ("consumed", "published", "stored", "committed")]
CASES += [("podium-worker-researcher", "published")]
TREE = {"t1", "t1/s1", "t1/s2", "t1/final", "final"}


@pytest.mark.parametrize(("service", "point"), CASES, ids=lambda v: v.removeprefix("podium-"))
async def test_a_kill_while_a_task_delegates_completes_the_goal_once_with_its_tree(
    stack: Stack, gateway: httpx.AsyncClient, service: str, point: str
) -> None:
    log, outcome, body = await recovered(stack, gateway, service, point, GOAL)

    with logs_on_failure(stack):
        delegations = {r.attempt: r for r in log.results if r.subtasks}
        assert set(delegations) == {1}, log.results  # one sub-plan, however often delivered
        distinct = {(r.task_id, r.attempt): r for r in log.results}.values()
        assert outcome.totals.tasks == len(TREE)
        assert outcome.totals.succeeded == len(
            {r.task_id for r in distinct if r.status is TaskStatus.SUCCEEDED}
        )
        usage = sum((r.usage for r in distinct), log.plans[0].usage)
        assert outcome.totals.usage == usage

        tasks = {local_task_id(task["task_id"]): task for task in body["tasks"]}
        assert set(tasks) == TREE
        assert all(task["status"] == "succeeded" for task in tasks.values()), tasks
        assert tasks["t1"]["output"] == tasks["t1/final"]["output"]
