"""The progress stream: its cursor over out-of-order commits, and the SSE it sends."""

from __future__ import annotations

import asyncio
import json
import uuid

import anyio

from podium_gateway.stream import Cursor, progress
from tests.unit.gateway.fakes import FakePublisher, FakeStore, client, event_row, goal_row


def test_the_cursor_waits_for_numbers_committed_late() -> None:
    cursor = Cursor()
    # 2 committed before 1: 2 is sent, but the cursor stays below 1.
    first = cursor.fresh([event_row(2, "PlanningStarted", settled=False)])
    assert [row["seq"] for row in first] == [2]
    assert cursor.floor == 0
    second = cursor.fresh(
        [event_row(1, "GoalSubmitted", settled=False), event_row(2, "PlanningStarted")]
    )
    assert [row["seq"] for row in second] == [1]
    third = cursor.fresh(
        [event_row(1, "GoalSubmitted"), event_row(2, "PlanningStarted"), event_row(3, "X")]
    )
    assert [row["seq"] for row in third] == [3]
    assert cursor.floor == 3
    assert cursor.sent == set()


def test_the_cursor_moves_only_over_settled_events() -> None:
    cursor = Cursor(floor=10)
    cursor.fresh([event_row(11, "A"), event_row(12, "B", settled=False), event_row(13, "C")])
    assert cursor.floor == 11
    assert cursor.sent == {12, 13}
    assert cursor.fresh([event_row(12, "B"), event_row(13, "C"), event_row(14, "D")]) == [
        event_row(14, "D")
    ]


def story_rows(goal_id: uuid.UUID) -> list[dict[str, object]]:
    return [
        event_row(1, "GoalSubmitted", goal_id=str(goal_id), goal="g"),
        event_row(2, "PlanningStarted", goal_id=str(goal_id)),
        event_row(3, "PlanCreated", goal_id=str(goal_id)),
        event_row(5, "TaskResult", goal_id=str(goal_id), output="t1"),
        event_row(6, "GoalCompleted", goal_id=str(goal_id), output="done"),
        # Numbered after the outcome but in the same batch: still sent.
        event_row(7, "TaskResult", goal_id=str(goal_id), output="final"),
    ]


async def test_progress_ends_after_the_outcome() -> None:
    store = FakeStore()
    goal_id = uuid.uuid4()
    store.event_rows[goal_id] = story_rows(goal_id)[:3]
    stream = progress(
        store, goal_id, 1, cursor=Cursor(), poll_s=0.01, retry_s=0.01, stop=anyio.Event()
    )
    seen = [event.event async for event in _take(stream, 3)]
    assert seen == ["GoalSubmitted", "PlanningStarted", "PlanCreated"]
    store.event_rows[goal_id] = story_rows(goal_id)
    rest = [event.event async for event in stream]
    assert rest == ["TaskResult", "GoalCompleted", "TaskResult"]


async def test_progress_waits_out_postgres_down() -> None:
    store = FakeStore()
    goal_id = uuid.uuid4()
    store.event_rows[goal_id] = story_rows(goal_id)
    store.down = True
    stream = progress(
        store, goal_id, 1, cursor=Cursor(), poll_s=0.01, retry_s=0.01, stop=anyio.Event()
    )
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)
    assert not first.done()
    store.down = False
    assert (await first).event == "GoalSubmitted"
    await stream.aclose()


async def _take(stream, count):
    taken = 0
    async for event in stream:
        yield event
        taken += 1
        if taken == count:
            return


async def test_the_sse_endpoint_streams_every_event_then_ends() -> None:
    store = FakeStore()
    goal_id = uuid.uuid4()
    store.goal_rows[goal_id] = goal_row(goal_id, 1, status="running")
    store.event_rows[goal_id] = story_rows(goal_id)
    async with client(FakePublisher(), store) as http:
        response = await http.get(f"/goals/{goal_id}/events", headers={"last-event-id": "2"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    messages = [block for block in response.text.replace("\r\n", "\n").split("\n\n") if block]
    parsed = [dict(line.split(": ", 1) for line in block.splitlines()) for block in messages]
    assert [m["event"] for m in parsed] == [
        "PlanCreated",
        "TaskResult",
        "GoalCompleted",
        "TaskResult",
    ]
    assert [m["id"] for m in parsed] == ["3", "5", "6", "7"]
    assert json.loads(parsed[2]["data"])["output"] == "done"


async def test_progress_ends_when_the_server_stops() -> None:
    store = FakeStore()
    goal_id = uuid.uuid4()
    store.event_rows[goal_id] = story_rows(goal_id)[:2]
    stop = anyio.Event()
    stream = progress(store, goal_id, 1, cursor=Cursor(), poll_s=30, retry_s=30, stop=stop)
    collected = asyncio.ensure_future(_collect(stream))
    await asyncio.sleep(0.05)
    assert not collected.done()  # waiting for more, polling every 30 s
    stop.set()
    assert await asyncio.wait_for(collected, 1) == ["GoalSubmitted", "PlanningStarted"]


async def _collect(stream):
    return [event.event async for event in stream]
