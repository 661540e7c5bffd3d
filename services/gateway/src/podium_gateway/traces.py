"""A span for every request that changes something (not GET or HEAD): the root of a goal
run's trace, or a child of the caller's `traceparent` (see `podium_common.tracing`)."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from podium_common import tracing

READS = ("GET", "HEAD", "OPTIONS")


class TraceMiddleware:
    """Named by route template (`POST /goals`), never by raw path; a pass-through when
    tracing is off."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READS or not tracing.enabled():
            await self.app(scope, receive, send)
            return
        status = 500  # unless the app starts a response

        async def answering(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        headers = {key: value for key, value in Headers(scope=scope).items()}
        with tracing.request(scope["method"], headers) as span:
            try:
                await self.app(scope, receive, answering)
            finally:
                span.answered(getattr(scope.get("route"), "path", "unmatched"), status)
