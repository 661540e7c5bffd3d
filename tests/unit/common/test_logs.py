"""Log lines as JSON carry the ids of the record being handled as fields; text stays text."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from podium_common import logs
from tests.unit.workers.fakes import make_task


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(logs.BoundFields())
    logger = logging.getLogger("podium.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, out, handler
    logger.removeHandler(handler)


async def test_json_lines_carry_goal_task_and_trace_ids_of_their_own_record(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, out, handler = captured
    handler.setFormatter(logs.formatter("json"))
    first, second = make_task(), make_task()

    async def handle(task: object) -> None:
        logs.bind_event(task)  # type: ignore[arg-type]
        await asyncio.sleep(0)  # the other record's task runs in between
        logger.warning("slow reply")

    await asyncio.gather(handle(first), handle(second))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {(line["goal_id"], line["task_id"]) for line in lines} == {
        (str(first.goal_id), first.task_id),
        (str(second.goal_id), second.task_id),
    }
    by_goal = {line["goal_id"]: line for line in lines}
    assert by_goal[str(first.goal_id)]["trace_id"] == first.trace.traceparent.split("-")[1]
    assert by_goal[str(first.goal_id)]["level"] == "WARNING"
    assert by_goal[str(first.goal_id)]["message"] == "slow reply"
    assert by_goal[str(first.goal_id)]["logger"] == "podium.test.logs"


def test_text_stays_one_plain_line(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, out, handler = captured
    handler.setFormatter(logs.formatter("text"))
    logger.info("consuming")
    assert out.getvalue().rstrip().endswith(" INFO podium.test.logs: consuming")
