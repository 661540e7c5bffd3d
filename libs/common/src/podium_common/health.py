"""`/healthz`, `/readyz` and `/metrics` for services that have no HTTP API of their own.

Liveness says the process runs its event loop; readiness says it is connected and
consuming; metrics are Prometheus text from the process's default registry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def health_app(ready: Callable[[], bool]) -> Starlette:
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        if ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "starting"}, status_code=503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
        ]
    )


async def serve_health(host: str, port: int, ready: Callable[[], bool]) -> asyncio.Task[None]:
    """Serves the health endpoints in the background; cancel the task to stop."""
    config = uvicorn.Config(
        health_app(ready), host=host, port=port, log_level="warning", lifespan="off", ws="none"
    )
    return asyncio.create_task(EmbeddedServer(config).serve())


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server inside a service: the service, not uvicorn, owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
