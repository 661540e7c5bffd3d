"""HTTP → goals, plans: accepts goals (GoalSubmitted), their next runs and cancellations
(GoalCancelled); reads goals back from PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import anyio
from pydantic import ValidationError
from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from podium_common import reruns, tracing
from podium_common.apikeys import ApiKey
from podium_common.errors import Unavailable
from podium_common.events import Event, GoalCancelled, GoalSubmitted, Trace, derived_id, utcnow
from podium_gateway import views
from podium_gateway.auth import Auth, Caller
from podium_gateway.limits import KeyLimit
from podium_gateway.metrics import GOALS_SUBMITTED
from podium_gateway.models import ApiError, CancelQuery, ListQuery, Submission, invalid
from podium_gateway.settings import GatewaySettings
from podium_gateway.stream import Cursor, EventSource, progress

log = logging.getLogger(__name__)

Row = Mapping[str, Any]
_TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
# A count in a header: ASCII digits only, and few enough for a bigint ("²".isdigit() is true).
_COUNT = re.compile(r"[0-9]{1,18}")


class EventPublisher(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def publish(self, events: Iterable[Event]) -> None: ...


class GoalStore(EventSource, Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def ping(self) -> None: ...
    async def insert_queued(self, event: GoalSubmitted) -> None: ...
    async def goal(self, goal_id: uuid.UUID) -> tuple[Row, Sequence[Row]] | None: ...
    async def goals(
        self,
        status: str | None,
        limit: int,
        before: int | None,
        tenant: str | None = None,
        text: str | None = None,
    ) -> Sequence[Row]: ...
    async def api_key(self, token: str) -> ApiKey | None: ...
    async def assignment(self, goal_id: uuid.UUID, run: int, task_id: str) -> Row | None: ...


class Goals:
    """The endpoints of `/goals`, over the publisher and store they are given."""

    def __init__(
        self, settings: GatewaySettings, publisher: EventPublisher, store: GoalStore
    ) -> None:
        self.settings = settings
        self.publisher = publisher
        self.store = store
        self.auth = Auth(settings.keys_required, store, KeyLimit(settings.key_requests_per_minute))

    async def _find(self, goal_id: uuid.UUID, caller: Caller) -> tuple[Row, Sequence[Row]]:
        """The goal, if the caller's tenant may see it; 404 alike for another's and none."""
        found = await self.store.goal(goal_id)
        if found is None or not caller.sees(found[0]):
            raise ApiError(404, "not_found", f"no goal {goal_id}")
        return found

    async def submit(self, request: Request) -> Response:
        caller = await self.auth.caller(request)
        submission = parse_submission(await read_body(request, self.settings.max_body_bytes))
        if caller.name is not None and submission.submitter is not None:
            raise from_key("submitter")
        event = GoalSubmitted.accepted(
            submission.goal,
            trace=trace_of(request),
            submitter=caller.name or submission.submitter or "anonymous",
            tenant=caller.tenant or "default",
            options=submission.options.to_event(),
        )
        return await self._accept(event)

    async def rerun(self, request: Request) -> Response:
        """Publishes the goal's next run, as `podium rerun` does; 409 until its latest run
        has ended."""
        caller = await self.auth.caller(request)
        goal_id = parse_goal_id(request)
        latest = (await self._find(goal_id, caller))[0]
        try:
            event = reruns.next_run(latest, goal_id, trace_of(request))
        except reruns.NotEnded as error:
            raise ApiError(409, "not_ended", error.message) from error
        return await self._accept(event)

    async def _accept(self, event: GoalSubmitted) -> Response:
        await self.publisher.publish([event])
        GOALS_SUBMITTED.inc()
        await self._show_queued(event)
        goal_id = event.goal_id
        body = {
            "goal_id": str(goal_id),
            "run": event.run,
            "status": "queued",
            "links": views.links(goal_id),
        }
        return JSONResponse(body, status_code=202, headers={"Location": f"/goals/{goal_id}"})

    async def _show_queued(self, event: GoalSubmitted) -> None:
        # Kafka has the goal now, so whatever this write meets the answer stays 202 (a client
        # told otherwise submits the goal again); the recorder writes the row later.
        try:
            async with asyncio.timeout(self.settings.queued_write_timeout_s):
                await self.store.insert_queued(event)
        except (Unavailable, TimeoutError) as error:
            log.warning(
                "goal %s accepted; its queued row waits for the recorder: %r", event.goal_id, error
            )
        except Exception:
            log.exception("goal %s accepted; its queued row failed", event.goal_id)

    async def show(self, request: Request) -> Response:
        caller = await self.auth.caller(request)
        goal, tasks = await self._find(parse_goal_id(request), caller)
        return JSONResponse(views.detail(goal, tasks, utcnow(), self.settings.prices))

    async def cancel(self, request: Request) -> Response:
        """Asks the aggregator to fail the goal's latest run with kind `cancelled`."""
        caller = await self.auth.caller(request)
        goal_id = parse_goal_id(request)
        try:
            query = CancelQuery.model_validate(dict(request.query_params))
        except ValidationError as error:
            raise invalid(error, status=400, code="invalid_query", what="query") from error
        if caller.name is not None and "requested_by" in query.model_fields_set:
            raise from_key("requested_by", status=400, code="invalid_query")
        goal = (await self._find(goal_id, caller))[0]
        if goal["status"] in reruns.ENDED:
            raise ApiError(409, "ended", f"goal {goal_id} has already {goal['status']}")
        run = int(goal["run"])
        event = GoalCancelled(
            event_id=derived_id("cancel", goal_id, run),
            goal_id=goal_id,
            run=run,
            occurred_at=utcnow(),
            trace=trace_of(request),
            requested_by=caller.name or query.requested_by,
            reason=query.reason,
        )
        await self.publisher.publish([event])
        body = {"goal_id": str(goal_id), "run": run, "status": "cancelling"}
        return JSONResponse(body, status_code=202, headers={"Location": f"/goals/{goal_id}"})

    async def index(self, request: Request) -> Response:
        caller = await self.auth.caller(request)
        try:
            query = ListQuery.model_validate(dict(request.query_params))
        except ValidationError as error:
            raise invalid(error, status=400, code="invalid_query", what="query") from error
        rows = await self.store.goals(query.status, query.limit + 1, query.before, caller.tenant)
        page = rows[: query.limit]
        more = len(rows) > query.limit
        return JSONResponse(
            {
                "goals": [views.summary(row) for row in page],
                "next": str(page[-1]["seq"]) if more else None,
            }
        )

    async def events(self, request: Request) -> Response:
        caller = await self.auth.caller(request)
        goal_id = parse_goal_id(request)
        found = await self._find(goal_id, caller)
        last_seen = request.headers.get("last-event-id", "")
        cursor = Cursor(floor=int(last_seen) if _COUNT.fullmatch(last_seen) else 0)
        stop = anyio.Event()
        stream = progress(
            self.store,
            goal_id,
            found[0]["run"],
            cursor=cursor,
            poll_s=self.settings.stream_poll_s,
            retry_s=self.settings.retry_after_s,
            stop=stop,
        )
        return EventSourceResponse(
            stream,
            ping=self.settings.stream_ping_s,
            shutdown_event=stop,
            shutdown_grace_period=self.settings.shutdown_grace_s,
        )


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it exceeds `limit` bytes."""
    too_large = ApiError(413, "too_large", f"the body exceeds {limit} bytes")
    declared = request.headers.get("content-length", "")
    if _COUNT.fullmatch(declared) and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def parse_submission(body: bytes) -> Submission:
    try:
        return Submission.model_validate_json(body)
    except ValidationError as error:
        broken = [item for item in error.errors() if item["type"] == "json_invalid"]
        if broken:
            message = f"the body is not valid JSON: {broken[0]['msg']}"
            raise ApiError(400, "invalid_json", message) from error
        raise invalid(error, status=422, code="invalid_body", what="body") from error


def from_key(field: str, *, status: int = 422, code: str = "invalid_body") -> ApiError:
    """A field the API key decides, sent anyway: refused, so nobody speaks for another."""
    api = ApiError(status, code, f"`{field}` comes from the API key; leave it out")
    api.fields = [{"field": field, "message": "set by the API key, not by the caller"}]
    return api


def parse_goal_id(request: Request) -> uuid.UUID:
    text = request.path_params["goal_id"]
    try:
        return uuid.UUID(text)
    except ValueError as error:
        raise ApiError(400, "invalid_id", f"not a goal id (a UUID): {text[:100]!r}") from error


def trace_of(request: Request) -> Trace:
    """The request's span when tracing is on; else the caller's trace when it sends a W3C
    `traceparent`, else a new one."""
    traced = tracing.current_trace()
    if traced is not None:
        return traced
    header = request.headers.get("traceparent", "").strip().lower()
    if _TRACEPARENT.match(header):
        return Trace(traceparent=header).child()
    return Trace.new()
