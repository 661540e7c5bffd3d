"""`podium-scripted-llm` flags and environment, and its start-up banner."""

from __future__ import annotations

import pytest

from podium_scripted_llm.__main__ import banner, parse
from podium_scripted_llm.settings import FaultConfig


def test_flags_set_the_server_and_its_faults():
    settings = parse(
        [
            "--port",
            "8123",
            "--latency-ms",
            "20",
            "--latency-max-ms",
            "40",
            "--p-429",
            "0.25",
            "--retry-after-s",
            "3",
            "--seed",
            "9",
        ]
    )
    assert settings.port == 8123
    assert settings.faults() == FaultConfig(
        latency_ms=20, latency_max_ms=40, p_429=0.25, retry_after_s=3, seed=9
    )


def test_environment_sets_what_flags_leave(monkeypatch):
    monkeypatch.setenv("PODIUM_SCRIPTED_LLM_P_500", "0.5")
    monkeypatch.setenv("PODIUM_SCRIPTED_LLM_PORT", "9000")
    settings = parse(["--port", "9100"])
    assert settings.port == 9100
    assert settings.p_500 == 0.5


def test_inconsistent_flags_fail_at_start():
    with pytest.raises(ValueError, match="must not exceed 1"):
        parse(["--p-429", "0.7", "--p-500", "0.7"])


def test_banner_says_the_answers_are_scripted():
    text = banner(parse(["--port", "8099", "--p-timeout", "0.1"]))
    assert "NOT A MODEL" in text
    assert "scripted" in text
    assert "http://127.0.0.1:8099/v1" in text
    assert "p_timeout=0.1" in text
