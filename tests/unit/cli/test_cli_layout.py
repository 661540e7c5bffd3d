"""Where the stack keeps its files, and who may reach them."""

from __future__ import annotations

import os
import pwd
import tempfile
from pathlib import Path

import pytest

from podium_cli.errors import StackError
from podium_cli.settings import CliSettings, DevSettings
from podium_cli.stack.control import Stack
from podium_cli.stack.layout import Layout, find_checkout
from podium_cli.stack.postgres import check_reachable, podium_conf
from podium_common.errors import ConfigError

HERE = Path(__file__).resolve().parent


def test_checkout_is_found_from_a_subfolder(tmp_path: Path):
    checkout = find_checkout(HERE)
    assert (checkout / "infra" / "kafka" / "pom.xml").is_file()
    with pytest.raises(ConfigError, match="not inside a Podium checkout"):
        find_checkout(tmp_path)


def test_state_lives_in_dot_dev_unless_moved(tmp_path: Path):
    settings = CliSettings(cache_dir=tmp_path / "cache")
    layout = Layout.of(settings, cwd=HERE)
    assert layout.state == layout.checkout / ".dev"
    assert layout.pidfile("kafka") == layout.checkout / ".dev" / "run" / "kafka.pid"
    assert layout.log("gateway") == layout.checkout / ".dev" / "logs" / "gateway.log"
    moved = CliSettings(dev=DevSettings(state_dir=tmp_path / "state"))
    assert Layout.of(moved, cwd=HERE).kafka == tmp_path / "state" / "kafka"


def test_postgres_settings_are_rewritten_per_port():
    conf = podium_conf(DevSettings(pg_port=54339))
    assert "port = 54339\n" in conf
    assert "listen_addresses = '127.0.0.1'\n" in conf


def stranger() -> pwd.struct_passwd:
    return pwd.struct_passwd(("stranger", "x", 64999, 64999, "", "/", "/bin/false"))


def test_a_closed_parent_is_named():
    # Under /tmp itself: pytest's own tmp_path sits in a folder only its owner may enter.
    with tempfile.TemporaryDirectory() as top:
        os.chmod(top, 0o755)  # noqa: S103 - the point of the test
        closed = Path(top).resolve() / "closed"
        (closed / "pg").mkdir(parents=True)
        os.chmod(closed, 0o700)
        with pytest.raises(StackError, match=f"cannot enter {closed}"):
            check_reachable(closed / "pg" / "data", stranger())
        os.chmod(closed, 0o711)  # noqa: S103 - the point of the test
        check_reachable(closed / "pg" / "data", stranger())


def test_the_stack_remembers_its_llm_and_refuses_a_silent_switch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    layout = Layout(checkout=HERE, state=tmp_path, cache=tmp_path / "cache")
    layout.make_dirs()
    monkeypatch.setenv("PODIUM_LLM__SCRIPTED", "1")
    scripted = Stack(CliSettings(), layout)
    assert scripted.recorded_llm() is None
    assert not scripted.uses_scripted_llm()
    scripted._record(scripted=True)
    assert scripted.uses_scripted_llm()

    monkeypatch.setenv("PODIUM_LLM__BASE_URL", "https://llm.example/v1")
    real = Stack(CliSettings(), layout)
    real._refuse_llm_switch()  # nothing runs: switching is fine
    planner = layout.pidfile("planner")
    planner.write_text(f"{os.getpid()}\n")
    monkeypatch.setattr("podium_cli.stack.processes.is_ours", lambda pid, marker: True)
    with pytest.raises(
        StackError,
        match=r"use the scripted LLM at http://127\.0\.0\.1:8099/v1, not the LLM at https://llm",
    ):
        real._refuse_llm_switch()
    monkeypatch.delenv("PODIUM_LLM__BASE_URL")
    monkeypatch.delenv("PODIUM_LLM__SCRIPTED")
    with pytest.raises(StackError, match=r"not the local model qwen2\.5-coder-1\.5b at http://127"):
        Stack(CliSettings(), layout)._refuse_llm_switch()
