"""The OpenAI chat-completions wire shapes: the request as read, the reply and error bodies."""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse

SCRIPTED_PREFIX = "scripted:"
WORD = re.compile(r"\S+")
# How Podium asks a model to go on with a reply cut at its max_tokens (`podium_common.continued`).
CONTINUE = "Your answer was cut off at the length limit."


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None

    @property
    def text(self) -> str:
        """The message's text; content parts of type `text` are joined with newlines."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(str(part.get("text", "")) for part in self.content)


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    response_format: dict[str, Any] | None = None
    stream: bool | None = None
    max_tokens: int | None = Field(default=None, ge=1)

    @property
    def json_mode(self) -> bool:
        kind = (self.response_format or {}).get("type")
        return kind in {"json_object", "json_schema"}

    @property
    def text(self) -> str:
        """Every message's text, in order: what directives and markers are looked for in."""
        return "\n".join(message.text for message in self.messages)

    def fingerprint(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def continuation(request: ChatRequest) -> tuple[ChatRequest, str] | None:
    """For a request to go on with a reply cut at its `max_tokens` (the reply so far, then
    Podium's ask to continue): the request that reply answered, and the reply so far."""
    messages = request.messages
    if len(messages) < 3 or messages[-2].role != "assistant" or messages[-1].role != "user":
        return None
    if not messages[-1].text.startswith(CONTINUE):
        return None
    return request.model_copy(update={"messages": messages[:-2]}), messages[-2].text


def count_tokens(text: str) -> int:
    """A whitespace estimate: good enough for usage accounting in tests."""
    return len(text.split())


def completion(request: ChatRequest, content: str) -> dict[str, Any]:
    """The reply to `request`, stopped at its `max_tokens` as an endpoint does: mid-sentence,
    with `finish_reason` "length"."""
    prompt_tokens = sum(count_tokens(message.text) for message in request.messages)
    completion_tokens = count_tokens(content)
    finish = "stop"
    most = request.max_tokens
    if most is not None and completion_tokens > most:
        content, completion_tokens, finish = cut(content, most), most, "length"
    return {
        "id": f"chatcmpl-scripted-{request.fingerprint()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": SCRIPTED_PREFIX + request.model,
        "system_fingerprint": "scripted",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "finish_reason": finish,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def cut(content: str, tokens: int) -> str:
    """`content` up to the end of its `tokens`-th token (as `count_tokens` counts them)."""
    return content[: list(WORD.finditer(content))[tokens - 1].end()]


def error(
    status: int, message: str, *, kind: str, code: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)
