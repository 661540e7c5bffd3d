"""A client that knows nothing of Podium reads its topics and writes a goal, through a real
schema registry (Apicurio Registry's Confluent-compatible API) with Confluent's own Avro
serde; Podium's services run with the registry, registration left to deploy time."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import (
    SchemaRegistryClient,
    topic_record_subject_name_strategy,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from podium_cli.stack.apicurio import Apicurio
from podium_cli.stack.layout import Layout, find_checkout
from podium_cli.stack.processes import free_port
from podium_common import events as ev
from podium_common.avro import Codec
from podium_common.errors import UnknownSchema
from podium_common.registry import Registry, SchemaNotRegistered
from podium_common.settings import SchemaRegistrySettings
from podium_common.subjects import register_all
from podium_common.topics import Topics
from tests.conftest import BOOTSTRAP
from tests.e2e.conftest import running_stack
from tests.e2e.test_goals import submit, wait_for_end

pytestmark = pytest.mark.e2e

READ = ("plans", "tasks.researcher", "results", "outputs")


@pytest.fixture(scope="module")
def registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An Apicurio Registry of its own, from the cached Maven Central artifact."""
    checkout = find_checkout(Path(__file__).resolve().parent)
    state = tmp_path_factory.mktemp("registry")
    layout = Layout(checkout=checkout, state=state, cache=Path.home() / ".cache" / "podium")
    layout.make_dirs()
    registry = Apicurio(layout, free_port())
    spawned = registry.start()
    assert spawned is not None
    try:
        registry.wait_ready(spawned, 180)
        yield registry.url
    finally:
        registry.stop()
        spawned.wait()


def test_a_writer_refuses_an_unregistered_schema_until_it_is_registered(
    registry_url: str, request: pytest.FixtureRequest
) -> None:
    settings = SchemaRegistrySettings(url=registry_url)
    topics = Topics(f"r{uuid.uuid4().hex[:8]}.")
    event = _goal_event()
    registry = Registry(settings)
    request.addfinalizer(registry.close)
    codec = Codec(registry=registry)
    with pytest.raises(SchemaNotRegistered, match="podium schemas register") as refused:
        codec.encode(event, topics.goals)
    assert refused.value.context["subject"] == f"{topics.goals}-podium.v1.GoalSubmitted"

    ids = register_all(settings, topics)

    data = codec.encode(event, topics.goals)
    assert data[:1] == b"\x00"
    assert int.from_bytes(data[1:5], "big") == ids[f"{topics.goals}-podium.v1.GoalSubmitted"]
    unknown = b"\x00" + (2**31 - 1).to_bytes(4, "big") + data[5:]
    with pytest.raises(UnknownSchema, match="no schema with this id"):
        codec.decode(unknown)


async def test_an_outsider_reads_every_field_and_submits_a_goal(
    tmp_path_factory: pytest.TempPathFactory,
    module_pg_dsn: str,
    registry_url: str,
    request: pytest.FixtureRequest,
) -> None:
    env = {"PODIUM_SCHEMA_REGISTRY__URL": registry_url}  # AUTO_REGISTER off, as deployed
    async with running_stack(tmp_path_factory, module_pg_dsn, extra_env=env) as stack:
        topics = stack.kafka.topics
        register_all(SchemaRegistrySettings(url=registry_url), topics)  # `podium schemas register`
        client = SchemaRegistryClient({"url": registry_url, "timeout": 10})
        request.addfinalizer(client.close)
        goal_id = _outsider_submits(client, topics.goals)
        legacy = _goal_event()  # the single-object encoding, on the same topic
        _produce(topics.goals, legacy.key, Codec().encode(legacy))
        async with httpx.AsyncClient(base_url=stack.gateway, timeout=10) as gateway:
            through_gateway = await submit(gateway, "Compare PostgreSQL and MySQL [parallel=2]")
            ends = [wait_for_end(gateway, g, 120) for g in (goal_id, str(legacy.goal_id))]
            bodies = await asyncio.gather(*ends, wait_for_end(gateway, through_gateway, 120))
        assert [body["status"] for body in bodies] == ["completed"] * 3, stack.log_tail()
        read = await asyncio.to_thread(
            _outsider_reads, client, [topics.prefix + name for name in READ], goal_id
        )
    registry = Registry(SchemaRegistrySettings(url=registry_url))
    request.addfinalizer(registry.close)
    podium = Codec(registry=registry)
    for topic, records in read.items():
        assert records, f"the outsider read nothing on {topic}"
        for value, decoded in records:
            assert value[:1] == b"\x00", f"{topic}: not the Confluent wire format"
            event = podium.decode(value)
            # Every field the outsider got is Podium's own, value for value.
            assert type(event).model_validate(decoded) == event
            assert set(decoded) == set(type(event).model_fields)
        print(f"{topic}: {len(records)} records, e.g. {sorted(records[0][1])}")


def _goal_event() -> ev.GoalSubmitted:
    return ev.GoalSubmitted(
        event_id=uuid.uuid4(),
        goal_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        trace=ev.Trace(traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"),
        goal="Summarise the trade-offs of event sourcing",
        options=ev.GoalOptions(),
    )


def _outsider_submits(client: SchemaRegistryClient, topic: str) -> str:
    """A GoalSubmitted written from the registry's schema alone."""
    serialize = AvroSerializer(
        client,
        conf={
            "auto.register.schemas": False,
            "use.latest.version": True,
            "subject.name.strategy": topic_record_subject_name_strategy,
        },
        schema_str=client.get_latest_version(f"{topic}-podium.v1.GoalSubmitted").schema.schema_str,
    )
    goal_id = str(uuid.uuid4())
    value = {
        "event_id": str(uuid.uuid4()),
        "goal_id": goal_id,
        "occurred_at": datetime.now(UTC),
        "trace": {"traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"},
        "goal": "Explain how Kafka consumer groups rebalance [chain=2]",
        "options": {},
    }
    _produce(
        topic, goal_id.encode(), serialize(value, SerializationContext(topic, MessageField.VALUE))
    )
    return goal_id


def _produce(topic: str, key: bytes, value: bytes | None) -> None:
    producer = Producer({"bootstrap.servers": BOOTSTRAP})
    producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


def _outsider_reads(
    client: SchemaRegistryClient, topics: list[str], goal_id: str
) -> dict[str, list[tuple[bytes, dict[str, Any]]]]:
    """Every record on `topics` until the outcome of `goal_id`, decoded by Confluent's serde."""
    deserialize = AvroDeserializer(
        client, conf={"subject.name.strategy": topic_record_subject_name_strategy}
    )
    consumer = Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": f"outsider-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe(topics)
    read: dict[str, list[tuple[bytes, dict[str, Any]]]] = {topic: [] for topic in topics}
    deadline, ended = time.monotonic() + 60, False
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error() is not None:
                continue
            topic, value = message.topic() or "", message.value() or b""
            decoded = deserialize(value, SerializationContext(topic, MessageField.VALUE))
            read[topic].append((value, decoded))
            ended = ended or (topic.endswith("outputs") and str(decoded["goal_id"]) == goal_id)
            if ended and all(read.values()):
                return read
    finally:
        consumer.close()
    raise TimeoutError(f"the outcome of {goal_id} was not read: {[len(r) for r in read.values()]}")
