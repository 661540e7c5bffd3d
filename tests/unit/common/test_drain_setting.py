"""The drain timeout is a setting, longer than one LLM call for a service that calls the LLM,
and a deployment that sets it shorter is refused at start, saying which two values clash."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from podium_common.settings import BaseServiceSettings, KafkaSettings, LLMSettings
from podium_common.worker_service import WorkerSettings


def test_by_default_the_drain_outlasts_an_llm_call() -> None:
    assert KafkaSettings().drain_timeout_s > LLMSettings().timeout_s


def test_the_drain_timeout_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_KAFKA__DRAIN_TIMEOUT_S", "200")
    monkeypatch.setenv("PODIUM_LLM__TIMEOUT_S", "90")
    settings = WorkerSettings(model="small")
    assert settings.kafka.drain_timeout_s == 200
    assert settings.llm.timeout_s == 90


def test_a_drain_shorter_than_an_llm_call_is_refused_naming_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PODIUM_KAFKA__DRAIN_TIMEOUT_S", "60")
    with pytest.raises(ValidationError) as refused:
        WorkerSettings(model="small")
    message = str(refused.value)
    assert "PODIUM_KAFKA__DRAIN_TIMEOUT_S (60 s)" in message
    assert "PODIUM_LLM__TIMEOUT_S (120 s)" in message


def test_a_service_without_an_llm_may_drain_briefly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_KAFKA__DRAIN_TIMEOUT_S", "5")
    assert BaseServiceSettings().kafka.drain_timeout_s == 5
