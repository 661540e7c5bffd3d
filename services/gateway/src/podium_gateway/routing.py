"""One route per path whatever its methods, so a 405 names every method the path allows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Endpoint = Callable[[Request], Awaitable[Response]]


def by_method(path: str, **endpoints: Endpoint) -> Route:
    """A route for `path` that hands each method to its endpoint (HEAD to GET's)."""

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await endpoints[method](request)

    return Route(path, dispatch, methods=list(endpoints))
