"""Avro single-object encoding of events: round trips, the header, and poison records."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import fastavro
import fastavro.schema
import pytest

from podium_common import events as ev
from podium_common.avro import HEADER_SIZE, MAGIC, Codec, codec, load, read_as_text, reader
from podium_common.errors import UndecodableRecord, UnknownSchema
from podium_common.registry import Registry, subject
from podium_common.settings import SchemaRegistrySettings
from podium_common.subjects import event_topics
from podium_common.topics import TaskType, Topics


def crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO exactly as the Avro specification writes it out."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def sample_events() -> list[ev.Event]:
    goal_id = uuid.uuid4()
    base = {
        "goal_id": goal_id,
        "occurred_at": datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        "trace": ev.Trace.new(),
    }
    task_id = f"{goal_id}.1.t1"
    return [
        ev.GoalSubmitted(
            event_id=uuid.uuid4(),
            goal="Compare two databases",
            options=ev.GoalOptions(max_tasks=5, models={"planner": "m"}),
            **base,
        ),
        ev.TaskAssigned(
            event_id=ev.derived_id("task", task_id, 1),
            task_id=task_id,
            type=TaskType.SPECIALIST,
            description="Analyse",
            goal="Compare two databases",
            inputs=[
                ev.DependencyOutput(
                    task_id="x", type=TaskType.RESEARCHER, description="d", output="o"
                )
            ],
            attempt=2,
            deadline=base["occurred_at"] + timedelta(minutes=5),  # type: ignore[operator]
            feedback="be precise",
            **base,
        ),
        ev.TaskResult(
            event_id=ev.derived_id("result", task_id, 1),
            task_id=task_id,
            type=TaskType.VALIDATOR,
            status=ev.TaskStatus.FAILED,
            verdict=ev.Verdict(passed=False, feedback="no sources"),
            error=ev.TaskError(kind="llm_rejected", message="400"),
            model="m",
            usage=ev.TokenUsage(prompt_tokens=10, completion_tokens=5),
            latency_ms=12,
            worker_id="w",
            attempt=1,
            **base,
        ),
    ]


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: type(e).__name__)
def test_events_round_trip_exactly(event: ev.Event) -> None:
    assert codec().decode(codec().encode(event)) == event


def test_header_is_single_object_encoding_with_the_crc64_avro_fingerprint() -> None:
    event = sample_events()[0]
    data = codec().encode(event)
    canonical = fastavro.schema.to_parsing_canonical_form(load("v1", "GoalSubmitted")).encode()
    assert data[:2] == MAGIC == b"\xc3\x01"
    assert data[2:10] == crc64_avro(canonical).to_bytes(8, "little")


def test_timestamps_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ev.PlanningStarted(
            event_id=uuid.uuid4(),
            goal_id=uuid.uuid4(),
            occurred_at=datetime(2026, 1, 1),  # naive: the point of the test
            trace=ev.Trace.new(),
            attempt=1,
            model="m",
        )


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (datetime(2026, 1, 1, 12, 0, 0, 123000, UTC), datetime(2026, 1, 1, 12, 0, 0, 123000, UTC)),
        (datetime(2026, 1, 1, 12, 0, 0, 123456, UTC), datetime(2026, 1, 1, 12, 0, 0, 123000, UTC)),
        (
            datetime(2026, 1, 1, 13, 0, 0, 123456, timezone(timedelta(hours=1))),
            datetime(2026, 1, 1, 12, 0, 0, 123000, UTC),
        ),
    ],
    ids=["utc-millis", "utc-micros", "another-zone"],
)
def test_timestamps_are_kept_in_utc_to_the_millisecond(given: datetime, kept: datetime) -> None:
    started = ev.PlanningStarted(
        event_id=uuid.uuid4(),
        goal_id=uuid.uuid4(),
        occurred_at=given,
        trace=ev.Trace.new(),
        attempt=1,
        model="m",
    )
    assert started.occurred_at == kept
    assert started.occurred_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", UndecodableRecord),
        (b"not avro at all", UndecodableRecord),
        (MAGIC + b"\x00" * 8 + b"body", UnknownSchema),
    ],
)
def test_poison_bytes_raise_errors_that_name_the_problem(data: bytes, error: type) -> None:
    with pytest.raises(error):
        codec().decode(data)


def test_a_truncated_body_is_undecodable() -> None:
    data = codec().encode(sample_events()[1])
    with pytest.raises(UndecodableRecord, match="TaskAssigned"):
        codec().decode(data[:-5])


def test_uuid_fields_are_read_as_text_and_come_back_as_uuids() -> None:
    submitted = sample_events()[0]
    decoded = codec().decode(codec().encode(submitted))
    assert type(decoded.event_id) is uuid.UUID
    assert decoded.goal_id == submitted.goal_id
    uuid_type = '"logicalType": "uuid"'
    assert uuid_type in json.dumps(load("v1", "GoalSubmitted"))
    assert uuid_type not in json.dumps(read_as_text(load("v1", "GoalSubmitted")))


def test_a_uuid_field_that_is_no_uuid_is_undecodable_and_named() -> None:
    """The wire carries a uuid as an Avro string: a writer that put anything else there is
    refused by the model, with the field named."""
    raw = load("v1", "GoalSubmitted")
    record = codec().encode(sample_events()[0])
    body = io.BytesIO()
    as_text = reader(raw)
    fields = cast(
        dict[str, Any], fastavro.schemaless_reader(io.BytesIO(record[HEADER_SIZE:]), as_text, None)
    )
    fastavro.schemaless_writer(body, as_text, fields | {"goal_id": "not-a-uuid"})
    with pytest.raises(UndecodableRecord, match=r"(?s)GoalSubmitted: .*goal_id.*valid UUID"):
        codec().decode(record[:HEADER_SIZE] + body.getvalue())


def test_keys_are_goal_ids_except_for_tasks() -> None:
    submitted, assigned, result = sample_events()
    assert submitted.key == str(submitted.goal_id).encode()
    assert assigned.key == assigned.task_id.encode()  # type: ignore[attr-defined]
    assert result.key == str(result.goal_id).encode()


def test_a_codec_without_versions_knows_no_schema() -> None:
    with pytest.raises(UnknownSchema):
        Codec(versions=()).decode(codec().encode(sample_events()[0]))


def test_a_confluent_record_without_a_registry_names_the_setting() -> None:
    data = b"\x00" + (7).to_bytes(4, "big") + b"\x02"
    with pytest.raises(UnknownSchema, match="PODIUM_SCHEMA_REGISTRY__URL") as raised:
        Codec().decode(data)
    assert raised.value.context["schema_id"] == 7


def test_with_a_registry_encoding_needs_the_topic() -> None:
    registry = Registry(SchemaRegistrySettings(url="http://127.0.0.1:9/apis/ccompat/v7"))
    with pytest.raises(ValueError, match="needs the topic"):
        Codec(registry=registry).encode(sample_events()[0])


def test_subjects_are_named_by_topic_and_record() -> None:
    assert subject("results", {"name": "TaskResult", "namespace": "podium.v1"}) == (
        "results-podium.v1.TaskResult"
    )
    pairs = {(model.__name__, topic) for model, topic in event_topics(Topics(""))}
    assert ("TaskAssigned", "tasks.validator") in pairs
    assert ("GoalCompleted", "outputs") in pairs


class OneSchemaRegistry(Registry):
    """A registry that holds each subject's schema under ids from 1, in memory."""

    def __init__(self) -> None:
        super().__init__(SchemaRegistrySettings(url="http://127.0.0.1:9/apis/ccompat/v7"))
        self._ids: dict[str, int] = {}
        self._raws: dict[int, dict[str, Any]] = {}

    def knows(self, name: str) -> bool:
        return name in self._ids

    def id_for(self, name: str, schema: dict[str, Any]) -> int:
        schema_id = self._ids.setdefault(name, len(self._ids) + 1)
        self._raws[schema_id] = schema
        return schema_id

    def schema(self, schema_id: int) -> dict[str, Any]:
        return self._raws[schema_id]


@pytest.mark.parametrize("event", sample_events(), ids=lambda event: type(event).__name__)
def test_the_event_type_is_told_by_the_schema_alone(event: ev.Event) -> None:
    data = codec().encode(event)
    assert codec().model_of(data) is type(event)
    assert codec().model_of(data[:HEADER_SIZE]) is type(event)  # the body is not read


@pytest.mark.parametrize(
    "data", [b"", b"not avro at all", MAGIC + b"\x00" * 8 + b"body", b"\x00\x00\x00\x00\x07"]
)
def test_an_unknown_schema_tells_no_event_type(data: bytes) -> None:
    assert codec().model_of(data) is None


def test_a_registry_id_tells_its_event_type_once_its_schema_is_known() -> None:
    """An id not seen yet is not asked for here (None: decoding asks the registry)."""
    registry = OneSchemaRegistry()
    event = sample_events()[0]
    data = Codec(registry=registry).encode(event, "goals")
    reading = Codec(registry=registry)
    assert reading.model_of(data) is None
    reading.decode(data)
    assert reading.model_of(data) is type(event)
