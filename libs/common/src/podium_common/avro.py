"""Avro binary encoding of events, with the schema's identity in front.

Podium writes Avro single-object encoding: the marker `C3 01`, the schema's 8-byte
CRC-64-AVRO fingerprint (little-endian), then the Avro binary body. A reader finds the
writer's schema by its fingerprint among every schema version kept under `schemas/`, so
old records stay readable after the schemas evolve: `schemas/<version>/` holds the newest
schema of each event, and `schemas/<version>/published/` every earlier one that records
were written with, fully expanded (its named types in place), one file per fingerprint.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

import fastavro
import fastavro.schema

from podium_common.errors import UndecodableRecord, UnknownSchema
from podium_common.events import EVENT_TYPES, Event

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8


def schemas_dir() -> Path:
    """`schemas/` of the repository, or the copy packaged beside this module."""
    packaged = Path(__file__).with_name("schemas")
    if packaged.is_dir():
        return packaged
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "schemas"
        if (candidate / "v1").is_dir():
            return candidate
    raise FileNotFoundError("cannot find the Avro schemas directory `schemas/`")


@dataclass(frozen=True)
class _Writer:
    fingerprint: bytes
    schema: Any  # fastavro's parsed schema


def fingerprint(schema: dict[str, Any]) -> bytes:
    """The CRC-64-AVRO fingerprint of a schema's parsing canonical form, little-endian."""
    canonical = fastavro.schema.to_parsing_canonical_form(schema)
    # fastavro gives the fingerprint's bytes in little-endian order as hex.
    return bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))


def load(version: str, name: str) -> dict[str, Any]:
    """A schema with every named type it references expanded in place."""
    path = schemas_dir() / version / f"podium.{version}.{name}.avsc"
    return cast(dict[str, Any], fastavro.schema.load_schema(str(path), _write_hint=False))


def published(version: str) -> list[tuple[dict[str, Any], type[Event]]]:
    """Every earlier schema of an event kept under `schemas/<version>/published/`, with the
    model its records are read into (the newest: its added fields take their defaults)."""
    models = {model.__name__: model for model in EVENT_TYPES}
    found = []
    for path in sorted((schemas_dir() / version / "published").glob("*.avsc")):
        raw = cast(dict[str, Any], json.loads(path.read_text("utf-8")))
        found.append((raw, models[raw["name"].rsplit(".", 1)[-1]]))
    return found


class Codec:
    """Encodes events with the newest schema; decodes any kept version into the model."""

    def __init__(self, versions: tuple[str, ...] = ("v1",)) -> None:
        self._writers: dict[type[Event], _Writer] = {}
        self._readers: dict[bytes, tuple[Any, type[Event]]] = {}
        for version in versions:
            for model in EVENT_TYPES:
                if not (
                    schemas_dir() / version / f"podium.{version}.{model.__name__}.avsc"
                ).exists():
                    continue
                raw = load(version, model.__name__)
                writer = _Writer(fingerprint(raw), fastavro.parse_schema(raw))
                self._writers[model] = writer  # the newest version wins
                self._readers[writer.fingerprint] = (writer.schema, model)
            for raw, model in published(version):
                self._readers.setdefault(fingerprint(raw), (fastavro.parse_schema(raw), model))

    def encode(self, event: Event) -> bytes:
        writer = self._writers[type(event)]
        buffer = io.BytesIO()
        buffer.write(MAGIC)
        buffer.write(writer.fingerprint)
        fastavro.schemaless_writer(buffer, writer.schema, event.model_dump(mode="python"))
        return buffer.getvalue()

    def decode(self, data: bytes) -> Event:
        """The event in `data`; raises UndecodableRecord or UnknownSchema."""
        if len(data) < HEADER_SIZE or data[:2] != MAGIC:
            raise UndecodableRecord("not Avro single-object encoding (no C3 01 marker)")
        found = self._readers.get(data[2:HEADER_SIZE])
        if found is None:
            raise UnknownSchema(f"unknown schema fingerprint {data[2:HEADER_SIZE].hex()}")
        schema, model = found
        try:
            record = fastavro.schemaless_reader(io.BytesIO(data[HEADER_SIZE:]), schema, None)
            return model.model_validate(record)
        except Exception as error:
            raise UndecodableRecord(f"{model.__name__}: {error}") from error


@cache
def codec() -> Codec:
    """The process-wide codec (schemas are read once)."""
    return Codec()


def as_json(event: Event) -> dict[str, Any]:
    """An event as plain JSON data, for logs, PostgreSQL and HTTP."""
    data: dict[str, Any] = json.loads(event.model_dump_json())
    return data
