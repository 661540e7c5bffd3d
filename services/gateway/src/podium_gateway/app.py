"""The gateway's ASGI app: routes, JSON errors, health, metrics, and its clients' lifecycle."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka.errors import KafkaError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from podium_common.errors import Unavailable
from podium_common.reader import Reader
from podium_gateway.approvals import Approvals
from podium_gateway.console.routes import console_routes
from podium_gateway.handler import EventPublisher, Goals, GoalStore
from podium_gateway.metrics import MetricsMiddleware
from podium_gateway.models import ApiError
from podium_gateway.openapi import document
from podium_gateway.routing import by_method
from podium_gateway.settings import GatewaySettings
from podium_gateway.traces import TraceMiddleware

log = logging.getLogger(__name__)

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


class Health:
    """Ready once the Kafka producer has started and while PostgreSQL answers."""

    def __init__(self, store: GoalStore) -> None:
        self.store = store
        self.publisher_started = False

    async def healthz(self, _: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, _: Request) -> Response:
        checks = {"kafka": self.publisher_started, "postgres": True}
        try:
            await self.store.ping()
        except Unavailable:
            checks["postgres"] = False
        ready = all(checks.values())
        body = {"status": "ready" if ready else "unavailable", "checks": checks}
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics(self, _: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def openapi(self, _: Request) -> Response:
        return JSONResponse(document())


def create_app(settings: GatewaySettings, publisher: EventPublisher, store: GoalStore) -> Starlette:
    """The app over the clients it is given; its lifespan starts and stops them."""
    goals = Goals(settings, publisher, store)
    approvals = Approvals(settings, publisher, store, goals.auth)
    health = Health(store)
    reader = Reader(settings.kafka, client_id="podium-gateway-console")

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await store.start()
        try:
            await publisher.start()
            health.publisher_started = True
            try:
                yield
            finally:
                health.publisher_started = False
                await reader.close()
                await publisher.stop()
        finally:
            await store.stop()

    async def answer_error(_: Request, error: Exception) -> Response:
        api = as_api_error(error, retry_after_s=settings.retry_after_s)
        return JSONResponse(api.body(), status_code=api.status, headers=api.headers)

    return Starlette(
        routes=[
            by_method("/goals", POST=goals.submit, GET=goals.index),
            by_method("/goals/{goal_id}", GET=goals.show, DELETE=goals.cancel),
            by_method("/goals/{goal_id}/events", GET=goals.events),
            by_method("/goals/{goal_id}/rerun", POST=goals.rerun),
            by_method("/goals/{goal_id}/approvals/{task_id}", POST=approvals.decide),
            Route("/openapi.json", health.openapi),
            Route("/healthz", health.healthz),
            Route("/readyz", health.readyz),
            Route("/metrics", health.metrics),
            *console_routes(settings, store, goals.auth, reader),
        ],
        middleware=[Middleware(MetricsMiddleware), Middleware(TraceMiddleware)],
        exception_handlers=dict.fromkeys(
            (ApiError, Unavailable, KafkaError, HTTPException, Exception), answer_error
        ),
        lifespan=lifespan,
    )


def as_api_error(error: Exception, *, retry_after_s: int) -> ApiError:
    """Every failure as a JSON error: a dependency down is 503 with Retry-After."""
    match error:
        case ApiError():
            return error
        case Unavailable() | KafkaError():
            log.warning("answering 503: %s", error)
            headers = {"Retry-After": str(retry_after_s)}
            return ApiError(503, "unavailable", str(error), headers=headers)
        case HTTPException():
            code = _HTTP_CODES.get(error.status_code, "http_error")
            headers = dict(error.headers or {})
            return ApiError(error.status_code, code, str(error.detail), headers=headers)
    log.error("request failed", exc_info=error)
    return ApiError(500, "internal", "the gateway failed; the error is logged")
