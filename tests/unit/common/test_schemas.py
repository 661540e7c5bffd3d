"""The pydantic event models and the Avro schemas in schemas/ agree field by field."""

from __future__ import annotations

import types
import typing
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import pytest
from pydantic import BaseModel

from podium_common import events
from podium_common.avro import load

AVRO_PRIMITIVES: dict[str, type] = {
    "string": str,
    "int": int,
    "long": int,
    "boolean": bool,
    "double": float,
}


def python_type(avro: Any) -> Any:
    """The Python annotation an Avro type maps to."""
    if isinstance(avro, list):
        branches = [python_type(branch) for branch in avro if branch != "null"]
        assert len(branches) == 1, f"unions are only ever [null, T]: {avro}"
        return ("optional", branches[0]) if "null" in avro else branches[0]
    if isinstance(avro, str):  # a primitive, or a named type defined earlier
        return AVRO_PRIMITIVES.get(avro) or short(avro)
    logical = avro.get("logicalType")
    if logical == "uuid":
        return UUID
    if logical == "timestamp-millis":
        return datetime
    kind = avro["type"]
    if kind == "array":
        return list[python_type(avro["items"])]  # type: ignore[misc]
    if kind == "map":
        return dict[str, python_type(avro["values"])]  # type: ignore[misc]
    if kind in ("record", "enum"):
        return short(avro["name"])
    return python_type(kind)


def short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def model_type(annotation: Any) -> Any:
    """A model field's annotation, in the terms python_type uses."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return model_type(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return ("optional", model_type(args[0]))
    if origin is list:
        return list[model_type(typing.get_args(annotation)[0])]  # type: ignore[misc]
    if origin is dict:
        key, value = typing.get_args(annotation)
        return dict[key, model_type(value)]  # type: ignore[misc,valid-type]
    if isinstance(annotation, type) and issubclass(annotation, (BaseModel, StrEnum)):
        return annotation.__name__
    return annotation


def agree(model: type[BaseModel], schema: dict[str, Any]) -> None:
    assert short(schema["name"]) == model.__name__
    assert [f["name"] for f in schema["fields"]] == list(model.model_fields), model.__name__
    for field in schema["fields"]:
        info = model.model_fields[field["name"]]
        where = f"{model.__name__}.{field['name']}"
        assert model_type(info.annotation) == python_type(field["type"]), where
        if "default" in field:
            assert not info.is_required(), f"{where} has an Avro default but is required"
            assert info.get_default(call_default_factory=True) == field["default"], where
        else:
            assert info.is_required(), f"{where} has a model default but no Avro default"
        nested = field["type"] if isinstance(field["type"], dict) else None
        if isinstance(field["type"], list):
            nested = next((b for b in field["type"] if isinstance(b, dict)), None)
        if nested and nested.get("type") == "array" and isinstance(nested["items"], dict):
            nested = nested["items"]
        if nested and nested.get("type") == "record":
            agree(getattr(events, short(nested["name"])), nested)
        if nested and nested.get("type") == "enum":
            enum = getattr(events, short(nested["name"]))
            assert [member.value for member in enum] == nested["symbols"], where


@pytest.mark.parametrize("model", events.EVENT_TYPES, ids=lambda m: m.__name__)
def test_model_and_schema_agree_field_by_field(model: type[events.Event]) -> None:
    agree(model, load("v1", model.__name__))


def test_every_event_model_has_a_schema_and_every_event_schema_a_model(tmp_path: Any) -> None:
    from podium_common.avro import schemas_dir

    event_schemas = {
        path.name.removeprefix("podium.v1.").removesuffix(".avsc")
        for path in (schemas_dir() / "v1").glob("*.avsc")
        if any(f["name"] == "event_id" for f in load("v1", path.name[10:-5]).get("fields", []))
    }
    assert event_schemas == {model.__name__ for model in events.EVENT_TYPES}
