"""Avro binary encoding of events, with the schema's identity in front.

Podium writes Avro single-object encoding: the marker `C3 01`, the schema's 8-byte
CRC-64-AVRO fingerprint (little-endian), then the Avro binary body. A reader finds the
writer's schema by its fingerprint among every schema version kept under `schemas/`, so
old records stay readable after the schemas evolve: `schemas/<version>/` holds the newest
schema of each event, and `schemas/<version>/published/` every earlier one that records
were written with, fully expanded (its named types in place), one file per fingerprint.

With a schema registry (`PODIUM_SCHEMA_REGISTRY__URL`), Podium writes the Confluent wire
format instead (`podium_common.registry`): `00`, the schema's 4-byte id, the Avro body.
Readers take both, whatever is configured, so a topic moves from one to the other without
a stop: a Confluent record's writer schema is fetched from the registry by its id.
A registry request is a blocking HTTP call: `decoded` and `encoded` make the first one for
an id or a subject in a thread, so that a slow registry does not hold the event loop (and
the consumer's heartbeats with it).
"""

from __future__ import annotations

import asyncio
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
from podium_common.registry import WIRE_HEADER_SIZE, WIRE_MAGIC, Registry, subject

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
    raw: dict[str, Any]  # the schema as JSON data, its named types expanded


def fingerprint(schema: dict[str, Any]) -> bytes:
    """The CRC-64-AVRO fingerprint of a schema's parsing canonical form, little-endian."""
    canonical = fastavro.schema.to_parsing_canonical_form(schema)
    # fastavro gives the fingerprint's bytes in little-endian order as hex.
    return bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))


def read_as_text(schema: Any) -> Any:
    """`schema` without the `uuid` logical type, for reading: fastavro then returns those
    fields as the strings they are on the wire, and pydantic makes the UUIDs, several times
    faster than fastavro's `uuid.UUID(...)`. The wire format and the fingerprint stay."""
    if isinstance(schema, dict):
        return {
            key: read_as_text(value)
            for key, value in schema.items()
            if not (key == "logicalType" and value == "uuid")
        }
    if isinstance(schema, list):
        return [read_as_text(value) for value in schema]
    return schema


def reader(schema: dict[str, Any]) -> Any:
    """A writer's schema parsed for reading its records into the event models."""
    return fastavro.parse_schema(read_as_text(schema))


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


def registry_id(data: bytes) -> int | None:
    """The schema id of a record in the Confluent wire format; None for any other."""
    if len(data) >= WIRE_HEADER_SIZE and data[:1] == WIRE_MAGIC:
        return int.from_bytes(data[1:WIRE_HEADER_SIZE], "big")
    return None


def single_object_fingerprint(data: bytes) -> bytes | None:
    """The writer schema's fingerprint of a record in single-object encoding; None else."""
    if len(data) >= HEADER_SIZE and data[:2] == MAGIC:
        return data[2:HEADER_SIZE]
    return None


class Codec:
    """Encodes events with the newest schema; decodes any kept version into the model."""

    def __init__(
        self, versions: tuple[str, ...] = ("v1",), registry: Registry | None = None
    ) -> None:
        self.registry = registry
        self._models = {model.__name__: model for model in EVENT_TYPES}
        self._by_id: dict[int, tuple[Any, type[Event]]] = {}
        self._writers: dict[type[Event], _Writer] = {}
        self._readers: dict[bytes, tuple[Any, type[Event]]] = {}
        for version in versions:
            for model in EVENT_TYPES:
                if not (
                    schemas_dir() / version / f"podium.{version}.{model.__name__}.avsc"
                ).exists():
                    continue
                raw = load(version, model.__name__)
                writer = _Writer(fingerprint(raw), fastavro.parse_schema(raw), raw)
                self._writers[model] = writer  # the newest version wins
                self._readers[writer.fingerprint] = (reader(raw), model)
            for raw, model in published(version):
                self._readers.setdefault(fingerprint(raw), (reader(raw), model))

    def encode(self, event: Event, topic: str | None = None) -> bytes:
        """`event` with the newest schema: in the Confluent wire format when a registry is
        configured (its subject named by `topic`, which is then required), else with the
        single-object header."""
        writer = self._writers[type(event)]
        buffer = io.BytesIO()
        if self.registry is None:
            buffer.write(MAGIC)
            buffer.write(writer.fingerprint)
        elif topic is None:
            raise ValueError("with a schema registry, encoding needs the topic (its subject)")
        else:
            schema_id = self.registry.id_for(subject(topic, writer.raw), writer.raw)
            buffer.write(WIRE_MAGIC)
            buffer.write(schema_id.to_bytes(4, "big"))
        fastavro.schemaless_writer(buffer, writer.schema, event.model_dump(mode="python"))
        return buffer.getvalue()

    def asks_registry(self, data: bytes) -> bool:
        """Whether decoding `data` first asks the registry: a schema id not seen yet."""
        if self.registry is None:
            return False
        schema_id = registry_id(data)
        return schema_id is not None and schema_id not in self._by_id

    def asks_registry_to_encode(self, event: Event, topic: str) -> bool:
        """Whether encoding `event` for `topic` first asks the registry for the subject's id."""
        if self.registry is None:
            return False
        return not self.registry.knows(subject(topic, self._writers[type(event)].raw))

    def model_of(self, data: bytes) -> type[Event] | None:
        """The event type `data` holds, told by its schema's identity alone (the body is not
        read); None when that identity is not known here yet (decoding will tell)."""
        schema_id, writer = registry_id(data), single_object_fingerprint(data)
        if schema_id is not None:
            found = self._by_id.get(schema_id)
        elif writer is not None:
            found = self._readers.get(writer)
        else:
            return None
        return None if found is None else found[1]

    def decode(self, data: bytes) -> Event:
        """The event in `data`, in either encoding; raises UndecodableRecord or
        UnknownSchema, or Unavailable while the registry cannot be reached."""
        schema_id, writer = registry_id(data), single_object_fingerprint(data)
        if schema_id is not None:
            schema, model = self._registered(schema_id)
            body = data[WIRE_HEADER_SIZE:]
        elif writer is not None:
            found = self._readers.get(writer)
            if found is None:
                raise UnknownSchema(f"unknown schema fingerprint {writer.hex()}")
            schema, model = found
            body = data[HEADER_SIZE:]
        else:
            raise UndecodableRecord(
                "neither Avro single-object encoding (C3 01) nor the Confluent wire format (00)"
            )
        try:
            record = fastavro.schemaless_reader(io.BytesIO(body), schema, None)
            return model.model_validate(record)
        except Exception as error:
            raise UndecodableRecord(f"{model.__name__}: {error}") from error

    def _registered(self, schema_id: int) -> tuple[Any, type[Event]]:
        """The writer schema with a registry id, and the model its records are read into."""
        found = self._by_id.get(schema_id)
        if found is not None:
            return found
        if self.registry is None:
            raise UnknownSchema(
                "a Confluent wire format record, and no schema registry is configured "
                "(PODIUM_SCHEMA_REGISTRY__URL)",
                schema_id=schema_id,
            )
        raw = self.registry.schema(schema_id)
        name = str(raw.get("name", "")).rsplit(".", 1)[-1]
        model = self._models.get(name)
        if model is None:
            raise UnknownSchema(f"schema {schema_id} is no Podium event: {name!r}")
        try:
            found = (reader(raw), model)
        except Exception as error:
            raise UnknownSchema(f"schema {schema_id} is no valid Avro: {error}") from error
        self._by_id[schema_id] = found
        return found

    def schemas(self) -> dict[type[Event], dict[str, Any]]:
        """The newest schema of every event, as JSON data."""
        return {model: writer.raw for model, writer in self._writers.items()}


@cache
def codec() -> Codec:
    """The process-wide codec (schemas are read once); it writes the Confluent wire format
    when `PODIUM_SCHEMA_REGISTRY__URL` names a registry."""
    return Codec(registry=Registry.from_environment())


async def decoded(data: bytes) -> Event:
    """`codec().decode(data)`, a first registry request for its schema id in a thread."""
    events = codec()
    if events.asks_registry(data):
        return await asyncio.to_thread(events.decode, data)
    return events.decode(data)


async def encoded(event: Event, topic: str) -> bytes:
    """`codec().encode(event, topic)`, a first registry request for its subject in a thread."""
    events = codec()
    if events.asks_registry_to_encode(event, topic):
        return await asyncio.to_thread(events.encode, event, topic)
    return events.encode(event, topic)


def as_json(event: Event) -> dict[str, Any]:
    """An event as plain JSON data, for logs, PostgreSQL and HTTP."""
    data: dict[str, Any] = json.loads(event.model_dump_json())
    return data
