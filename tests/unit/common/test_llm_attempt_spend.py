"""What `OpenAILLM` tells a goal's budget of each attempt, on each HTTP transport: a reply
spends its tokens; an attempt the endpoint may have served without a reply (it timed out
reading, or the connection closed after the request was sent) spends all it held; one
refused with a status, or never sent (nothing listening), spends nothing; so does one
cancelled before its request left, where one cancelled after it spends all it held. The budget here
only notes what it is told; the ledger's own arithmetic is tested against PostgreSQL
(tests/integration/test_token_budget.py)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from podium_common.errors import LLMUnavailable
from podium_common.llm import Message, OpenAILLM, Request
from podium_common.settings import LLMSettings

HELD = 100
REQUEST = Request(model="m", messages=(Message("user", "hi"),))
REPLY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 0,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


class NotingBudget:
    """Admits every attempt, holding `HELD` tokens, and notes each settlement."""

    def __init__(self) -> None:
        self.admitted = 0
        self.settled: list[tuple[int, int, int]] = []

    async def admit(self, request: Request) -> int:
        self.admitted += 1
        return HELD

    async def settle(self, held: int, spent: int, calls: int) -> None:
        self.settled.append((held, spent, calls))

    async def close(self) -> None:
        pass


@pytest.fixture
async def endpoint() -> AsyncIterator[str]:
    """`/ok` answers, `/slow` answers after 1 s, `/fail` answers 500."""

    async def ok(_: web.Request) -> web.Response:
        return web.json_response(REPLY)

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response(REPLY)

    async def fail(_: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "down"}}, status=500)

    app = web.Application()
    for name, handler in (("ok", ok), ("slow", slow), ("fail", fail)):
        app.router.add_post(f"/{name}/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def dropping() -> AsyncIterator[str]:
    """Reads each request whole, then closes the connection without a reply."""

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def attempts(base_url: str, transport: str) -> NotingBudget:
    budget = NotingBudget()
    settings = LLMSettings(
        base_url=base_url,
        http_client=transport,
        timeout_s=0.3,
        max_attempts=2,
        backoff_base_s=0.01,
        backoff_max_s=0.01,
    )
    llm = OpenAILLM(settings, budget=budget)
    try:
        with contextlib.suppress(LLMUnavailable):
            await llm.complete(REQUEST)
    finally:
        await llm.close()
    return budget


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_each_attempt_is_spent_by_what_the_endpoint_may_have_served(
    endpoint: str, dropping: str, transport: str
) -> None:
    replied = await attempts(f"{endpoint}/ok", transport)
    timed_out = await attempts(f"{endpoint}/slow", transport)
    dropped = await attempts(dropping, transport)
    refused = await attempts(f"{endpoint}/fail", transport)
    unsent = await attempts(f"http://127.0.0.1:{closed_port()}", transport)

    assert replied.settled == [(HELD, 4, 1)]
    assert timed_out.settled == [(HELD, HELD, 1)] * 2, "each timed-out attempt at its most"
    assert dropped.settled == [(HELD, HELD, 1)] * 2, "sent whole, then the connection lost"
    assert refused.settled == [(HELD, 0, 0)] * 2
    assert unsent.settled == [(HELD, 0, 0)] * 2
    assert [b.admitted for b in (replied, timed_out, dropped, refused, unsent)] == [1, 2, 2, 2, 2]


class HoldingGate:
    """A rate gate that admits nothing until told to: the attempt waits, unsent."""

    def __init__(self) -> None:
        self.waiting = asyncio.Event()

    async def admit(self, request: Request) -> int:
        self.waiting.set()
        await asyncio.Event().wait()
        return 0

    async def settle(self, request: Request, held: int, used: int) -> None:
        pass

    async def block(self, model: str, seconds: float) -> None:
        pass


@pytest.fixture
async def hanging() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """An endpoint that never answers, and an event set when a request reaches it."""
    arrived = asyncio.Event()

    async def hang(_: web.Request) -> web.Response:
        arrived.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    app = web.Application()
    app.router.add_post("/chat/completions", hang)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", arrived
    finally:
        await runner.cleanup()


async def test_a_cancelled_attempt_is_spent_at_its_most_once_its_request_has_left(
    hanging: tuple[str, asyncio.Event],
) -> None:
    # A worker stopping, a task's deadline: the call is cancelled. Once the request has
    # left, the endpoint may answer it and bill it all the same.
    url, arrived = hanging
    budget = NotingBudget()
    llm = OpenAILLM(LLMSettings(base_url=url, timeout_s=30), budget=budget)
    call = asyncio.create_task(llm.complete(REQUEST))
    await asyncio.wait_for(arrived.wait(), 30)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await llm.close()
    assert budget.settled == [(HELD, HELD, 1)]


async def test_a_cancelled_attempt_that_never_left_spends_nothing(endpoint: str) -> None:
    budget, gate = NotingBudget(), HoldingGate()
    llm = OpenAILLM(LLMSettings(base_url=f"{endpoint}/ok"), gate=gate, budget=budget)
    call = asyncio.create_task(llm.complete(REQUEST))
    await gate.waiting.wait()  # held by the cluster's rate, not sent
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await llm.close()
    assert budget.settled == [(HELD, 0, 0)]
