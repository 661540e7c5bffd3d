"""What `OpenAILLM` sends: the chat-completions URL under the configured base URL (its path
kept, with or without a final "/", or a bare host), the key, and none of the SDK's platform
headers; on each HTTP transport."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from podium_common.llm import TELEMETRY_HEADERS, Message, OpenAILLM, Request
from podium_common.settings import LLMSettings

REPLY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 0,
    "model": "echo",
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """An endpoint answering every POST with its last message, noting each request's path,
    headers and body."""
    seen: list[dict[str, Any]] = []

    async def answer(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        seen.append(
            {
                "path": request.path,
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "body": body,
            }
        )
        said = {"role": "assistant", "content": body["messages"][-1]["content"]}
        choice = {"index": 0, "message": said, "finish_reason": "stop"}
        return web.json_response({**REPLY, "choices": [choice]})

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("path", ["/openai/v1", "/openai/v1/", ""])
@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_a_call_goes_to_chat_completions_under_the_base_url_without_platform_headers(
    endpoint: tuple[str, list[dict[str, Any]]], transport: str, path: str
) -> None:
    host, seen = endpoint
    llm = OpenAILLM(LLMSettings(base_url=host + path, api_key="sk-test", http_client=transport))
    try:
        for said in ("hi", "again"):  # the first call builds the client; the second reuses it
            request = Request(model="echo", messages=(Message("user", said),))
            assert (await llm.complete(request)).text == said
    finally:
        await llm.close()

    assert [request["path"] for request in seen] == [f"{path.rstrip('/')}/chat/completions"] * 2
    headers = seen[-1]["headers"]
    assert headers["authorization"] == "Bearer sk-test"
    assert headers["content-type"] == "application/json"
    assert not {name.lower() for name in TELEMETRY_HEADERS} & set(headers), headers
    assert [request["body"]["messages"] for request in seen] == [
        [{"role": "user", "content": "hi"}],
        [{"role": "user", "content": "again"}],
    ]
