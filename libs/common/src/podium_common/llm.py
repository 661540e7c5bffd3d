"""The LLM behind every service: any OpenAI-compatible chat-completions endpoint.

`LLM` is the protocol handlers depend on; `OpenAILLM` implements it with one `AsyncOpenAI`
client per process (connection limits raised for many concurrent calls). Transient faults
(429, 5xx, timeouts, connection errors) are retried within the call, as the one
`RetryPolicy` decides from the settings (`max_attempts`, `backoff_base_s`, `backoff_max_s`),
honouring `Retry-After`; what is left after the last attempt is raised as `LLMUnavailable`
(carrying the Retry-After, for the caller's own policy). A refused request (other 4xx)
raises `LLMRejected` at once.

A request with a JSON schema asks for a reply of that shape, in the form the endpoint
takes (`LLMSettings.structured_output`, set once per endpoint, never guessed per call).
`max_concurrency` caps the calls one process has in flight, for a server that answers one
at a time.

Each call goes through the SDK's generic `request` (its client, auth, timeouts and errors)
with the request body as plain JSON and the reply read as plain JSON: the typed `create`
walks its parameters' annotations and builds response models on every call, which cost a
worker about 1.5 ms of CPU per call and capped one process near 300 calls a second. The URL
is given whole and the SDK's platform headers are left out: 10% less CPU per call again.
The call's options are one template copied with the body (what `post` builds anew on every
call, filling each default field): 10% less again. `openai` is
imported by a process's first call (the client is built then), with its HTTP client
(httpx2): a gateway, an aggregator or an idle worker does without their 20 MB.

Why here and not only in the run loop: the callers hold a conversation (a worker's or the
planner's repair asks, each carrying the replies before it). Retrying the record instead
would start that conversation over and pay again for every reply that was already good.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import pydantic_core

from podium_common import metrics, tracing
from podium_common.backoff import RetryPolicy
from podium_common.errors import LLMRejected, LLMUnavailable
from podium_common.events import TokenUsage
from podium_common.prices import Price, cost
from podium_common.settings import LLMSettings, StructuredOutput

if TYPE_CHECKING:
    import httpx2
    import openai
    from openai._models import FinalRequestOptions

log = logging.getLogger(__name__)

# What the SDK reports of itself in every request; left out, as each header costs the SDK's
# and the HTTP client's header handling on every call.
TELEMETRY_HEADERS = (
    "X-Stainless-Lang",
    "X-Stainless-Package-Version",
    "X-Stainless-OS",
    "X-Stainless-Arch",
    "X-Stainless-Runtime",
    "X-Stainless-Runtime-Version",
    "X-Stainless-Async",
    "X-Stainless-Retry-Count",
    "X-Stainless-Read-Timeout",
)


@dataclass(frozen=True)
class Message:
    role: str  # system | user | assistant
    content: str


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    usage: TokenUsage
    latency_ms: int
    attempts: int = 1
    # The reply stopped at the request's `max_tokens` (`finish_reason` "length"), not where
    # the model ended it.
    cut: bool = False


@dataclass(frozen=True)
class Request:
    model: str
    messages: tuple[Message, ...]
    json_output: bool = False
    temperature: float = 0.2
    max_tokens: int | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # The JSON schema the reply must follow (implies a JSON reply), and its name.
    schema: dict[str, Any] | None = None
    schema_name: str = "reply"


@dataclass
class Attempt:
    """One try of a call: when the call began, which try this is, and whether its request
    was handed to the HTTP client (a try cut off after that may have reached the endpoint,
    which may bill it)."""

    started: float
    number: int
    sent: bool = False


class LLM(Protocol):
    async def complete(self, request: Request) -> Completion: ...


class RateGate(Protocol):
    """The cluster's rate of each model (`podium_common.ratelimit`), asked before every
    request and told of every Retry-After."""

    async def admit(self, request: Request) -> int: ...
    async def settle(self, request: Request, held: int, used: int) -> None: ...
    async def block(self, model: str, seconds: float) -> None: ...


class BudgetGate(Protocol):
    """The token budget of the goal a call serves (`podium_common.budget`), asked before
    every attempt and told what it spent."""

    async def admit(self, request: Request) -> int: ...
    async def settle(self, held: int, spent: int, calls: int) -> None: ...
    async def close(self) -> None: ...


def _retry_after(error: openai.APIStatusError) -> float | None:
    value = error.response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def response_format(request: Request, style: StructuredOutput) -> dict[str, Any] | None:
    """What asks the endpoint for the reply's shape, if the request wants one."""
    if request.schema is None:
        return {"type": "json_object"} if request.json_output else None
    if style == "json_schema":
        named = {"name": request.schema_name, "schema": request.schema}
        return {"type": "json_schema", "json_schema": named}
    if style == "json_object_schema":
        return {"type": "json_object", "schema": request.schema}
    return {"type": "json_object"}


def http_client(settings: LLMSettings) -> httpx2.AsyncClient:
    """The SDK's own client on the configured transport, pooling `max_connections`."""
    import httpx2
    import openai

    client = (
        openai.DefaultAioHttpClient
        if settings.http_client == "aiohttp"
        else openai.DefaultAsyncHttpx2Client
    )
    limits = httpx2.Limits(
        max_connections=settings.max_connections,
        max_keepalive_connections=settings.max_connections,
    )
    return client(limits=limits, timeout=settings.timeout_s)


def _import_sdk() -> None:
    """Imports the SDK and what its transports use, as a first call needs them."""
    for module in ("openai", "openai._models", "httpx2", "aiohttp"):
        importlib.import_module(module)


def _post_options(url: str) -> FinalRequestOptions:
    """A chat completion's request options but its body: the endpoint's full URL (the SDK
    takes it as it is, where a path is joined to its base URL, two more URL parses, on every
    call) and none of the SDK's platform headers."""
    import openai
    from openai._models import FinalRequestOptions

    omitted = {name: openai.Omit() for name in TELEMETRY_HEADERS}
    return FinalRequestOptions.construct(method="post", url=url, headers=omitted)


class OpenAILLM:
    def __init__(
        self,
        settings: LLMSettings,
        gate: RateGate | None = None,
        prices: dict[str, Price] | None = None,
        budget: BudgetGate | None = None,
    ) -> None:
        self._gate = gate
        self._budget = budget
        self._prices = prices or {}
        self._style = settings.structured_output
        self._slots: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Semaphore(settings.max_concurrency)
            if settings.max_concurrency
            else contextlib.nullcontext()
        )
        self._policy = RetryPolicy(
            initial_interval_s=settings.backoff_base_s,
            maximum_interval_s=max(settings.backoff_max_s, settings.backoff_base_s),
            maximum_attempts=settings.max_attempts,
            unlimited_kinds=frozenset(),
        )
        self._settings = settings
        # Built by the first call: a process that makes none never imports `openai`.
        # With every call's options but its body.
        self._client: tuple[openai.AsyncOpenAI, FinalRequestOptions] | None = None

    async def close(self) -> None:
        try:
            if self._client is not None:
                await self._client[0].close()
        finally:
            if self._budget is not None:
                await self._budget.close()

    async def _sdk(self) -> tuple[openai.AsyncOpenAI, FinalRequestOptions]:
        if self._client is None:
            # The SDK's import takes seconds on a loaded machine: in a thread, so that the
            # event loop goes on meanwhile (heartbeats, polls, the calls in flight).
            await asyncio.to_thread(_import_sdk)
        if self._client is None:  # another first call may have built it meanwhile
            import openai

            settings = self._settings
            client = openai.AsyncOpenAI(
                base_url=settings.base_url,
                api_key=settings.api_key.get_secret_value(),
                max_retries=0,  # retried below, with jitter and Retry-After
                timeout=settings.timeout_s,
                http_client=http_client(settings),
            )
            # The SDK ends a base URL's path with "/", but a bare host's has none.
            url = f"{str(client.base_url).rstrip('/')}/chat/completions"
            self._client = (client, _post_options(url))
        return self._client

    async def complete(self, request: Request) -> Completion:
        with tracing.llm_call(
            request.model, max_tokens=request.max_tokens, temperature=request.temperature
        ) as span:
            try:
                completion = await self._complete(request)
            except (LLMUnavailable, LLMRejected) as error:
                span.failed(error.kind)
                raise
            usage = completion.usage
            span.answered(completion.model, usage.prompt_tokens, usage.completion_tokens)
            return completion

    async def _complete(self, request: Request) -> Completion:
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._slots:
                    completion = await self._budgeted(request, Attempt(started, attempt))
            except LLMUnavailable as error:
                if self._gate is not None and error.retry_after:
                    await self._gate.block(request.model, error.retry_after)
                wait = self._policy.next_delay(error, attempt)
                if wait is None:
                    metrics.llm_call(request.model, time.monotonic() - started, error.kind)
                    raise
                log.info("LLM retry %d in %.2fs: %s", attempt, wait, error)
                await asyncio.sleep(wait)
                continue
            except LLMRejected as error:
                metrics.llm_call(request.model, time.monotonic() - started, error.kind)
                raise
            metrics.llm_call(request.model, time.monotonic() - started)
            usage = completion.usage
            # Priced by the model that answered, as the read model records it.
            spent = cost(
                self._prices, completion.model, usage.prompt_tokens, usage.completion_tokens
            )
            metrics.llm_tokens(request.model, usage.prompt_tokens, usage.completion_tokens, spent)
            return completion

    async def _budgeted(self, request: Request, attempt: Attempt) -> Completion:
        """One attempt, sent once its goal's budget has room for the most it can cost."""
        if self._budget is None:
            return await self._gated(request, attempt)
        held = await self._budget.admit(request)
        spent = calls = 0
        try:
            completion = await self._gated(request, attempt)
            spent, calls = completion.usage.total, 1
            return completion
        except LLMUnavailable as error:
            if error.served:  # the endpoint may have billed it: spent at its most
                spent, calls = held, 1
            raise
        except asyncio.CancelledError:
            if attempt.sent:  # cut off waiting for the reply, which may still be billed
                spent, calls = held, 1
            raise
        finally:
            await self._budget.settle(held, spent, calls)

    async def _gated(self, request: Request, attempt: Attempt) -> Completion:
        """One request, sent once the cluster's rate of its model admits it."""
        if self._gate is None:
            return await self._once(request, attempt)
        # The client first (the first call imports the SDK and builds it: a long pause), so
        # that the request leaves as soon as the rate admits it, not late into the next slot.
        await self._sdk()
        held = await self._gate.admit(request)
        used = held  # a failed request is taken as having used what it held
        try:
            completion = await self._once(request, attempt)
            used = completion.usage.total
            return completion
        finally:
            await self._gate.settle(request, held, used)

    async def _once(self, request: Request, attempt: Attempt) -> Completion:
        client, post = await self._sdk()
        import openai

        body: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": request.temperature,
        }
        shape = response_format(request, self._style)
        if shape is not None:
            body["response_format"] = shape
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        try:
            # The body as JSON bytes, written by pydantic-core: the SDK sends bytes as they
            # are, where a dict goes through the standard library's encoder on every call.
            options = post.model_copy(update={"content": pydantic_core.to_json(body)})
            attempt.sent = True
            reply = await client.request(object, options)
        except openai.APIStatusError as error:
            if error.status_code == 429 or error.status_code >= 500:
                raise LLMUnavailable(
                    f"LLM answered {error.status_code}",
                    retry_after=_retry_after(error),
                    model=request.model,
                ) from error
            raise LLMRejected(
                f"LLM refused the request with {error.status_code}: {error.message}",
                model=request.model,
            ) from error
        except (openai.APITimeoutError, openai.APIConnectionError) as error:
            raise LLMUnavailable(
                f"LLM unreachable: {error}", served=_was_sent(error), model=request.model
            ) from error
        return completion_of(reply, request, attempt)


def _was_sent(error: Exception) -> bool:
    """Whether a request that got no reply may have reached the endpoint whole: all but a
    failure to connect, to get a pooled connection, or to write the request. The SDK's
    httpx transport raises the HTTP client's errors; its aiohttp transport maps every lost
    connection to `ConnectTimeout`, so there aiohttp's own error, underneath, decides."""
    import aiohttp
    import httpx2

    cause = error.__cause__
    origin = cause.__cause__ if cause is not None else None
    if isinstance(origin, aiohttp.ClientError):
        unsent_aiohttp = (
            aiohttp.ClientConnectorError,
            aiohttp.ConnectionTimeoutError,
            aiohttp.InvalidURL,
            aiohttp.NonHttpUrlClientError,
        )
        return not isinstance(origin, unsent_aiohttp)
    unsent = (
        httpx2.ConnectError,
        httpx2.ConnectTimeout,
        httpx2.PoolTimeout,
        httpx2.WriteError,
        httpx2.WriteTimeout,
        httpx2.ProxyError,
        httpx2.UnsupportedProtocol,
        httpx2.LocalProtocolError,
    )
    return not isinstance(cause, unsent)


def completion_of(reply: object, request: Request, attempt: Attempt) -> Completion:
    """A chat completion's JSON as a `Completion`; a reply without a choice's message (not
    what the API promises) is taken as a server fault, to be asked again."""
    reply = reply if isinstance(reply, dict) else {}
    choices = reply.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(message, dict):
        raise LLMUnavailable("LLM reply had no choices", served=True, model=request.model)
    usage = reply.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return Completion(
        text=str(message.get("content") or ""),
        model=str(reply.get("model") or request.model),
        usage=TokenUsage(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        ),
        latency_ms=int((time.monotonic() - attempt.started) * 1000),
        attempts=attempt.number,
        cut=isinstance(first, dict) and first.get("finish_reason") == "length",
    )
