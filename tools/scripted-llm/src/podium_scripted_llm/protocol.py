"""The OpenAI chat-completions wire shapes: the request as read, the reply and error bodies."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse

SCRIPTED_PREFIX = "scripted:"


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


def count_tokens(text: str) -> int:
    """A whitespace estimate: good enough for usage accounting in tests."""
    return len(text.split())


def completion(request: ChatRequest, content: str) -> dict[str, Any]:
    prompt_tokens = sum(count_tokens(message.text) for message in request.messages)
    completion_tokens = count_tokens(content)
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
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def error(
    status: int, message: str, *, kind: str, code: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)
