"""Replies of a fixed JSON shape: the schema a pydantic model asks the LLM for, and the reply
read back with the same model.

The reading is lenient where models and servers are known to stray from strict JSON while
meaning the same thing: a Markdown code fence around the object (some models add one even
in JSON mode) and raw control characters such as newlines inside strings (llama.cpp's
JSON-schema grammars let them through). Anything else is the model's error and is reported
by pydantic, field by field.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def schema_of(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """The JSON schema of `model`'s replies. With `required`, every property of every object
    is listed as required: a constrained decoder then writes each field instead of leaving
    out the ones with defaults (the model still accepts replies that leave them out)."""
    schema = model.model_json_schema()
    if required:
        for part in (schema, *schema.get("$defs", {}).values()):
            if "properties" in part:
                part["required"] = list(part["properties"])
    return schema


def unfenced(text: str) -> str:
    """The text inside a Markdown code fence, or the text as it is."""
    fenced = FENCE.match(text)
    return fenced.group(1) if fenced else text


def parse_reply(model: type[M], text: str) -> M:
    """`text` read as a `model`; raises pydantic's `ValidationError` when it is not one."""
    body = unfenced(text)
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        if not any(detail["type"] == "json_invalid" for detail in error.errors()):
            raise
        try:
            loose = json.loads(body, strict=False)  # raw newlines in strings are allowed
        except ValueError:
            raise error from None
        return model.model_validate(loose)
