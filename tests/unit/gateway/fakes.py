"""Fakes at the gateway's boundary: a publisher and a read-model store kept in memory."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
from aiokafka.errors import KafkaTimeoutError

from podium_common.apikeys import ApiKey
from podium_common.errors import Unavailable
from podium_common.events import Event, GoalSubmitted, utcnow
from podium_gateway.app import create_app
from podium_gateway.settings import GatewaySettings

Row = dict[str, Any]


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[Event] = []
        self.down = False
        self.started = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def publish(self, events: Iterable[Event]) -> None:
        if self.down:
            raise KafkaTimeoutError()
        self.published.extend(events)


def goal_row(goal_id: uuid.UUID, seq: int, **fields: Any) -> Row:
    """A `goals` row as the recorder writes it."""
    now = utcnow()
    row: Row = {
        "goal_id": goal_id,
        "run": 1,
        "seq": seq,
        "goal": "a goal",
        "submitter": "anonymous",
        "tenant": "default",
        "options": {"max_tasks": None, "deadline_s": None, "token_budget": None, "models": {}},
        "status": "queued",
        "status_rank": 0,
        "reason_kind": None,
        "reason_message": None,
        "plan": None,
        "deadline": None,
        "planning_prompt_tokens": None,
        "planning_completion_tokens": None,
        "output": None,
        "outcome_totals": None,
        "submitted_at": now - timedelta(seconds=2),
        "updated_at": now,
        "completed_at": None,
    }
    row.update(fields)
    return row


def task_row(goal_id: uuid.UUID, local: str, **fields: Any) -> Row:
    """A `task_states` row."""
    row: Row = {
        "task_id": f"{goal_id}.1.{local}",
        "goal_id": goal_id,
        "run": 1,
        "type": "researcher",
        "description": f"do {local}",
        "requirements": [],
        "depends_on": [],
        "final": False,
        "position": None,
        "attempts": 1,
        "status": "succeeded",
        "output": f"output of {local}",
        "verdict": None,
        "error": None,
        "latency_ms": 10,
        "model": "m",
        "prompt_tokens": 0,
        "completion_tokens": 0,
    }
    row.update(fields)
    return row


def event_row(seq: int, type_: str, *, settled: bool = True, **payload: Any) -> Row:
    return {"seq": seq, "type": type_, "payload": payload, "settled": settled}


class FakeStore:
    """The read model in memory; `down` makes every call fail like PostgreSQL down."""

    def __init__(self) -> None:
        self.goal_rows: dict[uuid.UUID, Row] = {}
        self.task_rows: dict[uuid.UUID, list[Row]] = {}
        self.event_rows: dict[uuid.UUID, list[Row]] = {}
        self.down = False
        self.event_polls = 0
        self.keys: dict[str, ApiKey] = {}  # by the whole key
        self.searched: list[str | None] = []  # the text of each goals() call
        self.assigned: dict[tuple[uuid.UUID, int, str], Row] = {}  # latest TaskAssigned

    def _check(self) -> None:
        if self.down:
            raise Unavailable("PostgreSQL unavailable: connection refused")

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def ping(self) -> None:
        self._check()

    async def insert_queued(self, event: GoalSubmitted) -> None:
        self._check()
        seq = len(self.goal_rows) + 1
        self.goal_rows.setdefault(
            event.goal_id,
            goal_row(
                event.goal_id, seq, goal=event.goal, submitter=event.submitter, tenant=event.tenant
            ),
        )

    async def api_key(self, token: str) -> ApiKey | None:
        self._check()
        return self.keys.get(token)

    async def goal(self, goal_id: uuid.UUID) -> tuple[Row, Sequence[Row]] | None:
        self._check()
        if goal_id not in self.goal_rows:
            return None
        return self.goal_rows[goal_id], self.task_rows.get(goal_id, [])

    async def goals(
        self,
        status: str | None,
        limit: int,
        before: int | None,
        tenant: str | None = None,
        text: str | None = None,
    ) -> Sequence[Row]:
        self._check()
        self.searched.append(text)
        rows = sorted(self.goal_rows.values(), key=lambda row: -row["seq"])
        if text is not None:
            found = text.lower()
            rows = [
                r for r in rows if found in r["goal"].lower() or str(r["goal_id"]).startswith(found)
            ]
        rows = [r for r in rows if tenant in (None, r["tenant"])]
        rows = [r for r in rows if status in (None, r["status"])]
        rows = [r for r in rows if before is None or r["seq"] < before]
        return rows[:limit]

    async def assignment(self, goal_id: uuid.UUID, run: int, task_id: str) -> Row | None:
        self._check()
        return self.assigned.get((goal_id, run, task_id))

    async def events(
        self, goal_id: uuid.UUID, run: int, after: int, settle_s: float
    ) -> Sequence[Row]:
        self._check()
        self.event_polls += 1
        return [row for row in self.event_rows.get(goal_id, []) if row["seq"] > after]


def settings(**overrides: Any) -> GatewaySettings:
    return GatewaySettings(stream_poll_s=0.01, **overrides)


@asynccontextmanager
async def client(
    publisher: FakePublisher, store: FakeStore, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings(**overrides), publisher, store)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield http


def when(seconds: float) -> datetime:
    return utcnow() + timedelta(seconds=seconds)
