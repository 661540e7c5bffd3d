"""The aggregator's faust wiring that needs no broker: settings, brokers, credentials, storage."""

from __future__ import annotations

import uuid

import faust
import pytest
from pydantic import SecretStr

from podium_aggregator.app import Stored, brokers, credentials
from podium_aggregator.settings import AggregatorSettings
from podium_aggregator.state import GoalState, Limits
from podium_common.settings import KafkaSettings


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_MAX_TASK_ATTEMPTS", "3")
    monkeypatch.setenv("PODIUM_MAX_VALIDATION_ROUNDS", "0")
    monkeypatch.setenv("PODIUM_KAFKA__TOPIC_PREFIX", "t1.")

    settings = AggregatorSettings()

    assert settings.limits() == Limits(max_task_attempts=3, max_validation_rounds=0)
    assert settings.kafka.topics.group("aggregator") == "t1.podium-aggregator"
    assert settings.store == "memory://"


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
