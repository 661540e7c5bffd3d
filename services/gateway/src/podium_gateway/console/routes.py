"""The web console, served by the gateway in its own process, offline.

Each page is one HTML shell and the console's own small script (`static/console.js`, no
library, no build step, nothing fetched from elsewhere), which renders from the gateway's
JSON API and follows a goal over its SSE stream. The API's auth applies: the script sends
the API key the person entered. Beside the goal API, the console reads four things only
it needs: goals with their tokens (searched by text), the prompt a task's worker sent
(`prompts`), dead letters (listed and re-driven with `podium_common.deadletters`, as
`podium dlq` does) and the workers' heartbeats.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from podium_common import deadletters, heartbeat
from podium_common.reader import Reader
from podium_gateway import views
from podium_gateway.auth import Auth
from podium_gateway.console import prompts
from podium_gateway.handler import GoalStore, parse_goal_id
from podium_gateway.models import ApiError, ListQuery, StorableText, invalid
from podium_gateway.settings import GatewaySettings

STATIC = Path(__file__).parent / "static"


class Redrive(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str = Field(min_length=1, max_length=300)
    partition: int = Field(ge=0, le=100_000)
    offset: int = Field(ge=0)


class SearchQuery(ListQuery):
    """The console's goal list: `GET /goals`'s query and a text to search for."""

    q: StorableText = Field(default="", max_length=500)


class Console:
    def __init__(
        self, settings: GatewaySettings, store: GoalStore, auth: Auth, reader: Reader
    ) -> None:
        self.settings, self.store, self.auth, self.reader = settings, store, auth, reader

    def page(self, request: Request, name: str) -> Response:
        """The shell of every page: the script renders it from the API."""
        config = {
            "page": name,
            "params": dict(request.path_params),
            "traceUrl": self.settings.trace_url or "",
            "prefix": self.settings.kafka.topics.prefix,
        }
        body = SHELL.format(config=html.escape(json.dumps(config)))
        return HTMLResponse(body, headers={"Cache-Control": "no-store"})

    async def goals(self, request: Request) -> Response:
        """`GET /goals` with each goal's tokens so far; `q` searches every goal's text (and
        id) in the database, page by page."""
        caller = await self.auth.caller(request)
        try:
            query = SearchQuery.model_validate(dict(request.query_params))
        except ValidationError as error:
            raise invalid(error, status=400, code="invalid_query", what="query") from error
        text = query.q.strip() or None
        rows = await self.store.goals(
            query.status, query.limit + 1, query.before, caller.tenant, text
        )
        page = rows[: query.limit]
        shown = [{**views.summary(row), "tokens": tokens(row)} for row in page]
        more = len(rows) > query.limit
        return JSONResponse({"goals": shown, "next": str(page[-1]["seq"]) if more else None})

    async def prompt(self, request: Request) -> Response:
        """The messages the worker of task `?task=` sent for its latest attempt."""
        caller = await self.auth.caller(request)
        goal_id = parse_goal_id(request)
        task_id = request.query_params.get("task", "")
        found = await self.store.goal(goal_id)
        if found is None or not caller.sees(found[0]):
            raise ApiError(404, "not_found", f"no goal {goal_id}")
        run = int(found[0]["run"])
        assigned = await self.store.assignment(goal_id, run, task_id) if task_id else None
        if assigned is None:
            message = f"no task {task_id[:300]!r} assigned in run {run} of goal {goal_id}"
            raise ApiError(404, "not_found", message)
        return JSONResponse(prompts.sent(assigned))

    async def letters(self, request: Request) -> Response:
        (await self.auth.caller(request)).operates("dead letters")
        kafka = self.settings.kafka
        found = await deadletters.read_via(self.reader, deadletters.dlq_topics(kafka, None))
        now = datetime.now(UTC)
        return JSONResponse(
            {"letters": [letter_view(one, now, kafka.topics.prefix) for one in found]}
        )

    async def redrive(self, request: Request) -> Response:
        (await self.auth.caller(request)).operates("dead letters")
        try:
            asked = Redrive.model_validate_json(await request.body())
        except ValidationError as error:
            raise invalid(error, status=422, code="invalid_body", what="body") from error
        kafka = self.settings.kafka
        (topic,) = deadletters.dlq_topics(kafka, asked.topic)
        try:
            done = await deadletters.redrive(
                kafka, topic, offset=asked.offset, partition=asked.partition
            )
        except deadletters.NoSuchLetter as error:
            raise ApiError(404, "not_found", error.message) from error
        return JSONResponse({"redriven": len(done)})

    async def workers(self, request: Request) -> Response:
        (await self.auth.caller(request)).operates("the workers")
        beats = await heartbeat.beats_via(self.reader)
        groups = [beat.group for beat in beats]
        lags = await heartbeat.lag_via(self.reader, groups) if beats else {}
        now = datetime.now(UTC)
        lost_after = self.settings.console_lost_after_s
        return JSONResponse(
            {
                "lost_after_s": lost_after,
                "workers": [
                    {
                        **beat.model_dump(mode="json"),
                        "state": heartbeat.state(beat, now, lost_after),
                        "age_s": round((now - beat.beat_at).total_seconds(), 1),
                        "lag": lags.get(beat.group),
                    }
                    for beat in beats
                ],
            }
        )


def tokens(goal: views.Row) -> int:
    """The goal's tokens: its outcome's totals once it ended, else its planner's so far."""
    totals = goal.get("outcome_totals")
    if totals:
        usage: dict[str, Any] = totals.get("usage") or {}
        return int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0))
    planning = goal.get("planning_prompt_tokens") or 0
    return int(planning) + int(goal.get("planning_completion_tokens") or 0)


def letter_view(letter: deadletters.Letter, now: datetime, prefix: str) -> dict[str, Any]:
    return {
        "topic": letter.topic.removeprefix(prefix),
        "partition": letter.partition,
        "offset": letter.offset,
        "key": letter.key.decode(errors="replace") if letter.key is not None else None,
        "error_kind": letter.get("error.kind"),
        "error_message": letter.get("error.message"),
        "source": f"{letter.source_topic.removeprefix(prefix)}"
        f"[{letter.get('source.partition')}]@{letter.get('source.offset')}",
        "age_s": round((now - letter.timestamp).total_seconds(), 1),
    }


def _page(console: Console, name: str) -> Any:
    async def endpoint(request: Request) -> Response:
        return console.page(request, name)

    return endpoint


def console_routes(
    settings: GatewaySettings, store: GoalStore, auth: Auth, reader: Reader
) -> list[BaseRoute]:
    """The console's pages and API; `reader` makes its Kafka reads (kept open)."""
    console = Console(settings, store, auth, reader)
    return [
        Route("/console", _page(console, "goals")),
        Route("/console/goals/{goal_id}", _page(console, "goal")),
        Route("/console/deadletters", _page(console, "deadletters")),
        Route("/console/workers", _page(console, "workers")),
        Route("/console/api/goals", console.goals),
        Route("/console/api/goals/{goal_id}/prompt", console.prompt),
        Route("/console/api/deadletters", console.letters),
        Route("/console/api/deadletters/redrive", console.redrive, methods=["POST"]),
        Route("/console/api/workers", console.workers),
        Mount("/console/static", StaticFiles(directory=STATIC), name="console-static"),
    ]


SHELL = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Podium console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/static/console.css">
</head>
<body data-config="{config}">
<header>
  <a class="brand" href="/console">Podium</a>
  <nav><a href="/console">Goals</a><a href="/console/deadletters">Dead letters</a>
  <a href="/console/workers">Workers</a></nav>
  <label class="key">API key <input id="api-key" type="password" autocomplete="off"></label>
</header>
<main id="main"></main>
<script src="/console/static/console.js"></script>
</body>
</html>
"""
