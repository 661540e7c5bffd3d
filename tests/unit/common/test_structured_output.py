"""Replies of a fixed shape: the schema asked for, the form each endpoint takes it in, and
the reply read back leniently (a fence, raw newlines in strings) but never loosely."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ValidationError

from podium_common.llm import Message, Request, response_format
from podium_common.structured import parse_reply, schema_of


class Verdict(BaseModel):
    passed: bool
    feedback: str | None = None


SCHEMA = schema_of(Verdict)


def request(**fields: object) -> Request:
    return Request(model="m", messages=(Message("user", "check"),), **fields)  # type: ignore[arg-type]


def test_the_schema_comes_from_the_model_and_lists_every_property_as_required() -> None:
    assert SCHEMA["properties"].keys() == {"passed", "feedback"}
    assert SCHEMA["required"] == ["passed", "feedback"]
    assert schema_of(Verdict, required=False)["required"] == ["passed"]


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        (
            "json_schema",
            {"type": "json_schema", "json_schema": {"name": "verdict", "schema": SCHEMA}},
        ),
        ("json_object_schema", {"type": "json_object", "schema": SCHEMA}),
        ("json_object", {"type": "json_object"}),
    ],
)
def test_a_schema_is_asked_for_in_the_form_the_endpoint_takes(style, expected) -> None:
    assert response_format(request(schema=SCHEMA, schema_name="verdict"), style) == expected


def test_without_a_schema_json_mode_or_nothing_is_asked_for() -> None:
    assert response_format(request(json_output=True), "json_schema") == {"type": "json_object"}
    assert response_format(request(), "json_object_schema") is None


def test_a_fenced_reply_and_raw_newlines_in_strings_are_read() -> None:
    fenced = '```json\n{"passed": true, "feedback": "fine"}\n```'
    assert parse_reply(Verdict, fenced) == Verdict(passed=True, feedback="fine")
    raw = '{"passed": false, "feedback": "line one\nline two"}'
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    assert parse_reply(Verdict, raw).feedback == "line one\nline two"


@pytest.mark.parametrize("reply", ['{"feedback": "no verdict"}', "not json at all", '{"passed": '])
def test_a_reply_of_another_shape_is_refused_with_pydantics_errors(reply: str) -> None:
    with pytest.raises(ValidationError):
        parse_reply(Verdict, reply)
