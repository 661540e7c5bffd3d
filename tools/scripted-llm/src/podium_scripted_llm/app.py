"""The scripted OpenAI-compatible server: `/v1/chat/completions`, `/v1/models`, `/healthz`,
and `/_scripted/{config,stats,reset}` for tests to steer faults and count calls."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from podium_scripted_llm import protocol, script
from podium_scripted_llm.faults import Fault, Faults
from podium_scripted_llm.settings import FaultConfig
from podium_scripted_llm.stats import Stats

MALFORMED_JSON = '{"scripted": "malformed reply", "truncated": ['
MALFORMED_TEXT = "~#~ scripted garbage ~#~ {{{ ]]] ~#~"


@dataclass
class State:
    """What the server keeps between calls; shared with the in-process test helper."""

    faults: Faults
    stats: Stats = field(default_factory=Stats)
    # Set when the server stops, so that held (timed-out) calls end at once.
    closing: asyncio.Event = field(default_factory=asyncio.Event)


def _state(request: Request) -> State:
    state: State = request.app.state.scripted
    return state


async def _hold(request: Request, state: State) -> None:
    """Holds a timed-out call until `timeout_hold_s` passes, the client leaves, or the
    server stops."""

    async def client_left() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    waiters = [asyncio.create_task(client_left()), asyncio.create_task(state.closing.wait())]
    try:
        await asyncio.wait(
            waiters, timeout=state.faults.config.timeout_hold_s, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.wait(waiters)


async def _injected(request: Request, chat: protocol.ChatRequest, fault: Fault) -> Response:
    if fault.kind == "timeout":
        await _hold(request, _state(request))
        return protocol.error(504, "scripted timeout", kind="timeout", code="scripted_timeout")
    if fault.kind == "malformed":
        content = MALFORMED_JSON if chat.json_mode else MALFORMED_TEXT
        return JSONResponse(protocol.completion(chat, content))
    if fault.status == 429:
        retry_after = _state(request).faults.config.retry_after_s
        return protocol.error(
            429,
            "scripted rate limit",
            kind="requests",
            code="rate_limit_exceeded",
            headers={"Retry-After": f"{retry_after:g}"},
        )
    return protocol.error(
        fault.status, f"scripted error {fault.status}", kind="server_error", code="scripted_fault"
    )


async def chat_completions(request: Request) -> Response:
    state = _state(request)
    try:
        chat = protocol.ChatRequest.model_validate(await request.json())
    except (ValueError, ValidationError) as invalid:
        state.stats.record("unknown", "bad_request")
        message = f"invalid chat completion request: {invalid}"
        return protocol.error(400, message, kind="invalid_request_error", code="invalid_request")
    if chat.stream:
        state.stats.record(script.role_of(chat), "bad_request")
        message = "the scripted LLM does not stream; send stream=false"
        return protocol.error(400, message, kind="invalid_request_error", code="no_streaming")
    role = script.role_of(chat)
    await asyncio.sleep(state.faults.latency_s())
    fault = state.faults.draw(role)
    if fault is not None:
        state.stats.record(role, fault.outcome)
        return await _injected(request, chat, fault)
    try:
        content = _respond(role, chat)
    except script.Refused as refused:
        state.stats.record(role, "refused")
        return protocol.error(
            400, f"scripted refusal: {refused}", kind="invalid_request_error", code="always_fail"
        )
    state.stats.record(role, "ok")
    body = protocol.completion(chat, content)
    state.stats.add_tokens(body["usage"]["prompt_tokens"], body["usage"]["completion_tokens"])
    return JSONResponse(body)


def _respond(role: str, chat: protocol.ChatRequest) -> str:
    """The scripted answer; asked to go on with one cut short, the rest of it."""
    going_on = protocol.continuation(chat)
    if going_on is None:
        return script.respond(role, chat)
    asked, so_far = going_on
    return script.respond(role, asked).removeprefix(so_far)


def _model(model_id: str) -> dict[str, object]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "podium-scripted-llm"}


async def models(_: Request) -> Response:
    return JSONResponse({"object": "list", "data": [_model("scripted")]})


async def model(request: Request) -> Response:
    return JSONResponse(_model(request.path_params["model"]))


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok", "scripted": True})


async def config(request: Request) -> Response:
    faults = _state(request).faults
    if request.method == "POST":
        try:
            changes = json.loads(await request.body())
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object")
            faults.configure(changes)
        except (ValueError, ValidationError) as invalid:
            return protocol.error(400, str(invalid), kind="invalid_config", code="invalid_config")
    return JSONResponse(faults.snapshot())


async def stats(request: Request) -> Response:
    return JSONResponse(_state(request).stats.snapshot())


async def reset(request: Request) -> Response:
    state = _state(request)
    state.stats.reset()
    return JSONResponse(state.stats.snapshot())


def create_app(state: State | FaultConfig | None = None) -> Starlette:
    """The server's ASGI app, around `state` (or fresh state with these faults)."""
    if not isinstance(state, State):
        state = State(Faults(state or FaultConfig()))
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", models),
            Route("/v1/models/{model:path}", model),
            Route("/healthz", healthz),
            Route("/_scripted/config", config, methods=["GET", "POST"]),
            Route("/_scripted/stats", stats),
            Route("/_scripted/reset", reset, methods=["POST"]),
        ]
    )
    app.state.scripted = state
    return app
