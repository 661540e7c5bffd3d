"""The aggregator's faust wiring that needs no broker: settings, brokers, credentials, storage,
a record decoded while the schema registry is down, and one the read model's alone."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import cast

import faust
import pytest
from faust.types import EventT
from pydantic import SecretStr

from podium_aggregator.app import Aggregator, Stored, brokers, credentials
from podium_aggregator.producer import IdempotentProducer
from podium_aggregator.settings import AggregatorSettings
from podium_aggregator.state import GoalState, Limits
from podium_common.avro import codec
from podium_common.backoff import RetryPolicy
from podium_common.errors import Unavailable
from podium_common.events import Event, PlanningStarted, derived_id, utcnow
from podium_common.settings import KafkaSettings
from tests.unit.aggregator.scenario import Goal


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_MAX_TASK_ATTEMPTS", "3")
    monkeypatch.setenv("PODIUM_MAX_VALIDATION_ROUNDS", "0")
    monkeypatch.setenv("PODIUM_KAFKA__TOPIC_PREFIX", "t1.")

    settings = AggregatorSettings()

    assert settings.limits() == Limits(max_task_attempts=3, max_validation_rounds=0)
    assert settings.kafka.topics.group("aggregator") == "t1.podium-aggregator"
    assert settings.store == "memory://"


def test_a_store_other_than_memory_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # faust's RocksDB store asserts a current event on every write, and the aggregator's
    # batched stores have none: the process would stop at its first goal.
    monkeypatch.setenv("PODIUM_STORE", "rocksdb://")
    with pytest.raises(ValueError, match=r"PODIUM_STORE='rocksdb://' is not supported"):
        AggregatorSettings()


def test_a_bootstrap_list_becomes_faust_broker_urls() -> None:
    kafka = KafkaSettings(bootstrap_servers="k1:9092, k2:9093")
    assert brokers(kafka) == ["kafka://k1:9092", "kafka://k2:9093"]


def test_plaintext_needs_no_credentials() -> None:
    assert credentials(KafkaSettings()) is None


def test_sasl_credentials_are_passed_to_faust() -> None:
    kafka = KafkaSettings(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="podium",
        sasl_password=SecretStr("secret"),
    )

    found = credentials(kafka)

    assert isinstance(found, faust.SASLCredentials)
    assert (found.username, found.password) == ("podium", "secret")
    assert found.mechanism.value == "SCRAM-SHA-512"
    assert found.ssl_context is None


def test_a_stored_goal_keeps_its_partition() -> None:
    state = GoalState.new(uuid.uuid4(), 2)
    state.seen.add(("t1", 1))

    stored = Stored.model_validate_json(Stored(partition=4, state=state).model_dump_json())

    assert stored.partition == 4
    assert stored.state == state


class RegistryDown:
    """Decoding while the schema registry is down for `outages` decodes, then back."""

    def __init__(self, outages: int) -> None:
        self.outages = outages
        self.calls = 0

    async def __call__(self, data: bytes) -> Event:
        self.calls += 1
        if self.calls <= self.outages:
            raise Unavailable("the schema registry cannot be reached")
        return codec().decode(data)


async def test_a_record_waits_for_the_schema_registry_instead_of_stopping_the_aggregator(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    down = RegistryDown(outages=2)
    monkeypatch.setattr("podium_aggregator.app.decoded", down)
    fast = RetryPolicy(initial_interval_s=0.001, maximum_interval_s=0.002)
    aggregator = Aggregator(AggregatorSettings(), retry=fast)
    submitted = Goal(shape={"t1": []}).submitted()
    message = SimpleNamespace(topic="goals", partition=3, offset=7, key=b"goal")
    record = cast(EventT[bytes], SimpleNamespace(message=message, value=codec().encode(submitted)))

    assert await aggregator._decoded(record) == submitted
    assert down.calls == 3  # two outages, then decoded: not parked, not a crash
    assert "goals[3]@7 waits" in caplog.text
    assert "the schema registry cannot be reached" in caplog.text


def record_of(event: Event, topic: str) -> EventT[bytes]:
    message = SimpleNamespace(topic=topic, partition=0, offset=1, key=event.key)
    return cast(EventT[bytes], SimpleNamespace(message=message, value=codec().encode(event)))


async def test_a_record_for_the_read_model_alone_is_passed_over_undecoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PlanningStarted changes no goal state: known by its schema, it is not decoded (nor
    applied); the goal's other records are."""
    counting = RegistryDown(outages=0)
    monkeypatch.setattr("podium_aggregator.app.decoded", counting)
    aggregator = Aggregator(AggregatorSettings())
    goal = Goal(shape={"t1": []})
    started = PlanningStarted(
        event_id=derived_id("planning", goal.goal_id, 1, 1),
        goal_id=goal.goal_id,
        occurred_at=utcnow(),
        trace=goal.submitted().trace.child(),
        attempt=1,
        model="m",
    )

    assert await aggregator._decoded(record_of(started, "plans")) is None
    assert counting.calls == 0
    plan = goal.plan()
    assert await aggregator._decoded(record_of(plan, "plans")) == plan
    assert counting.calls == 1


def test_fausts_producer_is_idempotent() -> None:
    """faust asks for idempotence only in its transactions; the aggregator's producer has it
    always, with every acknowledgement."""
    producer = cast(IdempotentProducer, Aggregator(AggregatorSettings()).app.producer)

    assert producer._settings_extra()["enable_idempotence"] is True
    assert producer.acks == -1
