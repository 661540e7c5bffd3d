"""Which servers the stack starts and where its services find them."""

from __future__ import annotations

import pytest

from podium_aggregator.settings import AggregatorSettings
from podium_cli.commands.stack import env_for_tests
from podium_cli.settings import CliSettings
from podium_cli.stack.services import CONSUMERS, GATEWAY, processes_of, scripted_llm
from podium_common.errors import ConfigError
from podium_planner.settings import PlannerSettings


def test_defaults_run_everything_locally():
    settings = CliSettings()
    assert not settings.external_kafka
    assert not settings.external_postgres
    assert not settings.external_llm
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.postgres_dsn == "postgresql://podium@127.0.0.1:54329/podium"
    assert settings.llm_base_url == "http://127.0.0.1:8099/v1"
    assert settings.gateway_url == "http://127.0.0.1:8080"


def test_dev_ports_move_the_local_servers(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PODIUM_DEV__KAFKA_PORT", "39092")
    monkeypatch.setenv("PODIUM_DEV__PG_PORT", "54339")
    monkeypatch.setenv("PODIUM_DEV__LLM_PORT", "18099")
    settings = CliSettings()
    assert settings.bootstrap_servers == "127.0.0.1:39092"
    assert settings.postgres_dsn == "postgresql://podium@127.0.0.1:54339/podium"
    assert settings.llm_base_url == "http://127.0.0.1:18099/v1"


def test_set_addresses_name_external_servers(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PODIUM_KAFKA__BOOTSTRAP_SERVERS", "kafka.example:9092")
    monkeypatch.setenv("PODIUM_POSTGRES__DSN", "postgresql://u:secret@db.example/podium")
    monkeypatch.setenv("PODIUM_LLM__BASE_URL", "https://llm.example/v1")
    settings = CliSettings()
    assert settings.external_kafka
    assert settings.external_postgres
    assert settings.external_llm
    assert settings.bootstrap_servers == "kafka.example:9092"
    assert settings.postgres_dsn == "postgresql://u:secret@db.example/podium"
    assert settings.llm_base_url == "https://llm.example/v1"
    assert settings.kafka_for_stack().bootstrap_servers == "kafka.example:9092"


def test_partitions_alone_keep_the_local_broker(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PODIUM_KAFKA__PARTITIONS", "3")
    settings = CliSettings()
    assert not settings.external_kafka
    assert settings.kafka_for_stack().partitions == 3


def test_kafka_heap_is_bounded(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PODIUM_DEV__KAFKA_HEAP_MB", "16384")
    with pytest.raises(ValueError, match="kafka_heap_mb"):
        CliSettings()


def test_services_are_pointed_at_the_stack():
    listed = processes_of(CliSettings())
    assert [p.name for p in listed] == [*CONSUMERS, GATEWAY]
    ports = [p.port for p in listed]
    assert len(set(ports)) == len(ports)
    for process in listed:
        assert process.env is not None
        assert process.env["PODIUM_KAFKA__BOOTSTRAP_SERVERS"] == "127.0.0.1:9092"
        assert process.env["PODIUM_POSTGRES__DSN"].endswith(":54329/podium")
        assert process.env["PODIUM_LLM__BASE_URL"] == "http://127.0.0.1:8099/v1"
        assert process.env["PODIUM_LLM__API_KEY"] == "local"
        assert process.env["PODIUM_LEDGER__DSN"] == process.env["PODIUM_POSTGRES__DSN"]
        assert process.ready_url == f"http://127.0.0.1:{process.port}/readyz"
    planner = next(p for p in listed if p.name == "planner")
    assert planner.env is not None
    assert planner.env["PODIUM_HEALTH_PORT"] == str(planner.port)


def test_a_ledger_of_the_callers_own_is_kept(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PODIUM_LEDGER__DSN", "postgresql://ledger.example/budgets")
    env = processes_of(CliSettings())[0].env
    assert env is not None
    assert env["PODIUM_LEDGER__DSN"] == "postgresql://ledger.example/budgets"


def test_by_default_the_services_use_the_local_model_within_its_limits(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("PODIUM_LLM__MAX_TOKENS__RESEARCHER", "99")
    settings = CliSettings()
    assert settings.llm_kind == "local"
    env = processes_of(settings)[0].env
    assert env is not None
    assert env["PODIUM_MODEL"] == "qwen2.5-coder-1.5b"
    assert env["PODIUM_LLM__STRUCTURED_OUTPUT"] == "json_object_schema"
    assert env["PODIUM_LLM__CONTEXT_TOKENS"] == "4096"
    assert env["PODIUM_LLM__MAX_CONCURRENCY"] == "1"
    assert env["PODIUM_LLM__MAX_TOKENS__RESEARCHER"] == "99"  # what the user set wins
    assert env["PODIUM_LLM__CONTINUATIONS"] == "0"  # its short replies are kept as they stop
    assert float(env["PODIUM_KAFKA__DRAIN_TIMEOUT_S"]) > float(env["PODIUM_LLM__TIMEOUT_S"])
    # Its plans' own approval marks are not followed, in the planner and the aggregator.
    assert env["PODIUM_PLAN_APPROVALS"] == "false"
    monkeypatch.setenv("PODIUM_PLAN_APPROVALS", "false")
    assert not PlannerSettings().plan_approvals
    assert not AggregatorSettings().limits().plan_approvals


def test_the_scripted_llm_is_chosen_by_name(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PODIUM_LLM__SCRIPTED", "1")
    settings = CliSettings()
    assert settings.llm_kind == "scripted"
    env = processes_of(settings)[0].env
    assert env is not None
    assert env["PODIUM_LLM__API_KEY"] == "scripted"
    assert "PODIUM_LLM__STRUCTURED_OUTPUT" not in env
    assert "PODIUM_PLAN_APPROVALS" not in env  # the plans' marks are followed


def test_an_unknown_local_model_is_refused_with_the_known_ones(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PODIUM_LOCAL_MODEL", "gpt-5")
    with pytest.raises(ConfigError, match=r"'gpt-5' is not a local model; use one of qwen2\.5"):
        processes_of(CliSettings())


def test_a_configured_llm_and_its_key_pass_through(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PODIUM_LLM__BASE_URL", "https://llm.example/v1")
    monkeypatch.setenv("PODIUM_LLM__API_KEY", "sk-real")
    env = processes_of(CliSettings())[0].env
    assert env is not None
    assert env["PODIUM_LLM__BASE_URL"] == "https://llm.example/v1"
    assert env["PODIUM_LLM__API_KEY"] == "sk-real"


def test_scripted_llm_listens_on_the_dev_port(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PODIUM_DEV__LLM_PORT", "18099")
    llm = scripted_llm(CliSettings())
    assert llm.script == "podium-scripted-llm"
    assert llm.args == ("--port", "18099")


def test_test_env_prefers_what_the_caller_set():
    settings = CliSettings()
    assert env_for_tests(settings, {}) == {
        "PODIUM_TEST_BOOTSTRAP": "127.0.0.1:9092",
        "PODIUM_TEST_PG_DSN": "postgresql://podium@127.0.0.1:54329/postgres",
    }
    given = {"PODIUM_TEST_BOOTSTRAP": "h:1", "PODIUM_TEST_PG_DSN": "postgresql://x/y"}
    assert env_for_tests(settings, given) == given


def test_the_broker_jit_is_one_of_two_named_choices(monkeypatch: pytest.MonkeyPatch):
    assert CliSettings().dev.kafka_jit == "quick-start"
    monkeypatch.setenv("PODIUM_DEV__KAFKA_JIT", "throughput")
    assert CliSettings().dev.kafka_jit == "throughput"
    monkeypatch.setenv("PODIUM_DEV__KAFKA_JIT", "fast")
    with pytest.raises(ValueError, match="kafka_jit"):
        CliSettings()
