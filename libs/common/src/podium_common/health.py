"""`/healthz`, `/readyz` and `/metrics` for services that have no HTTP API of their own.

Liveness says the process runs; readiness says it is connected and consuming; metrics are
Prometheus text (or OpenMetrics, as the scraper asks) from the process's default registry,
served by prometheus_client's own WSGI app.

The endpoints are a WSGI app on the standard library's server in a thread of its own, the
way prometheus_client serves metrics (`start_http_server`): its modules are loaded by
prometheus_client anyway, where uvicorn and starlette cost every service 3 MB of memory
for three GET routes. `ready` is called from that thread: it reads state, nothing more.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

JSON = ("Content-Type", "application/json")


def health_app(ready: Callable[[], bool]) -> WSGIApplication:
    metrics = make_wsgi_app()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
        if path == "/metrics":
            served: Iterable[bytes] = metrics(environ, start_response)
            return served
        if path not in ("/healthz", "/readyz"):
            return _json(start_response, "404 Not Found", {"detail": "Not Found"})
        if method not in ("GET", "HEAD"):
            allow = ("Allow", "GET, HEAD")
            return _json(
                start_response, "405 Method Not Allowed", {"detail": "Method Not Allowed"}, allow
            )
        if path == "/healthz":
            return _json(start_response, "200 OK", {"status": "ok"})
        if ready():
            return _json(start_response, "200 OK", {"status": "ready"})
        return _json(start_response, "503 Service Unavailable", {"status": "starting"})

    return app


def _json(
    start_response: StartResponse, status: str, body: dict[str, str], *headers: tuple[str, str]
) -> list[bytes]:
    start_response(status, [JSON, *headers])  # a list of its own: the server adds to it
    return [json.dumps(body, separators=(",", ":")).encode()]


class _Quiet(WSGIRequestHandler):
    """Probes and scrapes are not logged, one line each."""

    def log_message(self, format: str, *args: object) -> None:
        pass


async def serve_health(host: str, port: int, ready: Callable[[], bool]) -> asyncio.Task[None]:
    """Serves the health endpoints in the background (raising OSError at once if the port
    cannot be bound); cancel the task to stop."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    server_class = type("HealthServer", (ThreadingWSGIServer,), {"address_family": family[0][0]})
    server: ThreadingWSGIServer = make_server(host, port, health_app(ready), server_class, _Quiet)
    thread = threading.Thread(target=server.serve_forever, name="health", daemon=True)
    thread.start()
    return asyncio.create_task(_until_cancelled(server))


async def _until_cancelled(server: ThreadingWSGIServer) -> None:
    try:
        await asyncio.Event().wait()
    finally:
        await asyncio.to_thread(server.shutdown)  # returns once serve_forever has
        server.server_close()
